"""The stigma-language lint: term lists, matching, lint-allow marks, catalogues, CLI.

These tests must spell out stigmatising terms to prove they are caught; the tests
folder is excluded from the lint for that reason.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldkit.cli.lint import lint as lint_command
from fieldkit.core.errors import FieldkitError
from fieldkit.core.lint import (
    Finding,
    TermFileError,
    default_paths,
    lint_paths,
    lint_text,
    load_term_lists,
)
from fieldkit.core.paths import forms_dir

TERMS = load_term_lists()
LINT_PACKAGE = Path(__file__).resolve().parent.parent / "fieldkit" / "core" / "lint"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def _summary(findings: list[Finding]) -> list[tuple[int, str, str]]:
    return [(f.line, f.severity, f.matched_text) for f in findings]


# --- the shipped term lists ------------------------------------------------------


def test_every_language_of_the_brief_has_a_list() -> None:
    assert {"en", "ru", "es", "fr", "pt", "ar"} <= set(TERMS)


@pytest.mark.parametrize("language", sorted(TERMS))
def test_every_listed_form_is_found_with_its_severity(language: str) -> None:
    term_list = TERMS[language]
    missed = []
    for entry in term_list.entries:
        if entry.near is not None:
            continue  # a judging word alone is not a hit: see the next test
        for term in entry.match:
            for form in term_list.word_forms(entry, term):
                variants = [form] if entry.match_case else [form, form.upper()]
                for variant in variants:
                    found = lint_text(f"« {variant} ».", language)
                    if not any(f.matched_text == variant and f.severity == entry.severity for f in found):
                        missed.append((variant, entry.severity, _summary(found)))
    assert missed == []


@pytest.mark.parametrize("language", sorted(TERMS))
def test_every_near_rule_finds_each_word_beside_each_noun(language: str) -> None:
    # Both orders, so that "clean test" and "prueba limpia" are each found by some rule
    # (a rule with noun_first only in the second).
    term_list = TERMS[language]
    missed = []
    for entry in term_list.entries:
        if entry.near is None:
            continue
        for word in entry.near.words:
            for noun in entry.near.of:
                noun = noun.rstrip("*")
                pairs = []
                if noun not in entry.near.not_after:
                    pairs.append(f"{noun} {word.rstrip('*')}")
                if not entry.near.noun_first and noun not in entry.near.not_before:
                    pairs.append(f"{word.rstrip('*')} {noun}")
                for pair in pairs:
                    found = lint_text(f"« {pair} ».", language)
                    if not any(
                        f.matched_text.casefold() == pair.casefold() and f.severity == entry.severity for f in found
                    ):
                        missed.append((pair, _summary(found)))
    assert missed == []


@pytest.mark.parametrize("language", sorted(TERMS))
def test_every_suggestion_is_free_of_listed_terms(language: str) -> None:
    uses = {entry.use for entry in TERMS[language].entries}
    flagged = {use: lint_text(use, language) for use in uses}
    assert {use: found for use, found in flagged.items() if found} == {}


# --- English matching ----------------------------------------------------------------


@pytest.mark.parametrize("word", ["addict", "Addicts", "ADDICTED", "junkies", "relapsing"])
def test_english_inflections_are_caught(word: str) -> None:
    assert _summary(lint_text(f"They said {word} twice.", "en")) == [(1, "avoid", word)]


@pytest.mark.parametrize(
    "text",
    [
        "A dictionary of addiction medicine.",
        "We talk with people who use drugs and people who inject drugs.",
        "Was anyone denied care, or was there a denial of OAT?",
        "Is there a new or sterile syringe for each person who injects drugs?",
    ],
)
def test_respectful_wording_passes(text: str) -> None:
    assert lint_text(text, "en") == []


def test_clean_water_only_warns() -> None:
    findings = lint_text("Is there clean water in the waiting room?", "en")
    assert _summary(findings) == [(1, "prefer", "clean")]
    assert "negative" in findings[0].suggestion


def test_a_phrase_hides_the_single_word_inside_it() -> None:
    findings = lint_text("Staying clean for a year; the clean needle was new.", "en")
    assert _summary(findings) == [(1, "avoid", "Staying clean"), (1, "avoid", "clean needle")]


def test_abuse_alone_warns_but_drug_abuse_fails() -> None:
    assert _summary(lint_text("Reports of abuse by staff.", "en")) == [(1, "prefer", "abuse")]
    assert _summary(lint_text("A drug abuse unit.", "en")) == [(1, "avoid", "drug abuse")]


def test_drug_user_and_brain_disease_only_warn() -> None:
    found = lint_text("A drug user said it is a brain disease.", "en")
    assert _summary(found) == [(1, "prefer", "drug user"), (1, "prefer", "brain disease")]


def test_phrases_match_across_any_whitespace() -> None:
    found = lint_text("a drug \t  abuse unit and a\nsubstance\n   abuse unit", "en")
    assert _summary(found) == [(1, "avoid", "drug abuse"), (2, "avoid", "substance abuse")]


def test_finding_reports_position_term_and_language() -> None:
    [finding] = lint_text("line one\n  Ask the junkies.", "en", path="note.txt")
    assert (finding.path, finding.line, finding.column) == ("note.txt", 2, 11)
    assert (finding.term, finding.language) == ("junkie", "en")
    assert finding.format() == ('note.txt:2:11: avoid: "junkies" -> use "person who uses drugs" (en)')


def test_abbreviation_matches_case_exactly() -> None:
    assert _summary(lint_text("IDUs and idu", "en")) == [(1, "avoid", "IDUs")]


def test_identifiers_are_split_at_underscores() -> None:
    assert _summary(lint_text("relapse_count = 0", "en")) == [(1, "avoid", "relapse")]


# --- other languages -------------------------------------------------------------------


def test_russian_stems_and_forms() -> None:
    found = lint_text("О проститутках и НАРКОМАНАХ; наркомания — другое слово.", "ru")
    assert _summary(found) == [
        (1, "avoid", "проститутках"),
        (1, "avoid", "НАРКОМАНАХ"),
        (1, "prefer", "наркомания"),
    ]


def test_arabic_joined_prefixes_and_vowel_marks() -> None:
    found = lint_text("والمدمنين و مُدْمِنٌ و إدمان", "ar")
    assert _summary(found) == [(1, "avoid", "والمدمنين"), (1, "avoid", "مُدْمِنٌ")]


def test_regional_language_codes_use_the_base_list() -> None:
    assert _summary(lint_text("um viciado", "pt_BR")) == [(1, "avoid", "viciado")]


def test_unknown_language_is_a_clear_error() -> None:
    with pytest.raises(FieldkitError, match='no stigma term list for language "xx"'):
        lint_text("text", "xx")


# --- lint-allow marks ----------------------------------------------------------------------


def test_mark_with_reason_on_the_line_above_suppresses() -> None:
    text = "# lint-allow: junkie -- we ask whether staff use this word\nDid staff say junkies?\n"
    assert lint_text(text, "en") == []


def test_mark_at_the_end_of_the_line_suppresses_only_that_line() -> None:
    text = "Did staff say junkie?  # lint-allow: junkie -- quoting staff\nA junkie.\n"
    assert _summary(lint_text(text, "en")) == [(2, "avoid", "junkie")]


def test_mark_above_covers_one_line_only() -> None:
    text = "# lint-allow: junkie -- quoting staff\nA junkie.\nA junkie.\n"
    assert _summary(lint_text(text, "en")) == [(3, "avoid", "junkie")]


def test_stacked_marks_cover_the_line_below_them() -> None:
    text = (
        "# lint-allow: junkie -- quoting staff\n"
        "# lint-allow: relapse -- quoting the centre's leaflet\n"
        "A junkie, a relapse.\n"
    )
    assert lint_text(text, "en") == []


def test_mark_without_reason_is_an_error_and_suppresses_nothing() -> None:
    for mark in ("# lint-allow: junkie", "# lint-allow: junkie --  "):
        found = lint_text(f"{mark}\nA junkie.\n", "en")
        assert _summary(found) == [(1, "error", ""), (2, "avoid", "junkie")]
        assert "needs a reason" in found[0].suggestion


def test_mark_that_suppresses_nothing_warns() -> None:
    [finding] = lint_text("# lint-allow: junkie -- staff words\nAll fine here.\n", "en")
    assert (finding.line, finding.severity) == (1, "warning")
    assert finding.format() == ('<text>:1:1: warning: lint-allow for "junkie" suppresses nothing here')


def test_mark_accepts_the_listed_term_or_the_text_as_written() -> None:
    for name in ("junkie", "Junkies", '"junkies"'):
        text = f"Did staff say junkies? # lint-allow: {name} -- quoting staff\n"
        assert lint_text(text, "en") == [], name


def test_comment_syntax_follows_the_file_type(tmp_path: Path) -> None:
    _write(
        tmp_path / "page.md",
        """
        <!-- lint-allow: relapse -- the Standards' old wording, quoted -->
        They called it relapse.

        # lint-allow: relapse -- a heading, not a comment, in Markdown
        """,
    )
    _write(
        tmp_path / "templates" / "page.html",
        """
        {# lint-allow: junkie -- shown in a training example #}
        <p>junkie</p>
        <p>relapse</p> <!-- lint-allow: relapse -- quoted -->
        """,
    )
    report = lint_paths([tmp_path])
    assert [(Path(f.path).name, f.line, f.severity, f.matched_text) for f in report.findings] == [
        ("page.md", 4, "avoid", "relapse")
    ]
    assert report.files_checked == 2


def test_yaml_mark_covers_a_whole_block_label(tmp_path: Path) -> None:
    form = _write(
        tmp_path / "forms" / "visit.yaml",
        """
        items:
          - id: staff_words
            # lint-allow: junkie, druggie -- we ask whether staff use these words
            label: >
              Have staff called you or others a "junkie"
              or a "druggie"?
            hint: A junkie.
          - id: wrapped  # lint-allow: relapse -- quoting the centre's leaflet
            label: "The leaflet says
              relapse is failure."
          - id: after
            # lint-allow: relapse -- a wrapped value
            label: Their word was
              relapse.
            hint: relapse
        """,
    )
    report = lint_paths([form])
    assert _summary(report.findings) == [
        (7, "avoid", "junkie"),
        (8, "warning", ""),
        (10, "avoid", "relapse"),
        (15, "avoid", "relapse"),
    ]


# --- files and catalogues ----------------------------------------------------------------


def test_po_msgstr_is_checked_in_the_catalogue_language(tmp_path: Path) -> None:
    catalogue = _write(
        tmp_path / "messages.po",
        r"""
        msgid ""
        msgstr ""
        "Language: ru\n"
        "Content-Type: text/plain; charset=UTF-8\n"

        msgid "Is the person a drug "
        "abuser?"
        msgstr "Этот человек — наркоман?"

        # lint-allow: наркоман -- цитата из листовки центра
        msgid "Quote"
        msgstr "«наркоман»"
        """,
    )
    findings = lint_paths([catalogue]).findings
    assert [(f.line, f.column, f.severity, f.matched_text, f.language) for f in findings] == [
        (6, 24, "avoid", "drug abuser", "en"),
        (8, 24, "avoid", "наркоман", "ru"),
    ]
    assert findings[1].suggestion == "человек, употребляющий наркотики"


def test_po_language_comes_from_the_path_without_a_header(tmp_path: Path) -> None:
    catalogue = _write(
        tmp_path / "translations" / "es" / "LC_MESSAGES" / "forms.po",
        """
        msgctxt "relapse"
        msgid "Return to use"
        msgstr "¿Hubo una recaída?"
        """,
    )
    findings = lint_paths([catalogue]).findings
    assert [(f.line, f.matched_text, f.language) for f in findings] == [(3, "recaída", "es")]


def test_catalogue_without_a_term_list_warns(tmp_path: Path) -> None:
    catalogue = _write(tmp_path / "uk.po", 'msgid ""\nmsgstr ""\n"Language: uk\\n"\n')
    [finding] = lint_paths([catalogue]).findings
    assert finding.severity == "warning"
    assert "uk.yaml" in finding.suggestion


def test_yaml_language_follows_translations_folder(tmp_path: Path) -> None:
    spanish = _write(tmp_path / "translations" / "es" / "labels.yaml", "label: drogadictos\n")
    english = _write(tmp_path / "forms" / "labels.yaml", "label: drogadictos junkie\n")
    findings = lint_paths([spanish, english]).findings
    assert sorted((f.language, f.matched_text) for f in findings) == [
        ("en", "junkie"),
        ("es", "drogadictos"),
    ]


def test_folders_skip_tests_and_term_lists(tmp_path: Path) -> None:
    _write(tmp_path / "tests" / "sample.py", "junkie = 1\n")
    _write(tmp_path / "translations" / "stigma-terms" / "en.yaml", "match: [junkie]\n")
    _write(tmp_path / "notes.txt", "nothing to report\n")
    report = lint_paths([tmp_path])
    assert (report.findings, report.files_checked) == ([], 1)


def test_python_comments_and_strings_are_checked(tmp_path: Path) -> None:
    source = _write(tmp_path / "module.py", 'MESSAGE = "an addict"  # for junkies\n')
    assert _summary(lint_paths([source]).findings) == [
        (1, "avoid", "addict"),
        (1, "avoid", "junkies"),
    ]


def test_python_names_and_machine_strings_are_not_wording(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "transport.py",
        """
        import os

        _USER_AGENT = "fieldkit-sync/1"
        USER = os.environ.get("USER", "")


        def send(request, user_count: int) -> dict:
            request.add_header("User-Agent", _USER_AGENT)
            request.add_header("X-Drug-User-Id", f"{user_count}")
            return {"user_id": user_count, "USER": USER}
        """,
    )
    assert lint_paths([source]).findings == []


def test_python_strings_people_read_are_still_checked(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "pages.py",
        """
        def page(user):
            \"\"\"Shown to every junkie.\"\"\"
            flash("Ask each user to wait")
            flash(f"{user.name} met an addict")
            flash("Ask the\\nuser again")
            return "Users"  # and a comment about junkies
        """,
    )
    assert _summary(lint_paths([source]).findings) == [
        (2, "avoid", "junkie"),
        (3, "prefer", "user"),
        (4, "avoid", "addict"),
        (5, "prefer", "user"),
        (6, "prefer", "Users"),
        (6, "avoid", "junkies"),
    ]
    columns = [(f.line, f.column) for f in lint_paths([source]).findings][1:4]
    assert columns == [(3, 21), (4, 32), (5, 21)]


def test_python_that_does_not_tokenize_is_read_whole(tmp_path: Path) -> None:
    source = _write(tmp_path / "broken.py", "junkie_count = (\n")
    assert _summary(lint_paths([source]).findings) == [(1, "avoid", "junkie")]


def test_the_shipped_tree_has_no_findings_at_all() -> None:
    report = lint_paths()
    assert [finding.format() for finding in report.findings] == []


def test_default_paths_cover_forms_and_exclude_the_term_lists() -> None:
    chosen = {path.resolve() for path in default_paths()}
    assert all("stigma-terms" not in path.parts for path in chosen)
    assert (LINT_PACKAGE / "scanner.py").resolve() in chosen


def test_the_lint_package_follows_its_own_rules() -> None:
    report = lint_paths([LINT_PACKAGE])
    assert report.findings == []


def test_shipped_forms_have_no_avoid_findings() -> None:
    if not any(forms_dir().glob("*.yaml")):
        pytest.skip("no shipped forms yet")
    report = lint_paths([forms_dir()])
    assert [f.format() for f in report.findings if f.is_error] == []


# --- malformed term files --------------------------------------------------------------------

_GOOD_ENTRY = """
  - match: [junkie]
    severity: avoid
    use: person who uses drugs
"""


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "  - match: [junkie]\n    severity: sometimes\n    use: x\n",
            r"en\.yaml: entry 2 'junkie' \(line 6\): 'severity' must be 'avoid'",
        ),
        ("  - match: [druggie]\n    severity: avoid\n", r"entry 2 'druggie' .*'use' must give"),
        ("  - match: [druggie, junkie]\n    severity: avoid\n    use: x\n", r"repeats 'junkie'"),
        ("  - match: [a*b]\n    severity: avoid\n    use: x\n", r"'\*' may only end a word"),
        ("  - match: ['x, y']\n    severity: avoid\n    use: x\n", r"separate items"),
        ("  - match: [x]\n    severity: avoid\n    use: x\n    colour: red\n", "unknown key"),
        ("  - match: [x\n", "not valid YAML"),
    ],
)
def test_malformed_term_file_names_file_and_entry(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "en.yaml").write_text(f"language: en\nterms:{_GOOD_ENTRY}{entry}", encoding="utf-8")
    with pytest.raises(TermFileError, match=message):
        load_term_lists(tmp_path)


def test_term_file_language_must_match_its_name(tmp_path: Path) -> None:
    (tmp_path / "en.yaml").write_text(f"language: en\nterms:{_GOOD_ENTRY}", encoding="utf-8")
    (tmp_path / "ru.yaml").write_text(f"language: es\nterms:{_GOOD_ENTRY}", encoding="utf-8")
    with pytest.raises(TermFileError, match=r"ru\.yaml: 'language' must be 'ru'"):
        lint_text("text", "en", terms_dir=tmp_path)


def test_an_edited_term_file_is_read_again(tmp_path: Path) -> None:
    terms = tmp_path / "en.yaml"
    terms.write_text(f"language: en\nterms:{_GOOD_ENTRY}", encoding="utf-8")
    assert lint_text("a druggie", "en", terms_dir=tmp_path) == []
    terms.write_text(
        f"language: en\nterms:{_GOOD_ENTRY}  - match: druggie\n    severity: prefer\n    use: person\n",
        encoding="utf-8",
    )
    assert _summary(lint_text("a druggie", "en", terms_dir=tmp_path)) == [(1, "prefer", "druggie")]


# --- the command -------------------------------------------------------------------------------


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(lint_command, list(args))
    return result.exit_code, result.output


def test_cli_passes_respectful_wording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "good.yaml", "label: Do people who use drugs feel welcome?\n")
    assert _run("good.yaml") == (0, "0 errors, 0 warnings in 1 file\n")


def test_cli_fails_on_avoid_terms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "bad.yaml", "id: visit\nlabel: Are addicts welcome? Any clean water?\n")
    code, output = _run("bad.yaml")
    assert code == 1
    assert output.splitlines() == [
        'bad.yaml:2:12: avoid: "addicts" -> use "person who uses drugs; person with a drug'
        ' use disorder (clinical contexts only)" (en)',
        'bad.yaml:2:33: prefer: "clean" -> use "not using drugs now (of a person); negative (of a test)" (en)',
        "1 error, 1 warning in 1 file",
    ]


def test_cli_warnings_fail_only_with_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "water.md", "Is there clean water?\n")
    assert _run("water.md")[0] == 0
    assert _run("--strict", "water.md")[0] == 1


def test_cli_fails_on_a_mark_without_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "form.yaml", "label: All fine.  # lint-allow: relapse\n")
    code, output = _run("form.yaml")
    assert code == 1
    assert 'form.yaml:1:19: error: lint-allow needs a reason after "--"' in output


def test_cli_refuses_a_missing_path(tmp_path: Path) -> None:
    code, output = _run(str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "does not exist" in output


def test_cli_help_explains_marks_and_exit_status() -> None:
    code, output = _run("--help")
    assert code == 0
    assert "lint-allow: TERM -- REASON" in output
    assert "--strict" in output


# --- near rules: a judging word near the noun it judges ------------------------------------

_NEAR_ENTRY = """
  - near:
      words: [dusty]
      of: [report, person]
      unless: [shelf]
      not_before: [the]
      within: 3
    severity: avoid
    use: old
"""


def test_near_rule_finds_the_word_either_side_within_the_window(tmp_path: Path) -> None:
    (tmp_path / "en.yaml").write_text(f"language: en\ninflect: english\nterms:{_NEAR_ENTRY}", encoding="utf-8")

    def errors(text: str) -> list[str]:
        return [f.matched_text for f in lint_text(text, "en", terms_dir=tmp_path)]

    assert errors("The reports were dusty.") == ["reports were dusty"]
    assert errors("A dusty old report.") == ["dusty old report"]
    assert errors("The report, they said, was dusty.") == []  # four words away
    assert errors("The report was read. Dusty shelves.") == []  # another sentence
    assert errors("The report on the shelf was dusty.") == []  # the shelf is nearer
    assert errors("Dusty the report.") == []  # 'the' right after: another sense
    assert errors("Dusty, the report.") == ["Dusty, the report"]  # not touching


def test_near_rule_keeps_lint_allow_working() -> None:
    text = "# lint-allow: clean -- quoting what staff said\nThey said the test was clean.\n"
    assert lint_text(text, "en") == []
    assert _summary(lint_text("They said the test was clean.\n", "en")) == [(1, "avoid", "test was clean")]


def test_near_rule_message_names_the_alternative() -> None:
    [finding] = lint_text("Is your urine test clean?", "en")
    assert finding.format() == '<text>:1:15: avoid: "test clean" -> use "negative (of a test)" (en)'
    [finding] = lint_text("How long has she been clean?", "en")
    assert (finding.matched_text, finding.suggestion) == ("she been clean", "not using drugs now (of a person)")


def test_near_rule_gives_one_reading_per_word() -> None:
    # A person and a sample are both near; the error for the sample is the one reported.
    assert _summary(lint_text("Il voulait un échantillon propre.", "fr")) == [(1, "avoid", "échantillon propre")]


@pytest.mark.parametrize(
    ("near", "message"),
    [
        ("words: [dusty]", r"'near: of' must be a word or a list of words"),
        ("words: [dusty]\n      of: [old report]", r"'near: of' takes single words"),
        ("words: [dusty]\n      of: [report]\n      within: 9", r"'near: within' must be a whole number"),
        ("words: [dusty]\n      of: [report]\n      not_before: [off]", r"'near: not_before' holds False: put quotes"),
        ("words: [dusty]\n      of: [dusty]", r"'dusty' is in both 'near: words' and 'near: of'"),
        ("words: [dusty]\n      of: [report]\n      colour: red", r"unknown key\(s\) 'colour' under 'near'"),
    ],
)
def test_malformed_near_rule_names_file_and_entry(tmp_path: Path, near: str, message: str) -> None:
    entry = f"  - near:\n      {near}\n    severity: avoid\n    use: old\n"
    (tmp_path / "en.yaml").write_text(f"language: en\nterms:{_GOOD_ENTRY}{entry}", encoding="utf-8")
    with pytest.raises(TermFileError, match=r"en\.yaml: entry 2 near 'dusty' \(line 6\): " + message):
        load_term_lists(tmp_path)


def test_entry_with_both_match_and_near_is_refused(tmp_path: Path) -> None:
    entry = "  - match: [dusty]\n    near: {words: [dusty], of: [report]}\n    severity: avoid\n    use: old\n"
    (tmp_path / "en.yaml").write_text(f"language: en\nterms:{_GOOD_ENTRY}{entry}", encoding="utf-8")
    with pytest.raises(TermFileError, match="either 'match' or 'near', not both"):
        load_term_lists(tmp_path)
