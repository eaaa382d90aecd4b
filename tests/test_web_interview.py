"""The interview through the real app: pairing, every item type, skip logic, resume, exit."""

from __future__ import annotations

import json
import random
from html.parser import HTMLParser

import pytest

from fieldkit.core.crypto import age
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.formengine.loader import load_form
from fieldkit.core.formengine.model import ITEM_TYPES
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.programme import Programme
from fieldkit.kit.sealing import receipt_code
from fieldkit.kit.simulate import random_answers
from fieldkit.kit.web.app import WebSettings, create_app
from tests.conftest import scan_for
from tests.webclient import ERROR, SHOWN_ITEM, Interviewer, csrf_token

CANARY = "canary-answer-9d1e"


def test_unpaired_phone_is_sent_to_pairing(client) -> None:
    assert client.get("/home").headers["Location"].endswith("/pair")
    page = client.get("/pair")
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp


def test_wrong_pairing_codes_are_rate_limited(client, app) -> None:
    page = client.get("/pair").get_data(as_text=True)
    token = csrf_token(page)
    statuses = [
        client.post("/pair", data={"csrf_token": token, "code": "000000", "interviewer": "P01"}).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [403] * 5
    assert statuses[5:] == [429, 429]
    right = app.extensions["fieldkit"].pairing.code
    still = client.post("/pair", data={"csrf_token": token, "code": right, "interviewer": "P01"})
    assert still.status_code == 429, "the right code must not work while the client is locked out"


def test_post_without_csrf_token_is_refused(client, app) -> None:
    response = client.post("/pair", data={"code": app.extensions["fieldkit"].pairing.code, "interviewer": "P01"})
    assert response.status_code == 400
    assert "expired" in response.get_data(as_text=True)
    assert app.extensions["fieldkit"].pairing.sessions() == []


def test_session_cookie_is_httponly_and_strict(client, app) -> None:
    Interviewer(client, app).pair()
    cookie = client.get_cookie("fk")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"


@pytest.mark.parametrize("form_id", ["peer-interview", "centre-assessment"])
def test_complete_form_seals_exactly_the_answers_given(client, app, kit, shipped_forms, form_id) -> None:
    form = shipped_forms[form_id]
    answers = random_answers(form, random.Random(11), text_answer=CANARY)
    expected = validate_record(form, answers)
    interviewer = Interviewer(client, app)
    interviewer.pair()
    receipt, seen = interviewer.complete(form_id, answers)
    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    assert receipt == receipt_code(record_id)
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["answers"] == expected
    assert payload["form"] == {"id": form.id, "version": form.version, "hash": form.content_hash}
    assert payload["interviewer"] == "P01"
    assert CANARY in payload["answers"].values()
    assert scan_for(CANARY, kit.data_dir) == []
    assert set(seen) >= {item.id for item in form.items if item.id in expected}


# One page with one item of every type the form engine has, built by the real loader.
EVERY_TYPE_FORM = """
id: every-type
version: 1
title: Every item type
choice_lists:
  colours:
    - {id: red, label: "Red"}
    - {id: green, label: "Green"}
    - {id: blue, label: "Blue"}
sections:
  - id: everything
    title: Everything
    items:
      - {id: agree, type: consent, required: true, label: "Do you agree to take part?", tags: [P2]}
      - {id: read_out, type: note, label: "Read this aloud before the questions.", tags: [P1]}
      - {id: words, type: text, label: "Tell us in your own words.", max_length: 100, tags: [P1]}
      - {id: nights, type: integer, label: "How many nights?", min: 0, max: 400, offer: [dont_know], tags: [P1]}
      - {id: distance, type: decimal, label: "How far away (km)?", min: 0, max: 1000, tags: [P1]}
      - {id: colour, type: select_one, label: "Which colour?", choices: colours, tags: [P1]}
      - {id: colours, type: select_multiple, label: "Which colours?", choices: colours, tags: [P1]}
      - {id: arrived, type: date, label: "When did you arrive?", tags: [P1]}
      - {id: arrived_at, type: time, label: "At what time?", tags: [P1]}
      - {id: left, type: datetime, label: "When did you leave?", tags: [P1]}
      - {id: weeks, type: calculate, calculation: "nights / 7"}
      - {id: water, type: yes_no, label: "Is there water?", offer: [prefer_not], tags: [P1]}
      - {id: respect, type: likert, scale: agreement, label: "Staff treat me with respect.", tags: [P1]}
"""
# What the page must offer for each item: (the input's type, its values); None: free entry.
EVERY_TYPE_INPUTS = {
    "agree": ("radio", {"given", "declined"}),
    "words": ("text", None),
    "nights": ("text", None),  # and the offered "dont_know", a checkbox beside it
    "distance": ("text", None),
    "colour": ("radio", {"red", "green", "blue"}),
    "colours": ("checkbox", {"red", "green", "blue"}),
    "arrived": ("date", None),
    "arrived_at": ("time", None),
    "left": ("datetime-local", None),
    "water": ("radio", {"yes", "no"}),  # and the offered "prefer_not", a radio among them
    "respect": ("radio", {"1", "2", "3", "4", "5"}),
}
EVERY_TYPE_ANSWERS = [
    ("agree", "given"),
    ("words", "a few words of mine"),
    ("nights", "12"),
    ("distance", "2.5"),
    ("colour", "green"),
    ("colours", "blue"),
    ("colours", "red"),
    ("arrived", "2024-05-06"),
    ("arrived_at", "09:15"),
    ("left", "2024-05-07T16:45"),
    ("weeks", "999"),  # a calculated value sent by the phone is never the one kept
    ("water", "no"),
    ("respect", "4"),
]
# Written out by hand, not computed by the kit's validator: typed, choices in list order.
EVERY_TYPE_RECORD = {
    "agree": "given",
    "words": "a few words of mine",
    "nights": 12,
    "distance": 2.5,
    "colour": "green",
    "colours": ["red", "blue"],
    "arrived": "2024-05-06",
    "arrived_at": "09:15",
    "left": "2024-05-07T16:45",
    "weeks": 12 / 7,
    "water": "no",
    "respect": 4,
}


class _Inputs(HTMLParser):
    """Every <input>, <textarea> and <select> of a page, with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("input", "textarea", "select"):
            self.fields.append({"tag": tag, **dict(attrs)})


def page_inputs(page: str) -> list[dict[str, str | None]]:
    parser = _Inputs()
    parser.feed(page)
    return parser.fields


def test_every_item_type_is_rendered_and_accepted(shipped_forms, kit, tmp_path) -> None:
    types = {item.type for form in shipped_forms.values() for item in form.items}
    assert types >= {"note", "text", "integer", "select_one", "select_multiple", "date", "yes_no", "likert", "consent"}

    (tmp_path / "forms").mkdir()
    (tmp_path / "forms" / "every-type.yaml").write_text(EVERY_TYPE_FORM, encoding="utf-8")
    form = load_form(tmp_path / "forms" / "every-type.yaml")
    assert {item.type for item in form.items} == set(ITEM_TYPES), "one item of every type the engine has"
    app = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms([form]))
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start(form.id)
    assert url.endswith("/everything")
    page = client.get(url).get_data(as_text=True)

    shown = [item.id for item in form.items if item.type != "calculate"]
    assert SHOWN_ITEM.findall(page) == shown, "every item but the calculated one, in order"
    assert '<p class="note">Read this aloud before the questions.</p>' in page
    fields = [f for f in page_inputs(page) if f.get("name") not in ("csrf_token", "action", None)]
    assert {f["name"] for f in fields} == set(EVERY_TYPE_INPUTS), "every item but the note and calculation is asked"
    for item_id, (kind, values) in EVERY_TYPE_INPUTS.items():
        own = [f for f in fields if f["name"] == item_id and f.get("value") not in ("prefer_not", "dont_know")]
        assert {f["type"] for f in own} == {kind}, item_id
        if values is None:
            assert len(own) == 1 and own[0]["id"] == f"i-{item_id}", item_id
        else:
            assert {f["value"] for f in own} == values, item_id
    offered = {(f["name"], f["type"], f["value"]) for f in fields if f.get("value") in ("prefer_not", "dont_know")}
    assert offered == {("water", "radio", "prefer_not"), ("nights", "checkbox", "dont_know")}
    numbers = {f["name"]: f.get("inputmode") for f in fields if f.get("id") in ("i-nights", "i-distance")}
    assert numbers == {"nights": "numeric", "distance": "decimal"}

    saved = interviewer.submit(url, EVERY_TYPE_ANSWERS)
    assert saved.status_code == 302, ERROR.findall(saved.get_data(as_text=True))
    assert saved.headers["Location"].endswith("/review")
    draft_id = url.split("/d/")[1].split("/")[0]
    assert app.extensions["fieldkit"].drafts.load(draft_id).answers == EVERY_TYPE_RECORD
    review = client.get(saved.headers["Location"]).get_data(as_text=True)
    done = client.post(
        saved.headers["Location"].replace("/review", "/finalise"),
        data={"csrf_token": csrf_token(review), "confirm_missing": "yes"},
    )
    assert done.status_code == 302, done.get_data(as_text=True)

    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["form"]["id"] == form.id
    assert payload["answers"] == EVERY_TYPE_RECORD


def test_constraint_and_type_errors_are_shown_and_nothing_is_saved(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    first = interviewer.start("centre-assessment")
    url = interviewer.submit(first, [("consent", "given")]).headers["Location"]  # the profile's own page
    page = client.get(url).get_data(as_text=True)
    assert 'id="q-capacity"' in page
    bad = interviewer.submit(url, [("capacity", "-4"), ("visit_date", "2999-01-01"), ("setting", "nonsense")])
    assert bad.status_code == 422
    errors = dict(ERROR.findall(bad.get_data(as_text=True)))
    assert {"capacity", "visit_date", "setting"} <= set(errors)
    assert 'href="#q-capacity"' in bad.get_data(as_text=True)
    words = interviewer.submit(url, [("capacity", "many")])
    assert "whole number" in dict(ERROR.findall(words.get_data(as_text=True)))["capacity"]
    draft_id = url.split("/d/")[1].split("/")[0]
    assert app.extensions["fieldkit"].drafts.load(draft_id).answers == {"consent": "given"}  # nothing of the page


def test_skip_logic_drops_hidden_answers_on_the_server(client, app, kit, shipped_forms) -> None:
    form = shipped_forms["peer-interview"]
    gated = next(item for item in form.items if item.relevant is not None and item.type != "note")
    interviewer = Interviewer(client, app)
    interviewer.pair()
    answers = random_answers(form, random.Random(3))
    # Answer the gated question even where skip logic hides it: the server must drop it.
    answers[gated.id] = answers.get(gated.id) or (gated.choice_ids()[0] if gated.choices else "1")
    interviewer.complete("peer-interview", answers)
    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["answers"] == validate_record(form, answers)
    # Independently of the validator: the gate's own condition, read from the form file.
    assert gated.id == "oat_continued"
    if answers.get("on_oat_before") != "yes":
        assert gated.id not in payload["answers"]


# Skip logic, against an expectation written here rather than the kit's own validator.
# Every gated item below is answered too, as a hostile or JS-less phone might post it.
SKIP_ANSWERS = {
    "before_we_start": [("consent", "given")],
    "medication": [
        ("on_oat_before", "no"),
        ("oat_continued", "continued_as_before"),  # only when on_oat_before is yes
        ("oat_offered", "offered"),
        ("withdrawal_medicine", "no_withdrawal"),
    ],
    "your_say": [("plan_made_together", "no"), ("plan_fits_needs", "yes")],  # same page: hidden by JS
    "hard_experiences": [("physically_hurt", "no")],
    "hard_experiences_2": [
        ("withdrawal_medicine_withheld", "yes"),  # another page's answer hides it
        ("who_did_it", "staff"),  # only when a red flag, on this page or the one before, is "yes"
    ],
}
SKIP_RECORD = {
    "consent": "given",
    "on_oat_before": "no",
    "oat_offered": "offered",
    "withdrawal_medicine": "no_withdrawal",
    "plan_made_together": "no",
    "physically_hurt": "no",
}
HIDDEN_BY_EARLIER_PAGES = {"hard_experiences_2": "withdrawal_medicine_withheld"}


def test_skip_logic_hides_items_from_the_page_and_the_sealed_record(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    pages = {}
    for _ in range(20):
        if url.endswith("/review"):
            break
        section = url.rsplit("/", 1)[1]
        pages[section] = page = client.get(url).get_data(as_text=True)  # no script runs here: JS off
        if section in HIDDEN_BY_EARLIER_PAGES:
            hidden = HIDDEN_BY_EARLIER_PAGES[section]
            assert f'id="q-{hidden}"' not in page and f'name="{hidden}"' not in page
        response = interviewer.submit(url, SKIP_ANSWERS.get(section, []))
        assert response.status_code == 302, ERROR.findall(response.get_data(as_text=True))
        url = response.headers["Location"]
    assert set(SKIP_ANSWERS) <= set(pages), "the walk reached every page it answers"
    # Without JS, a question gated by an answer on its own page must still be there to answer.
    assert 'id="q-plan_fits_needs"' in pages["your_say"] and 'id="q-oat_continued"' in pages["medication"]
    assert 'id="q-who_did_it"' in pages["hard_experiences_2"]
    review = client.get(url).get_data(as_text=True)
    done = client.post(
        url.replace("/review", "/finalise"), data={"csrf_token": csrf_token(review), "confirm_missing": "yes"}
    )
    assert done.status_code == 302, done.get_data(as_text=True)

    store = RecordStore(kit.data_dir)
    (record_id,) = list(store.ids())
    payload = json.loads(age.decrypt(store.get(record_id), kit.identities()))
    assert payload["answers"] == SKIP_RECORD


def test_phone_number_in_free_text_asks_for_confirmation(client, app, shipped_forms) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("centre-assessment")
    assert interviewer.submit(url, [("consent", "given")]).status_code == 302
    form = shipped_forms["centre-assessment"]
    last = form.sections[-1]
    text_item = next(item for item in last.items if item.type == "text")
    target = url.rsplit("/", 1)[0] + "/" + last.id
    asked = interviewer.submit(target, [(text_item.id, "call me on +44 7700 900123")])
    assert asked.status_code == 422
    assert "phone number" in asked.get_data(as_text=True)
    kept = interviewer.submit(target, [(text_item.id, "call me on +44 7700 900123"), ("keep_as_written", text_item.id)])
    assert kept.status_code == 302


def test_resume_and_discard_a_draft(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    next_url = interviewer.submit(url, [("consent", "given")]).headers["Location"]
    draft_id = url.split("/d/")[1].split("/")[0]
    home = client.get("/home").get_data(as_text=True)
    assert f"/d/{draft_id}" in home
    assert client.get(f"/d/{draft_id}").headers["Location"] == next_url
    token = csrf_token(home)
    asked = client.post(f"/d/{draft_id}/discard", data={"csrf_token": token})
    assert asked.status_code == 200 and "Discard this interview?" in asked.get_data(as_text=True)
    assert list(app.extensions["fieldkit"].drafts.ids()) == [draft_id], "nothing is discarded without asking"
    confirmed = client.post(f"/d/{draft_id}/discard", data={"csrf_token": token, "confirm": "yes"})
    assert confirmed.status_code == 302
    assert f'href="/d/{draft_id}"' not in client.get("/home").get_data(as_text=True)
    assert list(app.extensions["fieldkit"].drafts.ids()) == []


def test_declined_consent_keeps_only_a_counter(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    response = interviewer.submit(url, [("consent", "declined")])
    assert response.status_code == 200
    assert "Nothing from this conversation was recorded" in response.get_data(as_text=True)
    services = app.extensions["fieldkit"]
    assert list(services.drafts.ids()) == []
    assert services.records.count() == 0
    assert services.declined_counts() == {"peer-interview": 1}


def test_quick_exit_ends_the_session_and_keeps_the_draft_encrypted(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    interviewer.submit(url, [("consent", "given")])
    neutral = client.get("/x")
    body = neutral.get_data(as_text=True)
    assert neutral.status_code == 200 and "Connected" in body
    assert "interview" not in body.lower() and "quick-exit" not in body
    assert client.get(url).headers["Location"].endswith("/pair")
    services = app.extensions["fieldkit"]
    assert services.pairing.sessions() == []
    (draft_id,) = list(services.drafts.ids())
    assert services.drafts.load(draft_id).answers == {"consent": "given"}
    interviewer.pair()
    # Pairing again is a new pairing: the draft waits for the operator to give it back
    # (a phone that picks the same interviewer code cannot take it; test_pairing_attacks.py).
    assert f"/d/{draft_id}" not in client.get("/home").get_data(as_text=True)
    interviewer.drafts_handed_over()
    assert f"/d/{draft_id}" in client.get("/home").get_data(as_text=True)


def test_drafts_belong_to_their_interviewer(app, kit) -> None:
    first, second = app.test_client(), app.test_client()
    Interviewer(first, app, "P01").pair()
    url = Interviewer(first, app, "P01").start("peer-interview")
    Interviewer(second, app, "P02").pair()
    assert second.get(url).status_code == 404
    draft_id = url.split("/d/")[1].split("/")[0]
    assert draft_id not in second.get("/home").get_data(as_text=True)


def test_operator_page_is_local_only_and_shows_no_answers(client, app, kit) -> None:
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    interviewer.submit(url, [("consent", "given")])
    remote = client.get("/operator/", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert remote.status_code == 404
    page = client.get("/operator/").get_data(as_text=True)
    assert kit.unlock().config.kit_id in page
    assert "P01" in page and "Free disk space" in page
    assert "data:image/svg+xml" in page
    assert "given" not in page
    session = app.extensions["fieldkit"].pairing.sessions()[0]
    client.post("/operator/revoke", data={"csrf_token": csrf_token(page), "session": session.session_id})
    assert app.extensions["fieldkit"].pairing.sessions() == []


def test_unknown_pages_and_methods_are_clean_errors(client) -> None:
    assert client.get("/no/such/page").status_code == 404
    assert client.put("/pair").status_code == 405
    assert client.post("/pair", data=b"x" * 400_000, content_type="application/octet-stream").status_code in (400, 413)
