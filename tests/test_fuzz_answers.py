"""Random and hostile answers through the real interview endpoints: never a 500, never a bad record."""

from __future__ import annotations

import json
from urllib.parse import quote_from_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fieldkit.core.crypto import age
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.storage.records import RecordStore
from tests.hypothesis_profiles import examples
from tests.webclient import Interviewer, csrf_token

EDGE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\u0000",
        "\u202e\u202d",
        "\ufeff",
        "\U0001f600" * 3,
        "e\u0301",
        "\ud7ff",
        "٣٤",
        "١٢٣",
        "1e309",
        "-0",
        "NaN",
        "Infinity",
        "0x10",
        "2026-02-30",
        "9999-12-31",
        "<script>alert(1)</script>",
        "'; DROP TABLE records; --",
        "prefer_not",
        "dont_know",
        "given",
        "declined",
        "yes",
        "x" * 6000,
    ]
)
VALUES = st.one_of(EDGE_TEXT, st.text(max_size=40), st.integers().map(str), st.floats().map(str))


def _body(fields: list[tuple[str, bytes]]) -> bytes:
    return b"&".join(
        quote_from_bytes(name.encode()).encode() + b"=" + quote_from_bytes(value).encode() for name, value in fields
    )


@st.composite
def submissions(draw, forms):
    form = forms[draw(st.sampled_from(sorted(forms)))]
    pages = []
    # Most interviews get past consent, so that later pages and sealing are exercised too.
    consents = draw(st.integers(0, 3)) > 0
    for section in form.sections:
        names = [item.id for item in section.items] + ["not_an_item", "csrf_token_extra", "__proto__"]
        fields = []
        if consents and any(item.type == "consent" for item in section.items):
            names.remove("consent")
            fields.append(("consent", b"given"))
        for name in draw(st.lists(st.sampled_from(names), max_size=8)):
            choices = [c.id for item in section.items if item.id == name for c in item.choices]
            value = draw(st.one_of(VALUES, st.sampled_from(choices or ["?"])))
            raw = value.encode("utf-8", "surrogatepass") if draw(st.booleans()) else value.encode("utf-8", "replace")
            fields.append((name, raw))
        if draw(st.integers(0, 9)) == 0:
            fields.append(("consent", b"\xff\xfe"))  # not UTF-8 at all
        action = draw(st.sampled_from(["next", "next", "back", "jump"]))
        pages.append((section.id, fields, action))
    return form.id, pages


def test_random_answers_never_break_the_kit(app, kit, shipped_forms) -> None:
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    services = app.extensions["fieldkit"]
    statuses: set[int] = set()

    @settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(submissions(shipped_forms))
    def run(submission) -> None:
        form_id, pages = submission
        url = interviewer.start(form_id)
        base = url.rsplit("/", 1)[0]
        for section_id, fields, action in pages:
            target = f"{base}/{section_id}"
            page = client.get(target)
            statuses.add(page.status_code)
            assert page.status_code < 500
            if page.status_code != 200:
                continue
            token = csrf_token(page.get_data(as_text=True)).encode()
            body = _body([("csrf_token", token), ("action", action.encode()), *fields])
            response = client.post(target, data=body, content_type="application/x-www-form-urlencoded")
            statuses.add(response.status_code)
            assert response.status_code in (200, 302, 400, 413, 422), response.status_code
        review = client.get(base.replace("/s", "") + "/review")
        assert review.status_code < 500
        if review.status_code == 200:
            token = csrf_token(review.get_data(as_text=True))
            done = client.post(
                base.replace("/s", "") + "/finalise", data={"csrf_token": token, "confirm_missing": "yes"}
            )
            statuses.add(done.status_code)
            assert done.status_code in (200, 302, 404), done.status_code

    run()
    assert 302 in statuses and 422 in statuses, statuses
    store = RecordStore(kit.data_dir)
    identities = kit.identities()
    sealed = list(store.ids())
    assert sealed, "some random interviews should have been accepted and sealed"
    for record_id in sealed:
        payload = json.loads(age.decrypt(store.get(record_id), identities))
        form = shipped_forms[payload["form"]["id"]]
        assert validate_record(form, payload["answers"]) == payload["answers"], record_id
        assert payload["answers"]["consent"] == "given", record_id
    assert services.pairing.sessions(), "the phone stays paired through all of it"
