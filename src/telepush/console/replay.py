"""Bulk replays: re-queue an endpoint's failed deliveries as a task with progress.

    POST .../failed/retry -> start_retry_task (counts nbItems, refuses a second running task)
    -> chunks re-queued one transaction each (advance_task) -> done

A task is advanced by the process that started it; a task whose process died (no progress
for ``stall_after_s``) is picked up again by any ``telepush serve`` (``resume_stalled``), so
a crash never leaves an endpoint locked out of replays. Re-queued deliveries are marked
manual: a failed attempt ends them failed again instead of a new round of retries.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from telepush import metrics
from telepush.domain.tasks import Task, TaskStatus
from telepush.errors import InvalidInput, NotFound
from telepush.operations import Operations
from telepush.store.base import Store

log = logging.getLogger("telepush.replay")

MAX_TASKS_PAGE = 200


class Replays:
    def __init__(
        self,
        ops: Operations,
        *,
        chunk: int = 500,
        stall_after_s: float = 60.0,
        on_requeued: Callable[[Task, int], None] | None = None,
    ) -> None:
        self.ops = ops
        self.chunk = chunk
        self.stall_after_s = stall_after_s
        self._on_requeued = on_requeued
        self._running: dict[str, asyncio.Task[Task]] = {}

    @property
    def store(self) -> Store:
        return self.ops.store

    def _now(self) -> datetime:
        return self.ops.clock()

    async def start(
        self,
        customer_id: str,
        service: str,
        *,
        failed_from: datetime | None = None,
        failed_to: datetime | None = None,
    ) -> Task:
        """Create the task (``Conflict`` while one runs for the endpoint); the caller runs it
        with ``run`` or ``spawn``."""
        await self.ops.check_endpoint(customer_id, service)
        if failed_from is not None and failed_to is not None and failed_from >= failed_to:
            raise InvalidInput("'from' must be before 'to'", field="from")
        return await self.store.start_retry_task(
            str(uuid.uuid4()),
            customer_id,
            service,
            self._now(),
            failed_from=failed_from,
            failed_to=failed_to,
        )

    async def run(self, task: Task, progress: Callable[[Task], None] | None = None) -> Task:
        """Advance ``task`` chunk by chunk until it is done; ``progress`` sees each step.
        An error marks the task failed (it may then be started again) and is raised."""
        try:
            while task.status is TaskStatus.RUNNING:
                before = task.nb_done
                task = await self.store.advance_task(task.task_id, self._now(), chunk=self.chunk)
                if task.nb_done > before:
                    metrics.observe_replayed(task.customer_id, task.service, task.nb_done - before)
                    if self._on_requeued is not None:
                        self._on_requeued(task, task.nb_done - before)
                if progress is not None:
                    progress(task)
        except asyncio.CancelledError:
            raise  # stopping: the task stays running and is resumed as stalled
        except Exception as exc:
            log.exception("replay task %s failed", task.task_id)
            await self.store.fail_task(task.task_id, f"{type(exc).__name__}: {exc}", self._now())
            raise
        log.info(
            "replay task %s done: %d re-queued, %d skipped",
            task.task_id,
            task.nb_done,
            task.nb_skipped,
            extra={
                "task_id": task.task_id,
                "customer_id": task.customer_id,
                "service": task.service,
            },
        )
        return task

    def spawn(self, task: Task) -> None:
        """Run ``task`` in the background of this process."""
        if task.status is not TaskStatus.RUNNING or task.task_id in self._running:
            return
        job = asyncio.create_task(self.run(task), name=f"telepush-task-{task.task_id}")
        self._running[task.task_id] = job
        job.add_done_callback(self._finished)

    def _finished(self, job: asyncio.Task[Task]) -> None:
        for task_id, running in list(self._running.items()):
            if running is job:
                del self._running[task_id]
        if not job.cancelled():
            job.exception()  # already logged and recorded on the task by ``run``

    async def resume_stalled(self) -> int:
        """Take over running tasks nobody has advanced for ``stall_after_s``."""
        cutoff = self._now() - timedelta(seconds=self.stall_after_s)
        stalled = [
            t for t in await self.store.stalled_tasks(cutoff) if t.task_id not in self._running
        ]
        for task in stalled:
            log.info("resuming stalled replay task %s", task.task_id)
            self.spawn(task)
        return len(stalled)

    async def watch(self, stop: asyncio.Event, every_s: float = 30.0) -> None:
        """Resume stalled tasks until ``stop``; then cancel this process's running tasks."""
        try:
            while not stop.is_set():
                try:
                    await self.resume_stalled()
                except Exception:
                    log.exception("looking for stalled replay tasks failed")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=every_s)
                except TimeoutError:
                    pass
        finally:
            await self.close()

    async def close(self) -> None:
        jobs = list(self._running.values())
        for job in jobs:
            job.cancel()
        await asyncio.gather(*jobs, return_exceptions=True)

    async def get(self, task_id: str) -> Task:
        task = await self.store.get_task(task_id)
        if task is None:
            raise NotFound(f"no task '{task_id}'", field="taskId")
        return task

    async def list(self, limit: int = 50) -> list[Task]:
        if not 1 <= limit <= MAX_TASKS_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_TASKS_PAGE}", field="limit")
        return await self.store.list_tasks(limit=limit)
