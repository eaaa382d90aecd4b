"""Every shipped language renders every page of both forms, fully translated, within budget."""

from __future__ import annotations

import html
import json
import random
import re
import shutil
from pathlib import Path

import pytest
from werkzeug import exceptions

from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.i18n.catalogues import load_catalogue
from fieldkit.core.i18n.pofile import parse_po, render_po
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.programme import Programme
from fieldkit.kit.simulate import random_answers
from fieldkit.kit.web.app import WebSettings, create_app
from tests.leftover_english import interface_sources
from tests.test_web_pages import BUDGET_BYTES, _assets
from tests.webclient import Interviewer, csrf_token

LANGUAGES = ("ru", "es", "fr", "pt", "ar")
TAG = re.compile(r"<[^>]+>")


def _visible_text(page: str) -> str:
    return html.unescape(TAG.sub("\n", page))




def _untranslated_sources(language: str, shipped_forms) -> set[str]:
    """English interface and form strings whose translation differs, long enough to spot in a page."""
    directory = paths.translations_dir()
    sources = interface_sources(language)
    forms_catalogue = load_catalogue(directory, language, "forms")
    for form in shipped_forms.values():
        for string in form_strings(form):
            translated = forms_catalogue.get(string.context, string.text)
            if translated and translated != string.text and len(string.text) >= 12:
                sources.add(string.text)
    return sources


def _pages(client, app, shipped_forms, language: str):
    interviewer = Interviewer(client, app)
    interviewer.pair()
    home = client.get("/home").get_data(as_text=True)
    client.post("/lang", data={"csrf_token": csrf_token(home), "lang": language, "next": "/home"})
    yield "home", client.get("/home").get_data(as_text=True)
    for form_id, form in shipped_forms.items():
        url = interviewer.start(form_id, language)
        base = url.rsplit("/", 1)[0]
        refused = interviewer.submit(url, [])  # the consent page with its "consent needed" message
        assert refused.status_code == 422, form_id
        yield f"{form_id}/consent-needed", refused.get_data(as_text=True)
        assert interviewer.submit(url, [("consent", "given")]).status_code == 302  # later pages need it
        for section in form.sections:
            shown = client.get(f"{base}/{section.id}")
            assert shown.status_code == 200, f"{form_id}/{section.id}"
            yield f"{form_id}/{section.id}", shown.get_data(as_text=True)
        yield f"{form_id}/review", client.get(base.replace("/s", "") + "/review").get_data(as_text=True)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_page_is_fully_translated(client, app, shipped_forms, language: str) -> None:
    english = _untranslated_sources(language, shipped_forms)
    assert len(english) > 300, "the catalogues should translate the forms and the interface"
    direction = "rtl" if language == "ar" else "ltr"
    assets = _assets(client)
    count = 0
    for name, page in _pages(client, app, shipped_forms, language):
        count += 1
        assert f'<html lang="{language}" dir="{direction}">' in page, name
        text = _visible_text(page)
        leaks = sorted(source for source in english if re.search(rf"(?<!\w){re.escape(source)}(?!\w)", text))
        assert not leaks, f"{language} {name} shows English: {leaks[:3]}"
        assert "No answer is saved before" not in text, f"{language} {name} shows the consent message in English"
        assert len(page.encode()) + assets <= BUDGET_BYTES, f"{language} {name}: {len(page.encode()) + assets} bytes"
    assert count > 20


def test_a_record_keeps_its_language_and_catalogue_hash(client, app, kit, shipped_forms) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    answers = random_answers(shipped_forms["peer-interview"], random.Random(2))
    interviewer.complete("peer-interview", answers, language="ar")
    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["language"] == "ar"
    assert payload["translation"]["complete"] is True
    assert payload["translation"]["catalogue_hash"].startswith("sha256:")


def _with_one_fuzzy_entry(tmp_path: Path) -> Path:
    copy = tmp_path / "translations"
    shutil.copytree(paths.translations_dir(), copy, ignore=shutil.ignore_patterns("*.mo"))
    catalogue = copy / "fr" / "LC_MESSAGES" / "forms.po"
    po, problems = parse_po(catalogue.read_bytes())
    assert problems == []
    target = next(m for m in po.catalog if m.context == "peer-interview/consent")
    target.flags.add("fuzzy")
    catalogue.write_bytes(render_po(po, po.catalog.num_plurals))
    return copy


@pytest.mark.parametrize("pilot", [False, True], ids=["refused", "pilot"])
def test_a_fuzzy_string_withholds_the_form_unless_piloting(kit, shipped_forms, tmp_path: Path, pilot: bool) -> None:
    settings = WebSettings(
        testing=True, translations_dir=_with_one_fuzzy_entry(tmp_path), allow_incomplete_translations=pilot
    )
    app = create_app(settings, kit.unlock(), Programme.from_forms(shipped_forms.values()))
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    home = client.get("/home").get_data(as_text=True)
    peer_card = home.split('value="peer-interview"')[1].split("</form>")[0]
    french = re.search(r'<option value="fr"([^>]*)>([^<]*)</option>', peer_card)
    assert french and "1 to review" in french.group(2)
    assert ("disabled" in french.group(1)) is not pilot
    centre_card = home.split('value="centre-assessment"')[1].split("</form>")[0]
    assert re.search(r'<option value="fr">[^<(]*</option>', centre_card), "the other form stays available"
    response = client.post("/start", data={"csrf_token": csrf_token(home), "form": "peer-interview", "lang": "fr"})
    if not pilot:
        assert response.status_code == 400
        return
    assert response.status_code == 302
    answers = random_answers(shipped_forms["peer-interview"], random.Random(4))
    interviewer.complete("peer-interview", answers, language="fr")
    store = RecordStore(kit.data_dir)
    payloads = [json.loads(age.decrypt(store.get(i), kit.identities())) for i in store.ids()]
    assert payloads and all(p["translation"]["complete"] is False for p in payloads)


def _break(catalogue: Path) -> int:
    """Give a catalogue a syntax error (an unknown escape) while the kit runs; return its line."""
    lines = catalogue.read_text(encoding="utf-8").split("\n")
    number = next(i for i, line in enumerate(lines) if line.startswith("msgstr ") and line != 'msgstr ""')
    lines[number] = lines[number][:-1] + '\\q"'
    catalogue.write_text("\n".join(lines), encoding="utf-8")
    return number + 1


def test_a_catalogue_broken_at_run_time_falls_back_to_english(kit, shipped_forms, tmp_path: Path, caplog) -> None:
    copy = tmp_path / "translations"
    shutil.copytree(paths.translations_dir(), copy, ignore=shutil.ignore_patterns("*.mo"))
    app = create_app(
        WebSettings(testing=True, translations_dir=copy), kit.unlock(), Programme.from_forms(shipped_forms.values())
    )
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview", "fr")
    assert interviewer.submit(url, [("consent", "given")]).status_code == 302
    english_title = shipped_forms["peer-interview"].title
    french_title = load_catalogue(copy, "fr", "forms").get("peer-interview/:title", english_title)
    assert french_title and french_title in html.unescape(client.get(url).get_data(as_text=True))

    line = _break(copy / "fr" / "LC_MESSAGES" / "forms.po")
    page = client.get(url)  # the interview under way goes on, its form wording now in English
    assert page.status_code == 200
    assert english_title in html.unescape(page.get_data(as_text=True))
    assert f"forms.po:{line}: msgstr: unknown escape \\q" in caplog.text
    home = client.get("/home").get_data(as_text=True)  # and French is not offered for a new one
    french = re.search(r'<option value="fr"([^>]*)>([^<]*)</option>', home)
    assert french and "disabled" in french.group(1)
    assert "its translation has errors" in french.group(2)


# What Werkzeug would say: none of it may reach a phone, in any language.
WERKZEUG_WORDS = [
    text
    for error in (exceptions.BadRequest, exceptions.NotFound, exceptions.MethodNotAllowed,
                  exceptions.RequestEntityTooLarge, exceptions.InternalServerError)
    for text in (error().name, error.description)
]  # fmt: skip


def _error_pages(client, app, kit, shipped_forms, language: str):
    """Every kind of refusal a phone can meet, each page once, in ``language``.

    Missing required answers (review), wrong types, a too-long text, a number out of
    range, a form's own constraint, the "none of these" rule, identifying text, the
    consent question, 404, 405, 413, an expired page (CSRF, 400) and a storage failure.
    """
    interviewer = Interviewer(client, app)
    interviewer.pair()
    home = client.get("/home").get_data(as_text=True)
    client.post("/lang", data={"csrf_token": csrf_token(home), "lang": language, "next": "/home"})

    url = interviewer.start("centre-assessment", language)
    base = url.rsplit("/", 1)[0]
    yield "consent-needed", interviewer.submit(url, []), 422
    assert interviewer.submit(url, [("consent", "given")]).status_code == 302
    profile = f"{base}/centre_profile"
    wrong = [("ownership", "perhaps"), ("visit_date", "2099-01-01"), ("capacity", "many")]
    yield "wrong-type-wrong-choice-constraint", interviewer.submit(profile, wrong), 422
    yield "out-of-range", interviewer.submit(profile, [("capacity", "6000"), ("visit_date", "31/12/2025")]), 422
    yield "identifying", interviewer.submit(f"{base}/closing", [("interviewer_notes", "call +44 20 7946 0958")]), 422
    yield "required-missing", client.get(base.replace("/s", "") + "/review"), 200
    finalise = base.replace("/s", "") + "/finalise"
    review = client.get(base.replace("/s", "") + "/review").get_data(as_text=True)
    yield "finalise-missing", client.post(finalise, data={"csrf_token": csrf_token(review)}), 422

    peer = interviewer.start("peer-interview", language)
    peer_base = peer.rsplit("/", 1)[0]
    assert interviewer.submit(peer, [("consent", "given")]).status_code == 302
    none_and_more = [("health_offers", "none_of_these"), ("health_offers", "naloxone")]
    yield "none-of-these", interviewer.submit(f"{peer_base}/health_and_safety", none_and_more), 422

    yield "404-section", client.get(f"{peer_base}/no_such_section"), 404
    yield "404-draft", client.get("/d/" + "0" * 32 + "/review"), 404
    yield "404-path", client.get("/no/such/page"), 404
    yield "405", client.get("/start"), 405
    page = client.get(profile).get_data(as_text=True)
    too_big = {"csrf_token": csrf_token(page), "capacity": "x" * (300 * 1024)}
    yield "413", client.post(profile, data=too_big), 413
    yield "expired-400", client.post(profile, data={"csrf_token": "stale", "capacity": "1"}), 400

    drafts = kit.data_dir / "drafts"  # a file where the drafts folder was: no draft can be written
    shutil.rmtree(drafts)
    drafts.write_bytes(b"")
    home = client.get("/home").get_data(as_text=True)
    started = client.post("/start", data={"csrf_token": csrf_token(home), "form": "peer-interview", "lang": language})
    yield "storage-failure", started, 503


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_state_is_fully_translated(client, app, kit, shipped_forms, language: str) -> None:
    english = _untranslated_sources(language, shipped_forms)
    forms_po = load_catalogue(paths.translations_dir(), language, "forms")
    direction = "rtl" if language == "ar" else "ltr"
    assets = _assets(client)
    seen = set()
    for name, response, status in _error_pages(client, app, kit, shipped_forms, language):
        assert response.status_code == status, f"{language} {name}: {response.status_code}"
        page = response.get_data(as_text=True)
        assert f'<html lang="{language}" dir="{direction}">' in page, name
        text = _visible_text(page)
        leaks = sorted(source for source in english if re.search(rf"(?<!\w){re.escape(source)}(?!\w)", text))
        assert not leaks, f"{language} {name} shows English: {leaks[:3]}"
        werkzeug = [words for words in WERKZEUG_WORDS if words in text]
        assert not werkzeug, f"{language} {name} shows Werkzeug's English: {werkzeug[:1]}"
        assert "Traceback" not in text and "/drafts" not in text, f"{language} {name}"
        assert len(page.encode()) + assets <= BUDGET_BYTES, f"{language} {name}"
        seen.add(name)
        if name == "wrong-type-wrong-choice-constraint":  # the form's own message, from forms.po
            visit = forms_po.get("centre-assessment/visit_date:constraint", "The visit date cannot be in the future.")
            assert visit and visit in html.unescape(page), f"{language}: the reviewed constraint message is not used"
        if name == "none-of-these":
            rule = shipped_forms["peer-interview"].item("health_offers").constraint_message
            translated = forms_po.get("peer-interview/health_offers:constraint", rule)
            assert translated and translated in html.unescape(page) and translated != rule
    assert len(seen) == 14


def test_listing_the_languages_keeps_no_other_language_wording_in_memory(client, app) -> None:
    """The home page says which languages each form can be used in; a kit interviewing in
    English keeps no other language's form wording for that (about 0.5 MB each on a Pi)."""
    from fieldkit.core.i18n import catalogues
    from tests.webclient import Interviewer

    catalogues._read.cache_clear()
    Interviewer(client, app).pair()
    home = client.get("/home")
    assert home.status_code == 200 and 'value="fr"' in home.get_data(as_text=True)
    assert catalogues._read.cache_info().currsize == 0
    assert catalogues._coverage.cache_info().currsize > 0  # what the list needed, without the texts
