"""Running the demo: start the receiver kit and telepush, tell the story, watch it to the end,
count the outcome, then stop everything (or keep it up until SIGINT/SIGTERM)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import aiohttp

from telepush import runtime
from telepush.config import Settings
from telepush.demo.clients import ApiClient, DemoError, ReceiverClient
from telepush.demo.outcome import Outcome, tally, unfinished
from telepush.demo.scenario import CUSTOMER_ID, Scenario
from telepush.demo.workspace import HOST, RECEIVER_CLIENT_ID, Workspace
from telepush.receiver import ReceiverSettings, ReceiverThread

T = TypeVar("T")
WATCH_EVERY_S = 0.2
STOPPING_GRACE_S = 2.0
EXIT_OK, EXIT_UNFINISHED, EXIT_INTERRUPTED = 0, 1, 130


@dataclass(frozen=True)
class DemoOptions:
    events: int
    seed: int
    timeout_s: float
    keep_running: bool


@dataclass(frozen=True)
class Endpoints:
    """Where the running demo lives, for the user to look next."""

    workspace: Workspace
    api_url: str
    token_file: Path | None
    receiver_url: str


class View(Protocol):
    def narrate(self, text: str) -> None: ...
    def started(self, endpoints: Endpoints) -> None: ...
    def progress(self, stats: Mapping[str, int]) -> None: ...
    def finished(self, outcome: Outcome, endpoints: Endpoints, keep_running: bool) -> None: ...
    def close(self) -> None: ...


class Interrupted(Exception):
    """SIGINT/SIGTERM stopped telepush before the demo was over."""


async def run_demo(
    settings: Settings, workspace: Workspace, options: DemoOptions, view: View
) -> int:
    """Run the whole demo; the exit code (0: every delivery final and none failed)."""
    if settings.api_token is not None:  # the demo's token lives in its directory
        settings = settings.model_copy(update={"api_token": None})
    token, _ = runtime.api_token(settings)
    receiver = _start_receiver(workspace)
    serve_task: asyncio.Task[None] | None = None
    try:
        ready: asyncio.Future[runtime.ServeInfo] = asyncio.get_running_loop().create_future()
        serve_task = asyncio.create_task(
            runtime.serve(settings, on_ready=ready.set_result), name="telepush-demo"
        )
        info = await _until_stopped(asyncio.ensure_future(ready), serve_task)
        endpoints = Endpoints(workspace, info.url, info.token_file, receiver.url)
        view.started(endpoints)
        async with aiohttp.ClientSession() as session:
            api = ApiClient(session, info.url, token)
            rec = ReceiverClient(
                session, receiver.url, workspace.ca_pem, RECEIVER_CLIENT_ID, workspace.client_secret
            )
            outcome = await _play(api, rec, workspace, options, view, serve_task)
            outcome.receiver = await rec.stats()
        view.finished(outcome, endpoints, options.keep_running)
        if options.keep_running:
            await serve_task  # until SIGINT/SIGTERM (telepush's own handlers)
        return EXIT_OK if outcome.ok else EXIT_UNFINISHED
    except Interrupted:
        view.close()
        view.narrate("[yellow]interrupted[/yellow]: stopping")
        return EXIT_INTERRUPTED
    finally:
        view.close()
        if serve_task is not None:
            await _stop(serve_task)
        await asyncio.to_thread(receiver.stop)


def _start_receiver(workspace: Workspace) -> ReceiverThread:
    settings = ReceiverSettings(
        database=str(workspace.receiver_db),
        client_id=RECEIVER_CLIENT_ID,
        client_secret=workspace.client_secret,
        enable_control=True,  # the demo scripts the failing endpoint
    )
    try:
        return ReceiverThread(
            settings, HOST, 0, workspace.cert_pem, workspace.key_pem, log_level="error"
        ).start()
    except (OSError, RuntimeError) as exc:
        raise DemoError(f"the receiver kit could not start: {exc}") from None


async def _play(
    api: ApiClient,
    receiver: ReceiverClient,
    workspace: Workspace,
    options: DemoOptions,
    view: View,
    serve_task: asyncio.Task[None],
) -> Outcome:
    started = time.monotonic()
    scenario = Scenario(api, receiver, options.seed, options.events, view.narrate)
    await _until_stopped(
        scenario.configure(RECEIVER_CLIENT_ID, workspace.client_secret), serve_task
    )
    watcher = asyncio.create_task(_watch(api, view), name="demo-progress")
    timed_out = False
    try:
        async with asyncio.timeout(options.timeout_s):
            await _until_stopped(scenario.run(), serve_task)
            await _until_stopped(_all_final(api), serve_task)
    except TimeoutError:
        timed_out = True
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
    view.progress(await api.stats())
    outcome = Outcome(tally(await api.deliveries(CUSTOMER_ID)), timed_out=timed_out)
    outcome.elapsed_s = time.monotonic() - started
    return outcome


async def _watch(api: ApiClient, view: View) -> None:
    while True:
        view.progress(await api.stats())
        await asyncio.sleep(WATCH_EVERY_S)


async def _all_final(api: ApiClient) -> None:
    """Poll telepush's counts until nothing is pending or being sent."""
    while True:
        if not unfinished(await api.stats()):
            return
        await asyncio.sleep(WATCH_EVERY_S)


async def _until_stopped(
    work: Coroutine[Any, Any, T] | asyncio.Future[T], serve_task: asyncio.Task[None]
) -> T:
    """``work``'s result, unless telepush stops first (a signal, or a crash it raises)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.wait({task, serve_task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and task.exception() is not None and not serve_task.done():
            # A request may fail because a signal is stopping telepush: say so, not that.
            await asyncio.wait({serve_task}, timeout=STOPPING_GRACE_S)
    finally:
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
    if serve_task.done():
        if task.done() and not task.cancelled():
            task.exception()  # the interruption explains it
        serve_task.result()  # a crash of telepush surfaces here
        raise Interrupted
    return task.result()


async def _stop(serve_task: asyncio.Task[None]) -> None:
    """Stop telepush: cancelling ``serve`` runs its graceful shutdown (in-flight attempts
    finish, the API closes, the store is closed)."""
    serve_task.cancel()  # nothing happens if it is already over
    await asyncio.wait({serve_task})
    if not serve_task.cancelled():
        serve_task.exception()  # already reported, or superseded by the error being raised
