"""Receiver settings validation, and token and credential checks without a server."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from telepush.receiver import ReceiverSettings
from telepush.receiver.auth import Authenticator, TokenIssuer, Verdict, parse_basic
from telepush.services import CATALOGUE


def oauth(**values: Any) -> ReceiverSettings:
    return ReceiverSettings(client_id="id", client_secret="secret", **values)


def test_defaults_cover_every_service() -> None:
    """By default: receiver.db, oauth2, 401, one /push/<service> per catalogue service."""
    settings = oauth()
    assert settings.database == "receiver.db"
    assert settings.token_path == "/oauth/token"
    assert settings.token_ttl_s == 3600
    assert settings.reject_status == 401
    assert settings.enable_control is False
    assert settings.push_paths == {name: f"/push/{name}" for name in CATALOGUE}


def test_postgresql_urls_are_accepted() -> None:
    """postgresql:// and postgres:// URLs name a PostgreSQL database (no SQLite file)."""
    for url in ("postgresql://db/receiver", "postgres://u@db:5433/receiver", "PostgreSQL://db/r"):
        settings = oauth(database=url)
        assert settings.is_postgres
        assert settings.database_path is None
    assert oauth(database="PostgreSQL://db/r").database == "postgresql://db/r"
    assert not oauth(database="receiver.db").is_postgres


def test_database_password_is_masked_in_repr() -> None:
    """A password in the PostgreSQL URL (authority or parameter) never shows in the repr."""
    settings = oauth(database="postgresql://u:hunter2@db/r?password=hunter3&sslmode=require")
    assert "hunter" not in repr(settings)
    assert "hunter" not in str(settings)
    assert settings.database_label == "postgresql://u:***@db/r?password=***&sslmode=require"
    assert "hunter2" in settings.database


def test_other_urls_are_refused_clearly() -> None:
    """Other URL schemes and driver-suffixed PostgreSQL URLs are refused, naming what works."""
    with pytest.raises(ValidationError, match="SQLite file path or a postgresql:// URL"):
        oauth(database="mysql://db/receiver")
    with pytest.raises(ValidationError, match="plain postgresql:// URL"):
        oauth(database="postgresql+psycopg://db/receiver")


def test_sqlite_url_is_accepted_as_a_path() -> None:
    """sqlite:///path is the file path."""
    assert oauth(database="sqlite:///var/r.db").database == "var/r.db"


def test_memory_database_is_refused() -> None:
    """:memory: is refused: storage must be durable."""
    with pytest.raises(ValidationError, match="durable"):
        oauth(database=":memory:")


def test_credentials_are_required_for_the_mode() -> None:
    """oauth2 needs client credentials; basic needs a username and a password."""
    with pytest.raises(ValidationError, match="client_id and client_secret"):
        ReceiverSettings()
    with pytest.raises(ValidationError, match="username and password"):
        ReceiverSettings(auth_mode="basic", username="u")
    assert ReceiverSettings(auth_mode="basic", username="u", password="p").auth_mode == "basic"


def test_reject_status_is_401_or_403_only() -> None:
    """reject_status accepts 401 and 403, nothing else."""
    assert oauth(reject_status=403).reject_status == 403
    with pytest.raises(ValidationError):
        oauth(reject_status=500)


def test_push_paths_are_merged_and_checked() -> None:
    """Partial push_paths override the defaults; unknown services and clashes are refused."""
    assert oauth(push_paths={"trip": "/t"}).push_paths["trip"] == "/t"
    assert oauth(push_paths={"trip": "/t"}).push_paths["crash"] == "/push/crash"
    with pytest.raises(ValidationError, match="unknown service"):
        oauth(push_paths={"trips": "/t"})
    with pytest.raises(ValidationError, match="own push path"):
        oauth(push_paths={"trip": "/same", "crash": "/same"})


def test_secrets_do_not_leak_in_repr() -> None:
    """The client secret and password never appear in the settings' repr."""
    assert "secret" not in repr(oauth()).replace("client_secret", "")


def test_tokens_expire_and_can_be_revoked() -> None:
    """A token is valid until its expiry; revoke_all invalidates every token."""
    now = [1000.0]
    issuer = TokenIssuer(ttl_s=60, clock=lambda: now[0])
    token = issuer.issue().access_token
    assert issuer.is_valid(token)
    assert not issuer.is_valid(token + "x")
    now[0] += 59.9
    assert issuer.is_valid(token)
    now[0] += 0.2
    assert not issuer.is_valid(token)
    fresh = issuer.issue().access_token
    assert issuer.revoke_all() == 1
    assert not issuer.is_valid(fresh)
    assert issuer.issued == 2


def test_basic_header_parsing() -> None:
    """Basic credentials are decoded; malformed values are rejected, not crashed on."""
    encoded = base64.b64encode(b"user:pa:ss").decode()
    assert parse_basic(f"Basic {encoded}") == ("user", "pa:ss")
    assert parse_basic("Basic !!!") is None
    assert parse_basic("Bearer abc") is None
    assert parse_basic(f"Basic {base64.b64encode(b'nocolon').decode()}") is None


def test_authenticator_verdicts() -> None:
    """Missing, wrong and right credentials give MISSING, REJECTED and OK."""
    issuer = TokenIssuer(ttl_s=60)
    auth = Authenticator(oauth(), issuer)
    right = "Basic " + base64.b64encode(b"id:secret").decode()
    wrong = "Basic " + base64.b64encode(b"id:nope").decode()
    assert auth.check_client(None) is Verdict.MISSING
    assert auth.check_client(wrong) is Verdict.REJECTED
    assert auth.check_client(right) is Verdict.OK
    assert auth.check_request(right) is Verdict.MISSING  # pushes need a bearer token
    assert auth.check_request("Bearer nope") is Verdict.REJECTED
    assert auth.check_request("Bearer " + issuer.issue().access_token) is Verdict.OK
