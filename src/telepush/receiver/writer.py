"""A single writer thread with group commit (SQLite or PostgreSQL).

Every write is a *job* (a function of the connection) queued to one thread that owns the
write connection. The thread takes whatever jobs are waiting (up to ``max_batch``), runs
each inside its own savepoint of one transaction, commits once, and only then settles the
callers' futures. So a caller learns of success only after its data is durable
(``synchronous=FULL``, or PostgreSQL's commit), while many concurrent pushes share one
flush. A job that raises is rolled back to its savepoint alone; a failed commit fails every
job of the batch.

A connection found broken (its server went away) is dropped and a new one opened for the
next batch. When that is found at ``BEGIN``, before any job ran, the batch is retried once
on a fresh connection; later, its jobs fail (their callers answer 500 and are redelivered).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from telepush.receiver.dialect import Connection

T = TypeVar("T")
Job = Callable[[Connection], Any]
_Item = tuple[Job, "asyncio.Future[Any]", asyncio.AbstractEventLoop]

log = logging.getLogger(__name__)


class WriterClosed(RuntimeError):
    """The writer was closed; nothing more can be stored."""


class GroupCommitWriter:
    """Runs write jobs on one thread, committing them in groups."""

    def __init__(self, connect: Callable[[], Connection], max_batch: int = 256) -> None:
        self._connect = connect
        self._conn: Connection | None = None
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        self.commits = 0

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise WriterClosed("the storage writer is closed")
            if self._thread is None:
                ready: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
                self._thread = threading.Thread(
                    target=self._run, args=(ready,), name="receiver-writer", daemon=True
                )
                self._thread.start()
                failure = ready.get()
                if failure is not None:
                    self._thread = None
                    raise failure

    async def submit(self, job: Callable[[Connection], T]) -> T:
        """Run ``job`` in a transaction; return its result once that transaction committed."""
        if self._thread is None:
            self.start()
        if self._closed:
            raise WriterClosed("the storage writer is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((job, future, loop))
        return await future

    def close(self) -> None:
        """Finish the queued jobs, then stop the thread and close the connection."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _run(self, ready: queue.SimpleQueue[BaseException | None]) -> None:
        try:
            self._conn = self._connect()
        except BaseException as exc:
            ready.put(exc)
            return
        ready.put(None)
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stop = True
                        break
                    batch.append(item)
                self._commit(batch)
        finally:
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("receiver storage: closing a connection failed", exc_info=True)

    def _begin(self) -> Connection:
        """The connection, in a new transaction; a connection found broken is replaced once."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            self._conn.begin()
        except Exception:
            if not self._conn.broken:
                raise
            log.warning("receiver storage: the database connection was lost; reconnecting")
            self._drop()
            self._conn = self._connect()
            self._conn.begin()
        return self._conn

    def _commit(self, batch: list[_Item]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn = self._begin()
            for job, _future, _loop in batch:
                conn.execute("SAVEPOINT job")
                try:
                    outcomes.append((True, job(conn)))
                except Exception as exc:
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    outcomes.append((False, exc))
                conn.execute("RELEASE SAVEPOINT job")
            conn.execute("COMMIT")
            self.commits += 1
        except Exception as exc:
            log.exception("receiver storage: transaction failed, nothing of it was stored")
            self._abort()
            outcomes = [(False, exc)] * len(batch)
        for (_job, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            try:
                loop.call_soon_threadsafe(_settle, future, ok, value)
            except RuntimeError:  # the caller's loop is gone
                continue

    def _abort(self) -> None:
        """Roll back what is left of a failed transaction; drop a connection in doubt."""
        conn = self._conn
        if conn is None:
            return
        try:
            if not conn.broken and conn.in_transaction:
                conn.execute("ROLLBACK")
        except Exception:
            log.exception("receiver storage: rollback failed")
            self._drop()
            return
        if conn.broken:
            self._drop()


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
