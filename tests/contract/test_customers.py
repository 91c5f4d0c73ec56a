"""Customers: create or replace, secrets encrypted at rest, delete."""

from __future__ import annotations

from pathlib import Path

import pytest

from telepush.domain.delivery import Status
from telepush.errors import Conflict
from telepush.store.base import Store
from telepush.testing import FakeClock, make_customer_config
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER, Enqueue


async def test_put_creates_a_customer_at_revision_one(store: Store, clock: FakeClock) -> None:
    """A new customer comes back created, at revision 1, created and updated now."""
    config = make_customer_config()
    customer, created = await store.put_customer(CUSTOMER, config, clock.now())
    assert created is True
    assert (customer.customer_id, customer.revision) == (CUSTOMER, 1)
    assert customer.created_at == customer.updated_at == clock.now()
    assert customer.config == config


async def test_put_replaces_and_increments_the_revision(store: Store, clock: FakeClock) -> None:
    """Putting an existing customer replaces its config, keeps created_at, bumps the revision."""
    first_at = clock.now()
    await store.put_customer(CUSTOMER, make_customer_config(name="Before"), first_at)
    later = clock.advance(60)
    replaced, created = await store.put_customer(
        CUSTOMER, make_customer_config(name="After", auth="basic"), later
    )
    assert created is False
    assert replaced.revision == 2
    stored = await store.get_customer(CUSTOMER)
    assert stored is not None
    assert stored.config.name == "After"
    assert stored.config.auth.type == "basic"
    assert (stored.revision, stored.created_at, stored.updated_at) == (2, first_at, later)


@pytest.mark.parametrize("auth", ["oauth2", "basic"])
async def test_get_customer_round_trips_the_secret(
    store: Store, clock: FakeClock, auth: str
) -> None:
    """The stored customer comes back whole, its client secret or password decrypted."""
    config = make_customer_config(auth=auth, secret="round-trip-secret-1234")
    await store.put_customer(CUSTOMER, config, clock.now())
    stored = await store.get_customer(CUSTOMER)
    assert stored is not None
    assert stored.config == config
    assert stored.config.with_secrets()["auth"] == config.with_secrets()["auth"]


@pytest.mark.parametrize("auth", ["oauth2", "basic"])
async def test_secrets_are_not_stored_in_clear(
    store: Store, backend: Backend, workdir: Path, clock: FakeClock, auth: str
) -> None:
    """The secret's bytes appear nowhere at rest, while the public config does."""
    secret = "never-in-clear-7f3a9b2c"
    config = make_customer_config(auth=auth, secret=secret, name="Findable Name 42")
    await store.put_customer(CUSTOMER, config, clock.now())
    raw = await backend.raw_contents(workdir)
    assert b"Findable Name 42" in raw  # the search does see stored data
    assert secret.encode() not in raw


async def test_get_unknown_customer_is_none(store: Store) -> None:
    """An unknown customer id reads back as None."""
    assert await store.get_customer("nobody") is None


async def test_list_customers_returns_each_once(store: Store, clock: FakeClock) -> None:
    """Every stored customer is listed once, with its config."""
    for customer_id in ("b-corp", "a-corp", "c-corp"):
        await store.put_customer(customer_id, make_customer_config(name=customer_id), clock.now())
    await store.put_customer("a-corp", make_customer_config(name="a-corp v2"), clock.now())
    listed = await store.list_customers()
    assert sorted(c.customer_id for c in listed) == ["a-corp", "b-corp", "c-corp"]
    assert {c.customer_id: c.config.name for c in listed}["a-corp"] == "a-corp v2"


async def test_delete_customer_removes_it(store: Store, clock: FakeClock) -> None:
    """Deleting answers True once, then False; the customer is gone."""
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    assert await store.delete_customer(CUSTOMER, clock.now()) is True
    assert await store.get_customer(CUSTOMER) is None
    assert await store.delete_customer(CUSTOMER, clock.now()) is False


async def test_delete_customer_fails_unfinished_and_erases_payloads(
    store: Store, backend: Backend, workdir: Path, clock: FakeClock, enqueue: Enqueue
) -> None:
    """Its pending and sending deliveries end failed, every payload of it is erased."""
    await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    await store.put_customer("other", make_customer_config(), clock.now())
    sending = await enqueue("crash")
    await store.claim(now=clock.now(), worker_id="w1", lease_s=60, per_endpoint_limit=10, limit=10)
    pending = await enqueue("trip")
    kept = await enqueue("trip", customer_id="other")

    await store.delete_customer(CUSTOMER, clock.now())

    for delivery_id in (sending, pending):
        delivery = await store.get_delivery(delivery_id)
        assert delivery is not None and delivery.status is Status.FAILED
        assert await backend.stored_payload(workdir, delivery_id) is None
        with pytest.raises(Conflict):
            await store.retry_delivery(delivery_id, clock.now())
    assert await backend.stored_payload(workdir, kept) is not None
    claimed = await store.claim(
        now=clock.advance(3600), worker_id="w2", lease_s=60, per_endpoint_limit=10, limit=10
    )
    assert [c.delivery_id for c in claimed] == [kept]
