"""Read an XLSForm spreadsheet into a fieldkit form (YAML) and its translations (``forms.po``).

The spreadsheet is read with pyxform's own reader, never by hand. Everything the engine cannot
do yet (repeats, media...) is reported at once, each with its sheet, row and column,
and nothing is written; an appearance fieldkit does not render is a warning, and left out.
Questions that collect identifiers are refused with the reason: fieldkit collects no direct
identifiers (research ethics). forms/README.md
("XLSForm") tells form authors which columns are read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml
from babel import Locale, UnknownLocaleError
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from fieldkit.core.formengine import model
from fieldkit.core.formengine.expressions import ExpressionError, parse
from fieldkit.core.formengine.loader import CHOICE_KEYS, FORM_ID, NAME, RESERVED_NAMES, load_form_text
from fieldkit.core.formengine.wording import form_strings
from fieldkit.core.formengine.xlsform_export import (
    CHOICES_COLUMN,
    HEADING_COLUMN,
    OFFER_COLUMN,
    SCORE_CONDITION,
    SCORE_PREFIX,
    SCRIPT_OF_COLUMN,
    SOURCE,
    STANDARD_COLUMN,
    TYPE_COLUMN,
)

IDENTIFIER_REASON = (
    "fieldkit collects no direct identifiers (research ethics: no names, phone numbers, addresses, "
    "photos, GPS, device identifiers or interviewer names in the answers), so this question cannot be imported"
)
IDENTIFIER_TYPES = frozenset(
    {
        "deviceid",
        "imei",
        "phonenumber",
        "username",
        "email",
        "subscriberid",
        "simserial",
        "geopoint",
        "geotrace",
        "geoshape",
        "start-geopoint",
        "background-audio",
        "audio",
        "image",
        "video",
    }
)
MEDIA_TYPES = frozenset({"file", "barcode", "signature", "photo"})
META_TYPES = frozenset({"start", "end", "today", "audit", "hidden", "acknowledge", "range", "rank"})
PLAIN_TYPES = {
    "note": "note",
    "text": "text",
    "integer": "integer",
    "decimal": "decimal",
    "date": "date",
    "time": "time",
    "datetime": "datetime",
}
SELECT_TYPES = ("select_one", "select_multiple")
UNSUPPORTED_COLUMNS = {
    "repeat_count": "repeats",
    "read_only": "read-only questions",
    "trigger": "triggers",
    "parameters": "question parameters",
    "image": "media in labels",
    "audio": "media in labels",
    "video": "media in labels",
    "big-image": "media in labels",
    "media": "media in labels",
    "guidance_hint": "guidance hints",
    "body": "extra XForm attributes",
    "bind": "extra XForm attributes",
    "instance": "extra XForm attributes",
}
# Appearances that say what fieldkit does anyway: a likert item's, and a group's one page.
IMPLIED_APPEARANCES = {"likert": "likert", "field-list": "group"}
TRUE_WORDS = frozenset({"yes", "true", "true()", "1"})
FALSE_WORDS = frozenset({"no", "false", "false()", "0", ""})
_LANGUAGE = re.compile(r"^(?P<name>.*?)\s*\((?P<code>[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]+)*)\)$")
_TOKEN = re.compile(
    r"""\s*(?:(?P<ref>\$\{(?P<name>[^}]*)\})|(?P<text>'[^']*'|"[^"]*")|(?P<number>\d+(?:\.\d+)?)"""
    r"""|(?P<op>!=|<=|>=|=|<|>|\(|\)|,|\+|-|\*|\.)|(?P<word>[A-Za-z_][A-Za-z0-9_:-]*(?:\(\))?))"""
)
_FUNCTIONS = {"selected": "selected", "count-selected": "count_selected", "not": "not"}
_CALLS = frozenset({"selected", "count_selected", "not"})
_BEFORE_SIGN = frozenset({"", "(", ",", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "and", "or", "not"})


@dataclass(frozen=True)
class Problem:
    sheet: str
    row: int
    column: str
    message: str

    def __str__(self) -> str:
        place = f"{self.sheet} sheet" + (f", row {self.row}" if self.row else "")
        place += f", column {self.column}" if self.column else ""
        return f"{place}: {self.message}"


class ImportProblems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))


@dataclass
class ImportedForm:
    form_id: str
    yaml_text: str
    catalogues: dict[str, str]  # language code -> forms.po text of this form's entries
    languages: list[str] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)  # what was left out, such as an unknown appearance


def _language(column: str) -> tuple[str, str | None]:
    """``label::French (fr)`` -> (``label``, ``fr``); ``label`` -> (``label``, None)."""
    if "::" not in column:
        return column, None
    base, language = column.split("::", 1)
    match = _LANGUAGE.match(language.strip())
    return base, (match.group("code").replace("-", "_") if match else None)


def _named_language(column: str) -> bool:
    """Whether a ``::`` column names its language as XLSForm asks: ``French (fr)``."""
    return "::" not in column or bool(_LANGUAGE.match(column.split("::", 1)[1].strip()))


def xlsform_to_fieldkit(source: str, columns: frozenset[str] = frozenset()) -> str:
    """An XLSForm condition in fieldkit's language; ExpressionError when it has no equivalent.

    ``columns``: in a choice_filter, the choices sheet's columns; a bare name among them is
    the choice's attribute, ``choice('name')`` in fieldkit.
    """
    out: list[str] = []
    position = 0
    source = source.strip()
    while position < len(source):
        match = _TOKEN.match(source, position)
        if not match or match.end() == position:
            raise ExpressionError(f"cannot read {source[position:]!r}")
        position = match.end()
        if match.group("ref") is not None:
            name = match.group("name")
            if not NAME.match(name):
                raise ExpressionError(f"${{{name}}} is not a fieldkit item name")
            out.append(name)
        elif match.group("text") is not None:
            text = match.group("text")[1:-1]
            out.append("'" + text.replace("'", "''") + "'")
        elif match.group("number") is not None:
            out.append(match.group("number"))
        elif match.group("op") is not None:
            op = match.group("op")
            out.append("==" if op == "=" else op)
        else:
            word = match.group("word")
            if word in ("and", "or"):
                out.append(word)
            elif word == "div":
                out.append("/")
            elif word in ("true()", "false()"):
                out.append(word[:-2])
            elif word == "today()":
                out.append("today()")
            elif word in _FUNCTIONS and source[position:].lstrip().startswith("("):
                out.append(_FUNCTIONS[word])
            elif word in columns and NAME.match(word) and word not in RESERVED_NAMES:
                out.append(f"choice('{word}')")
            else:
                raise ExpressionError(f"'{word}' has no equivalent in fieldkit's conditions")
    text = ""
    for index, part in enumerate(out):
        before = out[index - 1] if index else ""
        sign = before == "-" and (out[index - 2] if index > 1 else "") in _BEFORE_SIGN
        tight = not index or before == "(" or part in (")", ",") or (part == "(" and before in _CALLS) or sign
        text += part if tight else " " + part
    parse(text)  # a syntax error is reported with the XLSForm column
    return text


class _Reader:
    def __init__(self, data: Any) -> None:
        self.data = data
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []
        self.translations: dict[str, dict[str, str]] = {}  # code -> context -> text
        self.languages: list[str] = []
        self.misnamed: set[tuple[str, str]] = set()

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        self.problems.append(Problem(sheet, row, column, message))

    def columns(self, sheet: str) -> list[str]:
        header = getattr(self.data, f"{sheet}_header", None) or []
        return [str(key) for key in (header[0] if header else {})]

    def default_language(self, settings: Mapping[str, str]) -> str:
        default = settings.get("default_language", "")
        if default:
            return _language(f"x::{default}")[1] or SOURCE
        return SOURCE

    def wording(self, row: Mapping[str, str], base: str, context: str, sheet: str, number: int, default: str) -> str:
        """The English text of ``base`` (``label``...), keeping every other language's for the .po."""
        english = ""
        for column, value in row.items():
            name, code = _language(column)
            if name != base:
                continue
            if not _named_language(column):
                if (sheet, column) not in self.misnamed:
                    self.misnamed.add((sheet, column))
                    self.add(sheet, 1, column, "name the language with its code, for example 'label::French (fr)'")
                continue
            code = code or default
            if code == SOURCE:
                english = value
            else:
                if code not in self.languages:
                    self.languages.append(code)
                self.translations.setdefault(code, {})[context] = value
        return english


def _flag(value: str | None) -> bool | None:
    word = (value or "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def _default(item_type: str, text: str) -> object:
    """An XLSForm default as the YAML writes it; the loader checks that it is an answer of the item."""
    if item_type == "select_multiple":
        return text.split()
    if item_type in ("integer", "decimal", "likert"):
        try:
            return _number(text)
        except ValueError:
            return text  # the loader says what is wrong with it
    return text


def _number(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


def read_xlsform(path: Path) -> ImportedForm:
    """Read an XLSForm file; raise :class:`ImportProblems` listing every problem at once."""
    from pyxform.errors import PyXFormError
    from pyxform.xls2json_backends import get_xlsform

    try:
        data = get_xlsform(xlsform=BytesIO(path.read_bytes()))
    except OSError as error:
        raise ImportProblems([Problem("file", 0, "", f"cannot read {path}: {error}")]) from None
    except PyXFormError as error:  # pyxform says what it could not read
        raise ImportProblems([Problem("file", 0, "", f"not a readable XLSForm: {error}")]) from None
    return _Builder(_Reader(data)).build()


class _Builder:
    def __init__(self, reader: _Reader) -> None:
        self.r = reader
        self.data = reader.data
        self.lists: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.form_id = ""
        # Per fieldkit choice list: its choices' rows, and the columns a choice_filter reads from them.
        self.choice_rows: dict[str, dict[str, Mapping[str, str]]] = {}
        self.filter_columns: dict[str, set[str]] = {}

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        self.r.add(sheet, row, column, message)

    def build(self) -> ImportedForm:
        settings_rows = list(self.data.settings or [])
        settings = settings_rows[0] if settings_rows else {}
        default = self.r.default_language(settings)
        raw_id = (settings.get("form_id") or self.data.fallback_form_name or "").strip()
        form_id = raw_id.lower().replace("_", "-").replace(" ", "-")
        if not FORM_ID.match(form_id):
            self.add("settings", 2, "form_id", f"form_id {raw_id!r} must become lower-case letters, digits and '-'")
        self.form_id = form_id
        version_text = (settings.get("version") or "1").strip()
        version = int(version_text) if version_text.isdigit() and int(version_text) >= 1 else 0
        if not version:
            self.add("settings", 2, "version", f"version {version_text!r} must be a whole number, 1 or more")
        title = (settings.get("form_title") or raw_id).strip()
        translated_title = self.r.wording(settings, "fieldkit_title", f"{form_id}/:title", "settings", 2, default)
        title = translated_title or title
        description = self.r.wording(
            settings, "fieldkit_description", f"{form_id}/:description", "settings", 2, default
        )
        for index, row in enumerate(self.data.choices or []):
            if row:
                self.lists.setdefault(row.get("list_name", ""), []).append((index + 2, row))
        if getattr(self.data, "external_choices", None):
            self.add("external_choices", 0, "", "external choices are not supported; put the choices in 'choices'")
        if getattr(self.data, "entities", None):
            self.add("entities", 0, "", "entities are not supported")
        form: dict[str, Any] = {"id": form_id, "version": version, "title": title}
        if description:
            form["description"] = description
        if settings.get("fieldkit_centre"):
            form["centre"] = settings["fieldkit_centre"]
        choice_lists: dict[str, list[dict[str, str]]] = {}
        sections = self.survey(default, choice_lists)
        self.choice_attributes(choice_lists)
        if choice_lists:
            form["choice_lists"] = choice_lists
        form["sections"] = sections
        if self.r.problems:
            raise ImportProblems(self.r.problems)
        text = yaml.dump(form, Dumper=_FormDumper, sort_keys=False, allow_unicode=True, width=100)
        loaded, problems = load_form_text(text, Path(f"{form_id}.yaml"), f"{form_id}.yaml (imported)")
        if problems or loaded is None:
            raise ImportProblems([Problem("survey", 0, "", f"the imported form: {problem}") for problem in problems])
        catalogues = {
            code: _catalogue(code, loaded, self.r.translations.get(code, {})) for code in sorted(self.r.translations)
        }
        return ImportedForm(form_id, text, catalogues, sorted(self.r.translations), self.r.warnings)

    # -- survey ----------------------------------------------------------------------------

    def survey(self, default: str, choice_lists: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
        sections: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        groups: list[_Group] = []  # the groups the row is in, outermost first
        script_for: dict[str, tuple[str, dict[str, str]]] = {}
        for index, row in enumerate(self.data.survey or []):
            number = index + 2
            if not row:
                continue
            kind = " ".join((row.get("type") or "").split())
            name = (row.get("name") or "").strip()
            self.unsupported_columns(row, number)
            if kind in ("begin_group", "begin group"):
                groups.append(self.group(row, number, name, default, groups))
                current = None  # the group's first question opens its section
                continue
            if kind in ("end_group", "end group"):
                if groups:
                    groups.pop()
                current = None  # what follows goes on a new page: the enclosing group's, continued
                continue
            if kind.startswith(("begin_repeat", "begin repeat", "end_repeat", "end repeat")):
                self.add("survey", number, "type", "repeats are not supported")
                continue
            if current is None:
                current = self.open_section(groups, sections)
                sections.append(current)
            if row.get(SCRIPT_OF_COLUMN):
                label = self.r.wording(row, "label", "", "survey", number, default)
                script_for[row[SCRIPT_OF_COLUMN]] = (label, self._pop_translations(""))
                continue
            item = self.item(row, number, kind, name, default, choice_lists)
            if item is None:
                continue
            if name in script_for and item.get("type") == "consent":
                item = self.with_script(item, name, script_for.pop(name))
            current["items"].append(item)
        return sections

    def group(self, row: Mapping[str, str], number: int, name: str, default: str, outer: list[_Group]) -> _Group:
        """A group's title (in every language), heading and condition, its parents' included."""
        title = self.r.wording(row, "label", f"{self.form_id}/section:{name}", "survey", number, default)
        if not title:
            self.add("survey", number, "label", "a group needs a label: it is the page heading")
        titles = {SOURCE: title, **self._pop_translations(f"{self.form_id}/section:{name}")}
        topic = self.r.wording(row, "fieldkit_topic", f"{self.form_id}/section:{name}:topic", "survey", number, default)
        own: dict[str, Any] = {}
        self.condition(row, "relevant", number, own)
        conditions = [*(outer[-1].conditions if outer else ()), *own.values()]
        heading = {SOURCE: self.r.wording(row, HEADING_COLUMN, "", "survey", number, default)}
        heading.update(self._pop_translations(""))
        self.appearance(row, number, "group")
        if outer:  # a group inside a group: its heading names the groups it is in
            parent = outer[-1]
            heading = {
                code: ": ".join(part for part in (parent.heading.get(code, ""), text) if part)
                for code, text in parent.titles.items()
                if code in parent.heading or SOURCE not in parent.heading  # a language with every part
            }
        return _Group(name, titles, {k: v for k, v in heading.items() if v}, tuple(conditions), topic)

    def open_section(self, groups: list[_Group], sections: list[dict[str, Any]]) -> dict[str, Any]:
        """A new page: the innermost group's (a second one, ``<id>_2``, after a group inside it), or a plain page."""
        if not groups:
            title = str(self.data.settings[0].get("form_title", "")) if self.data.settings else ""
            return {"id": f"page_{len(sections) + 1}", "title": title, "items": []}
        group = groups[-1]
        group.pages += 1
        section_id = group.name if group.pages == 1 else f"{group.name}_{group.pages}"
        context = f"{self.form_id}/section:{section_id}"
        section: dict[str, Any] = {"id": section_id, "title": group.titles.get(SOURCE, "")}
        if group.heading.get(SOURCE):
            section["heading"] = group.heading[SOURCE]
        if group.topic and group.pages == 1:
            section["topic"] = group.topic
        if group.conditions:
            parts = group.conditions
            section["relevant"] = parts[0] if len(parts) == 1 else " and ".join(f"({part})" for part in parts)
        section["items"] = []
        for code, text in group.titles.items():
            if code != SOURCE:
                self.r.translations.setdefault(code, {})[context] = text
        for code, text in group.heading.items():
            if code != SOURCE:
                self.r.translations.setdefault(code, {})[context + ":heading"] = text
        return section

    def with_script(self, item: dict[str, Any], name: str, script: tuple[str, dict[str, str]]) -> dict[str, Any]:
        text, translated = script
        for code, words in translated.items():
            self.r.translations.setdefault(code, {})[f"{self.form_id}/{name}:script"] = words
        return {
            "id": item["id"],
            "type": "consent",
            "script": text,
            **{k: v for k, v in item.items() if k not in ("id", "type")},
        }

    def _pop_translations(self, context: str) -> dict[str, str]:
        found = {}
        for code, texts in self.r.translations.items():
            if context in texts:
                found[code] = texts.pop(context)
        return found

    def unsupported_columns(self, row: Mapping[str, str], number: int) -> None:
        for column, value in row.items():
            base = _language(column)[0]
            if base in UNSUPPORTED_COLUMNS and str(value).strip():
                self.add("survey", number, column, f"{UNSUPPORTED_COLUMNS[base]}: not supported yet")

    def appearance(self, row: Mapping[str, str], number: int, kind: str) -> list[str]:
        """The appearance words fieldkit renders on a ``kind`` item (or "group"); a warning for each other."""
        kept = []
        for word in dict.fromkeys((row.get("appearance") or "").split()):
            types = model.APPEARANCES.get(word)
            if IMPLIED_APPEARANCES.get(word) == kind:
                continue
            if types is not None and kind in types:
                kept.append(word)
                continue
            known = ", ".join(f"'{known}' ({', '.join(on)})" for known, on in model.APPEARANCES.items())
            why = f"it applies to {', '.join(types)} items" if types else f"fieldkit renders {known}"
            self.r.warnings.append(
                Problem("survey", number, "appearance", f"appearance '{word}' is left out ({why}); shown as usual")
            )
        if {"minimal", "horizontal"} <= set(kept):
            kept.remove("horizontal")  # a drop-down list has no row of answers
        return kept

    def condition(
        self,
        row: Mapping[str, str],
        column: str,
        number: int,
        target: dict[str, Any],
        key: str = "",
        columns: frozenset[str] = frozenset(),
    ) -> None:
        source = (row.get(column) or "").strip()
        if not source:
            return
        try:
            target[key or column] = xlsform_to_fieldkit(source, columns)
        except ExpressionError as error:
            self.add("survey", number, column, f"{source!r}: {error}")

    def item(
        self,
        row: Mapping[str, str],
        number: int,
        kind: str,
        name: str,
        default: str,
        choice_lists: dict[str, list[dict[str, str]]],
    ) -> dict[str, Any] | None:
        base = kind.split(" ")[0] if kind else ""
        if base in IDENTIFIER_TYPES or (base == "audit" and "location" in (row.get("parameters") or "")):
            self.add("survey", number, "type", f"type '{base}': {IDENTIFIER_REASON}")
            return None
        if base in MEDIA_TYPES:
            self.add("survey", number, "type", f"type '{base}' (media) is not supported")
            return None
        if base in META_TYPES:
            self.add("survey", number, "type", f"type '{base}' is not supported yet")
            return None
        if not NAME.match(name):
            self.add("survey", number, "name", f"name {name!r} must be lower-case letters, digits and '_'")
            return None
        fieldkit_type = (row.get(TYPE_COLUMN) or "").strip()
        item: dict[str, Any] = {"id": name}
        form_id = self.form_id
        if kind == "calculate":
            return self.calculate(row, number, item, default)
        if base in PLAIN_TYPES and len(kind.split()) == 1:
            item["type"] = PLAIN_TYPES[base]
        elif base in SELECT_TYPES and len(kind.split()) == 2:
            list_name = kind.split()[1]
            if list_name not in self.lists:
                self.add("survey", number, "type", f"choice list '{list_name}' is not in the choices sheet")
                return None
            if fieldkit_type in ("yes_no", "likert", "consent") and base == "select_one":
                item["type"] = fieldkit_type
            else:
                item["type"] = base
                self.choices(row, number, name, list_name, default, item, choice_lists)
        elif base in SELECT_TYPES and len(kind.split()) == 3 and kind.split()[2] == "or_other":
            self.add("survey", number, "type", "'or_other' is not supported")
            return None
        elif base.startswith(("select_one_from_file", "select_multiple_from_file")):
            self.add("survey", number, "type", "choices from a file are not supported")
            return None
        else:
            self.add("survey", number, "type", f"unknown type {kind!r}")
            return None
        if item["type"] == "likert" and row.get("fieldkit_scale"):
            item["scale"] = row["fieldkit_scale"]
        item["label"] = self.r.wording(row, "label", f"{form_id}/{name}", "survey", number, default)
        if not item["label"]:
            self.add("survey", number, "label", f"'{name}' needs an English label (label or label::English (en))")
        hint = self.r.wording(row, "hint", f"{form_id}/{name}:hint", "survey", number, default)
        if hint:
            item["hint"] = hint
        required = _flag(row.get("required"))
        if required is None:
            self.add("survey", number, "required", "required must be yes or no (a condition is not supported)")
        elif required and not (
            item["type"] == "consent" and row.get("fieldkit_required") and _flag(row["fieldkit_required"]) is False
        ):
            item["required"] = True
        required_message = self.r.wording(
            row, "required_message", f"{form_id}/{name}:required", "survey", number, default
        )
        if required_message:
            item["required_message"] = required_message
        default_text = (row.get("default") or "").strip()
        if any(mark in default_text for mark in ("(", "${")):
            self.add(
                "survey", number, "default", "a default worked out by an expression is not supported; give an answer"
            )
        elif default_text:
            item["default"] = _default(item["type"], default_text)
        if item["type"] != "consent":
            self.condition(row, "relevant", number, item)
        self.condition(row, "constraint", number, item)
        message = self.r.wording(row, "constraint_message", f"{form_id}/{name}:constraint", "survey", number, default)
        if message:
            item["constraint_message"] = message
        self.condition(row, "fieldkit_stop_if", number, item, "stop_if")
        stop = self.r.wording(row, "fieldkit_stop_note", f"{form_id}/{name}:stop", "survey", number, default)
        if stop:
            item["stop_note"] = stop
        for column, key in (("fieldkit_min", "min"), ("fieldkit_max", "max"), ("fieldkit_max_length", "max_length")):
            if row.get(column):
                try:
                    item[key] = _number(row[column])
                except ValueError:
                    self.add("survey", number, column, f"{column} must be a number")
        for column, key in (("fieldkit_read_choices", "read_choices"), ("fieldkit_sensitive", "sensitive")):
            if row.get(column):
                flag = _flag(row[column])
                if flag is None:
                    self.add("survey", number, column, f"{column} must be yes or no")
                else:
                    item[key] = flag
        if row.get(OFFER_COLUMN):
            item["offer"] = row[OFFER_COLUMN].split()
        if "choices" in item:
            self.choice_filter(row, number, item)
        elif (row.get("choice_filter") or "").strip():
            self.add(
                "survey",
                number,
                "choice_filter",
                f"a choice_filter applies to select_one and select_multiple "
                f"questions, not to a {item['type']} question",
            )
        appearance = self.appearance(row, number, item["type"])
        if appearance:
            item["appearance"] = " ".join(appearance)
        tags = (row.get(STANDARD_COLUMN) or "").split()
        if tags:
            item["tags"] = tags
        else:
            self.add(
                "survey",
                number,
                STANDARD_COLUMN,
                f"every question needs a Standards tag ({', '.join(model.TAGS)}): add a {STANDARD_COLUMN} column",
            )
        for column in ("fieldkit_source", "fieldkit_translator_note"):
            if row.get(column):
                item[column.removeprefix("fieldkit_")] = row[column]
        scoring: dict[str, Any] = {}
        for level in model.LEVELS:
            value = (row.get(SCORE_PREFIX + level) or "").strip()
            if not value:
                continue
            if value.startswith(SCORE_CONDITION.strip()):
                holder: dict[str, Any] = {}
                self.condition({"c": value[len(SCORE_CONDITION.strip()) :]}, "c", number, holder)
                if "c" in holder:
                    scoring[level] = holder["c"]
            else:
                words = value.split()
                scoring[level] = [int(word) if item["type"] == "likert" and word.isdigit() else word for word in words]
        if scoring:
            item["scoring"] = scoring
        return item

    def calculate(
        self, row: Mapping[str, str], number: int, item: dict[str, Any], default: str
    ) -> dict[str, Any] | None:
        """A calculate row: never shown, so only its calculation (and any Standards tag) is kept."""
        item["type"] = "calculate"
        label = self.r.wording(row, "label", f"{self.form_id}/{item['id']}", "survey", number, default)
        if label:
            item["label"] = label  # for the codebook: the phone never shows it
        self.condition(row, "calculation", number, item)
        if "calculation" not in item:
            if not (row.get("calculation") or "").strip():
                self.add("survey", number, "calculation", "a calculate row needs a calculation")
            return None
        tags = (row.get(STANDARD_COLUMN) or "").split()
        if tags:
            item["tags"] = tags
        for column in ("fieldkit_source", "fieldkit_translator_note"):
            if row.get(column):
                item[column.removeprefix("fieldkit_")] = row[column]
        return item

    def choices(
        self,
        row: Mapping[str, str],
        number: int,
        name: str,
        list_name: str,
        default: str,
        item: dict[str, Any],
        choice_lists: dict[str, list[dict[str, str]]],
    ) -> None:
        target = (row.get(CHOICES_COLUMN) or "").strip() or list_name
        offers = set((row.get(OFFER_COLUMN) or "").split())
        parsed: list[dict[str, str]] = []
        for choice_row_number, choice_row in self.lists[list_name]:
            choice_id = (choice_row.get("name") or "").strip()
            if choice_id in model.OFFERS:
                offers.add(choice_id)  # an ordinary XLSForm's "prefer not" becomes fieldkit's offer
                continue
            if not NAME.match(choice_id):
                self.add("choices", choice_row_number, "name", f"choice name {choice_id!r} must use a-z, 0-9 and '_'")
                continue
            label = self.r.wording(
                choice_row, "label", f"{self.form_id}/{name}/{choice_id}", "choices", choice_row_number, default
            )
            choice = {"id": choice_id, "label": label}
            if not label:
                self.add("choices", choice_row_number, "label", f"choice '{choice_id}' needs an English label")
            if choice_row.get("fieldkit_translator_note"):
                choice["translator_note"] = choice_row["fieldkit_translator_note"]
            parsed.append(choice)
        if offers:
            item["offer"] = [offer for offer in model.OFFERS if offer in offers]
        choice_lists.setdefault(target, parsed)
        self.choice_rows.setdefault(target, {}).update(
            {(r.get("name") or "").strip(): r for _number, r in self.lists[list_name]}
        )
        item["choices"] = target

    def choice_filter(self, row: Mapping[str, str], number: int, item: dict[str, Any]) -> None:
        """``region = ${region}``: bare names are the choices sheet's columns, which the choices then carry."""
        columns = frozenset(
            column
            for column in self.r.columns("choices")
            if NAME.match(column) and column not in ("list_name", "name", "label", *CHOICE_KEYS)
        )
        self.condition(row, "choice_filter", number, item, columns=columns)
        if "choice_filter" in item:
            read = parse(item["choice_filter"]).attributes()
            self.filter_columns.setdefault(item["choices"], set()).update(read)

    def choice_attributes(self, choice_lists: dict[str, list[dict[str, str]]]) -> None:
        """Each choice gets the columns a choice_filter reads, so the YAML holds no unread attribute."""
        for target, columns in self.filter_columns.items():
            for choice in choice_lists.get(target, []):
                row = self.choice_rows.get(target, {}).get(choice["id"], {})
                for column in sorted(columns):
                    value = str(row.get(column) or "").strip()
                    if value:
                        choice[column] = value


@dataclass
class _Group:
    """An XLSForm group being read: what each page (section) made of its questions gets."""

    name: str
    titles: dict[str, str]  # language code -> title
    heading: dict[str, str]  # language code -> the titles of the groups it is in
    conditions: tuple[str, ...]  # its own relevant and its parents', all of which must hold
    topic: str = ""
    pages: int = 0


class _FormDumper(yaml.SafeDumper):
    """YAML as a form author writes it: short lists on one line, several lines as a block."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(entry, (str, int, float)) for entry in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_FormDumper.add_representer(str, _text)
_FormDumper.add_representer(list, _list)


def _catalogue(code: str, form: model.Form, texts: Mapping[str, str]) -> str:
    try:
        locale: Locale | None = Locale.parse(code)
    except (ValueError, UnknownLocaleError):
        locale = None
    catalog = Catalog(locale=locale, project="fieldkit", fuzzy=False)
    for string in form_strings(form):
        catalog.add(
            string.text,
            texts.get(string.context, ""),
            context=string.context,
            auto_comments=[string.comment] if string.comment else [],
        )
    out = BytesIO()
    write_po(out, catalog, width=100, omit_header=False)
    return out.getvalue().decode("utf-8")


def write_imported(imported: ImportedForm, out: Path) -> list[Path]:
    """Write ``<form>.yaml`` and ``translations/<lang>/LC_MESSAGES/forms.po`` under ``out``."""
    written = []
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{imported.form_id}.yaml"
    target.write_text(imported.yaml_text, encoding="utf-8")
    written.append(target)
    for code, text in imported.catalogues.items():
        po = out / "translations" / code / "LC_MESSAGES" / "forms.po"
        po.parent.mkdir(parents=True, exist_ok=True)
        po.write_text(text, encoding="utf-8")
        written.append(po)
    return written
