"""The operator's dashboard: one page of plain HTML, JavaScript modules and CSS shipped in the
package.

``GET /dashboard`` is the page's shell (it holds no data, so it needs no token) and
``GET /dashboard/static/{file}`` its scripts and style sheet, nothing else. The page asks the
operator for the API token and makes every data call to the ``/v1`` API with it. Responses
carry a strict Content-Security-Policy (no inline script, nothing from other origins) and may
not be framed.

**Which files.** The static files are the ``.js`` and ``.css`` files of the package's
``dashboard`` folder, read once when the router is built: the whitelist is that folder's
listing, so a new module is served without being named here, while anything else (the HTML
template, other suffixes, other spellings, sub-paths) is not found. ``.js`` files are native
ES modules (``<script type="module">``, no build step) and go out as ``text/javascript``,
which browsers require of module scripts.

**Caching.** The page (``no-cache``) links its two entry files, ``app.js`` and ``style.css``,
with ``?v=<digest of the file>``; a request carrying the current digest may be cached for good
(``immutable``). ``app.js`` imports the other modules with plain relative specifiers
(``import … from "./api.js"``): those requests carry no digest, so every request without the
current one is served ``Cache-Control: no-cache`` with an ``ETag`` (the digest) and answered
``304 Not Modified`` when the browser's copy is current. Each page load thus revalidates each
module, and no module is ever stale. The alternative, rewriting the import specifiers to carry
digests when loading, was not chosen: to be correct, a module's digest would have to cover the
digests of everything it imports, transitively (change ``format.js`` and every module that
reaches it must change its link too), which means parsing imports out of JavaScript and
ordering the modules by their import graph. A few conditional requests answered 304 on an
operator's page cost next to nothing; that machinery would cost more than it saves.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import HTMLResponse, Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
CONTENT_TYPES = {  # by suffix: the only files served from the dashboard folder
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
STATIC_PATH = "/dashboard/static/"
IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str
    version: str  # a digest of the body: links carry it, so a cached copy is never stale

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _load() -> tuple[str, dict[str, _Asset]]:
    folder = resources.files("telepush.api").joinpath("dashboard")
    assets: dict[str, _Asset] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        content_type = CONTENT_TYPES.get(PurePosixPath(entry.name).suffix)
        if content_type is None or entry.name.startswith(".") or not entry.is_file():
            continue
        body = entry.read_bytes()
        assets[entry.name] = _Asset(body, content_type, hashlib.sha256(body).hexdigest()[:16])
    html = folder.joinpath("index.html").read_text(encoding="utf-8")
    for name, asset in assets.items():
        html = html.replace("{{" + name + "}}", f"{STATIC_PATH}{name}?v={asset.version}")
    return html, assets


def _fresh(if_none_match: str | None, asset: _Asset) -> bool:
    """Whether the browser's copy, named by its ``If-None-Match`` header, is ``asset``."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or asset.etag in tags


def build_dashboard_router() -> APIRouter:
    html, assets = _load()
    router = APIRouter(prefix="/dashboard", include_in_schema=False)

    @router.get("")
    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    @router.get("/static/{name}")
    async def static(
        name: str,
        v: str | None = None,
        if_none_match: str | None = Header(default=None, alias="If-None-Match"),
    ) -> Response:
        asset = assets.get(name)
        if asset is None:
            raise HTTPException(status_code=404, detail=f"no dashboard file {name!r}")
        # A link with the current digest may be kept for good; anything else (the modules'
        # imports among them) is revalidated on each use.
        headers = {
            **SECURITY_HEADERS,
            "Cache-Control": IMMUTABLE if v == asset.version else "no-cache",
            "ETag": asset.etag,
        }
        if _fresh(if_none_match, asset):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)

    return router
