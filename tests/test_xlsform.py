"""XLSForm both ways (issue 22): ``fieldkit forms export`` and ``fieldkit forms import``.

Every shipped form is exported through the command line into a real .xlsx file, which
pyxform's own converter (``xls2xform``'s Python API) must turn into an XForm with no error
and no warning. The file is then imported back through the command line, the imported
folder passes ``forms check``, and the imported form is compared with the shipped one item
by item: wording, types, choices, flags, Standards tags, scoring, and the conditions, whose
results are compared on many answer sets. Spreadsheets with what fieldkit cannot do are
written here with openpyxl, as a form author's tool would.
"""

from __future__ import annotations

import datetime
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from openpyxl import Workbook, load_workbook
from pyxform.xls2xform import convert

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import check_directory
from fieldkit.core.formengine.expressions import SELF, Expression, ExpressionError
from fieldkit.core.formengine.loader import load_form
from fieldkit.core.formengine.model import Form, Item
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.formengine.xlsform_export import to_xlsform
from fieldkit.core.formengine.xlsform_import import IDENTIFIER_REASON, xlsform_to_fieldkit
from fieldkit.core.i18n.catalogues import load_catalogue

SHIPPED = ("peer-interview", "centre-assessment")
LANGUAGES = ("ar", "es", "fr", "pt", "ru")


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def shipped(form_id: str) -> Form:
    return load_form(paths.forms_dir() / f"{form_id}.yaml")


def export(form_id: str, folder: Path) -> Path:
    out = folder / f"{form_id}.xlsx"
    result = run("forms", "export", form_id, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out


def sheet_rows(path: Path, name: str) -> list[dict[str, Any]]:
    workbook = load_workbook(path, read_only=True)
    try:
        rows = list(workbook[name].iter_rows(values_only=True))
    finally:
        workbook.close()
    header = [str(cell) for cell in rows[0]]
    return [{key: value for key, value in zip(header, row, strict=False) if value is not None} for row in rows[1:]]


def write_xlsx(
    path: Path, survey: list[dict[str, str]], choices: list[dict[str, str]], settings: dict[str, str]
) -> Path:
    workbook = Workbook()
    for index, (name, rows) in enumerate((("survey", survey), ("choices", choices), ("settings", [settings]))):
        sheet = workbook.active if index == 0 else workbook.create_sheet()
        assert sheet is not None
        sheet.title = name
        columns: list[str] = []
        for row in rows:
            columns += [column for column in row if column not in columns]
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
    workbook.save(path)
    return path


@pytest.mark.parametrize("form_id", SHIPPED)
def test_every_shipped_form_exports_and_pyxform_converts_it_with_no_warning(form_id: str, tmp_path: Path) -> None:
    out = export(form_id, tmp_path)
    warnings: list[str] = []
    result = convert(xlsform=str(out), warnings=warnings)
    assert warnings == []
    assert "<h:html" in result.xform
    form = shipped(form_id)
    survey = sheet_rows(out, "survey")
    # Every item is a row; every section a group; every complete language a label column.
    names = [row["name"] for row in survey if row["type"] not in ("begin_group", "end_group")]
    assert [name for name in names if not name.endswith("_script")] == [item.id for item in form.items]
    assert [row["name"] for row in survey if row["type"] == "begin_group"] == [s.id for s in form.sections]
    columns = set().union(*survey)
    for code, name in zip(LANGUAGES, ("Arabic", "Spanish", "French", "Portuguese", "Russian"), strict=True):
        assert f"label::{name} ({code})" in columns
    assert "label::English (en)" in columns
    # The consent item is the first required question, and its script the note just above it.
    required = [row for row in survey if row.get("required") == "yes"]
    assert required[0]["fieldkit_type"] == "consent"
    consent = next(item for item in form.items if item.type == "consent")
    assert required[0]["name"] == consent.id
    script_row = survey[survey.index(required[0]) - 1]
    assert script_row["type"] == "note" and script_row["label::English (en)"] == consent.script
    # Standards tags and scoring travel in extra columns.
    scored = next(item for item in form.items if item.scoring)
    row = next(row for row in survey if row.get("name") == scored.id)
    assert row["fieldkit_standard"] == " ".join(scored.tags)
    assert any(key.startswith("fieldkit_score_") for key in row)
    settings = sheet_rows(out, "settings")[0]
    assert settings["form_id"] == form.id
    assert str(settings["version"]) == str(form.version)
    assert settings["default_language"] == "English (en)"
    # Translated wording is the catalogue's.
    french = load_catalogue(paths.translations_dir(), "fr", "forms")
    first = next(item for item in form.items if item.type != "consent")
    row = next(row for row in survey if row.get("name") == first.id)
    assert row["label::French (fr)"] == french.get(f"{form.id}/{first.id}", first.label)


def test_export_of_an_unknown_form_says_which_forms_exist(tmp_path: Path) -> None:
    result = run("forms", "export", "no-such-form", "--out", str(tmp_path / "x.xlsx"))
    assert result.exit_code == 1
    assert "no usable form 'no-such-form'" in result.output and "peer-interview" in result.output
    assert not (tmp_path / "x.xlsx").exists()
    result = run("forms", "export", "peer-interview", "--out", str(tmp_path / "x.csv"))
    assert result.exit_code == 1 and "ends in .xlsx" in result.output
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    result = run("forms", "export", "peer-interview", "--out", str(tmp_path / "a-file" / "x.xlsx"))
    assert result.exit_code == 1 and "cannot write" in result.output


def _answers_for(form: Form, item_ids: set[str], rng: random.Random) -> dict[str, object]:
    answers: dict[str, object] = {}
    for item_id in item_ids:
        item = form.item(item_id)
        pick = rng.random()
        if pick < 0.15:
            continue  # unanswered
        if item.type in ("select_one", "yes_no", "consent"):
            answers[item_id] = rng.choice(item.choice_ids())
        elif item.type == "select_multiple":
            answers[item_id] = [c for c in item.choice_ids() if rng.random() < 0.4]
        elif item.type in ("integer", "likert"):
            answers[item_id] = rng.randint(-2, 6000) if item.type == "integer" else rng.randint(1, 5)
        elif item.type == "decimal":
            answers[item_id] = rng.uniform(-5, 6000)
        elif item.type == "date":
            answers[item_id] = datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randint(-400, 700))
        else:
            answers[item_id] = rng.choice(["", "some words"])
    return answers


def same_logic(form: Form, item: Item | None, left: Expression | None, right: Expression | None) -> None:
    """Two conditions give the same result on many answer sets (and are both absent or present)."""
    assert (left is None) == (right is None)
    if left is None or right is None:
        return
    assert to_xlsform(left) == to_xlsform(right)
    rng = random.Random(left.source)
    refs = set(left.references()) - {SELF}
    for _ in range(200):
        answers = _answers_for(form, refs | ({item.id} if item else set()), rng)
        if item is not None and item.id in answers:
            answers[SELF] = answers[item.id]
        try:
            expected = left.evaluate(answers, today=datetime.date(2026, 6, 1))
        except ExpressionError:
            continue
        assert right.evaluate(answers, today=datetime.date(2026, 6, 1)) == expected, (left.source, right.source)


def compare_items(original: Form, imported: Form) -> None:
    assert [s.id for s in imported.sections] == [s.id for s in original.sections]
    for mine, theirs in zip(original.sections, imported.sections, strict=True):
        assert (theirs.title, theirs.topic) == (mine.title, mine.topic)
        same_logic(original, None, mine.relevant, theirs.relevant)
        assert [i.id for i in theirs.items] == [i.id for i in mine.items]
    for mine, theirs in zip(original.items, imported.items, strict=True):
        for key in (
            "id", "type", "label", "hint", "required", "constraint_message", "stop_note", "offer", "tags",
            "source", "sensitive", "translator_note", "max_length", "min", "max", "scale", "read_choices", "script",
        ):  # fmt: skip
            assert getattr(theirs, key) == getattr(mine, key), (mine.id, key)
        assert theirs.choices == mine.choices, mine.id
        for name in ("relevant", "constraint", "stop_if"):
            same_logic(original, mine, getattr(mine, name), getattr(theirs, name))
        assert [(r.level, r.values) for r in theirs.scoring] == [(r.level, r.values) for r in mine.scoring]
        for left, right in zip(mine.scoring, theirs.scoring, strict=True):
            same_logic(original, mine, left.condition, right.condition)


@pytest.mark.parametrize("form_id", SHIPPED)
def test_round_trip_gives_the_same_form_item_by_item_with_its_translations(form_id: str, tmp_path: Path) -> None:
    out = export(form_id, tmp_path)
    folder = tmp_path / "imported"
    result = run("forms", "import", str(out), "--out", str(folder))
    assert result.exit_code == 0, result.output
    assert "translations: ar, es, fr, pt, ru" in result.output
    # forms check accepts it (a new folder has no lock yet: record it, then check).
    assert run("forms", "check", "--forms-dir", str(folder), "--update-lock").exit_code == 0
    checked = run("forms", "check", "--forms-dir", str(folder))
    assert checked.exit_code == 0, checked.output
    assert f"ok  {form_id}@" in checked.output
    original, imported = shipped(form_id), check_directory(folder, lock=False).forms[form_id]
    assert (imported.title, imported.description, imported.centre) == (
        original.title,
        original.description,
        original.centre,
    )
    assert imported.version == original.version
    compare_items(original, imported)
    # Every translation of the form's wording comes back in the imported forms.po.
    for code in LANGUAGES:
        theirs = load_catalogue(folder / "translations", code, "forms")
        mine = load_catalogue(paths.translations_dir(), code, "forms")
        for string in form_strings(original):
            # pyxform's reader makes every no-break space an ordinary one (French puts one before "?").
            expected = (mine.get(string.context, string.text) or "").replace("\u00a0", " ") or None
            assert theirs.get(string.context, string.text) == expected, (code, string.context)


def test_import_of_an_exported_file_refuses_to_overwrite_a_form(tmp_path: Path) -> None:
    out = export("peer-interview", tmp_path)
    folder = tmp_path / "imported"
    assert run("forms", "import", str(out), "--out", str(folder)).exit_code == 0
    before = (folder / "peer-interview.yaml").read_bytes()
    again = run("forms", "import", str(out), "--out", str(folder))
    assert again.exit_code == 1 and "exists already" in again.output
    assert (folder / "peer-interview.yaml").read_bytes() == before


SETTINGS = {"form_id": "kobo_visit", "version": "3", "form_title": "A visit", "default_language": "English (en)"}


def test_an_ordinary_xlsform_imports_with_its_translations(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "visit.xlsx",
        [
            {"type": "select_one agree", "name": "consent", "label::English (en)": "Do you agree to talk?",
             "label::French (fr)": "Acceptez-vous de parler ?", "required": "yes", "fieldkit_type": "consent",
             "fieldkit_standard": "P2"},
            {"type": "begin_group", "name": "visit", "label::English (en)": "The visit",
             "label::French (fr)": "La visite"},
            {"type": "integer", "name": "waiting", "label::English (en)": "How many people wait?",
             "label::French (fr)": "Combien de personnes attendent ?", "hint::English (en)": "Count them.",
             "hint::French (fr)": "Comptez-les.", "constraint": ". >= 0 and . <= 500",
             "constraint_message::English (en)": "From 0 to 500.", "constraint_message::French (fr)": "De 0 à 500.",
             "fieldkit_standard": "P1"},
            {"type": "select_one often", "name": "water", "label::English (en)": "Is there water?",
             "label::French (fr)": "Y a-t-il de l'eau ?", "relevant": "${waiting} > 0", "required": "yes",
             "appearance": "minimal", "fieldkit_standard": "P1"},
            {"type": "select_multiple services", "name": "services", "label::English (en)": "Which services?",
             "label::French (fr)": "Quels services ?", "fieldkit_standard": "harm_reduction"},
            {"type": "text", "name": "why", "label::English (en)": "Why?", "label::French (fr)": "Pourquoi ?",
             "relevant": "selected(${services}, 'naloxone') and not(${water} = 'never')",
             "fieldkit_standard": "P7"},
            {"type": "end_group", "name": "visit"},
        ],
        [
            {"list_name": "agree", "name": "given", "label::English (en)": "Yes", "label::French (fr)": "Oui"},
            {"list_name": "agree", "name": "declined", "label::English (en)": "No", "label::French (fr)": "Non"},
            {"list_name": "often", "name": "never", "label::English (en)": "Never", "label::French (fr)": "Jamais"},
            {"list_name": "often", "name": "always", "label::English (en)": "Always", "label::French (fr)": "Toujours"},
            {"list_name": "often", "name": "prefer_not", "label::English (en)": "Prefer not to say",
             "label::French (fr)": "Préfère ne pas dire"},
            {"list_name": "services", "name": "naloxone", "label::English (en)": "Naloxone",
             "label::French (fr)": "Naloxone"},
            {"list_name": "services", "name": "needles", "label::English (en)": "Needles",
             "label::French (fr)": "Aiguilles"},
        ],
        SETTINGS,
    )  # fmt: skip
    folder = tmp_path / "out"
    result = run("forms", "import", str(path), "--out", str(folder))
    assert result.exit_code == 0, result.output
    form = load_form(folder / "kobo-visit.yaml")
    assert form.version == 3
    assert [s.id for s in form.sections] == ["page_1", "visit"]
    water = form.item("water")
    assert water.offer == ("prefer_not",) and water.choice_ids() == ("never", "always")
    assert water.relevant is not None and water.relevant.source == "waiting > 0"
    why = form.item("why")
    assert why.relevant is not None
    assert why.relevant.source == "selected(services, 'naloxone') and not(water == 'never')"
    assert form.item("waiting").constraint_message == "From 0 to 500."
    french = load_catalogue(folder / "translations", "fr", "forms")
    assert french.get("kobo-visit/waiting", "How many people wait?") == "Combien de personnes attendent ?"
    assert french.get("kobo-visit/waiting:hint", "Count them.") == "Comptez-les."
    assert french.get("kobo-visit/waiting:constraint", "From 0 to 500.") == "De 0 à 500."
    assert french.get("kobo-visit/water/never", "Never") == "Jamais"
    assert french.get("kobo-visit/section:visit", "The visit") == "La visite"


def test_every_unsupported_feature_is_reported_at_once_and_nothing_is_written(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "many.xlsx",
        [
            {"type": "begin_repeat", "name": "people", "label::English (en)": "People"},
            {"type": "end_repeat", "name": "people"},
            {"type": "acknowledge", "name": "total", "read_only": "yes"},
            {"type": "select_one places", "name": "place", "label::English (en)": "Where?",
             "choice_filter": "region = ${region}", "fieldkit_standard": "P1"},
            {"type": "text", "name": "picture_word", "label::English (en)": "Word", "media::image": "a.png",
             "fieldkit_standard": "P1"},
            {"type": "file", "name": "upload", "label::English (en)": "A file"},
            {"type": "range", "name": "slider", "label::English (en)": "Slide"},
            {"type": "integer", "name": "count", "label::English (en)": "How many?",
             "relevant": "string-length(${place}) > 2", "fieldkit_standard": "P1"},
            {"type": "magic", "name": "odd", "label::English (en)": "Odd"},
            {"type": "text", "name": "untagged", "label::English (en)": "No tag"},
            {"type": "note", "name": "spoken", "label::English (en)": "Hello", "label::Français": "Bonjour",
             "fieldkit_standard": "P1"},
        ],
        [{"list_name": "places", "name": "here", "label::English (en)": "Here"}],
        SETTINGS,
    )  # fmt: skip
    folder = tmp_path / "out"
    result = run("forms", "import", str(path), "--out", str(folder))
    assert result.exit_code == 1
    expected = [
        "survey sheet, row 2, column type: repeats are not supported",
        "survey sheet, row 4, column read_only: read-only questions",
        "survey sheet, row 4, column type: type 'acknowledge' is not supported yet",
        "survey sheet, row 5, column choice_filter: 'region = ${region}': 'region' has no equivalent",
        "survey sheet, row 6, column media::image: media in labels",
        "survey sheet, row 7, column type: type 'file' (media) is not supported",
        "survey sheet, row 8, column type: type 'range' is not supported yet",
        "survey sheet, row 9, column relevant: ",
        "survey sheet, row 10, column type: unknown type 'magic'",
        "survey sheet, row 11, column fieldkit_standard: every question needs a Standards tag",
        "survey sheet, row 1, column label::Français: name the language with its code",
    ]
    for line in expected:
        assert line in result.output, line
    assert "'string-length' has no equivalent" in result.output
    assert "nothing written" in result.output
    assert not folder.exists()


@pytest.mark.parametrize(
    "kind", ["deviceid", "phonenumber", "username", "email", "subscriberid", "simserial", "geopoint",
             "geotrace", "geoshape", "start-geopoint", "background-audio"]
)  # fmt: skip
def test_questions_that_collect_identifiers_are_refused_with_the_reason(kind: str, tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "ids.xlsx",
        [
            {"type": "text", "name": "fine", "label::English (en)": "Fine", "fieldkit_standard": "P1"},
            {"type": kind, "name": "who", "label::English (en)": "Who"},
        ],
        [],
        SETTINGS,
    )
    result = run("forms", "import", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert f"survey sheet, row 3, column type: type '{kind}': {IDENTIFIER_REASON}" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()


def test_a_file_that_is_not_a_spreadsheet_gets_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_bytes(b"these are not the sheets you are looking for")
    result = run("forms", "import", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert "not a readable XLSForm" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("xlsform", "fieldkit"),
    [
        ("${a} = 'x'", "a == 'x'"),
        ("${a} != 'x' or ${b} >= 2.5", "a != 'x' or b >= 2.5"),
        ("not(selected(${s}, 'n'))", "not(selected(s, 'n'))"),
        ("count-selected(.) > 1", "count_selected(.) > 1"),
        (". <= today()", ". <= today()"),
        ("(${n} div 2) + -1 < 3", "(n / 2) + -1 < 3"),
        ('${t} = "it\'s"', "t == 'it''s'"),
        ("${a} = true()", "a == true"),
    ],
)
def test_xlsform_conditions_become_fieldkit_conditions(xlsform: str, fieldkit: str) -> None:
    assert xlsform_to_fieldkit(xlsform) == fieldkit


@pytest.mark.parametrize("bad", ["string-length(${a}) > 1", "/data/a = 'x'", "${a} mod 2 = 1", "${a-b} = 1", "${a} = "])
def test_xlsform_conditions_fieldkit_lacks_are_refused(bad: str) -> None:
    with pytest.raises(ExpressionError):
        xlsform_to_fieldkit(bad)


def test_the_example_spreadsheet_is_the_readme_example_form(tmp_path: Path) -> None:
    """forms/examples/example-visit.xlsx is what the exporter makes of the README's example."""
    examples = Path(__file__).resolve().parent.parent / "forms" / "examples"
    readme = (examples.parent / "README.md").read_text(encoding="utf-8")
    source = (examples / "example-visit.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in source.splitlines() if not line.startswith("#"))
    assert body.strip() in readme  # the file is the README's example, word for word
    warnings: list[str] = []
    convert(xlsform=str(examples / "example-visit.xlsx"), warnings=warnings)
    assert warnings == []
    result = run("forms", "import", str(examples / "example-visit.xlsx"), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    compare_items(load_form(examples / "example-visit.yaml"), load_form(tmp_path / "example-visit.yaml"))


def test_what_forms_check_refuses_in_the_imported_form_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "checked.xlsx",
        [
            {"type": "integer", "name": "waiting", "label": "How many wait?", "constraint": ". >= 0",
             "fieldkit_standard": "P1"},
            {"type": "text", "name": "why", "label": "Why?", "relevant": "${nowhere} = 'x'", "fieldkit_standard": "P1"},
        ],
        [],
        {"form_id": "checked", "version": "1", "form_title": "Checked"},
    )  # fmt: skip
    result = run("forms", "import", str(path), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "the imported form: checked.yaml (imported)" in output
    assert "a 'constraint' needs a 'constraint_message'" in output
    assert "nowhere" in output
    assert not (tmp_path / "out").exists()
