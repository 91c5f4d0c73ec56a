"""OAuth2 tokens shared through the store: per customer revision, expiring, encrypted, dropped."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from telepush.domain.customer import Customer
from telepush.store.base import Store
from telepush.store.secrets import SecretBox
from telepush.testing import FakeClock, make_customer_config
from tests.contract.backends import Backend
from tests.contract.conftest import CUSTOMER


async def test_stored_token_reads_back_until_it_expires(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A put token comes back decrypted with its expiry, and not once it has expired."""
    expires_at = clock.now() + timedelta(seconds=3600)
    await store.put_token(CUSTOMER, customer.revision, "tok-1", expires_at)
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) == ("tok-1", expires_at)
    clock.advance(3599)
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) is not None
    clock.advance(1)
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) is None


async def test_no_token_before_one_is_put(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A customer nobody fetched a token for has none."""
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) is None


async def test_a_new_token_replaces_the_previous_one(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """The token put last is the customer's token."""
    later = clock.now() + timedelta(hours=2)
    await store.put_token(CUSTOMER, customer.revision, "old", clock.now() + timedelta(hours=1))
    await store.put_token(CUSTOMER, customer.revision, "new", later)
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) == ("new", later)


async def test_token_belongs_to_the_revision_it_was_fetched_for(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """After the customer is replaced, the old revision's token is not handed out."""
    expires_at = clock.now() + timedelta(hours=1)
    await store.put_token(CUSTOMER, customer.revision, "tok-r1", expires_at)
    replaced, _ = await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    assert await store.get_token(CUSTOMER, replaced.revision, clock.now()) is None
    await store.put_token(CUSTOMER, replaced.revision, "tok-r2", expires_at)
    assert await store.get_token(CUSTOMER, replaced.revision, clock.now()) == ("tok-r2", expires_at)
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) is None


async def test_token_for_a_stale_revision_or_unknown_customer_is_ignored(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A token fetched for a revision that no longer exists is not stored."""
    replaced, _ = await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    expires_at = clock.now() + timedelta(hours=1)
    await store.put_token(CUSTOMER, replaced.revision, "current", expires_at)
    await store.put_token(CUSTOMER, customer.revision, "stale", expires_at)
    await store.put_token("nobody", 1, "orphan", expires_at)
    assert await store.get_token(CUSTOMER, replaced.revision, clock.now()) == (
        "current",
        expires_at,
    )
    assert await store.get_token("nobody", 1, clock.now()) is None


async def test_drop_token_forgets_a_refused_token(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """Dropping the current token removes it."""
    await store.put_token(CUSTOMER, customer.revision, "refused", clock.now() + timedelta(hours=1))
    await store.drop_token(CUSTOMER, customer.revision, "refused")
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) is None


async def test_drop_token_keeps_a_newer_token(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """Dropping a token another process already replaced leaves the replacement in place."""
    expires_at = clock.now() + timedelta(hours=1)
    await store.put_token(CUSTOMER, customer.revision, "first", expires_at)
    await store.put_token(CUSTOMER, customer.revision, "second", expires_at)
    await store.drop_token(CUSTOMER, customer.revision, "first")
    assert await store.get_token(CUSTOMER, customer.revision, clock.now()) == (
        "second",
        expires_at,
    )


async def test_tokens_are_not_stored_in_clear(
    store: Store, backend: Backend, workdir: Path, clock: FakeClock, customer: Customer
) -> None:
    """The token's bytes appear nowhere at rest, while its who-fetched-it note does."""
    token = "bearer-never-in-clear-4e1d9a"
    expires_at = clock.now() + timedelta(hours=1)
    await store.put_token(CUSTOMER, customer.revision, token, expires_at, fetched_by="worker-7f2")
    raw = await backend.raw_contents(workdir)
    assert b"worker-7f2" in raw  # the search does see stored data
    assert token.encode() not in raw


async def test_deleting_the_customer_deletes_its_token(
    store: Store, clock: FakeClock, customer: Customer
) -> None:
    """A deleted customer's token goes with it: the customer created again has none."""
    await store.put_token(CUSTOMER, customer.revision, "tok", clock.now() + timedelta(hours=1))
    await store.delete_customer(CUSTOMER, clock.now())
    again, _ = await store.put_customer(CUSTOMER, make_customer_config(), clock.now())
    assert again.revision == customer.revision  # a new customer starts at the same revision
    assert await store.get_token(CUSTOMER, again.revision, clock.now()) is None


async def test_tokens_are_shared_by_stores_on_one_database(
    backend: Backend, workdir: Path, box: SecretBox, clock: FakeClock
) -> None:
    """A token one store (process) puts is read by another store on the same database."""
    first, second = backend.make(workdir, box), backend.make(workdir, box)
    for each in (first, second):
        await each.open()
    try:
        await first.migrate()
        created, _ = await first.put_customer(CUSTOMER, make_customer_config(), clock.now())
        expires_at = clock.now() + timedelta(minutes=30)
        await first.put_token(CUSTOMER, created.revision, "shared", expires_at)
        assert await second.get_token(CUSTOMER, created.revision, clock.now()) == (
            "shared",
            expires_at,
        )
    finally:
        for each in (first, second):
            await each.close()
