"""The operator's dashboard: served from the package with a strict CSP, holding no data itself,
and driven in headless Chromium through the operator's day: "customer X missed trips
yesterday: what happened, and send them again".

The browser test needs Debian's ``chromium`` (scripts/ensure-chromium.sh installs it) and the
``playwright`` package (the ``test`` extra); it never downloads a browser. Without them it skips,
except when the ``CI`` environment variable is set: then it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import pytest

from telepush.testing import make_payload
from tests.e2e.conftest import (
    API_TOKEN,
    Receiver,
    StartReceiver,
    StartTelepush,
    Telepush,
    oauth2_customer,
)
from tests.support.procs import Process, Response, free_port, request, telepush_cmd, wait_until

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(
    os.environ.get("TELEPUSH_TEST_ARTIFACTS") or Path(__file__).resolve().parents[1] / "artifacts"
)
SECRET_CUSTOMER = "acme-private-customer"
SECRET_KEY = "itin-only-through-the-api"


def missing(reason: str) -> NoReturn:
    """Skip for ``reason``; under CI (``CI`` set), fail instead."""
    if "CI" in os.environ:
        pytest.fail(f"{reason} (CI is set: the dashboard's browser test must run)")
    pytest.skip(reason)


# ---- the page and its files over HTTP ----------------------------------------------------------
@pytest.fixture(scope="module")
def tp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Telepush]:
    """One telepush whose worker is off, holding one customer and one queued delivery."""
    data = Path(tmp_path_factory.mktemp("dashboard"))
    port = free_port()
    env = {
        "TELEPUSH_DATA_DIR": str(data),
        "TELEPUSH_API_TOKEN": API_TOKEN,
        "TELEPUSH_PORT": str(port),
    }
    proc = Process(telepush_cmd("serve", "--no-worker"), env, data / "log").start()
    server = Telepush(f"http://127.0.0.1:{port}", proc, env, data)

    def up() -> bool:
        if not proc.alive():
            raise AssertionError(f"telepush exited early:\n{proc.log()[-3000:]}")
        try:
            return request("GET", server.url + "/healthz", timeout_s=2).status == 200
        except OSError:
            return False

    wait_until(up, what="telepush to answer")
    server.put_customer(
        SECRET_CUSTOMER,
        {
            "name": "Private Co",
            "auth": {"type": "basic", "username": "u", "password": "pw-secret"},
            "services": {"trip": {"url": "https://127.0.0.1:9/push/trip"}},
        },
    )
    server.push(SECRET_CUSTOMER, "trip", make_payload("trip", itinId=SECRET_KEY))
    yield server
    proc.stop()


def get(url: str) -> Response:
    """GET without a token (the browser's first request has none); header names lowercased."""
    resp = request("GET", url)
    return Response(resp.status, resp.body, {k.lower(): v for k, v in resp.headers.items()})


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    return parser


def assert_hardened(resp: Response) -> None:
    csp = resp.headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"], csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert resp.headers["x-frame-options"] == "DENY"
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"]


def test_page_is_served_without_a_token_with_a_strict_policy(tp: Telepush) -> None:
    resp = get(tp.url + "/dashboard")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert_hardened(resp)
    assert resp.headers["cache-control"] == "no-cache"
    # ... while the data behind it needs the token.
    assert get(tp.url + "/v1/stats").status == 401
    assert get(tp.url + "/v1/deliveries").status == 401


def test_page_holds_no_data_and_no_inline_code(tp: Telepush) -> None:
    html = get(tp.url + "/dashboard").body.decode()
    for secret in (SECRET_CUSTOMER, SECRET_KEY, API_TOKEN, "pw-secret", str(tp.data_dir)):
        assert secret not in html
    page = parse(html)
    scripts = [attrs for tag, attrs in page.tags if tag == "script"]
    assert scripts and all((a.get("src") or "").startswith("/dashboard/static/") for a in scripts)
    assert not "".join(page.script_text).strip(), "no inline script"
    for tag, attrs in page.tags:
        assert "style" not in attrs, f"inline style on <{tag}>"
        assert not [a for a in attrs if a.startswith("on")], f"inline handler on <{tag}>"
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert not value.startswith(("http:", "https:", "//")), f"<{tag} {name}={value}>"


def test_static_files_are_served_from_the_package(tp: Telepush) -> None:
    page = parse(get(tp.url + "/dashboard").body.decode())
    links = [a["src"] for t, a in page.tags if t == "script" and a.get("src")]
    links += [a["href"] for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]
    assert len(links) == 2
    folder = resources.files("telepush.api").joinpath("dashboard")
    types = {".js": "text/javascript", ".css": "text/css"}
    # The page links its two entry files with their digest: those may be kept for good.
    for link in links:
        assert link is not None
        name = link.split("?")[0].rsplit("/", 1)[1]
        assert name in ("app.js", "style.css"), link
        resp = get(tp.url + link)
        assert resp.status == 200, link
        assert resp.body == folder.joinpath(name).read_bytes()
        assert_hardened(resp)
        assert "immutable" in resp.headers["cache-control"]  # the link carries the digest
    # Every .js and .css file of the folder is served: app.js imports the other modules by
    # relative paths without a digest, so without one a file is revalidated by its ETag.
    names = sorted(f.name for f in folder.iterdir() if f.name.endswith((".js", ".css")))
    assert len(names) > 2, names
    for name in names:
        url = f"{tp.url}/dashboard/static/{name}"
        bare = get(url)
        assert bare.status == 200, name
        assert bare.headers["content-type"].split(";")[0] == types[Path(name).suffix], name
        assert bare.body == folder.joinpath(name).read_bytes()
        assert_hardened(bare)
        assert bare.headers["cache-control"] == "no-cache"
        again = request("GET", url, headers={"If-None-Match": bare.headers["etag"]})
        assert again.status == 304 and not again.body, name
        if name.endswith(".js"):  # each import is one of those files: nothing from elsewhere
            imports = re.findall(r'^import\b[^;"]*"([^"]*)"', bare.body.decode(), re.M)
            for spec in imports:
                assert spec.removeprefix("./") in names, (name, spec)


@pytest.mark.parametrize(
    "path",
    [
        "/dashboard/static/nope.js",
        "/dashboard/static/index.html",
        "/dashboard/static/APP.JS",
        "/dashboard/static/..%2F..%2Fdashboard.py",
        "/dashboard/static/%2e%2e%2fapp.py",
        "/dashboard/static/",
        "/dashboard/static/app.js/x",
    ],
)
def test_unknown_static_files_are_not_found(tp: Telepush, path: str) -> None:
    resp = get(tp.url + path)
    assert resp.status == 404, (path, resp.body[:200])
    assert resp.json()["error"]["code"] == "not_found"


# ---- in the browser ----------------------------------------------------------------------------
@pytest.fixture
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium")
    if executable is None:
        missing("chromium is not installed (scripts/ensure-chromium.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--headless=new"]
        )
        try:
            yield launched
        finally:
            launched.close()


def _settle(receiver: Receiver, tp: Telepush) -> tuple[str, str]:
    """Seed: a healthy customer with deliveries, a paused endpoint, two trips that failed."""
    giving_up = {"delays": [], "thenEvery": None, "jitter": 0}
    acme = oauth2_customer(receiver, services=("trip", "deleted-trip"), name="Acme Fleet")
    acme["services"]["trip"]["retry"] = giving_up
    tp.put_customer("acme", acme)
    tp.put_customer("globex", oauth2_customer(receiver, services=("diagnosis", "crash")))

    healthy = [tp.push("globex", "diagnosis", make_payload("diagnosis")) for _ in range(6)]
    for delivery_id in healthy:
        tp.wait_status(delivery_id, "delivered")

    paused = tp.call("POST", "/v1/customers/globex/push/crash/pause")
    assert paused.status == 200, paused.body
    assert paused.json()["paused"] == "manual"
    tp.push("globex", "crash", make_payload("crash"))  # waits behind the pause

    receiver.fault("/push/trip", 500, times=None)  # acme's trip endpoint is down
    missed = [
        tp.push("acme", "trip", make_payload("trip", itinId=f"itin-missed-{n}")) for n in (1, 2)
    ]
    for delivery_id in missed:
        done = tp.wait_status(delivery_id, "failed", "delivered")
        assert done["status"] == "failed", done
    return missed[0], missed[1]


def endpoint_row(page: Any, customer: str, service: str) -> Any:
    return page.locator(
        f'[data-testid="endpoint-row"][data-customer="{customer}"][data-service="{service}"]'
    )


def test_operator_finds_and_replays_missed_trips(
    browser: Any, start_receiver: StartReceiver, start_telepush: StartTelepush
) -> None:
    from playwright.sync_api import expect

    receiver = start_receiver()
    tp = start_telepush()
    first, second = _settle(receiver, tp)

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems: list[str] = []  # script errors, CSP refusals, failed requests

    def on_console(msg: Any) -> None:
        # Wrong tokens are refused on purpose below: those 401s are expected.
        if msg.type == "error" and "status of 401" not in msg.text:
            problems.append(f"console: {msg.text}")

    def on_response(resp: Any) -> None:
        if resp.status >= 400 and resp.status != 401:
            problems.append(f"{resp.status} {resp.request.method} {resp.url}")

    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", on_console)
    page.on("response", on_response)
    page.goto(tp.url + "/dashboard")

    # Sign in: a wrong token is refused, the right one opens the dashboard.
    expect(page.get_by_test_id("signin")).to_be_visible()
    page.get_by_test_id("token-input").fill("not-the-token")
    page.get_by_test_id("signin-button").click()
    expect(page.get_by_test_id("signin-error")).to_contain_text("refused")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-signin.png"))
    page.get_by_test_id("token-input").fill(API_TOKEN)
    page.get_by_test_id("signin-button").click()
    expect(page.locator("#app")).to_be_visible()
    expect(page.get_by_test_id("stat-failed").locator(".tile-value")).to_have_text("2")
    assert page.evaluate("sessionStorage.getItem('telepush.apiToken')") == API_TOKEN

    # The delivery log, filtered on failed deliveries, shows both missed trips.
    page.get_by_test_id("filter-status").select_option("failed")
    page.get_by_test_id("filter-customer").fill("acme")
    page.get_by_test_id("filter-apply").click()
    rows = page.get_by_test_id("delivery-row")
    expect(rows).to_have_count(2)
    for n in range(2):
        expect(rows.nth(n)).to_have_attribute("data-status", "failed")
    row = page.locator(f'[data-testid="delivery-row"][data-id="{first}"]')
    expect(row).to_contain_text("itin-missed-1")

    # What happened: its attempts, with the receiver's 500.
    row.click()
    detail = page.locator(f'[data-testid="delivery-detail"][data-id="{first}"]')
    expect(detail.get_by_test_id("attempt-row").first).to_contain_text("500")
    expect(detail.get_by_test_id("detail-id")).to_have_text(first)

    # The customer's endpoint is back: send it again.
    receiver.control("DELETE", "faults")
    row.get_by_test_id("retry-button").click()
    expect(row).not_to_have_attribute("data-status", "failed")
    assert tp.delivery(first)["status"] in ("pending", "sending", "delivered")
    tp.wait_status(first, "delivered")

    # Endpoint health: the paused endpoint says so; the other missed trip goes in bulk.
    crash = endpoint_row(page, "globex", "crash")
    expect(crash.get_by_test_id("paused-badge")).to_have_attribute("data-state", "manual")
    expect(crash.get_by_test_id("paused-badge")).to_have_text("paused by hand")
    expect(crash.get_by_test_id("resume-button")).to_be_visible()
    trips = endpoint_row(page, "acme", "trip")
    expect(trips.get_by_test_id("paused-badge")).to_have_attribute("data-state", "running")
    trips.get_by_test_id("retry-failed-button").click()
    page.get_by_test_id("retry-failed-start").click()
    expect(trips.get_by_test_id("task-progress")).to_have_attribute(
        "data-status", "done", timeout=30_000
    )
    tp.wait_status(second, "delivered")
    expect(page.get_by_test_id("task-row").first).to_have_attribute("data-status", "done")

    # A full-page picture of the operator's view, for people to look at.
    page.get_by_test_id("filter-status").select_option("")
    page.get_by_test_id("filter-customer").fill("")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("delivery-row")).to_have_count(9)
    page.locator(f'[data-testid="delivery-row"][data-id="{first}"]').click()
    expect(page.get_by_test_id("delivery-detail")).to_be_visible()
    expect(page.locator("#chart-throughput svg")).to_be_visible()
    expect(page.locator("#chart-depth svg")).to_be_visible()
    expect(page.get_by_test_id("stat-delivered").locator(".tile-value")).to_have_text("8")
    page.evaluate("document.getElementById('toasts').replaceChildren(); window.scrollTo(0, 0)")
    shot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 30_000, f"{shot} is only {len(data)} bytes"

    # A token that stops working signs the operator out.
    page.evaluate("sessionStorage.setItem('telepush.apiToken', 'revoked')")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("signin")).to_be_visible()
    expect(page.get_by_test_id("signin-error")).to_contain_text("refused")
    assert page.evaluate("sessionStorage.getItem('telepush.apiToken')") is None

    assert not problems, problems
    context.close()
