"""One exception tree for telepush.

    TelepushError                   base of everything telepush raises on purpose
    ├── ConfigError                 bad settings or files (names the setting)
    ├── InvalidInput                bad input from a user; carries ``code`` and ``field``
    │   ├── InvalidPayload          a pushed document fails its service model (422)
    │   ├── UnknownService          not in the catalogue (422)
    │   └── PayloadTooLarge         body over the configured limit (413)
    ├── NotFound                    unknown customer, delivery or task (404)
    ├── Conflict                    the request contradicts the current state (409)
    └── StoreError                  the store could not do what was asked
        └── MigrationError          the schema cannot be brought up to date

A failed *delivery* is never an exception: the sender returns an ``AttemptResult`` whose
``error`` is a kind (``timeout``, ``tls``, ...). Exceptions are for callers' mistakes and for
the store.
"""

from __future__ import annotations


class TelepushError(Exception):
    """Base of every error telepush raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class ConfigError(TelepushError):
    code = "config"
    http_status = 500


class InvalidInput(TelepushError):
    code = "invalid"
    http_status = 422


class InvalidPayload(InvalidInput):
    code = "invalid_payload"
    http_status = 422


class UnknownService(InvalidInput):
    code = "unknown_service"
    http_status = 422


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"
    http_status = 413


class NotFound(TelepushError):
    code = "not_found"
    http_status = 404


class Conflict(TelepushError):
    code = "conflict"
    http_status = 409


class StoreError(TelepushError):
    code = "store"
    http_status = 503


class MigrationError(StoreError):
    code = "migration"
