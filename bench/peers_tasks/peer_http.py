"""The HTTP side of a peer's ``deliver`` task: what such a task usually does, with requests.

Runs inside the peers' virtual environment (``bench/.peers-venv``), imported by
``celery_app`` and ``dramatiq_app``: the standard library and requests only, nothing of
telepush. Configured by environment variables set by ``bench.peers``:

- ``PEERS_PUSH_URL``: where to POST each trip (the benchmark receiver);
- ``PEERS_TOKEN_URL``: the receiver's OAuth2 token endpoint (client credentials);
- ``PEERS_CA``: the test CA's bundle, so TLS is verified as telepush verifies it.

Fair to the peers: one token per worker process, fetched on first use and cached (fetched
again only after a 401); one kept-alive ``requests.Session`` per thread (per process under
Celery's prefork pool, per worker thread under Dramatiq), so connections are reused.
Anything but a 200 raises, so the framework's retry machinery takes over.
"""

from __future__ import annotations

import os
import threading

import requests

PUSH_URL = os.environ["PEERS_PUSH_URL"]
TOKEN_URL = os.environ["PEERS_TOKEN_URL"]
CA = os.environ["PEERS_CA"]
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"
USER_AGENT = "telepush-bench-peer"
TIMEOUT_S = (5.0, 30.0)  # connect, read

_local = threading.local()
_token_lock = threading.Lock()
_token: tuple[int, str] | None = None  # (pid, access token): forked children fetch their own


class DeliveryFailed(Exception):
    """The receiver did not answer 200: the framework should retry."""


def _session() -> requests.Session:
    pid = os.getpid()
    if getattr(_local, "pid", None) != pid:
        session = requests.Session()
        session.verify = CA
        session.trust_env = False
        _local.session, _local.pid = session, pid
    session: requests.Session = _local.session
    return session


def _bearer(session: requests.Session) -> str:
    global _token
    pid = os.getpid()
    cached = _token
    if cached is not None and cached[0] == pid:
        return cached[1]
    with _token_lock:
        if _token is None or _token[0] != pid:
            response = session.post(
                TOKEN_URL,
                data={"grant_type": "client_credentials"},
                auth=(CLIENT_ID, CLIENT_SECRET),
                timeout=TIMEOUT_S,
            )
            response.raise_for_status()
            _token = (pid, str(response.json()["access_token"]))
        return _token[1]


def _forget_token() -> None:
    global _token
    with _token_lock:
        _token = None


def push(delivery_id: str, body: str, attempt: int | None = None) -> None:
    """POST one trip; raise unless the receiver answered 200."""
    session = _session()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Authorization": f"Bearer {_bearer(session)}",
        "Telepush-Delivery-Id": delivery_id,
        "Telepush-Service": "trip",
    }
    if attempt is not None:
        headers["Telepush-Attempt"] = str(attempt)
    response = session.post(PUSH_URL, data=body.encode(), headers=headers, timeout=TIMEOUT_S)
    _ = response.content  # read the body, so the connection goes back to the pool
    if response.status_code == 401:
        _forget_token()
    if response.status_code != 200:
        raise DeliveryFailed(f"{delivery_id}: HTTP {response.status_code}")
