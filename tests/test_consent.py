"""No answer is stored before consent, down to the sealing code.

Both shipped forms open with a consent item (the centre assessment asks the staff
member or manager the visitor talks with). Every check reads the kit's real draft
and record stores on disk, opening drafts with the kit's own key.
"""

from __future__ import annotations

import json
import random

import pytest

from fieldkit.crypto import age
from fieldkit.drafts import Draft, DraftStore
from fieldkit.formengine.answers import missing_consent
from fieldkit.formengine.model import CONSENT_DECLINED, CONSENT_GIVEN
from fieldkit.sealing import ConsentNotGiven, Finaliser
from fieldkit.simulate import random_answers
from fieldkit.storage.records import RecordStore

FORMS = ["peer-interview", "centre-assessment"]
CANARY = "consent-canary-4f2a"


def _sealed_count(kit) -> int:
    return len(list(RecordStore(kit.data_dir).ids()))


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
