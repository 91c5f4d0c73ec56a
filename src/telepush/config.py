"""Settings: flags, then ``TELEPUSH_*`` environment, then a TOML file, then defaults.

Read once, at the top (``cli`` -> ``runtime``); nothing below the runtime reads settings —
the store, the sender and the worker take plain arguments.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from telepush.errors import ConfigError

CONFIG_ENV = "TELEPUSH_CONFIG"
_toml_file: ContextVar[str | None] = ContextVar("telepush_toml_file", default=None)
MIB = 1024 * 1024


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "telepush"


class Settings(BaseSettings):
    """Every setting of a telepush process. ``telepush.example.toml`` documents each one."""

    model_config = SettingsConfigDict(env_prefix="TELEPUSH_", extra="forbid")

    # Where things live
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""  # default: sqlite:///<data_dir>/telepush.db
    # Secrets (generated into data_dir with 0600 rights when unset)
    api_token: SecretStr | None = None
    secret_key: SecretStr | None = None
    # API
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(default=16 * MIB, ge=1024)
    # Delivery
    ca_bundle: Path | None = None
    allow_private_networks: bool = False
    connect_timeout_s: float = Field(default=5.0, gt=0)
    total_timeout_s: float = Field(default=30.0, gt=0)
    lease_s: float = Field(default=120.0, gt=0)
    max_in_flight: int = Field(default=256, ge=1)
    per_endpoint_concurrency: int = Field(default=16, ge=1)
    claim_batch: int = Field(default=200, ge=1)
    # HTTP requests are made by this many child processes of each serve/worker process, so
    # that HTTP and TLS use more than the one core a Python process can: worth it on a
    # machine with cores to spare. 0: by the serve/worker process itself.
    delivery_processes: int = Field(default=0, ge=0, le=64)
    poll_interval_s: float = Field(default=1.0, gt=0)
    shutdown_grace_s: float = Field(default=10.0, ge=0)
    # Circuit breaker: pause an endpoint after this many consecutive failed attempts (0: off);
    # while paused, one probe every breaker_probe_interval_s checks whether it recovered.
    breaker_failures: int = Field(default=0, ge=0)
    breaker_probe_interval_s: float = Field(default=30.0, gt=0)
    # Retention (days): delivered payloads, failed payloads, delivery metadata and attempts;
    # the purge runs every retention_interval_s in `telepush serve` (0: only `telepush purge`).
    retention_delivered_days: float = Field(default=7.0, gt=0)
    retention_failed_days: float = Field(default=30.0, gt=0)
    retention_metadata_days: float = Field(default=90.0, gt=0)
    retention_interval_s: float = Field(default=3600.0, ge=0)
    # Prometheus metrics of a `telepush worker` process on this port (0: none); `telepush
    # serve` exposes them at /metrics on its API port.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Storage
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    # The interpreter's thread switch interval (ms) in `serve` and `worker` (0: Python's own,
    # 5 ms). The SQLite writer thread gives the GIL away around every statement and waits
    # for it behind the event loop for up to this long each time: 0.5 ms lifts batch ingest
    # by ~20 % (docs/benchmarks.md).
    switch_interval_ms: float = Field(default=0.5, ge=0, le=100)
    # Logs
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_json: bool = False

    @model_validator(mode="after")
    def _lease_outlasts_http(self) -> Settings:
        if self.lease_s <= self.total_timeout_s + self.connect_timeout_s:
            raise ValueError(
                f"lease_s ({self.lease_s:g}) must be longer than total_timeout_s + "
                f"connect_timeout_s ({self.total_timeout_s + self.connect_timeout_s:g}), "
                "or a slow attempt would be sent twice"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = _toml_file.get() or os.environ.get(CONFIG_ENV)
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'telepush.db'}"


def load_settings(config_file: Path | None = None, **flags: Any) -> Settings:
    """Settings from flags (``None`` values ignored), environment, TOML file, defaults."""
    overrides = {k: v for k, v in flags.items() if v is not None}
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file not found: {config_file}", field="config")
    toml_path = os.environ.get(CONFIG_ENV)
    if config_file is None and toml_path and not Path(toml_path).is_file():
        raise ConfigError(f"{CONFIG_ENV} names a missing file: {toml_path}", field="config")
    token = _toml_file.set(str(config_file) if config_file is not None else None)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        env = f"TELEPUSH_{name.upper()}" if err["loc"] else ""
        where = f"{name} ({env})" if env else name
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"invalid setting {where}: {msg}", field=name) from None
    finally:
        _toml_file.reset(token)
