"""The read API: listings, raw documents, stats, and its authentication."""

from __future__ import annotations

from telepush.synth import Synth, to_bytes
from tests.unit.receiver.conftest import Api


async def test_healthz_needs_no_credentials(api: Api) -> None:
    """GET /healthz answers 200 without authentication."""
    reply = await api.get("/healthz", None)
    assert reply.status == 200
    assert reply.json() == {"status": "ok"}


async def test_read_routes_need_the_push_credentials(api: Api) -> None:
    """Every read route refuses a request without a valid token."""
    for path in (
        "/trips",
        "/trips/x",
        "/crashes/x",
        "/deletions",
        "/diagnoses",
        "/crash-reports",
        "/receipts",
        "/stats",
    ):
        assert (await api.get(path, None)).status == 401, path
        assert (await api.get(path, "Bearer forged")).status == 401, path


async def test_listings_show_what_was_stored(database_api: Api) -> None:
    """Trips, crashes, crash reports and receipts are listed after pushes, on each database."""
    api = database_api
    bearer = await api.bearer()
    synth = Synth(40)
    for itin in ("b", "a", "c"):
        await api.push(
            "trip", to_bytes(synth.trip(itin_id=itin, points=5)), bearer, delivery_id=f"t-{itin}"
        )
    crash = to_bytes(synth.crash(crash_id="K"))
    await api.push("crash", crash, bearer, delivery_id="k")
    await api.push("crash-report", to_bytes(synth.crash_report(report_id="R")), bearer)
    assert (await api.get("/trips", bearer)).json()["items"] == ["a", "b", "c"]
    assert (await api.get("/trips?after=a&limit=1", bearer)).json()["items"] == ["b"]
    assert (await api.get("/crashes/K", bearer)).body == crash
    assert (await api.get("/crashes/nope", bearer)).status == 404
    assert (await api.get("/trips/nope", bearer)).json()["error"]["code"] == "not_found"
    reports = (await api.get("/crash-reports", bearer)).json()["items"]
    assert [r["reportId"] for r in reports] == ["R"]
    receipts = (await api.get("/receipts?service=trip", bearer)).json()["items"]
    assert [r["key"] for r in receipts] == ["b", "a", "c"]
    assert (await api.get("/receipts?service=bogus", bearer)).status == 400


async def test_stats_count_services_duplicates_and_tokens(database_api: Api) -> None:
    """GET /stats counts stored rows, receipts, duplicates and tokens, on each database."""
    api = database_api
    bearer = await api.bearer()
    body = to_bytes(Synth(41).crash())
    await api.push("crash", body, bearer, delivery_id="s")
    await api.push("crash", body, bearer, delivery_id="s")
    stats = (await api.get("/stats", bearer)).json()
    assert stats["stored"]["crash"] == 1
    assert stats["received"]["crash"] == 2
    assert stats["duplicates"]["crash"] == 1
    assert stats["duplicatesTotal"] == 1
    assert stats["tokens"]["issued"] == 1
