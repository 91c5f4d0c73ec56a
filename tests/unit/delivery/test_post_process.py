"""A delivery process's posts (``post_process.Posts``): each lane's limit kept, every post
answered, and nothing more started once the parent is gone."""

from __future__ import annotations

import asyncio
from typing import Any

from yarl import URL

from telepush.delivery.frames import PING
from telepush.delivery.post_process import Posts
from telepush.domain.delivery import AttemptResult, ErrorKind, StoredPayload

LANE = ("acme", "trip")


class FakePoster:
    """Posts that finish when the test says; each started one is noted by its payload."""

    def __init__(self) -> None:
        self.started: list[bytes] = []
        self._finish: dict[bytes, asyncio.Future[AttemptResult]] = {}

    async def post(
        self,
        url: URL | str,
        payload: bytes | StoredPayload,
        headers: dict[str, str],
        accepted_status: str,
    ) -> AttemptResult:
        assert isinstance(payload, bytes)
        self.started.append(payload)
        future = self._finish[payload] = asyncio.get_running_loop().create_future()
        return await future

    def finish(self, payload: bytes, result: AttemptResult | None = None) -> None:
        self._finish[payload].set_result(result or AttemptResult(ok=True, status_code=200))

    def fail(self, payload: bytes, exc: BaseException) -> None:
        self._finish[payload].set_exception(exc)

    def failure(self, exc: BaseException) -> AttemptResult:
        return AttemptResult(ok=False, error=ErrorKind.CONNECT, detail=str(exc))


def post(number: int, payload: bytes, limit: int = 1) -> tuple[Any, ...]:
    return (number, "https://example.test/push", payload, {}, "200", LANE, limit)


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_a_lane_s_posts_go_one_after_another_and_each_is_answered() -> None:
    poster = FakePoster()
    answers: list[Any] = []
    posts = Posts(poster, answers.append)
    posts.received(post(0, b"a"))
    posts.received(post(1, b"b"))
    await turns()
    assert poster.started == [b"a"]  # b waits for the lane's one slot
    poster.finish(b"a")
    await turns()
    assert poster.started == [b"a", b"b"]
    poster.fail(b"b", OSError("reset"))
    await turns()
    assert [number for number, _ in answers] == [0, 1]
    assert answers[0][1].ok
    assert answers[1][1].error is ErrorKind.CONNECT and "reset" in answers[1][1].detail
    assert posts.held == 0


async def test_a_cancelled_post_is_not_answered_and_a_ping_is() -> None:
    poster = FakePoster()
    answers: list[Any] = []
    posts = Posts(poster, answers.append)
    posts.received(post(0, b"a"))
    await turns()
    posts.received((0,))
    posts.received((PING,))
    await turns()
    assert answers == [(PING, None)]
    assert posts.held == 0


async def test_once_the_parent_is_gone_no_waiting_post_is_started() -> None:
    """A reply that comes in just as the parent goes must not start the next post of its
    lane: that post would reach the endpoint although nobody records it, and be sent again
    after its lease expires (a duplicate per post started so)."""
    poster = FakePoster()
    answers: list[Any] = []
    posts = Posts(poster, answers.append)
    for number, payload in enumerate((b"a", b"b", b"c")):
        posts.received(post(number, payload))
    await turns()
    assert poster.started == [b"a"]
    poster.finish(b"a")  # the reply is in: the lane's slot passes to b on the next turns
    posts.parent_gone()  # in the same turn, the parent's socket closes
    posts.received(post(3, b"d"))  # (and whatever it had sent is not taken any more)
    await turns()
    assert poster.started == [b"a"]
    await asyncio.wait_for(posts.finish(), 5)
    assert answers == []
    assert posts.held == 0
