"""The ingest baseline: the same web stack as telepush's API (FastAPI on uvicorn), answering
202 to pushes without validating or storing anything.

    python -m bench.sink --port 8081

``POST /v1/customers/{customerId}/push/{service}`` answers ``{"deliveryId", "status"}`` and
``.../batch`` one result per NDJSON line, like telepush, so what telepush adds on top —
validation, the durable commit — is what the ratio shows.
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/customers/{customerId}/push/{service}", status_code=202)
    async def push(customerId: str, service: str, request: Request) -> dict[str, Any]:
        await request.body()
        return {"deliveryId": str(uuid.uuid4()), "status": "pending", "duplicate": False}

    @app.post("/v1/customers/{customerId}/push/{service}/batch", status_code=202)
    async def batch(customerId: str, service: str, request: Request) -> JSONResponse:
        body = await request.body()
        lines = [line for line in body.split(b"\n") if line.strip()]
        items = [
            {"index": i, "deliveryId": str(uuid.uuid4()), "status": "pending", "duplicate": False}
            for i in range(len(lines))
        ]
        return JSONResponse(
            {"items": items, "accepted": len(items), "rejected": 0}, status_code=202
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=args.port,
        log_config=None,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
