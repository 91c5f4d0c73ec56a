"""WAL checkpoints on a thread of their own, beside the writer.

In WAL mode every commit appends pages to the ``-wal`` file, and a checkpoint copies them
back into the database file (and, with ``synchronous=FULL``, syncs it). By default SQLite runs
that checkpoint inside the commit that pushes the WAL past 1,000 pages: on the writer thread,
while every caller waiting for a commit waits for it too. Under batch ingest that was about a
third of the writer's time.

``Checkpointer`` runs them instead on its own connection, every ``interval_s``, in
``PASSIVE`` mode (it never waits for the writer nor blocks it). The writer connection keeps
an automatic checkpoint only as a backstop, at ``BACKSTOP_PAGES``, for when this thread
falls behind. A checkpoint is one call into SQLite with the GIL released, so it runs on the
second core while the writer goes on committing.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("telepush.store")

# The writer's own automatic checkpoint, in pages of WAL: 64 MB with 16 KB pages (new
# files), 16 MB with the 4 KB pages of files made before.
BACKSTOP_PAGES = 4096


class Checkpointer:
    """A thread checkpointing the WAL of the database ``connect`` opens."""

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], *, interval_s: float = 0.25, name: str
    ) -> None:
        self._connect = connect
        self._interval_s = interval_s
        self._name = name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # checkpoints that copied pages back

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"telepush-checkpoint-{self._name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """End the thread after its current checkpoint (the writer's close checkpoints last)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error:
            log.exception(
                "cannot open %s for checkpoints; the writer checkpoints alone", self._name
            )
            return
        try:
            while not self._stop.wait(self._interval_s):
                try:
                    _, wal_pages, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    log.exception("WAL checkpoint of %s failed; trying again", self._name)
                    continue
                if copied > 0 and wal_pages > 0:
                    self.checkpoints += 1
        finally:
            conn.close()
