"""One thread owns the SQLite connection and commits work in groups.

Async callers hand it jobs (a callable taking the connection). The thread takes one job, then
every other job already waiting (up to ``max_batch``), and runs them all in ONE transaction,
each inside its own savepoint: a job that raises is rolled back alone and gets its exception,
the others commit together. Futures are resolved only after ``COMMIT`` returns, so a caller
that got its result knows its writes are durable — and N concurrent callers cost one fsync.

A group of read-only jobs runs in a deferred transaction, which takes no write lock.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from telepush.errors import StoreError

T = TypeVar("T")

Connect = Callable[[], sqlite3.Connection]
JobFn = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True)
class _Job:
    fn: JobFn
    write: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


@dataclass(frozen=True)
class _Stop:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


class _Aborted(Exception):
    """The transaction was rolled back as a whole: no job of the group took effect."""


class SQLiteWriter:
    """The connection's owner thread, with group commit."""

    def __init__(self, connect: Connect, *, max_batch: int = 500, name: str = "sqlite") -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._name = name
        self._queue: queue.SimpleQueue[_Job | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self.commit_count = 0  # write transactions committed

    async def start(self) -> None:
        """Start the thread and connect; raise ``StoreError`` when the database cannot open."""
        if self._thread is not None:
            return
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()
        self._thread = threading.Thread(
            target=self._main, args=(loop, ready), name=f"telepush-{self._name}", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread = None
            raise
        self._accepting = True

    async def stop(self) -> None:
        """Run every job already submitted, then close the connection and end the thread."""
        if self._thread is None:
            return
        self._accepting = False
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Stop(loop, done))
        await done
        self._thread = None

    async def run(self, fn: Callable[[sqlite3.Connection], T], *, write: bool = True) -> T:
        """Run ``fn(connection)`` on the thread; return its result once committed."""
        if not self._accepting:
            raise StoreError("the store is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, write, loop, future))
        return await future

    # ---- on the thread ----------------------------------------------------------------

    def _main(self, loop: asyncio.AbstractEventLoop, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except Exception as exc:
            _settle(loop, ready, None, _as_store_error(exc, "cannot open the database"))
            return
        _settle(loop, ready, None, None)
        stop: _Stop | None = None
        try:
            while stop is None:
                batch, stop = self._next_batch()
                if batch:
                    self._run_batch(conn, batch)
        finally:
            conn.close()
            if stop is not None:
                _settle(stop.loop, stop.future, None, None)

    def _next_batch(self) -> tuple[list[_Job], _Stop | None]:
        first = self._queue.get()
        if isinstance(first, _Stop):
            return [], first
        batch = [first]
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Stop):
                return batch, item
            batch.append(item)
        return batch, None

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        write = any(job.write for job in batch)
        settled: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            if len(batch) == 1:
                # Alone in its transaction, a job needs no savepoint (each statement is one
                # more wait for the GIL behind the event loop): if it fails, the transaction
                # is rolled back and the job gets its error, as it would with one.
                job = batch[0]
                value, error = _run_alone(conn, job)
                if error is not None:
                    _settle(job.loop, job.future, None, error)
                    return
                settled.append((job, value, None))
            else:
                for job in batch:
                    settled.append((job, *_run_job(conn, job)))
            conn.execute("COMMIT")
        except (sqlite3.Error, _Aborted) as exc:
            _rollback(conn)
            failure = _as_store_error(exc, "the transaction failed")
            settled = [(job, None, failure) for job in batch]
        else:
            if write:
                self.commit_count += 1
        for job, value, error in settled:
            _settle(job.loop, job.future, value, error)


def _run_alone(conn: sqlite3.Connection, job: _Job) -> tuple[Any, BaseException | None]:
    """Run the only job of a transaction; when it fails, roll the transaction back."""
    try:
        return job.fn(conn), None
    except Exception as exc:
        if not conn.in_transaction:  # SQLite rolled the whole transaction back
            raise _Aborted(str(exc)) from exc
        conn.execute("ROLLBACK")
        return None, _as_store_error(exc, "database error")


def _run_job(conn: sqlite3.Connection, job: _Job) -> tuple[Any, BaseException | None]:
    conn.execute("SAVEPOINT job")
    try:
        value = job.fn(conn)
    except Exception as exc:
        if not conn.in_transaction:  # SQLite rolled the whole transaction back
            raise _Aborted(str(exc)) from exc
        conn.execute("ROLLBACK TO job")
        conn.execute("RELEASE job")
        return None, _as_store_error(exc, "database error")
    conn.execute("RELEASE job")
    return value, None


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.Error:  # the connection is unusable; the next BEGIN will say so
            pass


def _as_store_error(exc: BaseException, what: str) -> BaseException:
    if isinstance(exc, sqlite3.Error | _Aborted):
        error = StoreError(f"{what}: {exc}")
        error.__cause__ = exc
        return error
    return exc


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    value: Any,
    error: BaseException | None,
) -> None:
    def settle() -> None:
        if future.done():  # the caller was cancelled
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:  # the caller's loop is closed: nobody is waiting
        pass
