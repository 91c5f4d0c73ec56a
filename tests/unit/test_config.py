"""Settings precedence and the example file."""

from __future__ import annotations

from pathlib import Path

import pytest

from telepush.config import CONFIG_ENV, Settings, load_settings
from telepush.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TELEPUSH_"):
            monkeypatch.delenv(name)


def test_example_file_loads_and_documents_every_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """telepush.example.toml loads, and names every setting there is."""
    example = ROOT / "telepush.example.toml"
    settings = load_settings(example)
    assert settings.port == 8080
    text = example.read_text()
    for name in Settings.model_fields:
        assert f"{name} =" in text, f"{name} is not documented in telepush.example.toml"


def test_precedence_flags_env_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flags beat environment, which beats the TOML file, which beats defaults."""
    toml = tmp_path / "t.toml"
    toml.write_text('port = 7001\nhost = "0.0.0.0"\nlog_level = "debug"\n')
    monkeypatch.setenv("TELEPUSH_PORT", "7002")
    monkeypatch.setenv("TELEPUSH_HOST", "127.0.0.2")
    settings = load_settings(toml, host="127.0.0.3")
    assert settings.host == "127.0.0.3"
    assert settings.port == 7002
    assert settings.log_level == "debug"
    assert settings.max_in_flight == 256


def test_default_database_is_sqlite_in_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a database URL the embedded SQLite file lives in the data directory."""
    monkeypatch.setenv("TELEPUSH_DATA_DIR", str(tmp_path))
    assert load_settings().resolved_database_url == f"sqlite:///{tmp_path}/telepush.db"


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An invalid value says which setting and environment variable."""
    monkeypatch.setenv("TELEPUSH_PORT", "eighty")
    with pytest.raises(ConfigError, match="TELEPUSH_PORT"):
        load_settings()


def test_lease_must_outlast_http_timeouts() -> None:
    """A lease shorter than an attempt could last is refused."""
    with pytest.raises(ConfigError, match="lease_s"):
        load_settings(lease_s=20, total_timeout_s=30)


def test_missing_config_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config path that does not exist is an error, not silently ignored."""
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings()
