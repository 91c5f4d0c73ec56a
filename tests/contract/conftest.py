"""Fixtures of the contract suite: every test runs once per backend in ``BACKENDS``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from telepush.domain.customer import Customer
from telepush.domain.delivery import NewDelivery
from telepush.services import SERVICE_NAMES
from telepush.store.base import Store
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config, new_delivery
from tests.contract.backends import BACKENDS, Backend

CUSTOMER = "acme"


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    backend: Backend = request.param
    backend.ready()
    return backend


@pytest.fixture
def workdir(tmp_path: Path, backend: Backend) -> Iterator[Path]:
    """Where the backend keeps this test's database; dropped after the test."""
    yield tmp_path
    backend.cleanup(tmp_path)


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(backend: Backend, workdir: Path, box: SecretBox) -> AsyncIterator[Store]:
    """An open store on a fresh, migrated database."""
    opened = backend.make(workdir, box)
    await opened.open()
    await opened.migrate()
    yield opened
    await opened.close()


@pytest.fixture
async def customer(store: Store, clock: FakeClock) -> Customer:
    """Customer ``acme`` with every service configured and enabled."""
    created, _ = await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    return created


@pytest.fixture
async def other_customer(store: Store, clock: FakeClock) -> Customer:
    """Customer ``other`` with every service configured but disabled: its deliveries can be
    queued (deliveries need an existing customer) and stay pending, never claimed."""
    config = make_customer_config(disabled=SERVICE_NAMES)
    created, _ = await store.put_customer("other", config, clock.now())
    return created


Enqueue = Callable[..., Awaitable[str]]


@pytest.fixture
def enqueue(store: Store, clock: FakeClock) -> Enqueue:
    """Queue one delivery (created now unless told) and return its id."""

    async def enqueue_one(service: str = "trip", customer_id: str = CUSTOMER, **kwargs: Any) -> str:
        kwargs.setdefault("created_at", clock.now())
        item: NewDelivery = new_delivery(customer_id, service, **kwargs)
        [result] = await store.enqueue([item])
        return result.delivery_id

    return enqueue_one
