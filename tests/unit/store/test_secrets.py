"""SecretBox and the key file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from telepush.errors import ConfigError
from telepush.store.secrets import SecretBox, load_or_create_key


def test_encrypt_then_decrypt_returns_the_secret() -> None:
    """A secret encrypted by a box decrypts back to itself."""
    box = SecretBox(SecretBox.generate_key())
    assert box.decrypt(box.encrypt("s3cret-é")) == "s3cret-é"


def test_token_does_not_contain_the_secret() -> None:
    """The token holds no trace of the plaintext, and differs on every call."""
    box = SecretBox(SecretBox.generate_key())
    first, second = box.encrypt("plain-secret"), box.encrypt("plain-secret")
    assert b"plain-secret" not in first
    assert first != second


def test_another_key_cannot_decrypt() -> None:
    """Decrypting with the wrong key is a ConfigError naming the key setting."""
    token = SecretBox(SecretBox.generate_key()).encrypt("x")
    with pytest.raises(ConfigError, match="not the one it was encrypted with") as caught:
        SecretBox(SecretBox.generate_key()).decrypt(token)
    assert caught.value.field == "TELEPUSH_SECRET_KEY"


@pytest.mark.parametrize("key", [b"", b"short", b"x" * 44])
def test_malformed_key_is_refused(key: bytes) -> None:
    """A key that is not 32 url-safe base64 bytes is a ConfigError."""
    with pytest.raises(ConfigError, match="malformed"):
        SecretBox(key)


def test_key_file_is_created_once_with_owner_only_access(tmp_path: Path) -> None:
    """The first call creates a 0600 key file; later calls return the same key."""
    path = tmp_path / "keys" / "secret.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    box = SecretBox(key)
    assert box.decrypt(box.encrypt("x")) == "x"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    """An existing key file open to group or others is refused with the chmod to run."""
    path = tmp_path / "secret.key"
    load_or_create_key(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_or_create_key(path)


def test_malformed_key_file_is_refused(tmp_path: Path) -> None:
    """A key file without a valid key is refused, not overwritten."""
    path = tmp_path / "secret.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key\n")
    os.close(fd)
    with pytest.raises(ConfigError, match="does not hold a valid key"):
        load_or_create_key(path)
    assert path.read_bytes() == b"not a key\n"
