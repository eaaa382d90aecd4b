"""No answer is stored before consent: on every route of the real app, and in the sealing code.

Both shipped forms open with a consent item (the centre assessment asks the staff
member or manager the visitor talks with). Every check reads the kit's real draft
and record stores on disk, opening drafts with the kit's own key.
"""

from __future__ import annotations

import json
import random

import pytest
from werkzeug.datastructures import MultiDict

from fieldkit.core.crypto import age
from fieldkit.core.formengine.answers import missing_consent
from fieldkit.core.formengine.model import CONSENT_DECLINED, CONSENT_GIVEN
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.drafts import Draft, DraftStore, DraftUnreadable
from fieldkit.kit.sealing import ConsentNotGiven, Finaliser
from fieldkit.kit.simulate import random_answers
from tests.conftest import scan_for
from tests.webclient import ERROR, Interviewer, csrf_token

FORMS = ["peer-interview", "centre-assessment"]
CANARY = "consent-canary-4f2a"
NEEDED = "No answer is saved before the person gives consent."


def _draft_on_disk(kit, draft_id: str) -> Draft:
    return DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key).load(draft_id)


def _sealed_count(kit) -> int:
    return len(list(RecordStore(kit.data_dir).ids()))


def _consent_section(form) -> str:
    return form.section_of(next(item.id for item in form.items if item.type == "consent")).id


def _some_answer(item) -> str:
    """A valid-looking raw answer for any answer-taking item, so a page would save if allowed."""
    if item.type == "text":
        return CANARY
    if item.type in ("integer", "likert"):
        return "1" if item.min is None or item.min <= 1 else str(int(item.min))
    if item.type == "decimal":
        return "1"
    if item.type == "date":
        return "2026-01-15"
    return item.choice_ids()[0]


def _started(client, app, form_id: str) -> tuple[Interviewer, str, str, str]:
    """A paired interviewer and a new draft: (interviewer, consent page url, draft id, csrf token)."""
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start(form_id)
    token = csrf_token(client.get(url).get_data(as_text=True))
    return interviewer, url, url.split("/d/")[1].split("/")[0], token


@pytest.mark.parametrize("action", ["next", "back"])
@pytest.mark.parametrize("form_id", FORMS)
def test_blank_consent_page_is_refused_with_a_message(client, app, kit, shipped_forms, form_id, action) -> None:
    form = shipped_forms[form_id]
    interviewer, url, draft_id, _token = _started(client, app, form_id)
    first = form.sections[0]
    others = [(item.id, _some_answer(item)) for item in first.items if item.takes_answer and item.type != "consent"]
    response = interviewer.submit(url, others, action=action)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    errors = dict(ERROR.findall(page))
    assert NEEDED in errors["consent"] and "“Consent given” or “Declined”" in errors["consent"]
    assert 'href="#q-consent"' in page, "the summary at the top links to the consent question"
    assert _draft_on_disk(kit, draft_id).answers == {}
    assert _draft_on_disk(kit, draft_id).section == first.id
    assert scan_for(CANARY, kit.data_dir) == []


@pytest.mark.parametrize("form_id", FORMS)
def test_crafted_posts_to_later_pages_store_nothing_before_consent(client, app, kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    _interviewer, url, draft_id, token = _started(client, app, form_id)
    base = url.rsplit("/", 1)[0]
    consent_page = f"{base}/{_consent_section(form)}?consent=needed"
    for later in form.sections[1:]:
        pairs = [("csrf_token", token), ("action", "next"), ("consent", CONSENT_GIVEN)]
        pairs += [(item.id, _some_answer(item)) for item in later.items if item.takes_answer]
        posted = client.post(f"{base}/{later.id}", data=MultiDict(pairs))
        assert posted.status_code == 302 and posted.headers["Location"] == consent_page, later.id
        shown = client.get(f"{base}/{later.id}")
        assert shown.status_code == 302 and shown.headers["Location"] == consent_page, later.id
    draft = _draft_on_disk(kit, draft_id)
    assert draft.answers == {} and draft.section == form.sections[0].id
    assert _sealed_count(kit) == 0


@pytest.mark.parametrize("form_id", FORMS)
def test_review_and_finish_without_answers_cannot_seal_before_consent(client, app, kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    _interviewer, url, draft_id, token = _started(client, app, form_id)
    base = url.rsplit("/", 2)[0]
    consent_page = f"{base}/s/{_consent_section(form)}?consent=needed"
    review = client.get(f"{base}/review")
    assert review.status_code == 302 and review.headers["Location"] == consent_page
    for data in ({"csrf_token": token, "confirm_missing": "yes"}, {"csrf_token": token}):
        finished = client.post(f"{base}/finalise", data=data)
        assert finished.status_code == 302 and finished.headers["Location"] == consent_page
    assert _sealed_count(kit) == 0
    assert _draft_on_disk(kit, draft_id).answers == {}
    # Sent back, the consent page says why, next to the question itself.
    back = client.get(consent_page)
    assert back.status_code == 200
    assert NEEDED in dict(ERROR.findall(back.get_data(as_text=True)))["consent"]
    assert "e-consent" not in client.get(url).get_data(as_text=True), "no message before anything was tried"


@pytest.mark.parametrize("route", ["resume", "review", "finalise", "later page", "consent page"])
@pytest.mark.parametrize("form_id", FORMS)
def test_old_draft_without_consent_is_sent_back_and_its_answers_dropped(
    client, app, kit, shipped_forms, form_id, route
) -> None:
    """A draft saved without consent (as the kit used to allow) is neither resumed nor sealed."""
    form = shipped_forms[form_id]
    interviewer, url, draft_id, token = _started(client, app, form_id)
    answers = random_answers(form, random.Random(5), text_answer=CANARY)
    del answers["consent"]
    store = DraftStore(kit.data_dir / "drafts", kit.unlock().draft_key)
    draft = store.load(draft_id)
    draft.answers, draft.section = answers, "review"
    store.save(draft)
    consent_section = _consent_section(form)
    consent_page = f"/d/{draft_id}/s/{consent_section}?consent=needed"

    if route == "resume":
        response = client.get(f"/d/{draft_id}")
    elif route == "review":
        response = client.get(f"/d/{draft_id}/review")
    elif route == "finalise":
        response = client.post(f"/d/{draft_id}/finalise", data={"csrf_token": token, "confirm_missing": "yes"})
    elif route == "later page":
        response = client.get(f"/d/{draft_id}/s/{form.sections[-1].id}")
    else:
        response = client.get(url)
    if route == "consent page":
        assert response.status_code == 200
    else:
        assert response.status_code == 302 and response.headers["Location"] == consent_page
    stripped = _draft_on_disk(kit, draft_id)
    assert stripped.answers == {} and stripped.section == consent_section, "seen once, the answers are gone"
    assert _sealed_count(kit) == 0

    # Consent given now starts the interview afresh.
    given = interviewer.submit(url, [("consent", CONSENT_GIVEN)])
    assert given.status_code == 302
    assert _draft_on_disk(kit, draft_id).answers == {"consent": CONSENT_GIVEN}


@pytest.mark.parametrize("form_id", FORMS)
def test_declined_keeps_only_the_counter_whatever_the_page_held(client, app, kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    interviewer, url, draft_id, _token = _started(client, app, form_id)
    first = form.sections[0]
    # Other answers on the page, one of them even invalid: declining still ends it at once.
    others = [(item.id, CANARY * 30) for item in first.items if item.type == "text"]
    response = interviewer.submit(url, [("consent", CONSENT_DECLINED), *others])
    assert response.status_code == 200
    assert "Nothing from this conversation was recorded" in response.get_data(as_text=True)
    with pytest.raises(DraftUnreadable):
        _draft_on_disk(kit, draft_id)
    assert list((kit.data_dir / "drafts").glob("*.draft")) == []
    assert _sealed_count(kit) == 0
    assert app.extensions["fieldkit"].declined_counts() == {form_id: 1}
    counters = json.loads((kit.data_dir / "counters.json").read_text(encoding="utf-8"))
    # Issue 18: the count is also kept per centre and cycle (here none: no pack); still only counts.
    assert counters == {
        "declined": {"1": {form_id: 1}},
        "declined_cells": {"1": {"form": form_id, "centre": None, "cycle": None, "count": 1}},
    }, "the counter file holds the count and nothing else"
    assert scan_for(CANARY, kit.data_dir) == []
    assert client.get(f"/d/{draft_id}").status_code == 404


@pytest.mark.parametrize("form_id", FORMS)
def test_consent_given_opens_the_later_pages(client, app, kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    interviewer, url, draft_id, _token = _started(client, app, form_id)
    given = interviewer.submit(url, [("consent", CONSENT_GIVEN)])
    assert given.status_code == 302 and "consent=needed" not in given.headers["Location"]
    assert client.get(given.headers["Location"]).status_code == 200
    assert client.get(f"/d/{draft_id}/review").status_code == 200
    assert _draft_on_disk(kit, draft_id).answers == {"consent": CONSENT_GIVEN}
    assert form.sections[0].id == _consent_section(form)


def test_missing_consent_counts_only_the_pages_up_to_the_one_asked(shipped_forms) -> None:
    form = shipped_forms["peer-interview"]
    first, second = form.sections[0].id, form.sections[1].id
    assert missing_consent(form, {}).id == "consent"
    assert missing_consent(form, {}, through=first).id == "consent"
    assert missing_consent(form, {"consent": CONSENT_DECLINED}).id == "consent"
    assert missing_consent(form, {"consent": CONSENT_GIVEN}) is None
    assert missing_consent(form, {"consent": CONSENT_GIVEN}, through=second) is None


@pytest.mark.parametrize("consent", [None, CONSENT_DECLINED, "yes"])
@pytest.mark.parametrize("form_id", FORMS)
def test_finaliser_refuses_to_seal_without_consent(kit, shipped_forms, form_id, consent) -> None:
    """Below the web pages: the sealing code itself will not build such a record."""
    form = shipped_forms[form_id]
    unlocked = kit.unlock()
    drafts = DraftStore(kit.data_dir / "drafts", unlocked.draft_key)
    finaliser = Finaliser(unlocked, RecordStore(kit.data_dir), drafts)
    draft = Draft(form_id=form.id, form_version=form.version, language="en", owner="t", started="2026-01-01T10:00Z")
    draft.answers = random_answers(form, random.Random(8), text_answer=CANARY)
    if consent is None:
        del draft.answers["consent"]
    else:
        draft.answers["consent"] = consent
    drafts.save(draft)
    with pytest.raises((ConsentNotGiven, ValueError)) as refused:
        finaliser.finalise(form, draft)
    if consent != "yes":  # "yes" is not a consent answer at all: the record check refuses it first
        assert refused.type is ConsentNotGiven and "nothing was sealed" in str(refused.value)
    assert _sealed_count(kit) == 0
    assert drafts.load(draft.draft_id).answers == draft.answers, "the draft is kept for the interviewer to finish"


@pytest.mark.parametrize("form_id", FORMS)
def test_finaliser_seals_once_consent_is_given(kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    unlocked = kit.unlock()
    drafts = DraftStore(kit.data_dir / "drafts", unlocked.draft_key)
    store = RecordStore(kit.data_dir)
    draft = Draft(form_id=form.id, form_version=form.version, language="en", owner="t", started="2026-01-01T10:00Z")
    draft.answers = random_answers(form, random.Random(8))
    assert draft.answers["consent"] == CONSENT_GIVEN
    record_id = Finaliser(unlocked, store, drafts).finalise(form, draft)
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["answers"]["consent"] == CONSENT_GIVEN
