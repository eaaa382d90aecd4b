"""The response headers every page of the kit and the hub carries."""

from __future__ import annotations

from flask import Flask, Response


def content_security_policy(*extra: str) -> str:
    """Nothing from anywhere by default; ``extra`` adds what one app needs from itself."""
    base = ("default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'")
    return "; ".join((base[0], *extra, *base[1:]))


def add_security_headers(app: Flask, policy: str) -> None:
    """No caching on the phone or anywhere between, no sniffing, no referrer, no framing."""

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = policy
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response
