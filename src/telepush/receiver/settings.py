"""Settings of the receiver kit.

One ``ReceiverSettings`` object configures a receiver: where it stores what it receives
(a SQLite file, or a PostgreSQL database by URL), how pushes authenticate (OAuth2 client
credentials or HTTP Basic), the paths it serves, and whether the test/demo control API is on.
Secrets are ``SecretStr`` so they never show up in a ``repr`` or a log line; a password in
the database URL is masked in the ``repr`` too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from telepush.receiver.pg import is_postgres_url, redact_url
from telepush.services import CATALOGUE

DEFAULT_TOKEN_PATH = "/oauth/token"


def default_push_paths() -> dict[str, str]:
    """``/push/<service>`` for every service in the catalogue."""
    return {name: f"/push/{name}" for name in CATALOGUE}


class ReceiverSettings(BaseModel):
    """Everything a receiver needs; validated when built, so a bad setting fails at start."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    database: str = Field(
        default="receiver.db",
        description="SQLite file (a path, or sqlite:///path), or a postgresql:// URL",
    )
    auth_mode: Literal["oauth2", "basic"] = "oauth2"
    client_id: str | None = Field(default=None, description="OAuth2 client id accepted")
    client_secret: SecretStr | None = Field(default=None, description="OAuth2 client secret")
    username: str | None = Field(default=None, description="Basic mode user name")
    password: SecretStr | None = Field(default=None, description="Basic mode password")
    token_ttl_s: int = Field(default=3600, gt=0, description="lifetime of issued tokens")
    token_path: str = DEFAULT_TOKEN_PATH
    push_paths: dict[str, str] = Field(default_factory=default_push_paths)
    reject_status: Literal[401, 403] = Field(
        default=401, description="status answered to an unknown, expired or revoked token"
    )
    enable_control: bool = Field(
        default=False,
        description="mount the unauthenticated /_control/ API (tests and demos only, never "
        "in production)",
    )
    max_body_bytes: int = Field(default=16 * 1024 * 1024, gt=0)
    request_log_size: int = Field(default=10_000, gt=0, description="control API request log")

    @field_validator("database")
    @classmethod
    def _sqlite_or_postgres(cls, value: str) -> str:
        if is_postgres_url(value):
            scheme, _sep, rest = value.strip().partition("://")
            return f"{scheme.lower()}://{rest}"
        if value.strip().lower().startswith("postgresql+"):
            raise ValueError("give a plain postgresql:// URL (no +driver suffix)")
        if value.startswith("sqlite:///"):
            value = value[len("sqlite:///") :]
        elif "://" in value:
            raise ValueError(
                "database must be a SQLite file path or a postgresql:// URL, not a "
                f"{value.partition('://')[0]}:// URL"
            )
        if not value or value == ":memory:" or value.startswith("file:"):
            raise ValueError("database must be a SQLite file path (storage must be durable)")
        return value

    @field_validator("token_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("token_path must start with '/'")
        return value

    @field_validator("push_paths")
    @classmethod
    def _known_services(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(CATALOGUE))
        if unknown:
            raise ValueError(
                f"unknown service(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}"
            )
        merged = default_push_paths() | value
        for service, path in merged.items():
            if not path.startswith("/") or path.startswith("/_control"):
                raise ValueError(f"push path of {service} must start with '/': {path!r}")
        if len(set(merged.values())) != len(merged):
            raise ValueError("each service needs its own push path")
        return merged

    @model_validator(mode="after")
    def _credentials_for_mode(self) -> ReceiverSettings:
        if self.auth_mode == "oauth2":
            if not self.client_id or not _secret(self.client_secret):
                raise ValueError("auth_mode 'oauth2' needs client_id and client_secret")
            if self.token_path in self.push_paths.values():
                raise ValueError("token_path must differ from every push path")
        elif not self.username or not _secret(self.password):
            raise ValueError("auth_mode 'basic' needs username and password")
        return self

    @property
    def is_postgres(self) -> bool:
        return is_postgres_url(self.database)

    @property
    def database_path(self) -> Path | None:
        """The SQLite file; ``None`` when storing in PostgreSQL."""
        return None if self.is_postgres else Path(self.database)

    @property
    def database_label(self) -> str:
        """The database, fit for a log line (a URL's password masked)."""
        return redact_url(self.database) if self.is_postgres else self.database

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, self.database_label if name == "database" else value

    def service_of_path(self) -> dict[str, str]:
        """Push path -> service name."""
        return {path: service for service, path in self.push_paths.items()}


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
