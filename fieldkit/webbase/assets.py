"""CSS and JavaScript under content-hashed URLs, cached by the phone for a year.

``/static/kit.3f2a1c9b0d.js``: the name carries the first hex digits of the file's
SHA-256, so a phone may keep it for good (``Cache-Control: public, max-age=31536000,
immutable``) and still gets the new file the moment it changes, because the pages
(always ``no-store``) then name another URL. A URL whose hash is not that of the file
being served, an old one or a made-up one, is a plain 404, never a stale file. The
plain ``/static/kit.js`` is not served either: every page names the hashed URL.

The files are read once, when the app is built, minified (``rjsmin`` and ``rcssmin``:
the sources stay readable, a phone on a slow link gets about a third less), and kept
in memory with their gzip form, so serving one costs no disk read and no compression per request. They are the
app's own few small files (a few KB each); a changed file is served after a restart.
Flask's own ``static`` route is off (``Flask(..., static_folder=None)``); templates
call ``asset_url('kit.js')``.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import rcssmin
import rjsmin
from flask import Flask, Response, abort, request

from fieldkit.webbase.compression import accepts_gzip, gzip_bytes

__all__ = ["ASSET_ENDPOINT", "IMMUTABLE", "Asset", "HashedAssets", "add_hashed_assets"]

ASSET_ENDPOINT = "asset"
IMMUTABLE = "public, max-age=31536000, immutable"
_HASH_DIGITS = 10  # 40 bits: a collision between two versions of one file is not a worry
_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
_MINIFIERS = {".css": rcssmin.cssmin, ".js": rjsmin.jsmin}


def _served_bytes(path: Path) -> bytes:
    """The file as phones get it: CSS and JavaScript minified, anything else as it is."""
    minify = _MINIFIERS.get(path.suffix)
    if minify is None:
        return path.read_bytes()
    return str(minify(path.read_text(encoding="utf-8"))).encode("utf-8")


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, their gzip form, its type and hashed name."""

    name: str
    hashed_name: str
    mimetype: str
    data: bytes
    gzipped: bytes


class HashedAssets:
    """Every file directly in ``folder``, under its hashed name."""

    def __init__(self, folder: Path) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for path in sorted(Path(folder).iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            data = _served_bytes(path)
            digest = hashlib.sha256(data).hexdigest()[:_HASH_DIGITS]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            mimetype = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            asset = Asset(path.name, hashed, mimetype, data, gzip_bytes(data))
            self._by_name[path.name] = asset
            self._by_hashed[hashed] = asset

    def url(self, name: str) -> str:
        """The hashed URL of ``name``; KeyError for a file the folder does not hold."""
        return f"/static/{self._by_name[name].hashed_name}"

    def find(self, hashed_name: str) -> Asset | None:
        return self._by_hashed.get(hashed_name)


def add_hashed_assets(app: Flask, folder: Path) -> HashedAssets:
    """Serve ``folder``'s files on ``app`` under hashed URLs; templates get ``asset_url(name)``."""
    assets = HashedAssets(folder)

    def serve(hashed_name: str) -> Response:
        asset = assets.find(hashed_name)
        if asset is None:
            abort(404)
        compressed = accepts_gzip(request)
        response = Response(asset.gzipped if compressed else asset.data, mimetype=asset.mimetype)
        if compressed:
            response.headers["Content-Encoding"] = "gzip"
        response.vary.add("Accept-Encoding")
        response.headers["Cache-Control"] = IMMUTABLE
        return response

    app.add_url_rule("/static/<hashed_name>", endpoint=ASSET_ENDPOINT, view_func=serve)
    app.add_template_global(assets.url, "asset_url")
    return assets
