"""One broken language catalogue or form file never stops the kit: only that part is left out.

Each test runs a real ``fieldkit serve`` on 127.0.0.1 over a copy of the shipped
forms and catalogues with one part broken, and talks to it over real HTTP.
"""

from __future__ import annotations

import http.cookiejar
import re
import shutil
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from fieldkit.core import paths
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.formengine.loader import FormDefinitionError
from tests.processes import start_until_ready, stop
from tests.sync_cli import new_kit
from tests.webclient import csrf_token


class Browser:
    """A cookie-keeping HTTP client for one phone."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(self, path: str) -> str:
        with self.opener.open(self.base + path, timeout=30) as response:
            return response.read().decode("utf-8")

    def post(self, path: str, fields: dict[str, str]) -> str:
        data = urllib.parse.urlencode(fields).encode("ascii")
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return response.read().decode("utf-8")


def _broken_copies(tmp_path: Path) -> tuple[Path, Path]:
    translations = tmp_path / "translations"
    shutil.copytree(paths.translations_dir(), translations, ignore=shutil.ignore_patterns("*.mo"))
    french = translations / "fr" / "LC_MESSAGES" / "messages.po"
    # A placeholder the source does not have: the page would crash on it, so French must go.
    text = french.read_text(encoding="utf-8")
    french.write_text(text.replace('msgstr "Oui"', 'msgstr "Oui {reponse}"', 1), encoding="utf-8")
    assert "{reponse}" in french.read_text(encoding="utf-8")
    forms = tmp_path / "forms"
    shutil.copytree(paths.forms_dir(), forms)
    (forms / "centre-assessment.yaml").write_text("id: centre-assessment\nversion: [\n", encoding="utf-8")
    return forms, translations


def test_serve_leaves_out_a_broken_language_and_a_broken_form_and_serves_the_rest(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    forms, translations = _broken_copies(tmp_path)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", "127.0.0.1",
        "--port", "0", "--forms", str(forms), "--translations", str(translations),
    )  # fmt: skip
    try:
        assert "NOT AVAILABLE: language fr, 1 problem(s)" in output
        assert "fr/LC_MESSAGES/messages.po" in output and "{reponse}" in output
        assert "NOT AVAILABLE: form forms/centre-assessment.yaml" in output
        assert "is serving 1 forms" in output
        port = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", output)
        assert port, output
        base = f"http://127.0.0.1:{port.group(1)}"

        operator = Browser(base).get("/operator/")
        assert "français is not offered: its catalogues have 1 error." in operator
        assert "The form in forms/centre-assessment.yaml is not offered: it has 1 problem." in operator
        code = re.search(r'<p class="code"><bdi>([^<]+)</bdi>', operator)
        assert code

        phone = Browser(base)
        page = phone.get("/pair")
        assert re.search(r'<option value="ru"', page) and not re.search(r'<option value="fr"', page)
        page = phone.post("/lang", {"csrf_token": csrf_token(page), "lang": "ru", "next": "/pair"})
        assert '<html lang="ru"' in page, "the other languages are served as usual"
        page = phone.post("/lang", {"csrf_token": csrf_token(page), "lang": "en", "next": "/pair"})
        home = phone.post("/pair", {"csrf_token": csrf_token(page), "code": code.group(1), "interviewer": "P01"})
        assert 'value="peer-interview"' in home and 'value="centre-assessment"' not in home
        french = re.search(r'<option value="fr"([^>]*)>([^<]*)</option>', home)
        assert french and "disabled" in french.group(1) and "its translation has errors" in french.group(2)
        assert re.search(r'<option value="ar">[^<(]*</option>', home), "Arabic stays available"
    finally:
        stop(process)


def test_a_kit_with_no_usable_form_refuses_to_start_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "only.yaml").write_text("id: only\nversion: [\n", encoding="utf-8")
    with pytest.raises(FormDefinitionError, match=r"only\.yaml:") as raised:
        load_serving_forms(tmp_path)
    assert isinstance(raised.value, FieldkitError)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FormDefinitionError, match="no form files"):
        load_serving_forms(empty)
