"""A test interviewer: drives the kit's pages through Flask's test client, like a phone would."""

from __future__ import annotations

import html
import re
from typing import Any

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
SHOWN_ITEM = re.compile(r'<div class="q[^"]*" id="q-([a-z0-9_]+)"')
CENTRE_CHOICE = re.compile(r'<input type="radio" name="centre" value="([^"]+)"')
ERROR = re.compile(r'<p class="error" id="e-([a-z0-9_]+)">([^<]*)</p>')


def csrf_token(page: str) -> str:
    match = CSRF.search(page)
    assert match, "page has no CSRF token"
    return html.unescape(match.group(1))


def form_values(answers: dict[str, Any], item_ids: list[str]) -> list[tuple[str, str]]:
    values = []
    for item_id in item_ids:
        value = answers.get(item_id)
        if value is None:
            continue
        for one in value if isinstance(value, list) else [value]:
            values.append((item_id, str(one)))
    return values


class Interviewer:
    def __init__(self, client: Any, app: Any, interviewer: str = "P01") -> None:
        self.client = client
        self.app = app
        self.interviewer = interviewer

    @property
    def pairing(self):
        return self.app.extensions["fieldkit"].pairing

    def pair(self) -> None:
        page = self.client.get("/pair").get_data(as_text=True)
        response = self.client.post(
            "/pair", data={"csrf_token": csrf_token(page), "code": self.pairing.code, "interviewer": self.interviewer}
        )
        assert response.status_code == 302, response.get_data(as_text=True)

    def drafts_handed_over(self) -> None:
        """The operator, on the kit's own screen, gives this phone its interviewer code's drafts."""
        operator = self.app.test_client()
        page = operator.get("/operator/").get_data(as_text=True)
        newest = self.pairing.sessions()[-1].session_id
        response = operator.post("/operator/hand-over", data={"csrf_token": csrf_token(page), "session": newest})
        assert response.status_code == 302, response.get_data(as_text=True)

    def start(self, form_id: str, language: str = "en", centre: str | None = None) -> str:
        """Start an interview; where the kit asks for the centre, pick ``centre`` (default: the first listed)."""
        home = self.client.get("/home")
        assert home.status_code == 200
        response = self.client.post(
            "/start", data={"csrf_token": csrf_token(home.get_data(as_text=True)), "form": form_id, "lang": language}
        )
        assert response.status_code == 302, response.get_data(as_text=True)
        location = response.headers["Location"]
        if location.startswith("/centre"):
            picker = self.client.get(location).get_data(as_text=True)
            listed = CENTRE_CHOICE.findall(picker)
            assert listed, "the centre picker lists no centre"
            chosen = centre or listed[0]
            response = self.client.post(
                "/centre",
                data={"csrf_token": csrf_token(picker), "form": form_id, "lang": language, "centre": chosen},
            )
            assert response.status_code == 302, response.get_data(as_text=True)
            location = response.headers["Location"]
        return location

    def submit(self, url: str, pairs: list[tuple[str, str]], action: str = "next"):
        page = self.client.get(url).get_data(as_text=True)
        data = [("csrf_token", csrf_token(page)), ("action", action), *pairs]
        return self.client.post(url, data=_multidict(data))

    def complete(
        self, form_id: str, answers: dict[str, Any], language: str = "en", centre: str | None = None
    ) -> tuple[str, list[str]]:
        """Walk every page, answering what is shown; return the receipt and every item id seen."""
        url = self.start(form_id, language, centre)
        seen: list[str] = []
        for _ in range(100):
            if url.endswith("/review"):
                break
            page = self.client.get(url).get_data(as_text=True)
            shown = SHOWN_ITEM.findall(page)
            seen += shown
            response = self.submit(url, form_values(answers, shown))
            assert response.status_code == 302, ERROR.findall(response.get_data(as_text=True))
            url = response.headers["Location"]
        review = self.client.get(url).get_data(as_text=True)
        done = self.client.post(
            url.replace("/review", "/finalise"),
            data={"csrf_token": csrf_token(review), "confirm_missing": "yes"},
        )
        assert done.status_code == 302, done.get_data(as_text=True)
        receipt = done.headers["Location"].split("/done/")[1].split("?")[0]
        return receipt, seen


def _multidict(pairs: list[tuple[str, str]]):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)
