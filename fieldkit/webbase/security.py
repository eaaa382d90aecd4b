"""The response headers every page of the kit and the hub carries."""

from __future__ import annotations

from flask import Flask, Response, request

from fieldkit.webbase.assets import ASSET_ENDPOINT, IMMUTABLE


def content_security_policy(*extra: str) -> str:
    """Nothing from anywhere by default; ``extra`` adds what one app needs from itself."""
    base = ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'")
    return "; ".join((base[0], *extra, *base[1:]))


def add_security_headers(app: Flask, policy: str) -> None:
    """No caching on the phone or anywhere between, no sniffing, no referrer, no framing.

    The one exception to ``no-store``: a content-hashed CSS or script file
    (:mod:`fieldkit.webbase.assets`) found under its hash, which never holds an answer.
    """

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        if request.endpoint == ASSET_ENDPOINT and response.status_code == 200:
            response.headers["Cache-Control"] = IMMUTABLE
            response.headers.pop("Pragma", None)
        else:
            response.headers["Cache-Control"] = "no-store"
            response.headers["Pragma"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response
