"""Pairing under attack: a flood of wrong codes, ever new addresses, a second phone on the same code.

Through the kit's real app (Flask's test client, each request from the address it
names) and the real throttle; only the clocks are ones the tests move.
"""

from __future__ import annotations

import re

from fieldkit.kit.web.pairing import CODE_SECONDS, Pairing
from fieldkit.webbase.throttle import FailureThrottle
from tests.webclient import Interviewer, csrf_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _try_code(client, code: str, address: str) -> int:
    page = client.get("/pair", environ_base={"REMOTE_ADDR": address}).get_data(as_text=True)
    response = client.post(
        "/pair",
        data={"csrf_token": csrf_token(page), "code": code, "interviewer": "P01"},
        environ_base={"REMOTE_ADDR": address},
    )
    return response.status_code


def test_the_code_changes_on_a_timer_with_no_pairing_at_all() -> None:
    clock = Clock()
    pairing = Pairing(("P01",), clock=clock)
    first = pairing.code
    clock.now += CODE_SECONDS - 1
    assert pairing.code == first, "a code lasts its whole time"
    clock.now += 1
    second = pairing.code
    assert second != first or pairing.code != first  # a fresh draw (1 in a million it repeats)
    assert pairing.pair("10.0.0.1", first, "P01") is None, "an expired code no longer pairs"
    assert pairing.pair("10.0.0.2", pairing.code, "P01") is not None


def test_a_flood_of_wrong_codes_from_a_few_addresses_never_locks_out_the_right_code(app) -> None:
    client = app.test_client()
    pairing = app.extensions["fieldkit"].pairing
    before = pairing.code
    wrong = "000000" if before != "000000" else "111111"
    flooders = [f"10.0.0.{n}" for n in range(1, 7)]
    for address in flooders:  # 6 addresses x 5 wrong codes: 30 in a minute, the old total limit
        for _ in range(5):
            assert _try_code(client, wrong, address) == 403
    assert _try_code(client, wrong, flooders[0]) == 429, "each flooding address is still held back"
    assert pairing.code != before, "the flood changed the code instead of refusing everyone"
    assert _try_code(client, before, "10.0.0.50") == 403, "the code the flood faced no longer works"
    assert _try_code(client, pairing.code, "10.0.0.51") == 302, "the interviewer with the code on screen pairs"


def test_the_failure_table_stays_bounded_and_forgets_the_oldest_first() -> None:
    clock = Clock()
    throttle = FailureThrottle(per_key=2, overall=10**9, max_keys=100, clock=clock)
    for number in range(10_000):
        throttle.failed(f"addr-{number}")
    assert throttle.keys_held() == 100
    throttle.failed("addr-9999")
    assert throttle.retry_after("addr-9999") > 0, "the newest addresses are still counted"
    assert throttle.retry_after("addr-0") == 0.0, "the oldest was forgotten"


def _second_phone(app) -> Interviewer:
    other = Interviewer(app.test_client(), app)
    other.pair()
    return other


def test_another_phone_on_the_same_interviewer_code_cannot_list_open_or_discard_a_draft(client, app) -> None:
    first = Interviewer(client, app)
    first.pair()
    url = first.start("peer-interview")
    draft_id = url.split("/d/")[1].split("/")[0]
    assert draft_id in first.client.get("/home").get_data(as_text=True)

    second = _second_phone(app)
    home = second.client.get("/home").get_data(as_text=True)
    assert draft_id not in home
    assert "1 unfinished interview under this interviewer code is held by another pairing" in home
    assert second.client.get(f"/d/{draft_id}").status_code == 404
    assert second.client.get(url).status_code == 404
    assert second.client.get(f"/d/{draft_id}/review").status_code == 404
    token = csrf_token(home)
    discard = second.client.post(f"/d/{draft_id}/discard", data={"csrf_token": token, "confirm": "yes"})
    assert discard.status_code == 404
    assert draft_id in list(app.extensions["fieldkit"].drafts.ids()), "the draft is where it was"
    # The first phone discards it; the second still cannot restore it.
    page = first.client.get(f"/d/{draft_id}/discard").get_data(as_text=True)
    first.client.post(f"/d/{draft_id}/discard", data={"csrf_token": csrf_token(page), "confirm": "yes"})
    assert second.client.post(f"/d/{draft_id}/restore", data={"csrf_token": token}).status_code == 404
    assert draft_id in first.client.get("/home").get_data(as_text=True), "the first phone can restore it"


def test_the_operator_gives_a_phone_its_drafts_after_a_restart_or_a_change_of_phone(client, app) -> None:
    first = Interviewer(client, app)
    first.pair()
    url = first.start("peer-interview")
    second = _second_phone(app)
    operator = app.test_client()  # the kit's own screen: 127.0.0.1
    overview = operator.get("/operator/").get_data(as_text=True)
    (tag,) = [s.tag for s in app.extensions["fieldkit"].pairing.sessions()][1:]
    assert "Give it 1 unfinished interview of <bdi>P01</bdi>" in overview
    sessions = re.findall(r'action="/operator/hand-over">.*?name="session" value="([^"]+)"', overview)
    assert len(sessions) == 1, "only the phone that lacks the draft is offered it"
    handed = operator.post("/operator/hand-over", data={"csrf_token": csrf_token(overview), "session": sessions[0]})
    assert handed.status_code == 302
    assert second.client.get(url).status_code == 200, f"the phone tagged {tag} now holds the draft"
    assert first.client.get(url).status_code == 404, "and the first phone no longer does"
    # From the network the operator page, and so the button, does not exist, even with a valid token.
    token = csrf_token(first.client.get("/home").get_data(as_text=True))
    taken = first.client.post(
        "/operator/hand-over", data={"csrf_token": token, "session": "x"}, environ_base={"REMOTE_ADDR": "10.0.0.9"}
    )
    assert taken.status_code == 404
    assert second.client.get(url).status_code == 200
