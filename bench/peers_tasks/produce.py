"""Enqueue the benchmark's trips as ``deliver`` tasks, before any worker runs.

    PYTHONPATH=bench/peers_tasks python produce.py --peer celery --pool trips.ndjson \
        --count 20000 --ids ids.json

Runs inside ``bench/.peers-venv``. Each task gets a fresh delivery id (uuid4) and a body
taken in turn from the NDJSON ``--pool``; the ids go to ``--ids`` (a JSON list), so the
receiver's log can be checked for losses and duplicates. Prints one JSON line:
``{"enqueued", "seconds"}``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=("celery", "dramatiq"), required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--ids", required=True)
    args = parser.parse_args()
    pool = [line.decode() for line in Path(args.pool).read_bytes().split(b"\n") if line]
    ids = [str(uuid.uuid4()) for _ in range(args.count)]
    started = time.monotonic()
    if args.peer == "celery":
        from celery_app import app, deliver

        with app.producer_or_acquire() as producer:
            for i, delivery_id in enumerate(ids):
                deliver.apply_async((delivery_id, pool[i % len(pool)]), producer=producer)
    else:
        from dramatiq_app import deliver

        for i, delivery_id in enumerate(ids):
            deliver.send(delivery_id, pool[i % len(pool)])
    seconds = time.monotonic() - started
    Path(args.ids).write_text(json.dumps(ids))
    print(json.dumps({"enqueued": len(ids), "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
