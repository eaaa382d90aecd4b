"""What staff may read over a shoulder: no page of the peer interview has a heading that names abuse.

The interviewer may work where staff can see the phone. A page heading is large and is
read at a glance, so every section's on-screen ``title`` is neutral ("A few more
questions") while its ``topic`` ("Human-rights red flags") goes to the codebook only.
These tests walk every page of the peer interview in every shipped language through the
real web app, with answers that open every follow-up question, and read every heading.
"""

from __future__ import annotations

import html
import re

import pytest

from fieldkit.core import paths
from fieldkit.core.formengine.archive import load_archived_forms
from fieldkit.core.i18n.catalogues import catalogue_languages
from tests.webclient import SHOWN_ITEM, Interviewer, csrf_token, form_values

HEADING = re.compile(r"<(h[1-6]|title)\b[^>]*>(.*?)</\1>", re.S | re.I)
TAG = re.compile(r"<[^>]+>")

# Words that name ill-treatment, violence or rights in each shipped language (stems,
# compared in lower case). A heading holding one of them tells anyone who sees the
# phone what the interview is about.
NAMING_ABUSE = {
    "en": ("abuse", "violen", "never happen", "hurt", "punish", "tortur", "red flag", "right", "forced",
           "detention", "humiliat", "shame", "ill-treat", "cruel"),
    "es": ("abuso", "violen", "nunca deb", "castig", "tortur", "derecho", "forzad", "maltrat", "humill",
           "detenci", "alerta"),
    "fr": ("abus", "violen", "jamais", "puni", "tortur", "droit", "forcé", "maltrait", "humili",
           "détention", "alerte"),
    "pt": ("abuso", "violên", "nunca dev", "castig", "tortur", "direito", "forçad", "maus-trat", "humilh",
           "detenção", "alerta"),
    "ru": ("насил", "никогда не", "наказ", "пыт", "прав", "жесток", "принуд", "униж", "задерж",
           "тревож"),
    "ar": ("عنف", "إساءة", "تعذيب", "عقاب", "عقوب", "حقوق", "أبدا", "أبدً", "قسري", "إذلال", "احتجاز",
           "إنذار"),
}  # fmt: skip

# Answers that open every follow-up question of the peer interview, so that every page
# and every question is shown at least once.
EVERYTHING_SHOWN = {
    "consent": "given",
    "age_band": "age_25_to_34",
    "on_oat_before": "yes",
    "health_offers": ["naloxone", "hiv_test"],
    "plan_made_together": "yes",
    "stopped_from_leaving": "yes",
    "withdrawal_medicine": "some_medicine",
}


def naming_abuse(language: str, text: str) -> list[str]:
    lowered = text.lower()
    return [word for word in NAMING_ABUSE[language] if word in lowered]


def headings(page: str) -> list[str]:
    return [html.unescape(TAG.sub("", text)).strip() for _tag, text in HEADING.findall(page)]


def _walk(client, app, language: str) -> list[tuple[str, list[str]]]:
    """Every page of a peer interview in ``language``: (its URL, its headings)."""
    page = client.get("/pair").get_data(as_text=True)
    client.post("/lang", data={"csrf_token": csrf_token(page), "lang": language, "next": "/pair"})
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview", language)
    walked = []
    for _ in range(40):
        page = client.get(url).get_data(as_text=True)
        walked.append((url, headings(page)))
        if url.endswith("/review"):
            return walked
        response = interviewer.submit(url, form_values(EVERYTHING_SHOWN, SHOWN_ITEM.findall(page)))
        assert response.status_code == 302, response.get_data(as_text=True)
        url = response.headers["Location"]
    raise AssertionError(f"the interview did not reach its review page: {walked[-1]}")


@pytest.mark.parametrize("language", catalogue_languages(paths.translations_dir()))
def test_no_page_of_the_peer_interview_has_a_heading_that_names_abuse(client, app, language: str) -> None:
    walked = _walk(client, app, language)
    sections = {section.id for section in app.extensions["fieldkit"].forms["peer-interview"].sections}
    assert len(walked) >= len(sections), walked  # every page was seen, then the review
    found = [(url, text, words) for url, texts in walked for text in texts if (words := naming_abuse(language, text))]
    assert not found, found


def test_the_check_finds_the_old_title_and_a_heading_in_every_language() -> None:
    """The word lists do catch what they are for: version 3's on-screen title, and one
    heading per language written the way a translator might."""
    old = {form.key: form for form in load_archived_forms(paths.forms_dir())}["peer-interview@3"]
    titles = [section.title for section in old.sections]
    assert any(naming_abuse("en", title) for title in titles), titles
    samples = {
        "en": "Things that should never happen",
        "es": "Cosas que nunca deberían pasar",
        "fr": "Ce qui ne devrait jamais arriver",
        "pt": "Coisas que nunca deveriam acontecer",
        "ru": "То, что никогда не должно происходить",
        "ar": "أشياء لا يجب أن تحدث أبدًا",
    }
    assert all(naming_abuse(language, text) for language, text in samples.items())
    assert not naming_abuse("en", "A few more questions") and not naming_abuse("ar", "بعض الأسئلة الأخرى")
