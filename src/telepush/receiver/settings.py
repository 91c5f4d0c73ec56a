"""Settings of the receiver kit.

One ``ReceiverSettings`` object configures a receiver: where it stores what it receives
(a SQLite file), how pushes authenticate (OAuth2 client credentials or HTTP Basic), the
paths it serves, and whether the test/demo control API is on. Secrets are ``SecretStr`` so
they never show up in a ``repr`` or a log line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
        description="SQLite file (a path, or sqlite:///path). PostgreSQL is not supported.",
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
    def _sqlite_only(cls, value: str) -> str:
        lowered = value.strip().lower()
        if lowered.startswith(("postgresql:", "postgres:", "postgresql+")):
            raise ValueError(
                "the receiver kit stores in a SQLite file only; PostgreSQL URLs are not "
                "supported - give a file path such as receiver.db"
            )
        if value.startswith("sqlite:///"):
            value = value[len("sqlite:///") :]
        elif "://" in value:
            raise ValueError(f"database must be a SQLite file path, not the URL {value!r}")
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
    def database_path(self) -> Path:
        return Path(self.database)

    def service_of_path(self) -> dict[str, str]:
        """Push path -> service name."""
        return {path: service for service, path in self.push_paths.items()}


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""
