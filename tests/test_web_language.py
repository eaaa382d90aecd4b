"""The interview's language over HTTP: chosen, kept, switched mid-interview, sealed and exported.

The phone's choice survives pairing; with no choice the phone's Accept-Language picks
among the served languages; the interview starts in the interface's language; the
language can change on any page without losing an answer; the sealed record lists
every language the interview was shown in, and the hub's export has a column for it.
Counts on the kit's pages take the plural form each language needs.
"""

from __future__ import annotations

import csv
import datetime
import html
import json
import os
import re
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.i18n.catalogues import load_catalogue
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.sealing import seal
from sync.hub.store import HubStore
from sync.protocol.bundle import OutgoingRecord
from tests.bundle_corpus import enrol_key, make_bundle
from tests.webclient import Interviewer, csrf_token

HTML_LANG = re.compile(r'<html lang="([a-z]+)" dir="(ltr|rtl)">')


def _page_language(page: str) -> tuple[str, str]:
    match = HTML_LANG.search(page)
    assert match, "the page does not declare its language"
    return match.group(1), match.group(2)


def _forms_text(language: str, context: str, english: str) -> str:
    text = load_catalogue(paths.translations_dir(), language, "forms").get(context, english)
    assert text, f"{language} has no translation of {context}"
    return text


def _selected_interview_language(home: str, form_id: str) -> str | None:
    card = home.split(f'value="{form_id}"')[1].split("</form>")[0]
    match = re.search(r'<option value="([a-z]+)"[^>]* selected', card)
    return match.group(1) if match else None


def _pair_in(client, app, language: str) -> Interviewer:
    """Choose ``language`` on the pairing page, before pairing, as an interviewer would."""
    page = client.get("/pair").get_data(as_text=True)
    chosen = client.post("/lang", data={"csrf_token": csrf_token(page), "lang": language, "next": "/pair"})
    assert chosen.status_code == 302
    assert _page_language(client.get("/pair").get_data(as_text=True))[0] == language
    interviewer = Interviewer(client, app)
    interviewer.pair()
    return interviewer


def test_the_language_chosen_before_pairing_is_kept_and_starts_the_interview(client, app) -> None:
    _pair_in(client, app, "ar")
    home = client.get("/home").get_data(as_text=True)
    assert _page_language(home) == ("ar", "rtl"), "the choice was lost at pairing"
    for form_id in ("peer-interview", "centre-assessment"):
        assert _selected_interview_language(home, form_id) == "ar", form_id


@pytest.mark.parametrize(
    ("header", "expected"),
    [("ru-RU,ru;q=0.9,en;q=0.5", "ru"), ("ar-EG", "ar"), ("de-DE,de;q=0.9", "en"), ("fr;q=0.3,pt-BR;q=0.8", "pt")],
)
def test_accept_language_picks_a_served_language_when_none_was_chosen(app, header: str, expected: str) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = header
    assert _page_language(client.get("/pair").get_data(as_text=True))[0] == expected
    Interviewer(client, app).pair()
    home = client.get("/home").get_data(as_text=True)
    assert _page_language(home)[0] == expected
    assert _selected_interview_language(home, "peer-interview") == expected


def test_a_choice_wins_over_accept_language(app) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "ar"
    _pair_in(client, app, "fr")
    assert _page_language(client.get("/home").get_data(as_text=True))[0] == "fr"


def _switch(client, url: str, language: str, pairs: list[tuple[str, str]]):
    page = client.get(url).get_data(as_text=True)
    assert 'name="_lang"' in page, "the section page has no language control"
    from werkzeug.datastructures import MultiDict

    data = MultiDict([("csrf_token", csrf_token(page)), ("action", "language"), ("_lang", language), *pairs])
    return client.post(url, data=data)


def test_switching_mid_interview_keeps_every_answer_and_the_record_lists_each_language(
    client, app, kit, shipped_forms
) -> None:
    interviewer = _pair_in(client, app, "ar")
    url = interviewer.start("centre-assessment", "ar")
    base = url.rsplit("/", 1)[0]
    assert url.endswith("/before_we_start")  # consent has a page of its own
    assert interviewer.submit(url, [("consent", "given")]).status_code == 302
    profile = f"{base}/centre_profile"
    # Half the page typed, not yet saved: switching sends it along and keeps it.
    typed = [("capacity", "40"), ("fees_charged", "no")]
    switched = _switch(client, profile, "en", typed)
    assert switched.status_code == 302 and switched.headers["Location"].endswith("/centre_profile")
    page = html.unescape(client.get(profile).get_data(as_text=True))
    assert _page_language(page) == ("en", "ltr")
    assert next(s for s in shipped_forms["centre-assessment"].sections if s.id == "centre_profile").title in page
    assert 'name="consent"' not in page
    assert re.search(r'<input [^>]*name="capacity" [^>]*value="40"', page)
    assert re.search(r'<input type="radio" name="fees_charged" value="no" checked>', page)

    # A problem on the page is shown again in the new language, and the good answers are kept.
    refused = _switch(client, profile, "ru", [("setting", "residential"), ("visit_date", "2099-01-01")])
    assert refused.status_code == 422
    shown = html.unescape(refused.get_data(as_text=True))
    assert _page_language(shown)[0] == "ru"
    visit = "The visit date cannot be in the future."
    assert _forms_text("ru", "centre-assessment/visit_date:constraint", visit) in shown and visit not in shown
    draft_id = url.split("/d/")[1].split("/")[0]
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.language == "ru" and draft.languages == ["ar", "en", "ru"]
    assert draft.answers["setting"] == "residential" and "capacity" not in draft.answers  # cleared on the page
    assert "visit_date" not in draft.answers

    # Back to Arabic: a language already used is not listed twice. Then finish.
    again = [("setting", "residential"), ("capacity", "40"), ("visit_date", "2025-01-31")]
    assert _switch(client, profile, "ar", again).status_code == 302
    review = client.get(f"{base.replace('/s', '')}/review").get_data(as_text=True)
    assert _page_language(review)[0] == "ar"
    done = client.post(
        f"{base.replace('/s', '')}/finalise", data={"csrf_token": csrf_token(review), "confirm_missing": "yes"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)
    (record_id,) = RecordStore(kit.data_dir).ids()
    payload = json.loads(age.decrypt(RecordStore(kit.data_dir).get(record_id), kit.identities()))
    assert payload["language"] == "ar"
    assert payload["languages"] == ["ar", "en", "ru"]
    assert payload["answers"]["setting"] == "residential" and payload["answers"]["visit_date"] == "2025-01-31"
    assert payload["answers"]["capacity"] == 40


def test_switching_before_consent_keeps_nothing_but_the_language(client, app, kit) -> None:
    interviewer = _pair_in(client, app, "en")
    url = interviewer.start("peer-interview", "en")
    switched = _switch(client, url, "ar", [])
    assert switched.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert _page_language(page)[0] == "ar" and 'role="alert"' not in page  # no "consent needed" for a switch
    draft_id = url.split("/d/")[1].split("/")[0]
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.answers == {} and draft.languages == ["en", "ar"]


@pytest.mark.parametrize("language", ["xx", "", "../en"])
def test_switching_to_a_language_the_kit_does_not_serve_is_refused_and_changes_nothing(
    client, app, kit, language: str
) -> None:
    interviewer = _pair_in(client, app, "ru")
    url = interviewer.start("peer-interview", "ru")
    refused = _switch(client, url, language, [("consent", "given")])
    assert refused.status_code == 400
    text = html.unescape(refused.get_data(as_text=True))
    assert _page_language(text)[0] == "ru" and "Traceback" not in text
    draft_id = url.split("/d/")[1].split("/")[0]
    draft = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)
    assert draft.language == "ru" and draft.languages == ["ru"] and draft.answers == {}


def test_the_export_has_a_languages_column_and_old_records_keep_their_one_language(
    client, app, kit, tmp_path: Path
) -> None:
    interviewer = _pair_in(client, app, "pt")
    url = interviewer.start("centre-assessment", "pt")
    assert _switch(client, url, "es", [("consent", "given"), ("capacity", "9")]).status_code == 302
    review_url = url.rsplit("/s/", 1)[0] + "/review"
    review = client.get(review_url).get_data(as_text=True)
    finalise = review_url.replace("/review", "/finalise")
    assert client.post(finalise, data={"csrf_token": csrf_token(review), "confirm_missing": "yes"}).status_code == 302
    store = RecordStore(kit.data_dir)
    (new_id,) = store.ids()
    new_payload = json.loads(age.decrypt(store.get(new_id), kit.identities()))
    assert new_payload["languages"] == ["pt", "es"]
    old_payload = {**new_payload, "record_id": str(uuid.uuid4()), "language": "fr"}
    del old_payload["languages"]  # as a kit from before the field sealed it
    recipient = [age.parse_recipient(kit.hub_recipient)]

    runner = CliRunner()
    hub = tmp_path / "hub"
    recipient_file = kit.hub_identity.parent / "hub-recipient.txt"
    initialised = runner.invoke(cli, ["hub", "init", "--data", str(hub), "--recipient-file", str(recipient_file)])
    assert initialised.exit_code == 0, initialised.output
    key = Ed25519PrivateKey.generate()
    kit_id = new_payload["kit_id"]  # the hub exports a record only under the kit that sealed it
    day = datetime.date.today().isoformat()
    records = [
        OutgoingRecord(
            new_id, kit_id, 1, "centre-assessment", new_payload["form"]["version"], day, store.get(new_id),
        ),
        OutgoingRecord(
            old_payload["record_id"], kit_id, 2, "centre-assessment", old_payload["form"]["version"], day,
            seal(old_payload, recipient),
        ),
    ]  # fmt: skip
    with HubStore(hub) as hub_store:
        enrol_key(hub_store, key, kit_id)
        assert hub_store.import_bundle(make_bundle(key, kit_id, records)).status == "accepted"
    out = tmp_path / "export"
    result = runner.invoke(
        cli, ["hub", "export", "--data", str(hub), "--identity", str(kit.hub_identity), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    (table,) = out.glob("centre-assessment.csv")
    with table.open(encoding="utf-8", newline="") as handle:
        rows = {row["record_id"]: row for row in csv.DictReader(handle)}
    assert rows[new_id]["languages"] == "pt;es" and rows[new_id]["language"] == "es"
    assert rows[old_payload["record_id"]]["languages"] == "fr"
    codebook = (out / "codebook.csv").read_text(encoding="utf-8")
    assert "languages" in codebook and "Every language the interview was shown in" in codebook
    assert os.path.exists(out / "datapackage.json")


# -- plural forms ---------------------------------------------------------------------------

# The form each count takes: Russian one/few/many (1, 21 | 2 | 5), Arabic one/two/few/many.
PLURALS = {
    "ru": {
        1: ("На этом комплекте хранится 1 запечатанная запись.", "1 незавершённое интервью"),
        2: ("На этом комплекте хранятся 2 запечатанные записи.", "2 незавершённых интервью"),
        5: ("На этом комплекте хранится 5 запечатанных записей.", "5 незавершённых интервью"),
        21: ("На этом комплекте хранится 21 запечатанная запись.", "21 незавершённое интервью"),
    },
    "ar": {
        1: ("سجل مختوم واحد محفوظ على هذه العُدّة.", "مقابلة واحدة غير مكتملة"),
        2: ("سجلان مختومان محفوظان على هذه العُدّة.", "مقابلتان غير مكتملتين"),
        5: ("5 سجلات مختومة محفوظة على هذه العُدّة.", "5 مقابلات غير مكتملة"),
        21: ("21 سجلاً مختومًا محفوظًا على هذه العُدّة.", "21 مقابلةً غير مكتملة"),
    },
}


def _add_records_and_unreadable_drafts(kit_dir: Path, count: int) -> None:
    """``count`` stored records (opaque bytes: the page only counts them) and damaged drafts."""
    store = RecordStore(kit_dir)
    have = len(list(store.ids()))
    for _ in range(count - have):
        record_id = str(uuid.uuid4())
        ciphertext = b"age-encryption.org/v1\n" + os.urandom(32)
        metadata = {
            "record_id": record_id, "form_id": "peer-interview", "form_version": 1,
            "size": len(ciphertext), "day": "2026-01-01",
        }  # fmt: skip
        store.put(record_id, ciphertext, metadata)
        drafts = kit_dir / "drafts"
        drafts.mkdir(mode=0o700, exist_ok=True)
        (drafts / f"{uuid.uuid4().hex}.draft").write_bytes(b"\x01" + os.urandom(40))


@pytest.mark.parametrize("language", ["ru", "ar"])
def test_counts_on_the_operator_page_take_the_languages_plural_forms(app, kit, language: str) -> None:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language
    for count, (records, drafts) in PLURALS[language].items():
        _add_records_and_unreadable_drafts(kit.data_dir, count)
        page = html.unescape(client.get("/operator/").get_data(as_text=True))
        assert _page_language(page)[0] == language
        assert records in page, f"{language} {count}: {records!r} not on the operator page"
        assert drafts in page, f"{language} {count}: {drafts!r} not on the operator page"


def test_english_counts_say_one_record_not_one_records(app, kit) -> None:
    client = app.test_client()
    _add_records_and_unreadable_drafts(kit.data_dir, 1)
    page = html.unescape(client.get("/operator/").get_data(as_text=True))
    assert "1 sealed record is stored on this kit." in page
    assert "1 unfinished interview cannot be opened with this kit's key." in page


def test_refusals_before_the_view_come_in_the_interviews_language(client, app) -> None:
    """An expired page (CSRF) or an oversized one is refused before the draft is opened:
    still in the interview's language, not the interface's English."""
    interviewer = _pair_in(client, app, "en")
    url = interviewer.start("peer-interview", "ar")
    assert _page_language(client.get(url).get_data(as_text=True))[0] == "ar"
    expired = client.post(url, data={"csrf_token": "stale", "consent": "given"})
    assert expired.status_code == 400
    page = html.unescape(expired.get_data(as_text=True))
    assert _page_language(page) == ("ar", "rtl") and "Page expired" not in page
    token = csrf_token(client.get(url).get_data(as_text=True))
    too_big = client.post(url, data={"csrf_token": token, "consent": "x" * (300 * 1024)})
    assert too_big.status_code == 413 and _page_language(too_big.get_data(as_text=True))[0] == "ar"
    home = client.get("/home").get_data(as_text=True)
    assert _page_language(home)[0] == "en", "outside the interview the interface language holds"
    client.get("/x")  # quick exit forgets the open interview with the session
    assert _page_language(client.get("/pair").get_data(as_text=True))[0] == "en"
    # A page sent after the exit changes nothing; it says the session ended, in the draft's language.
    after = client.post(url, data={"csrf_token": "stale"})
    assert after.status_code >= 400 and "consent" not in after.get_data(as_text=True).lower()
