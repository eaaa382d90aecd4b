"""The small things that cost interviews (issue 15, point 6), through the kit's real app and files.

Discard asks and can be undone; drafts say when they started and how far they got;
the review says why it will not seal; progress is readable; follow-up questions
say when to ask them without JavaScript; the operator's pairing code expires and
paired phones can be told apart.
"""

from __future__ import annotations

import datetime
import re
import time
from pathlib import Path

import pytest
from babel.dates import format_time

from fieldkit.core import paths
from fieldkit.core.formengine.loader import load_form
from fieldkit.core.i18n.catalogues import load_catalogue
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit import web
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.programme import Programme
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.kit.web.pairing import Pairing
from tests.conftest import scan_for
from tests.webclient import Interviewer, csrf_token

CANARY = "discard-canary-7f3a"


def _draft_id(url: str) -> str:
    return url.split("/d/")[1].split("/")[0]


def _started_with_words(client, app) -> tuple[Interviewer, str, str]:
    """A peer interview with consent and a text answer saved; returns the interviewer, draft id, next url."""
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("centre-assessment")
    after_consent = interviewer.submit(url, [("consent", "given")])
    assert after_consent.status_code == 302, after_consent.get_data(as_text=True)
    # The form's free text is on its last page; any page after consent can be saved.
    words = interviewer.submit(url.rsplit("/", 1)[0] + "/closing", [("interviewer_notes", CANARY)])
    assert words.status_code == 302, words.get_data(as_text=True)
    return interviewer, _draft_id(url), after_consent.headers["Location"]


# -- a. discard asks, and can be undone for a while ----------------------------------------------


def test_discard_asks_first_then_keeps_the_draft_restorable_and_encrypted(client, app, kit) -> None:
    _, draft_id, _next = _started_with_words(client, app)
    drafts = app.extensions["fieldkit"].drafts
    home = client.get("/home").get_data(as_text=True)
    assert f'href="/d/{draft_id}/discard"' in home, "Discard is a link to a page that asks (works with JS off)"

    asked = client.get(f"/d/{draft_id}/discard")
    page = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "Discard this interview?" in page
    assert "10 minutes, or until the kit restarts" in page and 'name="confirm" value="yes"' in page
    assert list(drafts.ids()) == [draft_id], "asking changes nothing"

    done = client.post(f"/d/{draft_id}/discard", data={"csrf_token": csrf_token(page), "confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/home")
    assert list(drafts.ids()) == []
    assert list(drafts.discarded_ids()) == [draft_id]
    assert (kit.data_dir / "drafts" / "discarded" / f"{draft_id}.draft").is_file()
    assert scan_for(CANARY, kit.data_dir) == [], "the discarded draft stays encrypted"

    home = client.get("/home").get_data(as_text=True)
    assert "Discarded interviews" in home and f'action="/d/{draft_id}/restore"' in home
    assert re.search(r"wiped at \d{1,2}:\d{2}", home), home
    assert f'href="/d/{draft_id}"' not in home, "not among the unfinished ones"

    # Another phone with another interviewer code cannot see or restore it.
    other = app.test_client()
    Interviewer(other, app, "P02").pair()
    other_home = other.get("/home").get_data(as_text=True)
    assert draft_id not in other_home
    refused = other.post(f"/d/{draft_id}/restore", data={"csrf_token": csrf_token(other_home)})
    assert refused.status_code == 404 and "can no longer be restored" in refused.get_data(as_text=True)
    assert list(drafts.discarded_ids()) == [draft_id]

    back = client.post(f"/d/{draft_id}/restore", data={"csrf_token": csrf_token(home)})
    assert back.status_code == 302
    assert list(drafts.ids()) == [draft_id] and list(drafts.discarded_ids()) == []
    assert drafts.load(draft_id).answers == {"consent": "given", "interviewer_notes": CANARY}
    assert f'href="/d/{draft_id}"' in client.get("/home").get_data(as_text=True)


def test_discard_without_confirmation_and_bad_ids_change_nothing(client, app) -> None:
    _, draft_id, _next = _started_with_words(client, app)
    drafts = app.extensions["fieldkit"].drafts
    token = csrf_token(client.get("/home").get_data(as_text=True))
    unconfirmed = client.post(f"/d/{draft_id}/discard", data={"csrf_token": token, "confirm": "no"})
    assert unconfirmed.status_code == 200 and "Discard this interview?" in unconfirmed.get_data(as_text=True)
    assert list(drafts.ids()) == [draft_id]
    for bad in ("0" * 32, "../../etc", "x" * 40):
        assert client.post(f"/d/{bad}/discard", data={"csrf_token": token, "confirm": "yes"}).status_code == 404
        response = client.post(f"/d/{bad}/restore", data={"csrf_token": token})
        assert response.status_code == 404 and "Traceback" not in response.get_data(as_text=True)
    assert list(drafts.ids()) == [draft_id]


def test_discarded_drafts_are_wiped_when_time_runs_out_and_at_restart(kit, shipped_forms) -> None:
    unlocked = kit.unlock()
    app = create_app(
        WebSettings(testing=True, discard_minutes=0), unlocked, Programme.from_forms(shipped_forms.values())
    )
    client = app.test_client()
    _, draft_id, _next = _started_with_words(client, app)
    token = csrf_token(client.get("/home").get_data(as_text=True))
    client.post(f"/d/{draft_id}/discard", data={"csrf_token": token, "confirm": "yes"})
    discarded = kit.data_dir / "drafts" / "discarded" / f"{draft_id}.draft"
    home = client.get("/home").get_data(as_text=True)  # zero minutes: wiped at the next look
    assert "Discarded interviews" not in home and not discarded.exists()

    app = create_app(WebSettings(testing=True), unlocked, Programme.from_forms(shipped_forms.values()))
    client = app.test_client()
    _, second, _next = _started_with_words(client, app)
    token = csrf_token(client.get("/home").get_data(as_text=True))
    client.post(f"/d/{second}/discard", data={"csrf_token": token, "confirm": "yes"})
    assert (kit.data_dir / "drafts" / "discarded" / f"{second}.draft").is_file()
    create_app(WebSettings(testing=True), unlocked, Programme.from_forms(shipped_forms.values()))  # the kit restarts
    assert list((kit.data_dir / "drafts" / "discarded").iterdir()) == []
    assert list(DraftStore(kit.data_dir / "drafts", unlocked.draft_key).ids()) == []


# -- b. drafts listed by local start time and page ------------------------------------------------


@pytest.fixture
def kolkata(monkeypatch):
    """The kit's clock in a zone 5 h 30 min from UTC, so a UTC stamp cannot pass for local time."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("language", ["en", "ar"])
def test_drafts_say_when_they_started_in_local_time_and_how_far_they_got(client, app, kolkata, language) -> None:
    _, draft_id, _next = _started_with_words(client, app)
    drafts = app.extensions["fieldkit"].drafts
    draft = drafts.load(draft_id)
    today = datetime.datetime.now(kolkata).date()
    draft.started = f"{today.isoformat()}T02:00Z"  # 07:30 in Kolkata, the same day there
    draft.section = "centre_profile"  # the second page: where "Save and continue" after consent leads
    drafts.save(draft)
    if language != "en":
        page = client.get("/home").get_data(as_text=True)
        client.post("/lang", data={"csrf_token": csrf_token(page), "lang": language, "next": "/home"})
    home = client.get("/home").get_data(as_text=True)
    local = datetime.datetime.combine(today, datetime.time(7, 30), kolkata)
    shown = format_time(local, format="short", tzinfo=kolkata, locale=language)
    total = len(app.extensions["fieldkit"].forms["centre-assessment"].sections)
    if language == "en":
        assert f"started 7:30\u202fAM, page 2 of {total}" in home or f"started 7:30 AM, page 2 of {total}" in home
    else:
        assert shown in home and "7:30" in shown.replace("٧", "7").replace("٣", "3").replace("٠", "0")
        assert f"{total}" in home
    assert "T02:00Z" not in home, "no UTC stamp on the page"
    assert 'dir="rtl"' in home if language == "ar" else 'dir="ltr"' in home


# -- c. finish and seal says what stops it ------------------------------------------------------


def test_finish_with_missing_required_answers_lists_them_with_links(client, app, kit) -> None:
    _, draft_id, _next = _started_with_words(client, app)
    review = client.get(f"/d/{draft_id}/review").get_data(as_text=True)
    refused = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": csrf_token(review)})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "Not sealed yet: required questions have no answer." in page
    assert 'id="error-summary"' in page and 'role="alert"' in page
    assert re.search(rf'href="/d/{draft_id}/s/[a-z_]+#q-visit_date"', page), "a link to the missing question"
    assert list(RecordStore(kit.data_dir).ids()) == []
    sealed = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": csrf_token(page), "confirm_missing": "yes"})
    assert sealed.status_code == 302 and "/done/" in sealed.headers["Location"]


def test_answers_that_no_longer_fit_are_listed_and_never_a_500(client, app, kit) -> None:
    _, draft_id, _next = _started_with_words(client, app)
    drafts = app.extensions["fieldkit"].drafts
    draft = drafts.load(draft_id)
    draft.answers["visit_date"] = "2999-01-01"  # saved when it was allowed; now it is not
    drafts.save(draft)
    review = client.get(f"/d/{draft_id}/review").get_data(as_text=True)
    assert "Answers to check" in review and "#q-visit_date" in review
    refused = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": csrf_token(review), "confirm_missing": "yes"})
    assert refused.status_code == 422
    assert "some answers need another look" in refused.get_data(as_text=True)

    draft.answers = {"consent": "given", "no_such_item": "x"}  # what the form engine refuses at sealing
    drafts.save(draft)
    review = client.get(f"/d/{draft_id}/review").get_data(as_text=True)
    refused = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": csrf_token(review), "confirm_missing": "yes"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422, page
    assert "Not sealed: an answer no longer fits the form." in page and "Traceback" not in page
    assert list(RecordStore(kit.data_dir).ids()) == []
    assert drafts.load(draft_id).answers == draft.answers, "the draft is kept as it was"


# -- d. progress ------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ar"])
def test_progress_is_at_the_top_near_the_buttons_and_in_the_title(client, app, language) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview", language)
    next_url = interviewer.submit(url, [("consent", "given")]).headers["Location"]
    page = client.get(next_url).get_data(as_text=True)
    progress = re.findall(r'<p class="progress"[^>]*>([^<]+)</p>', page)
    assert len(progress) == 2 and progress[0] == progress[1]
    assert '<h1 aria-describedby="progress">' in page
    title = re.search(r"<title>([^<]+)</title>", page).group(1)
    assert progress[0] in title
    total = len(app.extensions["fieldkit"].forms["peer-interview"].sections)
    if language == "en":
        assert progress[0] == f"page 2 of {total}"
    assert page.index(progress[0], page.index("</form>") - 1200) < page.index('value="next"')


# -- f. follow-up cues without JavaScript -----------------------------------------------------------

CUE_FORM = """
id: cue-form
version: 1
title: Cues
choice_lists:
  colours:
    - {id: red, label: "Red"}
    - {id: green, label: "Green"}
    - {id: blue, label: "Blue"}
sections:
  - id: only
    title: Only
    items:
      - {id: agree, type: consent, label: "Do you agree?", tags: [P2]}
      - {id: water, type: yes_no, label: "Is there water?", tags: [P1]}
      - {id: how, type: text, label: "How?", tags: [P1], relevant: "water == 'yes'"}
      - {id: colour, type: select_one, label: "Which colour?", choices: colours, tags: [P1]}
      - {id: shade, type: text, label: "Which shade?", tags: [P1], relevant: "colour in ['red', 'blue']"}
      - {id: nights, type: integer, label: "How many nights?", tags: [P1]}
      - {id: why, type: text, label: "Why so long?", tags: [P1], relevant: "nights > 3"}
"""


def test_follow_up_questions_say_when_to_ask_them_without_javascript(kit, tmp_path) -> None:
    (tmp_path / "cue-form.yaml").write_text(CUE_FORM, encoding="utf-8")
    form = load_form(tmp_path / "cue-form.yaml")
    app = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms([form]))
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    page = client.get(interviewer.start(form.id)).get_data(as_text=True)
    cues = dict(re.findall(r'<p class="cue" id="c-([a-z_]+)">([^<]+)</p>', page))
    assert cues == {
        "how": "Answer only if the answer to “Is there water?” was: Yes.",
        "shade": "Answer only if the answer to “Which colour?” was: Red or Blue.",
        "why": "Answer only if it applies.",
    }
    assert 'aria-describedby="c-how"' in page, "read out with the question"
    # With the script, the cues go (it applies the skip logic itself): tests/test_browser_small_things.py sees it.
    static = Path(web.__file__).parent / "static"
    assert ".js .cue{display:none}" in (static / "kit.css").read_text(encoding="utf-8")
    assert 'classList.add("js")' in (static / "kit.js").read_text(encoding="utf-8")


def test_follow_up_cue_in_a_shipped_form_in_arabic(client, app) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview", "ar")
    medication = url.rsplit("/", 1)[0] + "/medication"
    interviewer.submit(url, [("consent", "given")])
    page = client.get(medication).get_data(as_text=True)
    cue = re.search(r'<p class="cue" id="c-oat_continued">([^<]+)</p>', page)
    assert cue, "the OAT follow-up has its cue"
    # "Answer only if the answer to «...» was: Yes.", with the question's own Arabic wording, shortened.
    english = app.extensions["fieldkit"].forms["peer-interview"].item("on_oat_before").label
    question = load_catalogue(paths.translations_dir(), "ar", "forms").get("peer-interview/on_oat_before", english)
    assert question, "the question has its Arabic wording"
    opening = " ".join(question.split()[:3])
    assert cue.group(1).startswith(f"أجب فقط إذا كانت الإجابة عن «{opening}"), cue.group(1)
    assert cue.group(1).endswith("» هي: نعم.") and "Answer" not in cue.group(1)


# -- g, h. the operator's pairing code, and phones told apart ----------------------------------------


def test_operator_page_refreshes_and_says_when_its_code_expires(client, app) -> None:
    page = client.get("/operator/")
    assert page.status_code == 200
    assert 1 <= int(page.headers["Refresh"]) <= 15
    text = page.get_data(as_text=True)
    assert re.search(r"Works once, until \d{1,2}:\d{2}", text), text
    first = re.search(r'<p class="code"><bdi>(\d+)</bdi>', text).group(1)
    Interviewer(client, app).pair()
    after = re.search(r'<p class="code"><bdi>(\d+)</bdi>', client.get("/operator/").get_data(as_text=True)).group(1)
    assert after != first, "a used code is never shown again"


def test_pairing_code_expires() -> None:
    now = [1000.0]
    pairing = Pairing(("P01",), code_seconds=600, clock=lambda: now[0], wall=lambda: 1_700_000_000.0)
    code, expires_at, left = pairing.code_expires()
    assert left == 600 and expires_at == 1_700_000_600.0
    now[0] += 601
    assert pairing.pair("192.0.2.1", code, "P01") is None, "an expired code does not pair"
    assert pairing.code != code
    assert pairing.pair("192.0.2.1", pairing.code, "P01") is not None


def test_two_phones_with_the_same_interviewer_code_are_told_apart(app) -> None:
    phones = [app.test_client() for _ in range(2)]
    for phone in phones:
        Interviewer(phone, app, "P01").pair()
    tags = [s.tag for s in app.extensions["fieldkit"].pairing.sessions()]
    assert len(set(tags)) == 2 and all(re.fullmatch(r"[A-Z0-9]{3}", tag) for tag in tags)
    operator = app.test_client().get("/operator/").get_data(as_text=True)
    shown = re.findall(r'P01 · <span class="tag">([A-Z0-9]{3})</span></bdi> · paired at \d{1,2}:\d{2}', operator)
    assert sorted(shown) == sorted(tags)
    for phone, tag in zip(phones, [s.tag for s in app.extensions["fieldkit"].pairing.sessions()], strict=True):
        assert f"<bdi>P01 · {tag}</bdi>" in phone.get("/home").get_data(as_text=True)


def test_a_discarded_draft_is_restorable_for_its_minutes_and_wiped_after(kit) -> None:
    from fieldkit.kit.discarded import DiscardedDrafts
    from fieldkit.kit.drafts import Draft

    drafts = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key)
    draft = Draft("peer-interview", 2, "en", "P01", "2026-05-06T14:00Z", answers={"consent": "given"})
    drafts.save(draft)
    now = [500.0]
    discarded = DiscardedDrafts(drafts, 10, clock=lambda: now[0], wall=lambda: 1_700_000_000.0)
    discarded.discard(draft.draft_id)
    now[0] += 599
    (still,) = discarded.restorable("P01")
    assert still.draft.answers == {"consent": "given"} and still.wiped_at == 1_700_000_001.0
    assert discarded.restorable("P02") == [], "only its own interviewer sees it"
    now[0] += 1
    assert discarded.restorable("P01") == []
    assert not discarded.restore(draft.draft_id, "P01")
    assert list((kit.data_dir / "drafts" / "discarded").iterdir()) == [] and list(drafts.ids()) == []
