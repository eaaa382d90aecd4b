"""Write a form as an XLSForm spreadsheet, for ODK, KoboToolbox and other XLSForm tools.

What a column means and what is lost on the way is told to form authors in forms/README.md
("XLSForm"). In short: sections become groups, fieldkit's conditions become XLSForm's
(``${item}`` references, ``=``, ``selected()``...), every language whose forms catalogue
translates the whole form gets its own label columns, and what XLSForm has no column for
(Standards tags, scoring, stop rules, offers, likert scales...) goes in ``fieldkit_*``
columns, which XLSForm tools ignore and :mod:`fieldkit.core.formengine.xlsform_import`
reads back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from babel import Locale, UnknownLocaleError

from fieldkit.core.formengine import expressions as ex
from fieldkit.core.formengine import model
from fieldkit.core.formengine.labels import BUILT_IN_LABELS, LIKERT_LABELS
from fieldkit.core.formengine.wording import choice_context, form_strings, item_context, section_context
from fieldkit.core.i18n.catalogues import Catalogue, load_catalogue

SOURCE = "en"
# The fieldkit_* columns: XLSForm tools ignore them; the importer reads them back.
TYPE_COLUMN = "fieldkit_type"
STANDARD_COLUMN = "fieldkit_standard"
SCORE_PREFIX = "fieldkit_score_"
SCORE_CONDITION = "if: "
OFFER_COLUMN = "fieldkit_offer"
CHOICES_COLUMN = "fieldkit_choices"
SCRIPT_OF_COLUMN = "fieldkit_script_of"
HEADING_COLUMN = "fieldkit_heading"
SIMPLE_COLUMNS = (
    "fieldkit_scale",
    "fieldkit_min",
    "fieldkit_max",
    "fieldkit_max_length",
    "fieldkit_read_choices",
    "fieldkit_sensitive",
    "fieldkit_source",
    "fieldkit_translator_note",
    "fieldkit_stop_if",
)
YES_NO_LIST = "yes_no"
CONSENT_LIST = "consent"


class ExportError(Exception):
    """A condition has no XLSForm equivalent (never for the shipped forms)."""


def language_column(code: str) -> str:
    """``English (en)``: how XLSForm names a language in ``label::<language>`` columns."""
    try:
        name = Locale.parse(code).english_name or code
    except (ValueError, UnknownLocaleError):
        name = code
    return f"{name} ({code})"


# -- conditions ---------------------------------------------------------------------------


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true()" if value else "false()"
    if isinstance(value, str):
        if "'" in value:
            if '"' in value:
                raise ExportError(f"text {value!r} holds both kinds of quote; XPath cannot write it")
            return f'"{value}"'
        return f"'{value}'"
    return repr(value)


def _xpath(node: object, parent_word: str = "") -> str:
    if isinstance(node, ex.Literal):
        return _literal(node.value)
    if isinstance(node, ex.Reference):
        return "." if node.name == ex.SELF else "${" + node.name + "}"
    if isinstance(node, ex.Not):
        return f"not({_xpath(node.operand)})"
    if isinstance(node, ex.Logical):
        joined = f" {node.word} ".join(_xpath(operand, node.word) for operand in node.operands)
        return f"({joined})" if parent_word else joined
    if isinstance(node, ex.Compare):
        op = "=" if node.op == "==" else node.op
        return f"{_xpath(node.left, 'op')} {op} {_xpath(node.right, 'op')}"
    if isinstance(node, ex.Membership):
        element = _xpath(node.element, "op")
        options = " or ".join(f"{element} = {_literal(value)}" for value in node.options.values)
        if node.negated:
            return f"not({options})"
        return f"({options})" if parent_word else options
    if isinstance(node, ex.Arithmetic):
        op = "div" if node.op == "/" else node.op
        return f"({_xpath(node.left, 'op')} {op} {_xpath(node.right, 'op')})"
    if isinstance(node, ex.Negate):
        return f"-{_xpath(node.operand, 'op')}"
    if isinstance(node, ex.Selected):
        return f"selected({_xpath(node.item)}, {_literal(node.choice)})"
    if isinstance(node, ex.CountSelected):
        return f"count-selected({_xpath(node.item)})"
    if isinstance(node, ex.Today):
        return "today()"
    if isinstance(node, ex.ChoiceAttribute):
        return node.name  # in a choice_filter, a bare name is a column of the choices sheet
    raise ExportError(f"no XLSForm equivalent for {type(node).__name__}")


def to_xlsform(expression: ex.Expression | None) -> str:
    """A fieldkit condition written in XLSForm's language (``${item}``, ``=``, ``div``)."""
    return "" if expression is None else _xpath(expression.tree)


# -- languages ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Wording:
    """One language's wording of a form: the form's own catalogue and the interface one."""

    code: str
    forms: Catalogue
    messages: Catalogue

    def form(self, context: str, text: str) -> str:
        return text if self.code == SOURCE else self.forms.get(context, text) or text

    def built_in(self, text: str) -> str:
        return text if self.code == SOURCE else self.messages.get(None, text) or text


def complete_languages(form: model.Form, translations_dir: Path) -> list[Wording]:
    """English, then every language whose forms catalogue translates all of this form's wording."""
    found = [
        Wording(
            SOURCE,
            load_catalogue(translations_dir, SOURCE, "forms"),
            load_catalogue(translations_dir, SOURCE, "messages"),
        )
    ]
    if not translations_dir.is_dir():
        return found
    strings = form_strings(form)
    for folder in sorted(translations_dir.iterdir()):
        code = folder.name
        if code == SOURCE or not (folder / "LC_MESSAGES" / "forms.po").is_file():
            continue
        forms = load_catalogue(translations_dir, code, "forms")
        if all(forms.get(string.context, string.text) for string in strings):
            found.append(Wording(code, forms, load_catalogue(translations_dir, code, "messages")))
    return found


# -- the sheets ---------------------------------------------------------------------------


def _offer_list(base: str, offer: Sequence[str]) -> str:
    return f"{base}_with_{'_'.join(offer)}"


def _score_columns(item: model.Item) -> dict[str, str]:
    columns = {}
    for rule in item.scoring:
        if rule.condition is not None:
            columns[SCORE_PREFIX + rule.level] = SCORE_CONDITION + to_xlsform(rule.condition)
        else:
            columns[SCORE_PREFIX + rule.level] = " ".join(sorted(str(value) for value in rule.values))
    return columns


class _Sheets:
    def __init__(self, form: model.Form, languages: Sequence[Wording]) -> None:
        self.form = form
        self.languages = languages
        self.columns = {lang.code: language_column(lang.code) for lang in languages}
        self.survey: list[dict[str, str]] = []
        self.choices: list[dict[str, str]] = []
        self.lists_done: set[str] = set()

    def translated(self, prefix: str, context: str, text: str) -> dict[str, str]:
        if not text:
            return {}
        return {f"{prefix}::{self.columns[lang.code]}": lang.form(context, text) for lang in self.languages}

    def built_in(self, text: str) -> dict[str, str]:
        return {f"label::{self.columns[lang.code]}": lang.built_in(text) for lang in self.languages}

    def add_list(
        self,
        name: str,
        rows: Sequence[tuple[str, dict[str, str], str]],
        attributes: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        if name in self.lists_done:
            return
        self.lists_done.add(name)
        for choice_id, labels, note in rows:
            row = {"list_name": name, "name": choice_id, **labels, **(attributes or {}).get(choice_id, {})}
            if note:
                row["fieldkit_translator_note"] = note
            self.choices.append(row)

    def item_list(self, item: model.Item) -> str:
        """The choice list an item's XLSForm type names (made on first use)."""
        rows: list[tuple[str, dict[str, str], str]]
        if item.type == "yes_no":
            base = YES_NO_LIST
            rows = [(choice.id, self.built_in(BUILT_IN_LABELS[choice.id]), "") for choice in item.choices]
        elif item.type == "consent":
            base = CONSENT_LIST
            rows = [(choice.id, self.built_in(BUILT_IN_LABELS[choice.id]), "") for choice in item.choices]
        elif item.type == "likert":
            base = f"likert_{item.scale}"
            labels = LIKERT_LABELS[item.scale or "agreement"]
            rows = [
                (str(value), self.built_in(label), "") for value, label in zip(model.LIKERT_VALUES, labels, strict=True)
            ]
        else:
            base = item.choice_list or item.id
            rows = [
                (
                    choice.id,
                    self.translated("label", choice_context(self.form, item, choice.id), choice.label),
                    choice.translator_note,
                )
                for choice in item.choices
            ]
        attributes = {choice.id: choice.attribute_map for choice in item.choices}  # a choice_filter's columns
        self.add_list(base, rows, attributes)
        if not item.offer:
            return base
        name = _offer_list(base, item.offer)
        offers = [(offer, self.built_in(BUILT_IN_LABELS[offer]), "") for offer in item.offer]
        self.add_list(name, [*rows, *offers], attributes)
        return name

    def item_row(self, item: model.Item) -> dict[str, str]:
        form = self.form
        row: dict[str, str] = {"name": item.id}
        if item.type in ("select_one", "select_multiple"):
            row["type"] = f"{item.type} {self.item_list(item)}"
        elif item.type in ("yes_no", "likert", "consent"):
            row["type"] = f"select_one {self.item_list(item)}"
            row[TYPE_COLUMN] = item.type
            if item.type == "likert":
                row["appearance"] = "likert"
                row["fieldkit_scale"] = item.scale or "agreement"
        else:
            row["type"] = item.type
        if item.appearance:
            row["appearance"] = " ".join((*row.get("appearance", "").split(), *item.appearance))
        if item.choice_filter is not None:
            row["choice_filter"] = to_xlsform(item.choice_filter)
        if item.offer:
            row[OFFER_COLUMN] = " ".join(item.offer)
            row[CHOICES_COLUMN] = item.choice_list or ""
        row.update(self.translated("label", item_context(form, item), item.label))
        row.update(self.translated("hint", item_context(form, item, ":hint"), item.hint))
        if item.calculation is not None:
            row["calculation"] = to_xlsform(item.calculation)
        if item.default is not None:
            row["default"] = " ".join(item.default) if isinstance(item.default, list) else str(item.default)
        row.update(self.translated("required_message", item_context(form, item, ":required"), item.required_message))
        if item.required or item.type == "consent":
            row["required"] = "yes"  # consent is always asked: XLSForm says so with "required"
        if item.type == "consent" and not item.required:
            row["fieldkit_required"] = "no"  # ... but the review page need not list it
        if item.relevant is not None:
            row["relevant"] = to_xlsform(item.relevant)
        if item.constraint is not None:
            row["constraint"] = to_xlsform(item.constraint)
            row.update(
                self.translated("constraint_message", item_context(form, item, ":constraint"), item.constraint_message)
            )
        if item.tags:
            row[STANDARD_COLUMN] = " ".join(item.tags)
        row.update(_score_columns(item))
        if item.min is not None:
            row["fieldkit_min"] = _number(item.min)
        if item.max is not None:
            row["fieldkit_max"] = _number(item.max)
        if item.type == "text" and item.max_length is not None:
            row["fieldkit_max_length"] = str(item.max_length)
        if not item.read_choices:
            row["fieldkit_read_choices"] = "no"
        if item.sensitive:
            row["fieldkit_sensitive"] = "yes"
        if item.source:
            row["fieldkit_source"] = item.source
        if item.translator_note:
            row["fieldkit_translator_note"] = item.translator_note
        if item.stop_if is not None:
            row["fieldkit_stop_if"] = to_xlsform(item.stop_if)
            row.update(self.translated("fieldkit_stop_note", item_context(form, item, ":stop"), item.stop_note))
        return row

    def build(self) -> None:
        form = self.form
        for section in form.sections:
            group: dict[str, str] = {"type": "begin_group", "name": section.id}
            group.update(self.translated("label", section_context(form, section.id), section.title))
            if section.relevant is not None:
                group["relevant"] = to_xlsform(section.relevant)
            group.update(self.translated("fieldkit_topic", section_context(form, section.id) + ":topic", section.topic))
            context = section_context(form, section.id) + ":heading"
            group.update(self.translated(HEADING_COLUMN, context, section.heading))
            self.survey.append(group)
            for item in section.items:
                if item.script:
                    # The consent script is read before the question: a note just above it.
                    note = {"type": "note", "name": f"{item.id}_script", SCRIPT_OF_COLUMN: item.id}
                    note.update(self.translated("label", item_context(form, item, ":script"), item.script))
                    self.survey.append(note)
                self.survey.append(self.item_row(item))
            self.survey.append({"type": "end_group", "name": section.id})


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _columns(rows: Sequence[Mapping[str, str]], first: Sequence[str]) -> list[str]:
    seen = [column for column in first if any(column in row for row in rows)]
    for row in rows:
        seen.extend(column for column in row if column not in seen)
    return seen


SURVEY_FIRST = ("type", "name")
CHOICES_FIRST = ("list_name", "name")


def xlsform_sheets(form: model.Form, languages: Sequence[Wording]) -> dict[str, list[dict[str, str]]]:
    """The three sheets as rows of column -> text (for writing, and for tests)."""
    sheets = _Sheets(form, languages)
    sheets.build()
    settings = {
        "form_id": form.id,
        "version": str(form.version),
        "form_title": form.title,
        "default_language": language_column(SOURCE),
    }
    # XLSForm has one title; the translations travel in fieldkit columns.
    settings.update(
        {key: text for key, text in sheets.translated("fieldkit_title", f"{form.id}/:title", form.title).items()}
    )
    settings.update(sheets.translated("fieldkit_description", f"{form.id}/:description", form.description))
    settings["fieldkit_centre"] = form.centre
    return {"survey": sheets.survey, "choices": sheets.choices, "settings": [settings]}


def write_xlsform(form: model.Form, languages: Sequence[Wording], out: Path) -> None:
    """Write the form as an .xlsx file with survey, choices and settings sheets."""
    from openpyxl import Workbook  # only the export needs it

    sheets = xlsform_sheets(form, languages)
    workbook = Workbook()
    first = True
    for name, rows in sheets.items():
        sheet = workbook.active if first else workbook.create_sheet()
        first = False
        assert sheet is not None
        sheet.title = name
        order = SURVEY_FIRST if name == "survey" else CHOICES_FIRST if name == "choices" else ()
        columns = _columns(rows, order)
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column, "") or None for column in columns])
    out.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(out)
