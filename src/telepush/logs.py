"""Logging setup: readable lines, or one JSON object per line. Never payloads or secrets."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

# Fields a delivery's log lines carry (``extra=`` of the worker's outcome line), copied into the
# JSON object when present. Never a payload, a header, a token or a secret.
DELIVERY_FIELDS = (
    "delivery_id",
    "customer_id",
    "service",
    "attempt",
    "outcome",
    "status_code",
    "error",
    "duration_ms",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in DELIVERY_FIELDS:
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup_logging(level: str = "info", *, json_lines: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("uvicorn.error").setLevel(level.upper())
