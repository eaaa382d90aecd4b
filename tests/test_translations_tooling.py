"""The translators' tooling (extract, update, compile, status, check, init) on real files."""

from __future__ import annotations

import copy
import hashlib
import io
import re
import shutil
import tomllib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from babel.messages.extract import extract
from babel.support import Translations
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core.formengine.catalogue import form_files, load_directory
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.i18n import CatalogueErrors, compile_for_serving, extraction
from fieldkit.core.i18n.catalogues import CatalogueError, catalogue_digest, load_catalogue
from fieldkit.core.i18n.checks import catalogue_problems
from fieldkit.core.i18n.compiling import compile_all, compiled_bytes
from fieldkit.core.i18n.extraction import (
    INTERFACE_SOURCES,
    extract_interface,
    fresh_templates,
    render_template,
)
from fieldkit.core.i18n.form_extractor import extract_form_wording
from fieldkit.core.i18n.layout import DOMAINS, Layout, default_layout
from fieldkit.core.i18n.merge import merge
from fieldkit.core.i18n.pofile import PoFile, parse_po, render_po
from fieldkit.core.i18n.status import all_status, status_table
from fieldkit.core.lint.scanner import default_paths, lint_paths

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_LANGUAGES = ("ar", "es", "fr", "pt", "ru")


# --- one extraction of the repository, shared by every test ---------------------------------------
#
# ``check``, ``extract`` and ``update`` each extract afresh: every Python file and template under
# fieldkit/ and sync/ (about two seconds), and the wording of every form. Most tests below run
# them on the same, unchanged repository several times. Here the real extraction runs once for
# each distinct set of input files, known by their names and bytes; every caller gets its own
# deep copy. A test that changes a form (or writes its own sources) has different input bytes,
# so it gets a real extraction of what it changed.


def _fingerprint(files: list[Path], root: Path) -> tuple[tuple[str, str], ...]:
    return tuple(
        (path.relative_to(root).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in files
        if path.is_file()
    )


class SharedExtraction:
    """The real ``extract_interface`` and ``extract_forms``, memoised on their input files."""

    def __init__(self) -> None:
        self.real_interface: Callable = extraction.extract_interface
        self.real_forms: Callable = extraction.extract_forms
        self.catalogues: dict[tuple, object] = {}
        self.real_runs: Counter[str] = Counter()
        self.bypassed = False

    def _shared(self, key: tuple, kind: str, extract: Callable, argument: Path):
        if self.bypassed or key not in self.catalogues:
            catalog = extract(argument)  # errors propagate and nothing is kept
            self.real_runs[kind] += 1
            if self.bypassed:
                return catalog
            self.catalogues[key] = catalog
        return copy.deepcopy(self.catalogues[key])

    def interface(self, sources: Path):
        files = sorted({path for source in INTERFACE_SOURCES for path in sources.glob(source.pattern)})
        key = ("interface", str(sources.resolve()), _fingerprint(files, sources))
        return self._shared(key, "interface", self.real_interface, sources)

    def forms(self, forms: Path):
        key = ("forms", forms.name, _fingerprint(form_files(forms), forms))
        return self._shared(key, "forms", self.real_forms, forms)

    @contextmanager
    def uncached(self) -> Iterator[None]:
        """Extract for real inside the block, neither using nor filling the shared copies."""
        self.bypassed = True
        try:
            yield
        finally:
            self.bypassed = False


@pytest.fixture(scope="session")
def extraction_cache() -> SharedExtraction:
    return SharedExtraction()


@pytest.fixture(autouse=True)
def shared_extraction(
    extraction_cache: SharedExtraction, monkeypatch: pytest.MonkeyPatch
) -> SharedExtraction:
    """Every extraction in this module (CLI commands included) goes through the shared copies."""
    monkeypatch.setattr(extraction, "extract_interface", extraction_cache.interface)
    monkeypatch.setattr(extraction, "extract_forms", extraction_cache.forms)
    return extraction_cache


# --- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path) -> Layout:
    """A copy of the shipped forms and catalogues (without compiled files) to change freely."""
    forms = tmp_path / "forms"
    translations = tmp_path / "translations"
    shutil.copytree(ROOT / "forms", forms)
    shutil.copytree(ROOT / "translations", translations, ignore=shutil.ignore_patterns("*.mo"))
    return Layout(translations, forms, ROOT)


def run(layout: Layout, *args: str) -> tuple[int, str]:
    """Run ``fieldkit translations ...`` on a workspace; return the exit code and all output."""
    options = ["--translations-dir", str(layout.translations), "--forms-dir", str(layout.forms)]
    result = CliRunner().invoke(cli, ["translations", *options, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def read(path: Path) -> PoFile:
    po, problems = parse_po(path.read_bytes())
    assert problems == []
    return po


def translate(
    path: Path, translations: dict[str | tuple[str, str], str], *, fuzzy: bool = False
) -> None:
    """Fill in msgstr for messages chosen by msgctxt (form wording) or by (msgid, None)."""
    po = read(path)
    for message in po.catalog:
        key = message.context if message.context else (message.id, None)
        if key in translations:
            message.string = translations[key]
            if fuzzy:
                message.flags.add("fuzzy")
    path.write_bytes(render_po(po, 3 if "/ru/" in path.as_posix() else 2))


def blank(path: Path) -> None:
    """Empty every translation of a catalogue, as if the language had just been started."""
    po = read(path)
    for entry in po.catalog:
        if entry.id:
            entry.string = tuple("" for _ in entry.string) if isinstance(entry.string, tuple) else ""
            entry.flags.discard("fuzzy")
    path.write_bytes(render_po(po, po.catalog.num_plurals))


def message(po: PoFile, context: str | None, msgid: str | None = None):
    for found in po.catalog:
        if found.context == context and (msgid is None or found.id == msgid):
            return found
    return None


def write_catalogue(
    layout: Layout, language: str, domain: str, body: str, plural_forms: str
) -> Path:
    path = layout.catalogue(language, domain)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        'msgid ""\nmsgstr ""\n'
        f'"Language: {language}\\n"\n'
        '"Content-Type: text/plain; charset=UTF-8\\n"\n'
        f'"Plural-Forms: {plural_forms}\\n"\n\n'
    )
    path.write_text(header + body, encoding="utf-8")
    return path


RU_PLURALS = (
    "nplurals=3; "
    "plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2);"
)
AR_PLURALS = (
    "nplurals=6; "
    "plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);"
)


# --- extract -----------------------------------------------------------------------------------


def test_extract_twice_gives_the_same_bytes(tmp_path: Path, shared_extraction: SharedExtraction) -> None:
    first, second = (Layout(tmp_path / name, ROOT / "forms", ROOT) for name in ("one", "two"))
    assert run(first, "extract")[0] == 0  # the shared extraction: a real one, made once
    runs = shared_extraction.real_runs.copy()
    with shared_extraction.uncached():
        assert run(second, "extract")[0] == 0  # and a second real one, to compare with it
    assert shared_extraction.real_runs - runs == Counter(interface=1, forms=1)
    for domain in DOMAINS:
        assert first.template(domain).read_bytes() == second.template(domain).read_bytes()

    before = {
        d: (first.template(d).read_bytes(), first.template(d).stat().st_mtime_ns) for d in DOMAINS
    }
    code, output = run(first, "extract")
    assert code == 0 and output.count("(no change)") == 2
    assert before == {
        d: (first.template(d).read_bytes(), first.template(d).stat().st_mtime_ns) for d in DOMAINS
    }


def test_committed_templates_equal_a_fresh_extract() -> None:
    """CI's staleness check: after changing strings, run extract and update, and commit both."""
    for domain, template in fresh_templates(default_layout()).items():
        committed = (ROOT / "translations" / f"{domain}.pot").read_bytes()
        assert committed == render_template(template), (
            f"translations/{domain}.pot is stale: run 'fieldkit translations extract' "
            "and 'fieldkit translations update'"
        )


def test_templates_have_no_dates_or_absolute_paths() -> None:
    for domain in DOMAINS:
        text = (ROOT / "translations" / f"{domain}.pot").read_text(encoding="utf-8")
        assert (
            "Creation-Date" not in text
            and "Revision-Date" not in text
            and "Generated-By" not in text
        )
        locations = [line[3:] for line in text.splitlines() if line.startswith("#: ")]
        assert locations
        assert all(not place.startswith("/") and ":" not in place for place in locations)


def test_forms_pot_has_every_form_string_with_its_context_and_comment() -> None:
    forms = load_directory(ROOT / "forms")
    template = read(ROOT / "translations" / "forms.pot")
    expected = 0
    for form in forms.values():
        place = f"forms/{form.path.name}"
        for string in form_strings(form):
            found = message(template, string.context, string.text)
            assert found is not None, string.context
            assert found.auto_comments == (
                [" ".join(string.comment.split())] if string.comment else []
            )
            assert [name for name, _line in found.locations] == [place]
            expected += 1
    assert sum(1 for m in template.catalog if m.id) == expected
    consent = message(template, "peer-interview/consent")
    assert consent is not None and consent.auto_comments[0].startswith(
        "Standards: P2, P7; Keep every promise"
    )


def test_interface_extraction_reads_python_and_templates_with_contexts_and_comments(
    tmp_path: Path,
) -> None:
    package = tmp_path / "fieldkit"
    (package / "kit" / "web" / "templates" / "parts").mkdir(parents=True)
    (package / "views.py").write_text(
        "from flask_babel import gettext as _, lazy_gettext as _l, ngettext, pgettext\n"
        "# TRANSLATORS: shown while the phone waits\n"
        "WAIT = _('Wait %(seconds)s seconds', seconds=3)\n"
        "LAZY = _l('Saved')\n"
        "COUNT = ngettext('%(num)s record', '%(num)s records', 2)\n"
        "MONTH = pgettext('month name', 'May')\n"
        "# lint-allow: user -- quoted on purpose in this test\n"
        "QUOTED = _('user')\n",
        encoding="utf-8",
    )
    (package / "kit" / "web" / "templates" / "parts" / "page.html").write_text(
        "{# TRANSLATORS: the page title #}\n"
        "<h1>{{ _('Saved') }}</h1>\n"
        "<p>{% trans count=3 %}{{ count }} answer{% pluralize %}"
        "{{ count }} answers{% endtrans %}</p>\n"
        "<p>{{ pgettext('verb', 'Review') }}</p>\n",
        encoding="utf-8",
    )
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "stale.py").write_text("_('Never extracted')\n", encoding="utf-8")

    catalog = extract_interface(tmp_path)
    wait = catalog.get("Wait %(seconds)s seconds")
    assert wait.auto_comments == ["TRANSLATORS: shown while the phone waits"]
    assert "python-format" in wait.flags
    assert [name for name, _line in catalog.get("Saved").locations] == [
        "fieldkit/views.py",
        "fieldkit/kit/web/templates/parts/page.html",
    ]
    assert catalog.get("Saved").auto_comments == ["TRANSLATORS: the page title"]
    assert catalog.get("%(num)s record").id == ("%(num)s record", "%(num)s records")
    assert catalog.get("%(count)s answer").id == ("%(count)s answer", "%(count)s answers")
    assert catalog.get("May", "month name") is not None
    assert catalog.get("Review", "verb") is not None
    assert catalog.get("Never extracted") is None
    # The stigma lint's mark travels with the string, so the template passes the lint too.
    assert catalog.get("user").auto_comments == [
        "lint-allow: user -- quoted on purpose in this test"
    ]
    layout = Layout(tmp_path / "translations", ROOT / "forms", tmp_path)
    pot = tmp_path / "messages.pot"
    pot.write_bytes(render_template(fresh_templates(layout)["messages"]))
    assert lint_paths([pot]).findings == []


def test_a_broken_template_stops_extraction(tmp_path: Path) -> None:
    templates = tmp_path / "fieldkit" / "templates"
    templates.mkdir(parents=True)
    (templates / "broken.html").write_text("{% if %}{{ _('Lost') }}", encoding="utf-8")
    with pytest.raises(Exception, match=r"fieldkit/templates/broken\.html: cannot extract"):
        extract_interface(tmp_path)


def test_the_form_extractor_is_a_babel_extractor_registered_for_pybabel() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    target = pyproject["project"]["entry-points"]["babel.extractors"]["fieldkit_forms"]
    loaded = EntryPoint("fieldkit_forms", target, "babel.extractors").load()
    assert loaded is extract_form_wording

    # Through Babel's own dispatch, on a stream with no file behind it.
    stream = io.BytesIO((ROOT / "forms" / "peer-interview.yaml").read_bytes())
    found = list(extract(target, stream, {"pgettext": ((1, "c"), 2)}))
    form = load_directory(ROOT / "forms")["peer-interview"]
    assert [(context, text) for _line, text, _comments, context in found] == [
        (s.context, s.text) for s in form_strings(form)
    ]


# --- shipped catalogues ------------------------------------------------------------------------


def test_every_shipped_language_has_both_catalogues_with_the_right_headers() -> None:
    counts = {"ar": 6, "ru": 3, "es": 2, "fr": 2, "pt": 2}
    layout = default_layout()
    assert set(SHIPPED_LANGUAGES) <= set(layout.languages())
    for language in SHIPPED_LANGUAGES:
        for domain in DOMAINS:
            po = read(layout.catalogue(language, domain))
            assert po.header("Language") == language
            assert po.header("Plural-Forms").startswith(f"nplurals={counts[language]}; plural=")


def test_the_stigma_lint_covers_every_catalogue_by_default() -> None:
    linted = {path.resolve() for path in default_paths()}
    for language in SHIPPED_LANGUAGES:
        for domain in DOMAINS:
            assert default_layout().catalogue(language, domain).resolve() in linted
    assert (ROOT / "translations" / "forms.pot").resolve() in linted


# --- update --------------------------------------------------------------------------------------


def change_peer_interview(forms: Path) -> None:
    """Reword one question, remove the closing note and add a new question."""
    path = forms / "peer-interview.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace(
        "label: If you could change one thing about the centre, what would it be?",
        "label: What one thing would you change about the centre?",
    )
    start = text.index("      - id: closing_note")
    text = text[:start] + (
        "      - id: anything_else\n"
        "        type: text\n"
        "        label: Is there anything else you want to tell us?\n"
        "        tags: [P7]\n"
    )
    path.write_text(text, encoding="utf-8")


def test_update_marks_changed_strings_fuzzy_adds_new_ones_and_keeps_removed_ones(
    workspace: Layout,
) -> None:
    ru = workspace.catalogue("ru", "forms")
    blank(ru)
    translate(
        ru,
        {
            "peer-interview/what_to_change": "Что бы вы изменили в центре, если бы могли?",
            "peer-interview/closing_note": "Прочитайте вслух: спасибо за разговор.",
            "peer-interview/section:closing": "В завершение",
        },
    )
    change_peer_interview(workspace.forms)

    code, output = run(workspace, "check")
    assert (
        code == 1
        and "translations/forms.pot: stale: the sources have 2 new, 3 removed string(s)" in output
    )

    assert run(workspace, "extract")[0] == 0
    code, output = run(workspace, "update", "ru")
    assert code == 0
    # The closing note's hint was never translated: no obsolete entry is kept for it.
    assert (
        "translations/ru/LC_MESSAGES/forms.po: 1 new, 1 to review (fuzzy), 1 removed (obsolete)"
        in output
    )

    po = read(ru)
    changed = message(po, "peer-interview/what_to_change")
    assert changed.id == "What one thing would you change about the centre?"
    assert changed.string == "Что бы вы изменили в центре, если бы могли?"
    assert changed.fuzzy
    assert changed.previous_id == [
        "If you could change one thing about the centre, what would it be?"
    ]
    assert message(po, "peer-interview/anything_else").string == ""
    assert not message(po, "peer-interview/section:closing").fuzzy
    obsolete = {m.context: m.string for m in po.catalog.obsolete.values()}
    assert obsolete["peer-interview/closing_note"] == "Прочитайте вслух: спасибо за разговор."
    text = ru.read_text(encoding="utf-8")
    assert '#| msgid "If you could change one thing about the centre, what would it be?"' in text
    assert '#~ msgctxt "peer-interview/closing_note"' in text

    # Updating again changes nothing, and keeps the #| line for the reviewer.
    before = ru.read_bytes()
    code, output = run(workspace, "update")
    assert (
        code == 0
        and "ru/LC_MESSAGES/forms.po: 0 new, 0 to review (fuzzy), 0 removed (obsolete) (no change)"
        in output
    )
    assert ru.read_bytes() == before
    assert run(workspace, "check")[0] == 0


def test_update_brings_back_a_removed_string_with_its_translation(workspace: Layout) -> None:
    fr = workspace.catalogue("fr", "forms")
    translate(fr, {"peer-interview/closing_note": "Lire à voix haute : merci."})
    kept_before = set(read(fr).catalog.obsolete)  # wording of archived form versions, kept for them
    original = (workspace.forms / "peer-interview.yaml").read_bytes()
    change_peer_interview(workspace.forms)
    run(workspace, "extract")
    run(workspace, "update", "fr")
    assert message(read(fr), "peer-interview/closing_note") is None

    (workspace.forms / "peer-interview.yaml").write_bytes(original)
    run(workspace, "extract")
    run(workspace, "update", "fr")
    back = message(read(fr), "peer-interview/closing_note")
    assert back.string == "Lire à voix haute : merci." and not back.fuzzy
    assert set(read(fr).catalog.obsolete) == kept_before


def test_update_keeps_what_translators_tools_wrote_and_matches_changed_interface_text() -> None:
    """A catalogue saved by Poedit: its headers and comments survive; a reworded string is fuzzy."""
    saved = (
        "# Spanish translation of fieldkit.\n"
        'msgid ""\nmsgstr ""\n'
        '"PO-Revision-Date: 2024-05-01 10:00+0200\\n"\n'
        '"Last-Translator: Ana\\n"\n'
        '"Language: es\\n"\n'
        '"Content-Type: text/plain; charset=UTF-8\\n"\n'
        '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n'
        '"X-Generator: Poedit 3.4\\n"\n\n'
        "# lint-allow: usuario -- quoted on purpose\n"
        'msgid "Strongly disagree"\nmsgstr "Muy en desacuerdo"\n\n'
        '#, python-format\nmsgid "%(count)s sealed records are stored on this kit."\n'
        'msgstr "%(count)s registros sellados están guardados en este kit."\n'
    )
    template = (
        'msgid ""\nmsgstr ""\n"Project-Id-Version: fieldkit\\n"\n\n'
        'msgid "Strongly disagree"\nmsgstr ""\n\n'
        '#, python-format\nmsgid "%(count)s sealed records are kept on this kit."\nmsgstr ""\n\n'
        'msgid "%(num)s answer"\nmsgid_plural "%(num)s answers"\nmsgstr[0] ""\nmsgstr[1] ""\n'
    )
    po, _ = parse_po(saved.encode())
    po, new, fuzzy, obsolete = merge(po, parse_po(template.encode())[0], "es", "messages")
    assert (new, fuzzy, obsolete) == (1, 1, 0)
    text = render_po(po, 2).decode()
    for kept in ("Last-Translator: Ana", "X-Generator: Poedit 3.4", "# lint-allow: usuario"):
        assert kept in text
    assert (
        "#, fuzzy, python-format\n"
        '#| msgid "%(count)s sealed records are stored on this kit."\n'
        'msgid "%(count)s sealed records are kept on this kit."\n'
        'msgstr "%(count)s registros sellados están guardados en este kit."\n'
    ) in text
    again, _ = parse_po(text.encode())
    assert merge(again, parse_po(template.encode())[0], "es", "messages")[1:] == (0, 0, 0)
    assert render_po(again, 2).decode() == text


# --- init ----------------------------------------------------------------------------------------


def test_init_starts_a_language_with_its_plural_forms(workspace: Layout) -> None:
    code, output = run(workspace, "init", "uk")
    assert code == 0 and "translations/uk/LC_MESSAGES/forms.po: started" in output
    for domain in DOMAINS:
        po = read(workspace.catalogue("uk", domain))
        assert po.header("Language") == "uk"
        assert po.header("Plural-Forms").startswith("nplurals=3; ")
        template = read(workspace.template(domain))
        assert {(m.id, m.context) for m in po.catalog} == {
            (m.id, m.context) for m in template.catalog
        }
    assert run(workspace, "check")[0] == 0

    code, output = run(workspace, "init", "uk")
    assert code == 1 and "already exist" in output
    code, output = run(workspace, "init", "zz")
    assert code == 1 and "'zz' is not a known language code" in output


# --- check -------------------------------------------------------------------------------------


def test_check_passes_on_the_shipped_catalogues() -> None:
    result = CliRunner().invoke(cli, ["translations", "check"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: templates up to date; ")


def test_check_finds_a_stale_template(workspace: Layout) -> None:
    pot = workspace.template("messages")
    text = pot.read_text(encoding="utf-8")
    pot.write_text(text.replace('msgid "Disagree"\n', 'msgid "Disagree!"\n'), encoding="utf-8")
    code, output = run(workspace, "check")
    assert code == 1
    assert (
        "translations/messages.pot: stale: the sources have 1 new, 1 removed string(s); "
        "run 'fieldkit translations extract', then 'fieldkit translations update'"
    ) in output


def test_check_finds_placeholders_that_differ(workspace: Layout) -> None:
    path = workspace.catalogue("fr", "messages")
    translate(
        path,
        {
            ("Too many wrong codes. Wait %(seconds)s seconds, then try again.", None): (
                "Trop de codes erronés. Attendez %(secondes)s secondes."
            ),
            ("Free disk space: %(mb)s MB", None): "50 % des %(mb)s Mo.",
        },
    )
    code, output = run(workspace, "check")
    assert code == 1
    line = next(
        number for number, text in enumerate(path.read_text().splitlines(), 1) if "Too many wrong codes" in text
    )
    assert (
        f"translations/fr/LC_MESSAGES/messages.po:{line}: the translation must keep %(seconds)s "
        "exactly as in the source"
    ) in output
    assert "the translation has %(secondes)s, which the source does not have" in output
    assert (
        'the translation has %d, which the source does not have (write a percent sign as "%%")'
        in output
    )
    assert output.strip().endswith("3 problem(s)")


def test_check_ignores_fuzzy_and_untranslated_strings(workspace: Layout) -> None:
    path = workspace.catalogue("fr", "messages")
    translate(
        path,
        {
            (
                "Too many wrong codes. Wait %(seconds)s seconds, then try again.",
                None,
            ): "Attendez %(s)s."
        },
        fuzzy=True,
    )
    assert run(workspace, "check")[0] == 0


def test_check_finds_wrong_plural_forms(workspace: Layout) -> None:
    path = workspace.catalogue("ar", "messages")
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            next(
                line for line in path.read_text().splitlines() if line.startswith('"Plural-Forms:')
            ),
            '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"',
        ),
        encoding="utf-8",
    )
    code, output = run(workspace, "check")
    assert code == 1
    assert (
        "translations/ar/LC_MESSAGES/messages.po:3: bad Plural-Forms header: nplurals=2, "
        "but Arabic has 6 plural forms; use 'Plural-Forms: nplurals=6; "
        "plural=(n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : "
        "n%100>=3 && n%100<=10 ? 3 : n%100>=11 ? 4 : 5);'"
    ) in output

    no_header = write_catalogue(workspace, "es", "messages", "", "x")
    no_header.write_text(no_header.read_text().replace('"Plural-Forms: x\\n"\n', ""))
    bad_expression = write_catalogue(
        workspace, "fr", "messages", "", "nplurals=2; plural=(n > 1 ? 2 : 0);"
    )
    code, output = run(workspace, "check")
    assert (
        f"{workspace.shown(no_header)}:1: no Plural-Forms header: "
        "add 'Plural-Forms: nplurals=2; plural=(n != 1);'" in output
    )
    assert (
        f"{workspace.shown(bad_expression)}:1: bad Plural-Forms header: "
        "the expression gives form 2 for n=2, but there are only 2 forms"
    ) in output


def test_check_finds_plural_entries_with_the_wrong_number_of_forms(workspace: Layout) -> None:
    body = (
        '#, python-format\nmsgid "%(num)s file"\nmsgid_plural "%(num)s files"\n'
        'msgstr[0] "%(num)s файл"\nmsgstr[1] "%(num)s файла"\n\n'
        '#, python-format\nmsgid "%(num)s day"\nmsgid_plural "%(num)s days"\n'
        'msgstr[0] "%(num)s день"\nmsgstr[1] "%(num)s дня"\nmsgstr[2] "дней"\n'
    )
    path = write_catalogue(workspace, "ru", "messages", body, RU_PLURALS)
    code, output = run(workspace, "check")
    assert code == 1
    shown = workspace.shown(path)
    assert (
        f"{shown}:8: this plural entry has 2 translations (msgstr[0]…msgstr[1]), "
        "but Plural-Forms says nplurals=3"
    ) in output
    # Russian form 2 is used for many numbers, so it must say which one.
    assert (
        f"{shown}:14: msgstr[2]: the translation must keep %(num)s exactly as in the source"
        in output
    )


def test_a_plural_form_for_one_number_only_may_say_it_in_words(workspace: Layout) -> None:
    body = (
        '#, python-format\nmsgid "%(num)s day"\nmsgid_plural "%(num)s days"\n'
        'msgstr[0] "لا أيام"\nmsgstr[1] "يوم واحد"\nmsgstr[2] "يومان"\n'
        'msgstr[3] "%(num)s أيام"\nmsgstr[4] "%(num)s يومًا"\nmsgstr[5] "%(num)s يوم"\n'
    )
    write_catalogue(workspace, "ar", "messages", body, AR_PLURALS)
    assert run(workspace, "check")[0] == 0


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ('msgid "Yes"\nmsgstr "Oui\n', 8, "msgstr: text must be written between double quotes"),
        (
            'msgid "Yes"\nmsgstr "Un "oui""\n',
            8,
            'msgstr: a double quote inside the text must be written \\"',
        ),
        ('msgid "Yes"\n\nmsgid "No"\nmsgstr "Non"\n', 7, "an entry has no msgstr"),
        ('msgid "Yes"\nmsgid "No"\nmsgstr "Non"\n', 8, "msgid follows a msgid that has no msgstr"),
        ('msgid "Yes"\nmsgstring "Oui"\n', 8, "'msgstring' is not a gettext keyword"),
        (
            'msgid "Yes"\nmsgstr "Oui"\n\nmsgid "Yes"\nmsgstr "Si"\n',
            10,
            "duplicate entry: same msgctxt and msgid as line 7",
        ),
        ('"Yes"\n', 7, "quoted text outside an entry"),
        ('msgid "Yes"\nmsgstr[0] "Oui"\n', 7, "an entry has msgstr[N] without msgid_plural"),
    ],
)
def test_check_finds_broken_syntax(workspace: Layout, body: str, line: int, problem: str) -> None:
    path = write_catalogue(workspace, "fr", "messages", body, "nplurals=2; plural=(n > 1);")
    code, output = run(workspace, "check")
    assert code == 1
    assert f"{workspace.shown(path)}:{line}: invalid syntax: {problem}" in output


def test_check_reports_a_missing_catalogue(workspace: Layout) -> None:
    workspace.catalogue("pt", "forms").unlink()
    code, output = run(workspace, "check")
    assert code == 1
    assert (
        "translations/pt/LC_MESSAGES/forms.po: missing: "
        "run 'fieldkit translations update' to start it" in output
    )
    assert run(workspace, "update", "pt")[0] == 0
    assert run(workspace, "check")[0] == 0


# --- compile -------------------------------------------------------------------------------------


def test_compile_refuses_a_catalogue_with_a_placeholder_mismatch(workspace: Layout) -> None:
    good = workspace.catalogue("es", "messages")
    translate(good, {("Yes", None): "Sí"})
    bad = workspace.catalogue("fr", "messages")
    translate(
        bad,
        {
            ("Free disk space: %(mb)s MB", None): "Espace libre : %(nombre)s Mo"
        },
    )
    code, output = run(workspace, "compile")
    assert code == 1
    assert "translations/fr/LC_MESSAGES/messages.po" in output and "must keep %(mb)s" in output
    assert not bad.with_suffix(".mo").exists()
    assert good.with_suffix(".mo").exists()

    written, problems = compile_all(workspace.translations)
    assert bad.with_suffix(".mo") not in written and len(problems) == 2


def test_compile_then_gettext_finds_reviewed_translations_only(workspace: Layout) -> None:
    translate(workspace.catalogue("es", "messages"), {("Yes", None): "Sí"})
    translate(workspace.catalogue("es", "messages"), {("No", None): "No (sin revisar)"}, fuzzy=True)
    translate(
        workspace.catalogue("es", "forms"), {"peer-interview/section:closing": "Para terminar"}
    )
    assert run(workspace, "compile")[0] == 0

    interface = Translations.load(str(workspace.translations), ["es"], domain="messages")
    assert interface.gettext("Yes") == "Sí"
    assert interface.gettext("No") == "No"  # fuzzy: the source is shown until reviewed
    forms = Translations.load(str(workspace.translations), ["es"], domain="forms")
    assert forms.pgettext("peer-interview/section:closing", "To finish") == "Para terminar"
    # The .mo carries the catalogue's plural rule: Arabic uses form 4 for 11 to 99.
    arabic = Translations.load(str(workspace.translations), ["ar"], domain="messages")
    assert [arabic.plural(n) for n in (0, 1, 2, 5, 11, 100)] == [0, 1, 2, 3, 4, 5]


def test_serving_compiles_into_its_own_folder_once_and_then_only_what_changed(
    workspace: Layout, tmp_path: Path
) -> None:
    translations, out = workspace.translations, tmp_path / "compiled"
    before = {path: path.stat().st_mtime_ns for path in translations.rglob("*")}
    served = compile_for_serving(translations, out)
    assert served.available == ("ar", "es", "fr", "pt", "ru") and served.unavailable == {}
    assert {path: path.stat().st_mtime_ns for path in translations.rglob("*")} == before, "nothing beside the .po"
    every = {out / p.relative_to(translations).with_suffix(".mo") for p in translations.glob("*/LC_MESSAGES/*.po")}
    assert set(out.glob("*/LC_MESSAGES/*.mo")) == every
    stamps = {mo: mo.stat().st_mtime_ns for mo in every}

    es = workspace.catalogue("es", "messages")
    translate(es, {("Yes", None): "Sí, de acuerdo"})
    compile_for_serving(translations, out)
    changed = {mo for mo in every if mo.stat().st_mtime_ns != stamps[mo]}
    assert changed == {out / "es" / "LC_MESSAGES" / "messages.mo"}
    assert Translations.load(str(out), ["es"], domain="messages").gettext("Yes") == "Sí, de acuerdo"

    shutil.rmtree(translations / "pt")
    assert "pt" not in compile_for_serving(translations, out).available
    assert not list(out.glob("pt/**/*.mo")), "a removed language is not offered from old files"


def test_serving_leaves_out_only_the_language_whose_catalogue_has_errors(workspace: Layout, tmp_path: Path) -> None:
    out = tmp_path / "compiled"
    compile_for_serving(workspace.translations, out)
    translate(workspace.catalogue("fr", "messages"), {("Yes", None): "Oui {reponse}"})
    served = compile_for_serving(workspace.translations, out)
    assert served.available == ("ar", "es", "pt", "ru")
    [problem] = served.unavailable["fr"]
    assert re.search(r"fr/LC_MESSAGES/messages\.po:\d+: the translation has \{reponse\}", str(problem))
    assert not list(out.glob("fr/**/*.mo")), "no half of a broken language is served"
    with pytest.raises(CatalogueErrors, match=r"the translation has \{reponse\}"):
        compiled_bytes(workspace.catalogue("fr", "messages").read_bytes(), "fr.po", "fr")


# --- status ------------------------------------------------------------------------------------


def test_status_counts_a_small_catalogue(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "translations", ROOT / "forms", ROOT)
    body = (
        'msgctxt "visit/:title"\nmsgid "Visit"\nmsgstr "Visita"\n\n'
        '#, fuzzy\nmsgctxt "visit/water"\nmsgid "Is there water?"\nmsgstr "¿Hay agua?"\n\n'
        'msgctxt "visit/food"\nmsgid "Is there food?"\nmsgstr ""\n\n'
        'msgctxt "talk/:title"\nmsgid "Talk"\nmsgstr "Charla"\n\n'
        '#~ msgctxt "visit/old"\n#~ msgid "Old"\n#~ msgstr "Viejo"\n'
    )
    write_catalogue(layout, "es", "forms", body, "nplurals=2; plural=(n != 1);")
    write_catalogue(
        layout, "es", "messages", 'msgid "Yes"\nmsgstr "Sí"\n', "nplurals=2; plural=(n != 1);"
    )

    lines = status_table(all_status(layout))
    rows = [line.split() for line in lines[:5]]
    assert rows == [
        ["language", "catalogue", "done", "translated", "fuzzy", "untranslated", "obsolete"],
        ["es", "messages", "100.0%", "1", "0", "0", "0"],
        ["es", "forms", "50.0%", "2", "1", "1", "1"],
        ["es", "talk", "100.0%", "1", "0", "0", "0"],
        ["es", "visit", "33.3%", "1", "1", "1", "1"],
    ]
    # Aligned: names start, and numbers end, at the same place on every line.
    cells = [[(m.start(), m.end()) for m in re.finditer(r"\S+", line)] for line in lines[:5]]
    assert len({row[1][0] for row in cells[:3]}) == 1
    for column in range(2, 7):
        assert len({row[column][1] for row in cells}) == 1


def test_status_command_prints_every_shipped_language(workspace: Layout) -> None:
    blank(workspace.catalogue("pt", "messages"))
    translate(workspace.catalogue("pt", "messages"), {("Yes", None): "Sim"})
    code, output = run(workspace, "status")
    assert code == 0
    rows = {tuple(line.split()[:2]): line.split()[2:] for line in output.splitlines()}
    total = sum(1 for m in read(workspace.template("messages")).catalog if m.id)
    assert rows[("pt", "messages")][:4] == [
        f"{100 * 1 // total}.{(1000 * 1 // total) % 10}%",
        "1",
        "0",
        str(total - 1),
    ]
    for language in SHIPPED_LANGUAGES:
        assert (language, "forms") in rows and (language, "peer-interview") in rows


def test_plural_counts_of_either_convention_are_accepted_and_others_named(workspace: Layout) -> None:
    # Spanish: GNU gettext's table says 2 forms, CLDR says 3 (a form for millions). Both
    # are what mainstream tools write; 4 is neither, and the error names both conventions.
    two = write_catalogue(workspace, "es", "messages", "", "nplurals=2; plural=(n != 1);")
    assert catalogue_problems(two.read_bytes(), "es.po", "es") == []
    three = write_catalogue(
        workspace, "es", "messages", "", "nplurals=3; plural=(n == 1 ? 0 : n != 0 && n % 1000000 == 0 ? 1 : 2);"
    )
    assert catalogue_problems(three.read_bytes(), "es.po", "es") == []
    four = write_catalogue(
        workspace, "es", "messages", "", "nplurals=4; plural=(n == 1 ? 0 : n == 2 ? 1 : n < 9 ? 2 : 3);"
    )
    [problem] = catalogue_problems(four.read_bytes(), "es.po", "es")
    assert "nplurals=4, but Spanish has 2 (GNU gettext) or 3 (CLDR) plural forms" in problem.message
    assert "use 'Plural-Forms: nplurals=2; plural=(n != 1);'" in problem.message


def test_plural_table_is_shipped_data_not_the_installed_babel() -> None:
    from fieldkit.core.i18n import plurals

    source = Path(plurals.__file__).read_text(encoding="utf-8")
    assert "babel.messages.plurals" not in source
    for language, counts in {"es": {2, 3}, "fr": {2, 3}, "pt": {2, 3}, "ru": {3}, "ar": {6}, "en": {2}}.items():
        assert plurals.accepted_counts(language) == counts, language
    assert plurals.accepted_counts("pt-BR") == {2, 3}
    assert plurals.accepted_counts("xx") is None


def test_load_catalogue_refuses_a_syntax_error_with_its_file_and_line(tmp_path: Path) -> None:
    catalogue = tmp_path / "fr" / "LC_MESSAGES" / "forms.po"
    catalogue.parent.mkdir(parents=True)
    header = 'msgid ""\nmsgstr ""\n"Language: fr\\n"\n\n'
    catalogue.write_text(header + 'msgid "Yes"\nmsgstr "Oui"\n\nmsgid "No"\nmsgstr "Non\n', encoding="utf-8")
    with pytest.raises(CatalogueError, match=rf"{re.escape(str(catalogue))}:9: msgstr: text must be written"):
        load_catalogue(tmp_path, "fr", "forms")
    with pytest.raises(CatalogueError, match="run 'fieldkit translations check'"):
        load_catalogue(tmp_path, "fr", "forms")  # kept until the file changes, and still refused
    assert catalogue_digest(tmp_path, "fr", "forms") == "sha256:" + hashlib.sha256(catalogue.read_bytes()).hexdigest()
    catalogue.write_text(header + 'msgid "Yes"\nmsgstr "Oui"\n\nmsgid "No"\nmsgstr "Non"\n', encoding="utf-8")
    assert load_catalogue(tmp_path, "fr", "forms").translated == {(None, "Yes"): "Oui", (None, "No"): "Non"}


def test_load_catalogue_refuses_a_catalogue_that_is_not_utf8(tmp_path: Path) -> None:
    catalogue = tmp_path / "fr" / "LC_MESSAGES" / "forms.po"
    catalogue.parent.mkdir(parents=True)
    catalogue.write_bytes(b'msgid ""\nmsgstr ""\n\nmsgid "Yes"\nmsgstr "Oui\xff"\n')
    with pytest.raises(CatalogueError, match=r"forms\.po:5: not valid UTF-8"):
        load_catalogue(tmp_path, "fr", "forms")
