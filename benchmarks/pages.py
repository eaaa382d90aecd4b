"""Page weight: every page of both forms in every shipped language, with its CSS and script.

Pages come from the kit's app through Flask's test client, driven like a phone with
scripts off (:class:`tests.webclient.Interviewer` pairs and starts interviews). Each
language is walked twice per form: every section of a new interview as it first
appears (as ``tests/test_web_pages.py`` does), then a whole interview answered with
:func:`fieldkit.kit.simulate.random_answers`, so that questions shown only after earlier
answers are on the page too, through review, the receipt page and a declined consent.
The pairing, home and quick-exit pages complete the set.

A page's weight is its HTML plus every stylesheet, script and image it links to on
the kit, uncompressed, as a phone downloads it with an empty cache. Its weight *on the
wire* is the same files as the kit sends them to a browser that accepts gzip (the
HTML compressed by :func:`fieldkit.webbase.compression.gzip_bytes`, the very function
the app uses, and the assets exactly as served), plus the response headers of each;
each language checks once that the app does send a page that way. A reference is
*external* when a ``src``, ``href`` or ``action`` attribute, or a CSS ``url()``,
points to another host; the budget allows none.
"""

from __future__ import annotations

import gzip
import random
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.datastructures import MultiDict

from benchmarks.kits import make_hub_keys, make_kit
from fieldkit.core import paths
from fieldkit.core.formengine.model import CONSENT_DECLINED, CONSENT_GIVEN, Form
from fieldkit.core.i18n.catalogues import catalogue_languages
from fieldkit.kit.programme import Programme
from fieldkit.kit.simulate import random_answers
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.webbase.compression import MIN_BYTES, gzip_bytes
from tests.webclient import SHOWN_ITEM, Interviewer, csrf_token, form_values

KB = 1024
EXTERNAL_ATTRIBUTE = re.compile(r"""\b(?:src|href|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.IGNORECASE)
EXTERNAL_CSS_URL = re.compile(r"""url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.IGNORECASE)
LINKED_ASSET = re.compile(
    r"""<(?:link|script|img)\b[^>]*?\b(?:href|src)\s*=\s*["'](/[^"'/][^"']*)["']""", re.IGNORECASE
)


@dataclass(frozen=True)
class PageWeight:
    language: str
    name: str
    html_bytes: int
    asset_bytes: int
    external: int
    wire_bytes: int = 0  # HTML and assets as sent gzipped, with their response headers

    @property
    def total_bytes(self) -> int:
        return self.html_bytes + self.asset_bytes


def _choose_language(client: Any, language: str) -> None:
    home = client.get("/home").get_data(as_text=True)
    response = client.post("/lang", data={"csrf_token": csrf_token(home), "lang": language, "next": "/home"})
    assert response.status_code == 302, f"choosing {language} failed"


def _blank_sections(client: Any, interviewer: Interviewer, form: Form, language: str) -> Iterator[tuple[str, bytes]]:
    url = interviewer.start(form.id, language)
    base = url.rsplit("/", 1)[0]
    consent = next((item for item in form.items if item.type == "consent"), None)
    if consent is not None:  # later pages send the phone back to consent until it is given
        yield f"{form.id}/consent needed", interviewer.submit(url, []).data
        interviewer.submit(url, [(consent.id, CONSENT_GIVEN)])
    for section in form.sections:
        yield f"{form.id}/{section.id}", client.get(f"{base}/{section.id}").data
    yield f"{form.id}/review", client.get(base.replace("/s", "") + "/review").data


def _answered_interview(
    client: Any, interviewer: Interviewer, form: Form, language: str, answers: Mapping[str, Any]
) -> Iterator[tuple[str, bytes]]:
    url = interviewer.start(form.id, language)
    while not url.endswith("/review"):
        response = client.get(url)
        yield f"{form.id}/{url.rsplit('/', 1)[1]} answered", response.data
        page = response.get_data(as_text=True)
        pairs = form_values(dict(answers), SHOWN_ITEM.findall(page))
        posted = client.post(url, data=MultiDict([("csrf_token", csrf_token(page)), ("action", "next"), *pairs]))
        assert posted.status_code == 302, f"{form.id} {url}: status {posted.status_code}"
        url = posted.headers["Location"]
    review = client.get(url)
    yield f"{form.id}/review answered", review.data
    done = client.post(
        url.replace("/review", "/finalise"),
        data={"csrf_token": csrf_token(review.get_data(as_text=True)), "confirm_missing": "yes"},
    )
    assert done.status_code == 302, f"{form.id}: finishing gave status {done.status_code}"
    yield f"{form.id}/done", client.get(done.headers["Location"]).data


def _declined(client: Any, interviewer: Interviewer, form: Form, language: str) -> Iterator[tuple[str, bytes]]:
    url = interviewer.start(form.id, language)
    first = form.sections[0]
    consent = next((item for item in first.items if item.type == "consent"), None)
    if consent is None:
        return
    page = client.get(url).get_data(as_text=True)
    response = client.post(url, data={"csrf_token": csrf_token(page), "action": "next", consent.id: CONSENT_DECLINED})
    yield f"{form.id}/declined", response.data


def every_page(
    client: Any, app: Any, forms: Mapping[str, Form], language: str, *, seed: int = 0
) -> Iterator[tuple[str, bytes]]:
    """(name, body) of every page a phone sees in ``language``, in a fresh session."""
    interviewer = Interviewer(client, app)
    interviewer.pair()
    _choose_language(client, language)
    yield "pair", client.get("/pair").data
    yield "home", client.get("/home").data
    rng = random.Random(seed)
    for form in forms.values():
        yield from _blank_sections(client, interviewer, form, language)
        yield from _answered_interview(client, interviewer, form, language, random_answers(form, rng))
        yield from _declined(client, interviewer, form, language)
    yield "exit", client.get("/x").data


def count_external(text: str) -> int:
    return len(EXTERNAL_ATTRIBUTE.findall(text)) + len(EXTERNAL_CSS_URL.findall(text))


def header_bytes(response: Any) -> int:
    """The status line and headers as HTTP/1.1 writes them (waitress adds Date and Server too)."""
    lines = [f"HTTP/1.1 {response.status}", *(f"{key}: {value}" for key, value in response.headers.items())]
    return sum(len(line) + 2 for line in lines) + len("Date: Thu, 01 Jan 2026 00:00:00 GMT\r\n") + 2


def _page_headers_on_the_wire(client: Any) -> int:
    """Header bytes of a gzipped page, after checking the app sends exactly gzip_bytes of it."""
    sent = client.get("/pair", headers={"Accept-Encoding": "gzip"})
    assert sent.headers.get("Content-Encoding") == "gzip", "the kit did not compress a page"
    # The same response's own body: two requests differ once the CSRF token's time stamp ticks over.
    assert sent.data == gzip_bytes(gzip.decompress(sent.data)), "the kit compressed a page differently from gzip_bytes"
    return header_bytes(sent)


def weigh_pages(app: Any, forms: Mapping[str, Form], language: str) -> list[PageWeight]:
    client = app.test_client()
    assets: dict[str, tuple[int, int, int]] = {}  # path -> (bytes, on the wire, external references inside)

    def asset(path: str) -> tuple[int, int, int]:
        if path not in assets:
            with client.get(path) as response:
                assert response.status_code == 200, f"{path}: status {response.status_code}"
                size, external = len(response.data), count_external(response.get_data(as_text=True))
            with client.get(path, headers={"Accept-Encoding": "gzip"}) as response:
                wire = len(response.data) + header_bytes(response)
            assets[path] = (size, wire, external)
        return assets[path]

    weights = []
    page_headers = 0
    for name, body in every_page(client, app, forms, language):
        page_headers = page_headers or _page_headers_on_the_wire(client)
        html = body.decode("utf-8")
        linked = [asset(path) for path in dict.fromkeys(LINKED_ASSET.findall(html))]
        html_wire = len(gzip_bytes(body)) if len(body) > MIN_BYTES else len(body)
        weights.append(
            PageWeight(
                language=language,
                name=name,
                html_bytes=len(body),
                asset_bytes=sum(size for size, _, _ in linked),
                external=count_external(html) + sum(external for _, _, external in linked),
                wire_bytes=html_wire + page_headers + sum(wire for _, wire, _ in linked),
            )
        )
    return weights


def measure(forms: Mapping[str, Form]) -> tuple[dict[str, float], list[PageWeight]]:
    """Figures for the page budget, and every page's weight (for the report's detail)."""
    languages = catalogue_languages(paths.translations_dir())
    weights: list[PageWeight] = []
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-pages-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder)).unlock()
        app = create_app(WebSettings(testing=True), kit, Programme.from_forms(forms.values()))
        for language in languages:
            weights += weigh_pages(app, forms, language)
    heaviest = max(weights, key=lambda weight: weight.total_bytes)
    figures = {
        "page_kb_max": heaviest.total_bytes / KB,
        "page_html_kb_max": max(weight.html_bytes for weight in weights) / KB,
        "page_kb_wire_max": max(weight.wire_bytes for weight in weights) / KB,
        "pages_weighed": float(len(weights)),
        "page_languages": float(len(languages)),
        "external_requests": float(sum(weight.external for weight in weights)),
    }
    return figures, weights
