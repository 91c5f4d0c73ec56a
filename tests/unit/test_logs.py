"""Log lines: one JSON object per line when asked, with the delivery's identifiers."""

from __future__ import annotations

import json
import logging

from telepush.logs import JsonFormatter


def test_json_lines_carry_delivery_fields() -> None:
    """A worker log record becomes one JSON object with level, message and delivery ids."""
    record = logging.LogRecord(
        "telepush.worker", logging.INFO, __file__, 1, "delivery %s -> %s", ("d-1", "pending"), None
    )
    record.delivery_id, record.customer_id, record.service, record.outcome = (
        "d-1",
        "acme",
        "trip",
        "pending",
    )
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["logger"] == "telepush.worker"
    assert entry["message"] == "delivery d-1 -> pending"
    assert (entry["delivery_id"], entry["customer_id"], entry["service"], entry["outcome"]) == (
        "d-1",
        "acme",
        "trip",
        "pending",
    )
    assert entry["at"].endswith("+00:00")


def test_exceptions_stay_on_one_line() -> None:
    """A traceback is a field of the object, not extra lines."""
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord(
            "telepush", logging.ERROR, __file__, 1, "failed", (), sys.exc_info()
        )
    line = JsonFormatter().format(record)
    assert "\n" not in line and "ValueError: boom" in json.loads(line)["exception"]


def test_outcome_fields_are_json_values() -> None:
    """Attempt, status code, error kind and duration keep their JSON types; null stays null."""
    record = logging.LogRecord("telepush.worker", logging.DEBUG, __file__, 1, "ok", (), None)
    for key, val in {
        "delivery_id": "d-2",
        "attempt": 3,
        "outcome": "delivered",
        "status_code": 200,
        "error": None,
        "duration_ms": 41,
    }.items():
        setattr(record, key, val)
    entry = json.loads(JsonFormatter().format(record))
    assert (entry["attempt"], entry["status_code"], entry["error"], entry["duration_ms"]) == (
        3,
        200,
        None,
        41,
    )
    assert "customer_id" not in entry  # only what the record carries
