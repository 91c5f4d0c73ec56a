"""Fixtures shared by every test layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.certs import CertFiles, make_certs


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertFiles:
    """A test CA and a server certificate for localhost and 127.0.0.1."""
    return make_certs(Path(tmp_path_factory.mktemp("certs")))
