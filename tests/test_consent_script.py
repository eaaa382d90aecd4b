"""The consent script: read aloud apart from the question, and truthful about who can open the answers.

Both shipped forms' consent items hold a ``script`` (the words read aloud, shown plain in a
marked block), a ``label`` (the question asked after it, the bold legend) and a ``hint``
(the interviewer's instruction). The script's ``{who_can_open}`` is filled in, in the
interview's language, from the roles of the kit's recipients given at ``fieldkit init``,
which ``kit.json`` seals like the recipients themselves. Kits are made with the real
``fieldkit init``, pages come from the real app and catalogues, and ``forms check`` and
``translations check`` run on real files.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.lists import format_list

from fieldkit.core import paths
from fieldkit.core.formengine.loader import load_form_text
from fieldkit.core.formengine.timing import words_read_aloud
from fieldkit.core.i18n.catalogues import load_catalogue
from fieldkit.core.i18n.checks import catalogue_problems
from fieldkit.core.i18n.plurals import parse_rule
from fieldkit.core.i18n.pofile import parse_po, render_po
from fieldkit.kit.config import KitConfig, SettingsChanged, unlock
from fieldkit.kit.programme import Programme
from fieldkit.kit.roles import ROLES, UNNAMED_ESCROW
from fieldkit.kit.web.app import WebSettings, create_app
from tests.conftest import require_tool
from tests.sync_cli import CHEAP_KDF, PASSPHRASE, run
from tests.webclient import Interviewer

LANGUAGES = ("ar", "es", "fr", "pt", "ru")
FORMS = ("peer-interview", "centre-assessment")
ESCROW = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


class _Page(HTMLParser):
    """The consent item of a page, as elements: each with its tag, classes, id, text and ancestors."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.elements: list[dict] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag in ("input", "meta", "link", "br", "img"):
            self.elements.append({"tag": tag, "attrs": attributes, "text": "", "inside": list(self.stack)})
            return
        self.stack.append((tag, attributes))
        self.elements.append({"tag": tag, "attrs": attributes, "text": "", "inside": list(self.stack[:-1])})

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for element in self.elements:
            if element["tag"] != "input" and _open(element, self.stack):
                element["text"] += data


def _open(element: dict, stack: list) -> bool:
    depth = len(element["inside"])
    return len(stack) > depth and stack[depth][1] is element["attrs"]


def _parsed(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    return parser


def _classes(element: dict) -> set[str]:
    return set(element["attrs"].get("class", "").split())


def _inside(element: dict, tag: str, cls: str | None = None) -> bool:
    return any(t == tag and (cls is None or cls in attrs.get("class", "").split()) for t, attrs in element["inside"])


def _text(element: dict) -> str:
    return " ".join(html.unescape(element["text"]).split())


def _kit(tmp_path: Path, *extra: str) -> Path:
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    hub = tmp_path / "hub-keys"
    if not hub.exists():
        run("hub", "keygen", "--out", hub, "--no-passphrase")
    data = tmp_path / "kit"
    recipient = (hub / "hub-recipient.txt").read_text().strip()
    run("init", "--data", data, "--hub-recipient", recipient, "--passphrase-file", passphrase_file, *CHEAP_KDF, *extra)
    return data


def _consent_page(data: Path, shipped_forms, form_id: str, language: str) -> str:
    app = create_app(WebSettings(testing=True), unlock(data, PASSPHRASE), Programme.from_forms(shipped_forms.values()))
    client = app.test_client()
    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start(form_id, language)
    page = client.get(url)
    assert page.status_code == 200
    return page.get_data(as_text=True)


def _message(language: str, text: str) -> str:
    if language == "en":
        return text
    found = load_catalogue(paths.translations_dir(), language, "messages").get(None, text)
    assert found, f"{language}: {text!r} is not translated"
    return found


def _script_paragraphs(page: str) -> list[str]:
    parsed = _parsed(page)
    block = [e for e in parsed.elements if e["tag"] == "div" and "aloud" in _classes(e)]
    assert len(block) == 1, "one read-aloud block"
    return [_text(e) for e in parsed.elements if e["tag"] == "p" and _inside(e, "div", "aloud")]


# -- the page ---------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("form_id", FORMS)
def test_without_escrow_the_script_names_only_the_regional_team(
    tmp_path: Path, shipped_forms, form_id: str, language: str
) -> None:
    page = _consent_page(_kit(tmp_path), shipped_forms, form_id, language)
    script = " ".join(_script_paragraphs(page)[1:])
    regional = _message(language, ROLES["regional-team"])
    assert regional in script
    for role in ("national-network", "global-network", "partner-organisation"):
        assert _message(language, ROLES[role]) not in page
    assert "{who_can_open}" not in page and "{" not in script
    if language == "en":
        assert "only our network's regional team can open them." in script


@pytest.mark.parametrize("language", LANGUAGES)
def test_with_an_escrow_role_the_script_names_both_in_every_language(
    tmp_path: Path, shipped_forms, language: str
) -> None:
    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "national-network")
    regional = _message(language, ROLES["regional-team"])
    national = _message(language, ROLES["national-network"])
    assert regional != ROLES["regional-team"] and national != ROLES["national-network"], "translated"
    joined = format_list([regional, national], locale=language)
    assert joined not in (f"{regional}, {national}", f"{regional} {national}"), "joined with the word for 'and'"
    for form_id in FORMS:
        script = " ".join(_script_paragraphs(_consent_page(data, shipped_forms, form_id, language)))
        assert joined in script, f"{form_id} in {language}: {script}"


def test_with_an_escrow_role_the_english_script_says_both(tmp_path: Path, shipped_forms) -> None:
    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "partner-organisation")
    script = " ".join(_script_paragraphs(_consent_page(data, shipped_forms, "peer-interview", "en")))
    assert "only our network's regional team and a partner organisation our network chose can open them." in script


@pytest.mark.parametrize("language", ["en", "ar"])
@pytest.mark.parametrize("form_id", FORMS)
def test_the_script_is_apart_from_the_question_and_the_instruction(
    tmp_path: Path, shipped_forms, form_id: str, language: str
) -> None:
    page = _consent_page(_kit(tmp_path), shipped_forms, form_id, language)
    parsed = _parsed(page)
    item = shipped_forms[form_id].item("consent")
    (question,) = [e for e in parsed.elements if e["tag"] == "div" and e["attrs"].get("id") == "q-consent"]
    in_item = [e for e in parsed.elements if any(attrs.get("id") == "q-consent" for _tag, attrs in e["inside"])]
    (legend,) = [e for e in in_item if e["tag"] == "legend"]
    (hint,) = [e for e in parsed.elements if e["attrs"].get("id") == "h-consent"]
    (block,) = [e for e in parsed.elements if "aloud" in _classes(e)]
    paragraphs = _script_paragraphs(page)
    # The marker first, then the script's paragraphs (one per paragraph of the source), not bold.
    assert paragraphs[0] == _message(language, "Read aloud")
    assert len(paragraphs) == 1 + item.script.count("\n") + 1 >= 3
    assert {e["tag"] for e in parsed.elements if _inside(e, "div", "aloud")} == {"p", "strong"}
    assert not _inside(block, "fieldset") and not _inside(block, "legend"), "the script is not in the legend"
    assert _inside(block, "div") and _inside(legend, "fieldset")
    # The bold legend is the question only; the instruction is a hint, outside the read-aloud block.
    script_text = " ".join(paragraphs[1:])
    assert _text(legend) and _text(legend) not in script_text and len(_text(legend)) < 120
    assert not _inside(hint, "div", "aloud") and "hint" in _classes(hint)
    assert _text(hint) not in script_text and _text(legend) not in _text(hint)
    if language == "en":
        assert _text(legend) == item.label
        assert _text(hint).startswith("Read this aloud")
        assert "Read aloud" not in script_text and "read this aloud" not in script_text.lower()
    # Instruction, then script, then question and its two answers, in this order.
    order = [parsed.elements.index(e) for e in (hint, block, legend)]
    assert order == sorted(order)
    radios = [e for e in parsed.elements if e["tag"] == "input" and e["attrs"].get("name") == "consent"]
    assert [r["attrs"]["value"] for r in radios] == ["given", "declined"]
    assert all(_inside(r, "fieldset") for r in radios)
    assert question and all(e in in_item for e in (hint, block, legend))


def test_the_operator_page_names_who_can_open(tmp_path: Path, shipped_forms) -> None:
    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "global-network")
    app = create_app(WebSettings(testing=True), unlock(data, PASSPHRASE), Programme.from_forms(shipped_forms.values()))
    page = html.unescape(app.test_client().get("/operator/").get_data(as_text=True))
    assert "Who can open the answers, as the consent script says: our network's regional team and our global " in page


# -- kit.json -----------------------------------------------------------------------------------


def test_init_keeps_the_roles_beside_the_recipients_and_prints_them(tmp_path: Path) -> None:
    data = _kit(tmp_path, "--hub-role", "national-network", "--escrow-recipient", ESCROW, "--escrow-role",
                "partner-organisation")  # fmt: skip
    settings = json.loads((data / "kit.json").read_text())
    assert settings["recipient_roles"] == ["national-network", "partner-organisation"]
    assert "recipient_roles" in settings["seal"]["fields"]
    assert unlock(data, PASSPHRASE).config.roles == ["national-network", "partner-organisation"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda roles: roles.__setitem__(1, "global-network"), "'recipient_roles' was changed"),
        (lambda roles: roles.__setitem__(0, "partner-organisation"), "'recipient_roles' was changed"),
        (lambda roles: roles.__setitem__(1, "someone we trust"), "'recipient_roles' was changed"),
        (lambda roles: roles.pop(), "'recipient_roles' was changed"),
    ],
)
def test_a_role_edited_on_disk_stops_the_kit_like_an_edited_recipient(tmp_path: Path, change, said: str) -> None:
    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "national-network")
    settings = json.loads((data / "kit.json").read_text())
    change(settings["recipient_roles"])
    (data / "kit.json").write_text(json.dumps(settings, indent=2))
    before = sorted(p.name for p in data.rglob("*"))
    with pytest.raises(SettingsChanged, match=said):
        unlock(data, PASSPHRASE)
    refused = run("simulate", "--data", data, "--responses", 1, "--passphrase-file", tmp_path / "pass.txt", expect=1)
    assert said in refused.output and "was not unlocked" in refused.output
    assert sorted(p.name for p in data.rglob("*")) == before


def test_roles_removed_or_added_on_disk_are_refused(tmp_path: Path) -> None:
    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "national-network")
    settings = json.loads((data / "kit.json").read_text())
    del settings["recipient_roles"]  # posing as a kit from before roles, whose escrow is "one other organisation"
    (data / "kit.json").write_text(json.dumps(settings, indent=2))
    with pytest.raises(SettingsChanged, match="'recipient_roles' was removed"):
        unlock(data, PASSPHRASE)


def test_a_kit_from_before_roles_says_what_is_true() -> None:
    old = KitConfig(Path("."), "kit-0", 1, "2026-01-01", ("age1a",), "key")
    assert old.who_can_open() == [ROLES["regional-team"]] and old.roles == ["regional-team"]
    with_escrow = KitConfig(Path("."), "kit-0", 1, "2026-01-01", ("age1a", "age1b"), "key")
    assert with_escrow.who_can_open() == [ROLES["regional-team"], UNNAMED_ESCROW]
    assert with_escrow.roles == ["regional-team", "(not given)"]
    unknown = KitConfig(Path("."), "kit-0", 1, "2026-01-01", ("age1a", "age1b"), "key", recipient_roles=("x", "y"))
    assert unknown.who_can_open() == [ROLES["regional-team"], UNNAMED_ESCROW], "never text from kit.json itself"


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--escrow-role", "national-network"], "--escrow-role names who holds --escrow-recipient's key"),
        (["--escrow-recipient", ESCROW], "--escrow-recipient needs --escrow-role (one of: regional-team, "),
        (["--hub-role", "our friends"], "'our friends' is not one of 'regional-team', 'national-network', "
                                        "'global-network', 'partner-organisation'"),
        (["--escrow-recipient", ESCROW, "--escrow-role", "boss"], "'boss' is not one of 'regional-team'"),
    ],
)  # fmt: skip
def test_init_refuses_a_role_that_does_not_fit_and_creates_nothing(tmp_path: Path, extra: list[str], said: str) -> None:
    passphrase_file = tmp_path / "pass.txt"
    passphrase_file.write_text(PASSPHRASE + "\n")
    refused = run("init", "--data", tmp_path / "kit", "--hub-recipient", ESCROW, "--passphrase-file", passphrase_file,
                  *CHEAP_KDF, *extra, expect=2)  # fmt: skip
    assert said in " ".join(refused.output.split())
    assert not (tmp_path / "kit").exists()


# -- the forms --------------------------------------------------------------------------------------


def test_the_shipped_scripts_are_short_and_keep_their_promises(shipped_forms) -> None:
    peer = shipped_forms["peer-interview"].item("consent")
    label_words = len(peer.label.split())
    assert words_read_aloud(peer) - label_words <= 90, "the peer script, with the default role, is 90 words at most"
    for form_id in FORMS:
        item = shipped_forms[form_id].item("consent")
        assert item.script.count("{who_can_open}") == 1
        assert words_read_aloud(item) == label_words_of(item) + len(item.script.split()) + 3  # the role is 4 words
        assert "Read" not in item.label and "aloud" not in item.script.lower()
        for promise in ("choice", "skip any question", "stop", "locked at once", "nothing stays on this phone"):
            assert promise in item.script.lower(), f"{form_id}: {promise}"
    for promise in ("18 and over", "about 20", "no reason needed", "no name", "only totals", "treatment",
                    "tell the centre nothing"):  # fmt: skip
        assert promise in peer.script, promise


def label_words_of(item) -> int:
    return len(item.label.split())


def _form(script_item: str) -> str:
    return f"""id: tryout
version: 1
title: Try-out
sections:
  - id: start
    title: Start
    items:
{script_item}
"""


CONSENT = """      - id: consent
        type: consent
        tags: [P2]
        label: Do you agree?
        script: {script}
"""


@pytest.mark.parametrize(
    ("item", "line", "said"),
    [
        ("      - id: welcome\n        type: note\n        tags: [P2]\n        label: Hello\n        script: Hi\n",
         12, "'script' is for consent items only, not note items"),
        ("      - id: age\n        type: integer\n        tags: [P2]\n        label: Age?\n        script: Hi\n",
         12, "'script' is for consent items only, not integer items"),
        (CONSENT.format(script="Only {who_can_open} and {centre_name} can read them."),
         12, "'script' has the placeholder {centre_name}, which the kit cannot fill in (allowed: {who_can_open})"),
        (CONSENT.format(script="'{who_can_open} and again {who_can_open}'"),
         12, "'script' has {who_can_open} 2 times; once at most"),
        (CONSENT.format(script="'Only {who_can_open can open them.'"),
         12, "'script' has a '{' or '}' that is not a placeholder"),
        (CONSENT.format(script="''"), 12, "'script' must be non-empty text"),
    ],
)  # fmt: skip
def test_forms_check_refuses_a_script_that_cannot_be_shown(tmp_path: Path, item: str, line: int, said: str) -> None:
    folder = tmp_path / "forms"
    folder.mkdir()
    (folder / "tryout.yaml").write_text(_form(item))
    form, problems = load_form_text(_form(item), folder / "tryout.yaml", "forms/tryout.yaml")
    assert form is None and any(p.line == line and said in p.message for p in problems), problems
    checked = run("forms", "check", "--forms-dir", folder, expect=1)
    assert f"forms/tryout.yaml:{line}:" in checked.output and said in checked.output
    assert "Traceback" not in checked.output


def test_a_consent_item_without_a_script_still_works(tmp_path: Path) -> None:
    item = "      - id: consent\n        type: consent\n        tags: [P2]\n        label: 'Read aloud: hi. Agree?'\n"
    form, problems = load_form_text(_form(item), tmp_path / "tryout.yaml")
    assert not problems and form is not None
    assert form.item("consent").script == "" and form.item("consent").label == "Read aloud: hi. Agree?"


# -- the catalogues ------------------------------------------------------------------------------------


def _forms_po_with(language: str, context: str, change) -> bytes:
    path = paths.translations_dir() / language / "LC_MESSAGES" / "forms.po"
    po, problems = parse_po(path.read_bytes())
    assert not problems
    (message,) = [m for m in po.catalog if m.context == context]
    assert "{who_can_open}" in message.string
    message.string = change(message.string)
    return render_po(po, parse_rule(po.header("Plural-Forms")).count)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda text: text.replace("{who_can_open}", "el equipo"), "must keep {who_can_open} exactly"),
        (lambda text: text.replace("{who_can_open}", "{quien_puede_abrir}"), "has {quien_puede_abrir}"),
    ],
)
def test_translations_check_refuses_a_script_without_its_placeholder(language: str, change, said: str) -> None:
    for form_id in FORMS:
        data = _forms_po_with(language, f"{form_id}/consent:script", change)
        problems = catalogue_problems(data, f"{language}/forms.po", language)
        assert any(said in problem.message for problem in problems), problems


def test_translations_check_and_msgfmt_refuse_a_dropped_placeholder_in_a_copy(tmp_path: Path) -> None:
    msgfmt = require_tool("msgfmt")
    copy = tmp_path / "repo"
    shutil.copytree(paths.translations_dir(), copy / "translations")
    shutil.copytree(paths.forms_dir(), copy / "forms")
    data = _forms_po_with("fr", "peer-interview/consent:script", lambda text: text.replace("{who_can_open}", "nous"))
    broken = copy / "translations" / "fr" / "LC_MESSAGES" / "forms.po"
    broken.write_bytes(data)
    checked = run("translations", "--translations-dir", copy / "translations", "--forms-dir", copy / "forms", "check",
                  expect=1)  # fmt: skip
    assert "fr/LC_MESSAGES/forms.po" in checked.output and "{who_can_open}" in checked.output
    compiled = subprocess.run([msgfmt, "-c", "-o", "/dev/null", str(broken)], capture_output=True, text=True,
                              check=False)  # fmt: skip
    assert compiled.returncode != 0 and "who_can_open" in compiled.stderr


# -- in a real browser ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_consent_page_on_a_small_phone(tmp_path: Path, artifacts_dir: Path, language: str) -> None:
    """Real Chromium at 360 px against a real ``fieldkit serve``: the script reads as plain text, apart."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from tests.browser import chromium, full_page_screenshot, serve
    from tests.test_browser_language import _wait_for_new_page

    data = _kit(tmp_path, "--escrow-recipient", ESCROW, "--escrow-role", "national-network")
    served = serve(data, tmp_path / "pass.txt")
    driver = chromium()
    try:
        assert any("escrow (national-network)" in line for line in served.output)
        driver.get(served.url + "pair")
        if language != "en":
            Select(driver.find_element(By.ID, "ui-lang")).select_by_value(language)
            _wait_for_new_page(driver, driver.find_element(By.CSS_SELECTOR, "form.lang button").click)
        driver.find_element(By.ID, "code").send_keys(served.code)
        _wait_for_new_page(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/pair'] button").click)
        card = next(
            f for f in driver.find_elements(By.CSS_SELECTOR, "form.card")
            if f.find_element(By.CSS_SELECTOR, "input[name='form']").get_attribute("value") == "peer-interview"
        )  # fmt: skip
        _wait_for_new_page(driver, card.find_element(By.TAG_NAME, "button").click)
        full_page_screenshot(driver, artifacts_dir / f"consent-script-{language}.png")

        block = driver.find_element(By.CSS_SELECTOR, "#q-consent .aloud")
        legend = driver.find_element(By.CSS_SELECTOR, "#q-consent legend")
        paragraphs = block.find_elements(By.CSS_SELECTOR, "p:not(:first-child)")
        assert len(paragraphs) == 4
        assert all(int(p.value_of_css_property("font-weight")) < 600 for p in paragraphs), "the script is not bold"
        assert int(legend.value_of_css_property("font-weight")) >= 600, "the question is"
        hint = driver.find_element(By.ID, "h-consent")
        assert hint.location["y"] < block.location["y"] < legend.location["y"]
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert driver.execute_script("return document.documentElement.scrollWidth") <= width, "no sideways scroll"
        national = _message(language, ROLES["national-network"])
        assert national in block.text
        direction = driver.find_element(By.TAG_NAME, "html").get_attribute("dir")
        assert direction == ("rtl" if language == "ar" else "ltr")
    finally:
        driver.quit()
        served.stop()
