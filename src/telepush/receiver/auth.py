"""Credentials: issuing bearer tokens and checking Basic and Bearer authorizations.

Tokens are random (``secrets.token_urlsafe``) and kept in memory only as SHA-256 digests
with their expiry, so a memory dump does not reveal a usable token. Every comparison of a
secret is constant-time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from telepush.receiver.settings import ReceiverSettings

Clock = Callable[[], float]


class Verdict(Enum):
    """Outcome of checking a request's ``Authorization`` header."""

    OK = "ok"
    MISSING = "missing"  # no credentials, or another scheme: answer 401
    REJECTED = "rejected"  # credentials present but wrong, unknown or expired


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int


class TokenIssuer:
    """Issues bearer tokens and remembers (their digests and) when they expire."""

    def __init__(self, ttl_s: int, clock: Clock = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[bytes, float] = {}
        self.issued = 0
        self.revoked = 0

    def issue(self) -> IssuedToken:
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._lock:
            self._purge(now)
            self._expiry[_digest(token)] = now + self._ttl_s
            self.issued += 1
        return IssuedToken(token, self._ttl_s)

    def is_valid(self, token: str) -> bool:
        expiry = self._expiry.get(_digest(token))
        return expiry is not None and self._clock() < expiry

    def revoke_all(self) -> int:
        """Forget every token; the next push with any of them is rejected."""
        with self._lock:
            count = len(self._expiry)
            self._expiry.clear()
            self.revoked += count
        return count

    def active(self) -> int:
        with self._lock:
            self._purge(self._clock())
            return len(self._expiry)

    def _purge(self, now: float) -> None:
        expired = [key for key, expiry in self._expiry.items() if expiry <= now]
        for key in expired:
            del self._expiry[key]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def auth_scheme(header: str | None) -> str | None:
    """The scheme of an ``Authorization`` value (``Bearer``, ``Basic``...), never the secret."""
    if not header:
        return None
    scheme = header.split(" ", 1)[0].strip()
    return scheme[:20] or None


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``(user, password)`` from an HTTP Basic ``Authorization`` value, else ``None``."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def parse_bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def _equal(given: str, expected: str) -> bool:
    return secrets.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


class Authenticator:
    """Checks the client at the token endpoint, and every push or read request."""

    def __init__(self, settings: ReceiverSettings, tokens: TokenIssuer) -> None:
        self.mode = settings.auth_mode
        self.tokens = tokens
        self._client_id = settings.client_id or ""
        self._client_secret = (
            settings.client_secret.get_secret_value() if settings.client_secret else ""
        )
        self._username = settings.username or ""
        self._password = settings.password.get_secret_value() if settings.password else ""

    def check_client(self, header: str | None) -> Verdict:
        """Token endpoint: the client must authenticate with HTTP Basic."""
        pair = parse_basic(header)
        if pair is None:
            return Verdict.MISSING
        ok_id = _equal(pair[0], self._client_id)
        ok_secret = _equal(pair[1], self._client_secret)
        return Verdict.OK if ok_id and ok_secret else Verdict.REJECTED

    def check_request(self, header: str | None) -> Verdict:
        """A push or read request: a valid bearer token (oauth2) or the Basic pair (basic)."""
        if self.mode == "basic":
            pair = parse_basic(header)
            if pair is None:
                return Verdict.MISSING
            ok_user = _equal(pair[0], self._username)
            ok_password = _equal(pair[1], self._password)
            return Verdict.OK if ok_user and ok_password else Verdict.REJECTED
        token = parse_bearer(header)
        if token is None:
            return Verdict.MISSING
        return Verdict.OK if self.tokens.is_valid(token) else Verdict.REJECTED
