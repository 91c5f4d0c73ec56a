"""Scenario 3, ingest: events accepted per second through the batch API and the
single-event API, each acknowledged only after its durable commit (SQLite, synchronous=FULL).

    .venv/bin/python -m bench.ingest [--smoke] [--count N] [--runs R]

telepush runs ``serve --no-worker`` so that only ingest is measured. The baseline is the same
web stack (FastAPI on uvicorn, ``bench.sink``) answering 202 with no validation and no
storage, driven by the same client: the ratio is the share of the bare HTTP stack's rate that
telepush keeps while validating and committing every document.
"""

from __future__ import annotations

import argparse

from bench import report
from bench.load import Api, load_batches, load_singles, put_customer, session, trip_pool
from bench.procs import Receiver, Sink, Telepush, oauth2_customer, workspace

SCENARIO = "ingest"
CUSTOMER = "c0"


def options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--count", type=int, default=None, help="batched events (default 100,000)")
    p.add_argument("--singles", type=int, default=None, help="single events (default 10,000)")
    p.add_argument("--batch", type=int, default=500, help="documents per batch request")
    p.add_argument("--concurrency", type=int, default=4, help="batch requests in flight")
    p.add_argument("--single-concurrency", type=int, default=32, help="single requests in flight")


async def measure(args: argparse.Namespace) -> report.Result:
    count = args.count or (2_000 if args.smoke else 100_000)
    singles = args.singles or (300 if args.smoke else 10_000)
    baseline_name = "same FastAPI/uvicorn stack answering 202, no validation, no storage"
    batched = report.Figure(
        f"events/s, batch API ({args.batch} per request)",
        "/s",
        target=report.Target("value", ">=", 20_000, "≥ 20,000/s"),
        baseline_name=baseline_name,
    )
    single = report.Figure(
        "events/s, single-event API",
        "/s",
        target=report.Target("value", ">=", 2_000, "≥ 2,000/s"),
        baseline_name=baseline_name,
    )
    pool = trip_pool(1000, 2048)

    async def drive(api: Api, into: tuple[list[float], list[float]]) -> None:
        loaded = await load_batches(
            http, api, CUSTOMER, pool, count=count, batch=args.batch, concurrency=args.concurrency
        )
        into[0].append(loaded.rate)
        loaded = await load_singles(
            http, api, CUSTOMER, pool, count=singles, concurrency=args.single_concurrency
        )
        into[1].append(loaded.rate)

    with workspace() as ws:
        async with session() as http:
            receiver = await Receiver(ws).start(http)  # only named in the customer's config
            try:
                for run in range(args.runs):
                    sink = await Sink(ws, name=f"sink-{run}").start(http)
                    try:
                        await drive(sink, (batched.baseline, single.baseline))
                    finally:
                        sink.stop()
                    tp = Telepush(ws, ws.root / f"telepush-{run}", name=f"api-{run}", worker=False)
                    await tp.start(http)
                    try:
                        await put_customer(http, tp, CUSTOMER, oauth2_customer(receiver, CUSTOMER))
                        await drive(tp, (batched.telepush, single.telepush))
                    finally:
                        tp.stop()
            finally:
                receiver.stop()
    size = sum(map(len, pool)) / len(pool)
    return report.Result(
        SCENARIO,
        ".venv/bin/python -m bench.ingest",
        f"{count:,} batched + {singles:,} single trips of {size / 1024:.1f} KB, {args.runs} run(s)",
        [batched, single],
        notes=[
            f"client: {args.concurrency} batch requests / {args.single_concurrency} single "
            "requests in flight, from the benchmark process on the same 2 cores"
        ],
    )


if __name__ == "__main__":
    report.main(SCENARIO, __doc__.splitlines()[0], measure, options)
