"""Light on the wire, over real HTTP (waitress on 127.0.0.1): gzip when asked, hashed
static files cached for a year, pages never cached."""

from __future__ import annotations

import gzip
import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import rcssmin
import rjsmin
from flask import Flask, render_template_string

from fieldkit.webbase.assets import IMMUTABLE, add_hashed_assets
from fieldkit.webbase.compression import MIN_BYTES, add_compression
from fieldkit.webbase.security import add_security_headers, content_security_policy
from tests.http_servers import ServerThread, running_hub
from tests.sync_cli import init_hub_folder

ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def fetch(url: str, path: str, encoding: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET with the raw bytes as sent (http.client never decompresses)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        headers = {"Accept-Encoding": encoding} if encoding is not None else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, {key.lower(): value for key, value in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.fixture
def kit_server(app) -> Iterator[str]:
    server = ServerThread(app)
    try:
        yield server.url
    finally:
        server.stop()


def test_pages_are_gzipped_only_when_asked_and_decompress_to_the_same_bytes(kit_server) -> None:
    status, plain_headers, plain = fetch(kit_server, "/pair")
    assert status == 200 and len(plain) > MIN_BYTES
    assert "content-encoding" not in plain_headers
    assert plain_headers["vary"].lower().count("accept-encoding") == 1
    for accepted in ("gzip", "gzip, deflate, br", "br;q=1, gzip;q=0.5", "*"):
        status, headers, sent = fetch(kit_server, "/pair", accepted)
        assert status == 200 and headers["content-encoding"] == "gzip", accepted
        assert "accept-encoding" in headers["vary"].lower()
        assert int(headers["content-length"]) == len(sent) < len(plain) / 2
        assert _without_token(gzip.decompress(sent)) == _without_token(plain)
    for refused in ("identity", "br", "gzip;q=0", "gzip;q=0, *", ""):
        status, headers, sent = fetch(kit_server, "/pair", refused)
        assert "content-encoding" not in headers, refused
        assert _without_token(sent) == _without_token(plain)


def _without_token(page: bytes) -> bytes:
    # Each response carries its own signed CSRF token; the rest of the page must be equal.
    return re.sub(rb'name="csrf_token" value="[^"]+"', b"", page)


def test_tiny_and_non_text_bodies_stay_uncompressed(kit_server) -> None:
    status, headers, body = fetch(kit_server, "/", "gzip")  # a redirect: a few hundred bytes of HTML
    assert status == 302 and len(body) <= MIN_BYTES
    assert "content-encoding" not in headers


def test_css_and_js_are_served_under_hashed_urls_cached_for_good(kit_server) -> None:
    _, page_headers, page = fetch(kit_server, "/pair")
    assert page_headers["cache-control"] == "no-store"
    urls = ASSET.findall(page.decode())
    assert sorted(Path(url).suffix for url in urls) == [".css", ".js"]
    for url in urls:
        assert re.fullmatch(r"/static/kit\.[0-9a-f]{10}\.(css|js)", url), url
        status, headers, plain = fetch(kit_server, url)
        assert status == 200 and headers["cache-control"] == IMMUTABLE
        assert "pragma" not in headers
        assert headers["content-type"].startswith("text/css" if url.endswith(".css") else "text/javascript")
        name = re.sub(r"\.[0-9a-f]{10}", "", Path(url).name)
        shipped = Path(__file__).parents[1] / "fieldkit/kit/web/static" / name
        # The shipped source, minified: smaller, and the same rules and statements.
        source = shipped.read_text(encoding="utf-8")
        minify = rcssmin.cssmin if url.endswith(".css") else rjsmin.jsmin
        assert plain == minify(source).encode() and len(plain) < len(source.encode())
        status, headers, sent = fetch(kit_server, url, "gzip")
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert "accept-encoding" in headers["vary"].lower()
        assert gzip.decompress(sent) == plain
    for stale in ("/static/kit.js", "/static/kit.css", "/static/kit.0000000000.js", "/static/kit.js.gz", "/static/"):
        status, headers, _ = fetch(kit_server, stale)
        assert status == 404, stale
        assert headers["cache-control"] == "no-store"


def _asset_app(folder: Path) -> Flask:
    """The web base's own parts, as both apps use them, over a folder the test can change."""
    app = Flask(__name__, static_folder=None)
    add_hashed_assets(app, folder)

    @app.route("/")
    def page() -> str:
        return render_template_string("<script src=\"{{ asset_url('app.js') }}\"></script>")

    add_security_headers(app, content_security_policy())
    add_compression(app)
    return app


def test_a_changed_file_gets_a_new_url_and_the_old_url_is_a_404(tmp_path: Path) -> None:
    script = tmp_path / "app.js"
    script.write_text("console.log('first version');\n" * 100)
    urls, bodies = [], []
    for version in ("first", "second"):
        script.write_text(f"console.log('{version} version');\n" * 100)
        server = ServerThread(_asset_app(tmp_path))  # the files are read when the app is built
        try:
            _, _, page = fetch(server.url, "/")
            (url,) = ASSET.findall(page.decode())
            status, _, body = fetch(server.url, url)
            assert status == 200
            urls.append(url)
            bodies.append(body)
            if len(urls) == 2:
                status, headers, body = fetch(server.url, urls[0])
                assert status == 404 and b"first version" not in body
                assert headers["cache-control"] == "no-store"
        finally:
            server.stop()
    assert urls[0] != urls[1]
    assert b"first version" in bodies[0] and b"second version" in bodies[1]


def test_the_hub_compresses_its_pages_and_hashes_its_stylesheet(tmp_path: Path, hub_keys: Path) -> None:
    with running_hub(init_hub_folder(tmp_path, hub_keys)) as hub:
        status, headers, sent = fetch(hub.url, "/login", "gzip")
        assert status == 200 and headers["cache-control"] == "no-store"
        page = gzip.decompress(sent) if headers.get("content-encoding") == "gzip" else sent
        (url,) = ASSET.findall(page.decode())
        assert re.fullmatch(r"/static/hub\.[0-9a-f]{10}\.css", url)
        status, headers, sent = fetch(hub.url, url, "gzip")
        assert status == 200 and headers["cache-control"] == IMMUTABLE
        assert headers["content-encoding"] == "gzip" and b"{" in gzip.decompress(sent)
        assert fetch(hub.url, "/static/hub.css")[0] == 404
