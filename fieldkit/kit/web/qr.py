"""QR codes for the pairing address: as text for the terminal, as SVG for the operator page."""

from __future__ import annotations

import io

import segno


def pairing_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/pair?code={code}"


def terminal_qr(text: str) -> str:
    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()


def svg_data_uri(text: str) -> str:
    """An ``<img>``-ready data URI, so the strict CSP needs no inline markup exception."""
    return segno.make(text, error="m").svg_data_uri(scale=6, border=2)
