"""Static files served from memory with content-hash versions, and the service worker.

Every file is read once; a URL carrying the current hash (`/static/app.js?v=<hash>`) is
immutable for a year, so a returning browser never asks again. The service worker itself is
served fresh (`no-cache`) from `/sw.js` so that a new release is picked up at once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from starlette.responses import Response

from careslot.headers import header, none_match

router = APIRouter(include_in_schema=False)

TYPES = {
    "js": "text/javascript; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "json": "application/speculationrules+json",
    "svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
SHELL_FILES = ("app.js", "styles.css")


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    version: str
    media_type: str
    etag: str  # the version as the ETag header sends it, made once with the rest


@cache
def assets() -> dict[str, Asset]:
    folder = resources.files("careslot.web") / "static"
    found: dict[str, Asset] = {}
    for entry in folder.iterdir():
        suffix = entry.name.rsplit(".", 1)[-1]
        if entry.name == "sw.js" or suffix not in TYPES:
            continue
        body = entry.read_bytes()
        version = hashlib.sha256(body).hexdigest()[:12]
        found[entry.name] = Asset(body, version, TYPES[suffix], f'"{version}"')
    return found


def asset_url(name: str) -> str:
    return f"/static/{name}?v={assets()[name].version}"


def release() -> str:
    """One version for the whole shell: changes whenever any static file changes."""
    digest = hashlib.sha256()
    for name in sorted(assets()):
        digest.update(assets()[name].version.encode())
    return digest.hexdigest()[:12]


@cache
def service_worker() -> bytes:
    source = (resources.files("careslot.web") / "static" / "sw.js").read_text()
    shell = ", ".join(f'"{asset_url(name)}"' for name in SHELL_FILES)
    return (source.replace("__RELEASE__", release()).replace('"__SHELL__"', shell)).encode()


@router.get("/static/{name}")
async def static_file(name: str, request: Request) -> Response:
    asset = assets().get(name)
    if asset is None:
        return Response(b"not found", 404, media_type="text/plain")
    versioned = request.query_params.get("v") == asset.version
    headers = {"Cache-Control": IMMUTABLE if versioned else "public, no-cache", "ETag": asset.etag}
    given = header(request.scope["headers"], b"if-none-match")
    if given is not None and none_match(given, asset.etag.encode()):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/sw.js")
async def sw() -> Response:
    return Response(
        service_worker(),
        media_type="text/javascript; charset=utf-8",
        headers={
            "Cache-Control": "no-cache",
            "Service-Worker-Allowed": "/",
        },
    )
