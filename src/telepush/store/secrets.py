"""Secrets at rest: customers' client secrets and passwords, encrypted with one Fernet key.

The key comes from ``TELEPUSH_SECRET_KEY`` or from a key file in the data directory that
``load_or_create_key`` creates once, readable by its owner only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from telepush.errors import ConfigError


class SecretBox:
    """Encrypts and decrypts short secrets with a Fernet key (AES-128-CBC + HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise ConfigError(
                "the secret key is malformed: expected 32 url-safe base64-encoded bytes; make "
                "one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
                field="TELEPUSH_SECRET_KEY",
            ) from None

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode("utf-8"))

    def decrypt(self, token: bytes) -> str:
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            raise ConfigError(
                "a stored secret cannot be decrypted: the secret key is not the one it was "
                "encrypted with (check TELEPUSH_SECRET_KEY or the key file)",
                field="TELEPUSH_SECRET_KEY",
            ) from None


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; create it (mode 0600) when there is none yet.

    An existing file must be a valid key and accessible by its owner only; otherwise
    ``ConfigError`` says what to fix. Creation is exclusive, so two processes starting at
    once end up with the same key."""
    path = Path(path)
    try:
        return _create(path)
    except FileExistsError:
        return _read(path)


def _create(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SecretBox.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, key + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _read(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"the secret key file {path} is accessible by group or others "
            f"(mode {stat.filemode(mode)}); run `chmod 600 {path}`",
            field="TELEPUSH_SECRET_KEY",
        )
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise ConfigError(
            f"the secret key file {path} does not hold a valid key "
            "(expected 32 url-safe base64-encoded bytes)",
            field="TELEPUSH_SECRET_KEY",
        ) from None
    return key
