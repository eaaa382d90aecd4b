"""gzip for HTML, CSS and JavaScript, when the browser says it takes it.

On a phone's slow link every round trip counts, and a page of 14 KB or less on the
wire arrives in TCP's first window. So a response is compressed when the request's
``Accept-Encoding`` allows gzip, its type is text (HTML, CSS, JavaScript), and it is
larger than :data:`MIN_BYTES`: below that one packet carries it anyway and gzip's
header would only add. Every compressible response says ``Vary: Accept-Encoding``,
compressed or not, so no cache in between hands gzip to a client that did not ask.

Why a hand-written ``after_request`` and not flask-compress: the whole job is a dozen
lines over the standard library's :mod:`gzip`, while flask-compress brings the
``brotli`` and ``zstandard`` native extensions (two more compiled wheels to lock
for a Raspberry Pi) for encodings we would not use. Why compression is safe on pages
with CSRF tokens and reflected answers (BREACH) is in docs/threat-model.md.
"""

from __future__ import annotations

import gzip

from flask import Flask, Request, Response, request

__all__ = ["COMPRESSED_TYPES", "MIN_BYTES", "accepts_gzip", "add_compression", "gzip_bytes"]

COMPRESSED_TYPES = frozenset({"text/html", "text/css", "text/javascript", "application/javascript"})
MIN_BYTES = 1024
# Level 6 (zlib's default): within a few per cent of 9 on pages, at half the time.
_LEVEL = 6


def gzip_bytes(data: bytes) -> bytes:
    """``data`` gzipped, with no time stamp, so the same bytes always give the same result."""
    return gzip.compress(data, compresslevel=_LEVEL, mtime=0)


def accepts_gzip(incoming: Request) -> bool:
    """True when the request's Accept-Encoding allows gzip (``gzip;q=0`` refuses it)."""
    qualities = dict(incoming.accept_encodings)  # werkzeug has parsed the q-values
    # An explicit "gzip" entry wins over "*" (RFC 9110, 12.5.3).
    return float(qualities.get("gzip", qualities.get("*", 0))) > 0


def add_compression(app: Flask) -> None:
    """Compress every eligible response of ``app`` (registered after the views' own hooks)."""

    @app.after_request
    def compress(response: Response) -> Response:
        if response.mimetype not in COMPRESSED_TYPES or response.direct_passthrough or response.is_streamed:
            return response
        response.vary.add("Accept-Encoding")
        if (
            "Content-Encoding" in response.headers
            or response.status_code < 200
            or response.status_code in (204, 304)
            or request.method == "HEAD"
            or not accepts_gzip(request)
        ):
            return response
        body = response.get_data()
        if len(body) <= MIN_BYTES:
            return response
        response.set_data(gzip_bytes(body))  # also sets Content-Length
        response.headers["Content-Encoding"] = "gzip"
        return response
