"""Every page stays light and self-contained: at most 25 KB with its CSS and script, nothing external."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

from tests.webclient import Interviewer

BUDGET_BYTES = 25 * 1024
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')


def _assets(client) -> int:
    """The bytes of the stylesheet and script every page links, found under their hashed URLs."""
    urls = set(ASSET.findall(client.get("/pair").get_data(as_text=True)))
    assert len(urls) == 2, urls
    total = 0
    for url in urls:
        with client.get(url) as response:
            assert response.status_code == 200, url
            total += len(response.data)
    return total


def _every_page(client, app, shipped_forms, language: str = "en"):
    interviewer = Interviewer(client, app)
    interviewer.pair()
    yield "pair", client.get("/pair").data
    yield "home", client.get("/home").data
    for form_id, form in shipped_forms.items():
        url = interviewer.start(form_id, language)
        base = url.rsplit("/", 1)[0]
        refused = interviewer.submit(url, [])  # the consent page with its "consent needed" message
        assert refused.status_code == 422, form_id
        yield f"{form_id}/consent-needed", refused.data
        assert interviewer.submit(url, [("consent", "given")]).status_code == 302  # later pages need it
        for section in form.sections:
            shown = client.get(f"{base}/{section.id}")
            assert shown.status_code == 200, f"{form_id}/{section.id}"
            yield f"{form_id}/{section.id}", shown.data
        yield f"{form_id}/review", client.get(base.replace("/s", "") + "/review").data
    yield "exit", client.get("/x").data


def test_every_page_fits_the_budget_and_loads_nothing_external(client, app, shipped_forms) -> None:
    assets = _assets(client)
    sizes = {}
    for name, body in _every_page(client, app, shipped_forms):
        assert body.startswith(b"<!doctype html>"), name
        assert not EXTERNAL.search(body.decode()), f"{name} refers to something outside the kit"
        sizes[name] = len(body) + assets
    largest = max(sizes, key=sizes.get)
    assert sizes[largest] <= BUDGET_BYTES, f"{largest}: {sizes[largest]} bytes"
    assert len(sizes) > 20


def test_pages_declare_language_and_direction(client, app, shipped_forms) -> None:
    for name, body in _every_page(client, app, shipped_forms):
        assert b'<html lang="en" dir="ltr">' in body, name


def test_demo_serves_a_throwaway_kit() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "fieldkit", "demo", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (line := process.stdout.readline()):
            lines.append(line)
            if line.strip() == "ready":
                break
        output = "".join(lines)
        assert "ready" in output, output
        assert "phones: http://127.0.0.1:" in output and "pairing code:" in output
        assert "demo hub recipient: age1" in output
    finally:
        process.send_signal(signal.SIGTERM)
        rest, errors = process.communicate(timeout=20)
    assert "stopped; the draft key is gone from memory" in rest
    assert "DEMO ONLY" in errors
    assert "Traceback" not in errors
