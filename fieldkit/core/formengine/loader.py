"""Turn a form's YAML file into a validated :class:`~fieldkit.core.formengine.model.Form`.

The loader reports every problem it finds in one pass (file, line, item id and
what is wrong), so a form author can fix a file in one go. It never executes
anything from the file: YAML is read with the safe loader and conditions are
parsed by :mod:`fieldkit.core.formengine.expressions`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine import expressions as ex
from fieldkit.core.formengine import model
from fieldkit.core.formengine.answers import AnswerError, parse_answer, value_problem
from fieldkit.core.formengine.expressions import SELF, Expression, ExpressionError, ValueType, parse
from fieldkit.core.formengine.yaml_lines import LineDict, LineList, YamlSyntaxError, load_with_lines

FORM_ID = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_NAMES = frozenset({"and", "or", "not", "in", "true", "false"})  # words of the condition language

FORM_KEYS = {"id", "version", "title", "description", "centre", "choice_lists", "sections"}
SECTION_KEYS = {"id", "title", "topic", "heading", "relevant", "items"}
ITEM_KEYS = {
    "id",
    "type",
    "label",
    "hint",
    "required",
    "relevant",
    "constraint",
    "constraint_message",
    "stop_if",
    "stop_note",
    "choices",
    "offer",
    "tags",
    "source",
    "scoring",
    "sensitive",
    "translator_note",
    "max_length",
    "min",
    "max",
    "scale",
    "read_choices",
    "script",
    "calculation",
    "default",
    "required_message",
    "choice_filter",
    "appearance",
}
# A calculate item is never shown nor asked: only these keys mean something on it.
CALCULATE_KEYS = {"id", "type", "label", "calculation", "tags", "source", "translator_note"}
# The types whose value a calculation may give (never a list of choices or of values).
CALCULATION_TYPES = (ValueType.NUMBER, ValueType.TEXT, ValueType.BOOL, ValueType.DATE, ValueType.CHOICE)
# An earlier answer shown inside a label or hint: ${item}.
LABEL_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
CHOICE_KEYS = {"id", "label", "translator_note"}
TYPE_KEYS = {
    "text": {"max_length"},
    "integer": {"min", "max"},
    "decimal": {"min", "max"},
    "select_one": {"choices", "read_choices", "choice_filter"},
    "select_multiple": {"choices", "read_choices", "choice_filter"},
    "likert": {"scale"},
    "consent": {"script"},
    "calculate": {"calculation"},
}
_SCRIPT_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
VALUE_SCORED_TYPES = {"select_one", "yes_no", "likert", "consent"}


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    where: str
    message: str

    def __str__(self) -> str:
        place = f"{self.path}:{self.line}" if self.line else self.path
        where = f" [{self.where}]" if self.where else ""
        return f"{place}:{where} {self.message}"


class FormDefinitionError(FieldkitError):
    """A form file has problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(problem) for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in form definitions:\n{lines}")


@dataclass
class _Reporter:
    path: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, line: int, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, line, where, message))


def content_hash(data: object) -> str:
    """SHA-256 of the form's content, blind to comments, layout and key order."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_form(path: Path) -> model.Form:
    """Load and validate one form file; raise :class:`FormDefinitionError` listing all problems."""
    form, problems = load_form_collecting(path)
    if problems or form is None:
        raise FormDefinitionError(problems)
    return form


def load_form_collecting(path: Path, display: str | None = None) -> tuple[model.Form | None, list[Problem]]:
    """Load one form file, returning the form (when usable) and every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return None, [Problem(display or str(path), 0, "", f"cannot read the file: {error}")]
    return load_form_text(text, path, display)


def load_form_text(text: str, path: Path, display: str | None = None) -> tuple[model.Form | None, list[Problem]]:
    """Load a form from its YAML text, as if read from ``path`` (its id must match the name).

    For forms that arrive in a form pack: nothing is written to disk to load them.
    """
    report = _Reporter(display or str(path))
    try:
        data = load_with_lines(text)
    except YamlSyntaxError as error:
        report.add(error.line, "", error.message)
        return None, report.problems
    form = _FormBuilder(report, path).build(data)
    return (form if not report.problems else None), report.problems


def _line(mapping: object, key: str | None = None) -> int:
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    if isinstance(mapping, LineList):
        return mapping.line
    return 0


class _FormBuilder:
    def __init__(self, report: _Reporter, path: Path) -> None:
        self.report = report
        self.path = path
        self.choice_lists: dict[str, tuple[model.Choice, ...]] = {}

    # -- helpers -----------------------------------------------------------------

    def _mapping(self, data: object, where: str, line: int) -> LineDict | None:
        if not isinstance(data, LineDict):
            self.report.add(line, where, "expected a mapping of keys to values")
            return None
        for key, key_line in data.duplicate_keys:
            self.report.add(key_line, where, f"key '{key}' is written twice")
        return data

    def _unknown_keys(self, data: LineDict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.report.add(_line(data, key), where, f"unknown key '{key}' (allowed: {hint})")

    def _text(self, data: LineDict, key: str, where: str, *, required: bool = False) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.report.add(_line(data), where, f"'{key}' is missing")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.report.add(_line(data, key), where, f"'{key}' must be non-empty text")
            return ""
        return value.strip()

    def _flag(self, data: LineDict, key: str, where: str) -> bool:
        value = data.get(key, False)
        if not isinstance(value, bool):
            self.report.add(_line(data, key), where, f"'{key}' must be true or false")
            return False
        return value

    def _number(self, data: LineDict, key: str, where: str, *, integer: bool) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            kind = "a whole number" if integer else "a number"
            self.report.add(_line(data, key), where, f"'{key}' must be {kind}")
            return None
        return value

    def _expression(self, data: LineDict, key: str, where: str) -> Expression | None:
        source = data.get(key)
        if source is None:
            return None
        if not isinstance(source, str):
            self.report.add(_line(data, key), where, f"'{key}' must be a condition written as text")
            return None
        try:
            return parse(source)
        except ExpressionError as error:
            self.report.add(_line(data, key), where, f"{key}: {error}")
            return None

    # -- form --------------------------------------------------------------------

    def build(self, data: object) -> model.Form | None:
        form_data = self._mapping(data, "form", 1)
        if form_data is None:
            return None
        self._unknown_keys(form_data, FORM_KEYS, "form")
        form_id = form_data.get("id")
        if not isinstance(form_id, str) or not FORM_ID.match(form_id):
            self.report.add(
                _line(form_data, "id"),
                "form",
                "'id' must be lower-case letters, digits and '-', starting with a letter",
            )
            form_id = ""
        elif form_id != self.path.stem:
            self.report.add(
                _line(form_data, "id"),
                "form",
                f"form id '{form_id}' must match the file name '{self.path.stem}.yaml'",
            )
        version = form_data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            self.report.add(_line(form_data, "version"), "form", "'version' must be a whole number, 1 or more")
            version = 0
        title = self._text(form_data, "title", "form", required=True)
        description = self._text(form_data, "description", "form")
        centre = form_data.get("centre", model.CENTRE_REQUIRED)
        if centre not in model.CENTRE_RULES:
            shown = " or ".join(f"'{rule}'" for rule in model.CENTRE_RULES)
            self.report.add(_line(form_data, "centre"), "form", f"'centre' must be {shown}")
            centre = model.CENTRE_REQUIRED
        self._choice_lists(form_data.get("choice_lists"), _line(form_data, "choice_lists"))
        sections = self._sections(form_data)
        form = model.Form(
            id=form_id,
            version=version,
            title=title,
            description=description,
            centre=centre,
            sections=tuple(sections),
            content_hash=content_hash(_plain(data)),
            path=self.path,
            choice_lists=dict(self.choice_lists),
        )
        checker = _FormChecker(self.report, form)
        checker.check()
        return checker.typed_form()

    def _choice_lists(self, data: object, line: int) -> None:
        if data is None:
            return
        lists = self._mapping(data, "choice_lists", line)
        if lists is None:
            return
        for name, choices in lists.items():
            where = f"choice list {name}"
            if not NAME.match(name):
                self.report.add(_line(lists, name), where, "choice list names use a-z, 0-9 and '_'")
            if not isinstance(choices, LineList) or not choices:
                self.report.add(_line(lists, name), where, "must be a non-empty list of choices")
                continue
            parsed: list[model.Choice] = []
            seen: set[str] = set()
            for index, raw in enumerate(choices):
                choice = self._choice(raw, where, choices.item_lines[index])
                if choice is None:
                    continue
                if choice.id in seen:
                    self.report.add(_line(raw), where, f"choice id '{choice.id}' is used twice")
                seen.add(choice.id)
                parsed.append(choice)
            self.choice_lists[name] = tuple(parsed)

    def _choice(self, raw: object, where: str, line: int) -> model.Choice | None:
        data = self._mapping(raw, where, line)
        if data is None:
            return None
        choice_id = data.get("id")
        if isinstance(choice_id, bool) or not isinstance(choice_id, str) or not NAME.match(choice_id):
            self.report.add(_line(data, "id"), where, f"choice id {choice_id!r} must use a-z, 0-9 and '_'")
            return None
        if choice_id in model.OFFERS:
            self.report.add(
                _line(data, "id"),
                where,
                f"choice id '{choice_id}' is reserved; use 'offer: [{choice_id}]' on the item",
            )
        label = self._text(data, "label", f"{where}/{choice_id}", required=True)
        note = self._text(data, "translator_note", where)
        return model.Choice(choice_id, label, note, self._choice_attributes(data, f"{where}/{choice_id}"))

    def _choice_attributes(self, data: LineDict, where: str) -> tuple[tuple[str, str], ...]:
        """A choice's other keys: attributes a choice_filter reads (the checker makes sure one does)."""
        found = []
        for key, value in data.items():
            if key in CHOICE_KEYS:
                continue
            if not isinstance(key, str) or not NAME.match(key):
                hint = ", ".join(sorted(CHOICE_KEYS))
                self.report.add(_line(data, key), where, f"unknown key {key!r} (allowed: {hint}, or an attribute name)")
            elif isinstance(value, bool) or not isinstance(value, str | int | float):
                self.report.add(_line(data, key), where, f"attribute '{key}' must be text or a number")
            else:
                found.append((key, str(value).strip()))
        return tuple(found)

    def _sections(self, form_data: LineDict) -> list[model.Section]:
        raw_sections = form_data.get("sections")
        if not isinstance(raw_sections, LineList) or not raw_sections:
            self.report.add(_line(form_data, "sections"), "form", "'sections' must be a non-empty list")
            return []
        sections = []
        for index, raw in enumerate(raw_sections):
            data = self._mapping(raw, f"section {index + 1}", raw_sections.item_lines[index])
            if data is None:
                continue
            section_id = data.get("id")
            where = f"section {section_id}" if isinstance(section_id, str) else f"section {index + 1}"
            self._unknown_keys(data, SECTION_KEYS, where)
            if not isinstance(section_id, str) or not NAME.match(section_id):
                self.report.add(_line(data, "id"), where, "section 'id' must use a-z, 0-9 and '_'")
                section_id = ""
            raw_items = data.get("items")
            items: list[model.Item] = []
            if not isinstance(raw_items, LineList) or not raw_items:
                self.report.add(_line(data, "items"), where, "'items' must be a non-empty list")
            else:
                for item_index, raw_item in enumerate(raw_items):
                    item = self._item(raw_item, raw_items.item_lines[item_index])
                    if item is not None:
                        items.append(item)
            sections.append(
                model.Section(
                    id=section_id,
                    title=self._text(data, "title", where, required=True),
                    topic=self._text(data, "topic", where),
                    heading=self._text(data, "heading", where),
                    items=tuple(items),
                    line=data.line,
                    relevant=self._expression(data, "relevant", where),
                )
            )
        return sections

    def _item(self, raw: object, line: int) -> model.Item | None:
        data = self._mapping(raw, "item", line)
        if data is None:
            return None
        item_id = data.get("id")
        if not isinstance(item_id, str) or not NAME.match(item_id):
            self.report.add(
                _line(data, "id"), "item", f"item id {item_id!r} must use a-z, 0-9 and '_', starting with a letter"
            )
            return None
        if item_id in RESERVED_NAMES:
            self.report.add(
                _line(data, "id"),
                f"item {item_id}",
                f"'{item_id}' is a word of the condition language; choose another id",
            )
        where = f"item {item_id}"
        self._unknown_keys(data, ITEM_KEYS, where)
        item_type = data.get("type")
        if item_type not in model.ITEM_TYPES:
            self.report.add(
                _line(data, "type"),
                where,
                f"unknown type {item_type!r} (one of: {', '.join(model.ITEM_TYPES)})",
            )
            return None
        for key in set(data) & set().union(*TYPE_KEYS.values()):
            if key == "script" and item_type != "consent":
                self.report.add(
                    _line(data, key),
                    where,
                    f"'script' is for consent items only, not {item_type} items; words to read aloud "
                    "before a question go in a note that starts with 'Read aloud:'",
                )
            elif key not in TYPE_KEYS.get(item_type, set()):
                self.report.add(_line(data, key), where, f"'{key}' does not apply to {item_type} items")
        choices, choice_list = self._item_choices(data, item_type, where)
        offer = self._offer(data, item_type, where)
        hidden = item_type in model.HIDDEN_TYPES
        if hidden:
            self._calculate_keys(data, where)
        item = model.Item(
            id=item_id,
            type=item_type,
            label=self._text(data, "label", where, required=not hidden),
            line=data.line,
            hint=self._text(data, "hint", where),
            required=self._flag(data, "required", where),
            relevant=self._expression(data, "relevant", where),
            constraint=self._expression(data, "constraint", where),
            constraint_message=self._text(data, "constraint_message", where),
            stop_if=self._expression(data, "stop_if", where),
            stop_note=self._text(data, "stop_note", where),
            choice_list=choice_list,
            choices=choices,
            offer=offer,
            tags=() if hidden and "tags" not in data else self._tags(data, where),
            source=self._text(data, "source", where),
            scoring=self._scoring(data, item_type, choices, where),
            sensitive=self._flag(data, "sensitive", where),
            translator_note=self._text(data, "translator_note", where),
            max_length=self._max_length(data, item_type, where),
            min=self._number(data, "min", where, integer=item_type == "integer"),
            max=self._number(data, "max", where, integer=item_type == "integer"),
            scale=self._scale(data, item_type, where),
            read_choices=self._flag(data, "read_choices", where) if "read_choices" in data else True,
            script=self._script(data, item_type, where),
            calculation=self._calculation(data, item_type, where),
            required_message=self._text(data, "required_message", where),
            choice_filter=self._expression(data, "choice_filter", where),
            appearance=self._appearance(data, item_type, where),
        )
        self._item_rules(data, item, where)
        if "default" in data and not hidden:  # on a calculate item, _calculate_keys has said so
            item = dataclasses.replace(item, default=self._default(data, item, where))
        return item

    def _calculate_keys(self, data: LineDict, where: str) -> None:
        for key in data:
            if key in ITEM_KEYS and key not in CALCULATE_KEYS:
                self.report.add(
                    _line(data, key), where, f"a calculate item is never shown nor asked, so '{key}' does not apply"
                )

    def _calculation(self, data: LineDict, item_type: str, where: str) -> ex.Expression | None:
        if item_type != "calculate":
            return None  # on another type, the type-keys check has said so
        if "calculation" not in data:
            self.report.add(_line(data), where, "a calculate item needs a 'calculation': what it works out")
            return None
        return self._expression(data, "calculation", where)

    def _default(self, data: LineDict, item: model.Item, where: str) -> object:
        """The item's starting answer, as it will be stored; None (and a problem) when it cannot be one."""
        line = _line(data, "default")
        if not item.takes_answer or item.type == "consent":
            why = "consent must be asked, never assumed" if item.type == "consent" else "it takes no answer"
            self.report.add(line, where, f"a {item.type} item cannot have a 'default': {why}")
            return None
        raw = data["default"]
        if item.type == "time" and isinstance(raw, int) and not isinstance(raw, bool):
            # YAML reads 14:30 as a number (minutes in base 60): only quotes keep it a time.
            self.report.add(line, where, "'default': write a time in quotes, such as '14:30'")
            return None
        text = _default_text(raw)
        if text is None:
            self.report.add(line, where, f"'default' must be one answer of this {item.type} item, not {raw!r}")
            return None
        try:
            value = parse_answer(item, text)
        except AnswerError as error:
            self.report.add(line, where, f"'default' {raw!r}: {error}")
            return None
        problem = value_problem(item, value) if value is not None else None
        if problem is not None:
            self.report.add(line, where, f"'default' {raw!r}: {problem}")
            return None
        return value

    def _item_choices(self, data: LineDict, item_type: str, where: str) -> tuple[tuple[model.Choice, ...], str | None]:
        if item_type == "yes_no":
            return model.YES_NO_CHOICES, None
        if item_type == "consent":
            return model.CONSENT_CHOICES, None
        if item_type not in ("select_one", "select_multiple"):
            return (), None
        name = data.get("choices")
        if not isinstance(name, str):
            self.report.add(_line(data, "choices"), where, "'choices' must name a list from 'choice_lists'")
            return (), None
        if name not in self.choice_lists:
            known = ", ".join(sorted(self.choice_lists)) or "none defined"
            self.report.add(_line(data, "choices"), where, f"choice list '{name}' does not exist (known: {known})")
            return (), None
        return self.choice_lists[name], name

    def _appearance(self, data: LineDict, item_type: str, where: str) -> tuple[str, ...]:
        """The item's appearance words; a known word on a type it cannot change is an error."""
        raw = data.get("appearance")
        if raw is None:
            return ()
        if not isinstance(raw, str) or not raw.split():
            self.report.add(_line(data, "appearance"), where, "'appearance' must be words such as 'minimal'")
            return ()
        words = tuple(dict.fromkeys(raw.split()))
        for word in words:
            types = model.APPEARANCES.get(word)
            if types is not None and item_type not in types:
                self.report.add(
                    _line(data, "appearance"),
                    where,
                    f"appearance '{word}' applies to {', '.join(types)} items, not to {item_type} items",
                )
        if {"minimal", "horizontal"} <= set(words):
            self.report.add(
                _line(data, "appearance"),
                where,
                "appearance: choose 'minimal' (a drop-down list) or 'horizontal' (answers side by side), not both",
            )
        return words

    def _offer(self, data: LineDict, item_type: str, where: str) -> tuple[str, ...]:
        raw = data.get("offer")
        if raw is None:
            return ()
        if not isinstance(raw, list) or any(value not in model.OFFERS for value in raw):
            self.report.add(_line(data, "offer"), where, "'offer' must be a list of: prefer_not, dont_know")
            return ()
        if item_type in ("note", "consent"):
            self.report.add(_line(data, "offer"), where, f"a {item_type} item cannot offer extra answers")
            return ()
        return tuple(value for value in model.OFFERS if value in raw)

    def _tags(self, data: LineDict, where: str) -> tuple[str, ...]:
        raw = data.get("tags")
        if raw is None:
            self.report.add(_line(data), where, f"'tags' is missing: every item needs one of {', '.join(model.TAGS)}")
            return ()
        if not isinstance(raw, list) or not raw:
            self.report.add(_line(data, "tags"), where, "'tags' must be a non-empty list")
            return ()
        tags = []
        for tag in raw:
            if tag not in model.TAGS:
                self.report.add(_line(data, "tags"), where, f"unknown tag {tag!r} (one of: {', '.join(model.TAGS)})")
            elif tag not in tags:
                tags.append(tag)
        return tuple(tags)

    def _max_length(self, data: LineDict, item_type: str, where: str) -> int | None:
        if item_type != "text":
            return None
        value = self._number(data, "max_length", where, integer=True)
        if value is None:
            return model.TEXT_MAX_LENGTH_DEFAULT
        if not 1 <= value <= model.TEXT_MAX_LENGTH_LIMIT:
            self.report.add(
                _line(data, "max_length"), where, f"'max_length' must be 1 to {model.TEXT_MAX_LENGTH_LIMIT}"
            )
            return model.TEXT_MAX_LENGTH_DEFAULT
        return int(value)

    def _scale(self, data: LineDict, item_type: str, where: str) -> str | None:
        if item_type != "likert":
            return None
        scale: str = data.get("scale", "agreement")
        if scale not in model.LIKERT_SCALES:
            self.report.add(_line(data, "scale"), where, f"'scale' must be one of: {', '.join(model.LIKERT_SCALES)}")
            return "agreement"
        return scale

    def _script(self, data: LineDict, item_type: str, where: str) -> str:
        if item_type != "consent" or "script" not in data:
            return ""  # on another type, the type-keys check above has said so
        script = self._text(data, "script", where, required=True)
        line = _line(data, "script")
        placeholders = _SCRIPT_PLACEHOLDER.findall(script)
        allowed = ", ".join(f"{{{name}}}" for name in model.SCRIPT_PLACEHOLDERS)
        for name in sorted(set(placeholders) - set(model.SCRIPT_PLACEHOLDERS)):
            self.report.add(
                line,
                where,
                f"'script' has the placeholder {{{name}}}, which the kit cannot fill in (allowed: {allowed})",
            )
        for name in model.SCRIPT_PLACEHOLDERS:
            if placeholders.count(name) > 1:
                self.report.add(line, where, f"'script' has {{{name}}} {placeholders.count(name)} times; once at most")
        if set("{}") & set(_SCRIPT_PLACEHOLDER.sub("", script)):
            self.report.add(line, where, f"'script' has a '{{' or '}}' that is not a placeholder (allowed: {allowed})")
        return script

    def _scoring(
        self, data: LineDict, item_type: str, choices: tuple[model.Choice, ...], where: str
    ) -> tuple[model.ScoringRule, ...]:
        raw = data.get("scoring")
        if raw is None:
            return ()
        scoring = self._mapping(raw, where, _line(data, "scoring"))
        if scoring is None:
            return ()
        rules = []
        valid_values: set[object] = (
            set(model.LIKERT_VALUES) if item_type == "likert" else {choice.id for choice in choices}
        )
        claimed: dict[object, str] = {}
        for level, spec in scoring.items():
            line = _line(scoring, level)
            if level not in model.LEVELS:
                self.report.add(line, where, f"unknown scoring level '{level}' (one of: {', '.join(model.LEVELS)})")
                continue
            if isinstance(spec, str):
                expression = self._expression(scoring, level, where)
                if expression is not None:
                    rules.append(model.ScoringRule(level, condition=expression))
                continue
            if not isinstance(spec, list) or not spec:
                self.report.add(line, where, f"scoring '{level}' must be a list of answers or a condition")
                continue
            if item_type not in VALUE_SCORED_TYPES:
                self.report.add(line, where, f"a {item_type} item is scored with a condition, not a list of answers")
                continue
            values = {_normalise_yaml_answer(value) for value in spec}
            for value in sorted(values, key=str):
                if value not in valid_values:
                    self.report.add(
                        line, where, f"scoring '{level}' names {value!r}, which is not an answer of this item"
                    )
                elif value in claimed:
                    self.report.add(line, where, f"answer {value!r} is scored as both '{claimed[value]}' and '{level}'")
                else:
                    claimed[value] = level
            rules.append(model.ScoringRule(level, values=frozenset(values)))
        order = {level: index for index, level in enumerate(model.LEVELS)}
        return tuple(sorted(rules, key=lambda rule: order[rule.level]))

    def _item_rules(self, data: LineDict, item: model.Item, where: str) -> None:
        if "required_message" in data and (not item.required or item.type == "consent"):
            why = "consent has its own message" if item.type == "consent" else "add 'required: true'"
            self.report.add(
                _line(data, "required_message"),
                where,
                f"a 'required_message' is shown only when a required question is left blank; {why}",
            )
        if item.constraint is not None and not item.constraint_message:
            self.report.add(_line(data, "constraint"), where, "a 'constraint' needs a 'constraint_message'")
        if "stop_if" in data and "stop_note" not in data:
            self.report.add(
                _line(data, "stop_if"),
                where,
                "a 'stop_if' needs a 'stop_note': the words read when the interview stops",
            )
        if "stop_note" in data and "stop_if" not in data:
            self.report.add(_line(data, "stop_note"), where, "a 'stop_note' is read only with a 'stop_if'; add one")
        if "stop_if" in data and item.type not in model.STOP_TYPES:
            self.report.add(
                _line(data, "stop_if"),
                where,
                f"'stop_if' does not apply to {item.type} items: only a {' or '.join(model.STOP_TYPES)} answer "
                "can stop an interview (a stop is counted by its answer, so it must be one choice)"
                + ("; consent has its own stop: 'declined'" if item.type == "consent" else ""),
            )
        if item.type == "note":
            for key in ("required", "constraint", "scoring"):
                if key in data:
                    self.report.add(_line(data, key), where, f"a note takes no answer, so '{key}' does not apply")
        if item.min is not None and item.max is not None and item.min > item.max:
            self.report.add(_line(data, "min"), where, "'min' is larger than 'max'")
        if item.scoring and not item.principles():
            self.report.add(
                _line(data, "scoring"),
                where,
                "a scored item needs a principle (P1-P7), harm_reduction or rights tag",
            )


def _default_text(raw: object) -> str | list[str] | None:
    """A default as the phone would send it (text, or several for multiple choice); None if it cannot be."""
    raw = _normalise_yaml_answer(raw)
    if isinstance(raw, datetime.datetime):
        return raw.isoformat(timespec="minutes")
    if isinstance(raw, datetime.date | int | float):
        return raw.isoformat() if isinstance(raw, datetime.date) else str(raw)
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(value, str) for value in raw):
        return list(raw)
    return None


def appearance_warnings(form: model.Form, display: str) -> list[Problem]:
    """Appearance words the kit does not render: a warning each, since the question still works."""
    known = ", ".join(model.APPEARANCES)
    return [
        Problem(
            display,
            item.line,
            f"item {item.id}",
            f"warning: appearance '{word}' changes nothing in fieldkit (it renders: {known}); "
            "the question is shown as usual",
        )
        for item in form.items
        for word in item.unknown_appearances
    ]


def _normalise_yaml_answer(value: object) -> object:
    # YAML 1.1 reads a bare yes/no as a boolean; authors mean the answer ids.
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return value


def _plain(data: object) -> object:
    if isinstance(data, dict):
        return {str(key): _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(value) for value in data]
    return data


class _FormChecker:
    """Checks that need the whole form: unique ids, conditions' types and references, cycles."""

    def __init__(self, report: _Reporter, form: model.Form) -> None:
        self.report = report
        self.form = form
        self.items: dict[str, model.Item] = {}
        for item in form.items:
            if item.id in self.items:
                self.report.add(item.line, f"item {item.id}", f"item id '{item.id}' is used twice")
            self.items.setdefault(item.id, item)
        self.order = {item.id: index for index, item in reversed(list(enumerate(form.items)))}
        self._type_calculations()

    def typed_form(self) -> model.Form:
        """The form with each calculate item's value type, as the checks found it."""
        sections = tuple(
            dataclasses.replace(
                section,
                items=tuple(
                    self.items.get(item.id, item) if item.type == "calculate" else item for item in section.items
                ),
            )
            for section in self.form.sections
        )
        return dataclasses.replace(self.form, sections=sections)

    def _earlier_only(self, item: model.Item, names: Iterable[str], what: str) -> list[str]:
        """Problems with ``names`` that ``item``'s ``what`` uses: each must be an earlier item with a value."""
        problems = []
        for name in sorted(names):
            if name == SELF:
                continue
            if name not in self.items:
                problems.append(f"{what}: unknown item '{name}'{ex.did_you_mean(name, self.items)}")
            elif self.items[name].type == "note":
                problems.append(f"{what}: '{name}' is a note and has no answer")
            elif self.order[name] >= self.order[item.id]:
                problems.append(
                    f"{what}: '{name}' is not asked before this item; only an earlier item's value can be used"
                )
        return problems

    def _type_calculations(self) -> None:
        """Find each calculation's value type, in form order: a calculation uses only earlier items."""
        for item in self.form.items:
            if item.type != "calculate" or item.calculation is None or self.items.get(item.id) is not item:
                continue
            where = f"item {item.id}"
            problems = self._earlier_only(item, item.calculation.references(), "calculation")
            for problem in problems:
                self.report.add(item.line, where, problem)
            if problems:
                continue
            try:
                kind = item.calculation.check(self._types(), choices=self._choices(), expect=None)
            except ExpressionError as error:
                self.report.add(item.line, where, f"calculation: {error}")
                continue
            if kind not in CALCULATION_TYPES:
                why = "a calculation gives one value, not a list of them"
                self.report.add(item.line, where, f"calculation: gives {kind.value}; {why}")
                continue
            self.items[item.id] = dataclasses.replace(item, calculation_type=kind)

    def check(self) -> None:
        seen_sections: set[str] = set()
        for section in self.form.sections:
            if section.id in seen_sections:
                self.report.add(section.line, f"section {section.id}", f"section id '{section.id}' is used twice")
            seen_sections.add(section.id)
            if section.relevant is not None:
                self._check_expression(section.relevant, f"section {section.id}", section.line, "relevant")
                # Consent must always be asked: no condition may skip the page that asks it.
                for item in section.items:
                    if item.type == "consent":
                        self.report.add(
                            section.line,
                            f"section {section.id}",
                            f"'relevant' cannot skip this section: it holds the consent item '{item.id}', "
                            "and consent must always be asked",
                        )
        types = self._types()
        choices = self._choices()
        for item in self.form.items:
            where = f"item {item.id}"
            for what, text in (("label", item.label), ("hint", item.hint)):
                names = LABEL_REFERENCE.findall(text)
                for problem in self._earlier_only(item, names, f"{what} ${{...}}"):
                    self.report.add(item.line, where, problem)
            if item.relevant is not None:
                self._check_expression(item.relevant, where, item.line, "relevant", types, choices)
                if item.type == "consent":
                    self.report.add(
                        item.line, where, "a consent item cannot have 'relevant': consent must always be asked"
                    )
            if item.stop_if is not None and item.type in model.STOP_TYPES and item.value_type is not None:
                self._check_expression(
                    item.stop_if,
                    where,
                    item.line,
                    "stop_if",
                    {**types, SELF: item.value_type},
                    {**choices, SELF: choices.get(item.id, frozenset())},
                )
            conditions = [("constraint", item.constraint)]
            conditions += [(f"scoring {rule.level}", rule.condition) for rule in item.scoring]
            for name, expression in conditions:
                if expression is None:
                    continue
                if item.value_type is None:
                    self.report.add(item.line, where, f"{name}: a {item.type} item has no answer to check")
                    continue
                self._check_expression(
                    expression,
                    where,
                    item.line,
                    name,
                    {**types, SELF: item.value_type},
                    {**choices, SELF: choices.get(item.id, frozenset())},
                )
            if item.choice_filter is not None:
                self._check_choice_filter(item, types, choices)
        self._check_attributes_read()
        self._check_stops_after_consent()
        self._check_cycles()

    def _check_choice_filter(
        self, item: model.Item, types: Mapping[str, ValueType], choices: Mapping[str, frozenset[str]]
    ) -> None:
        assert item.choice_filter is not None
        where = f"item {item.id}"
        if item.id in item.choice_filter.references():
            self.report.add(item.line, where, "choice_filter: it cannot read this item's own answer")
            return
        attributes = frozenset(key for choice in item.choices for key, _value in choice.attributes)
        self._check_expression(item.choice_filter, where, item.line, "choice_filter", types, choices, attributes)

    def _check_attributes_read(self) -> None:
        """Every choice attribute is read by a choice_filter: one that is not is most likely a misspelt key."""
        read: dict[str, set[str]] = {}
        for item in self.form.items:
            if item.choice_filter is not None and item.choice_list is not None:
                names = read.setdefault(item.choice_list, set())
                names.update(item.choice_filter.attributes())
        for name, listed in self.form.choice_lists.items():
            unread = sorted({key for choice in listed for key, _value in choice.attributes} - read.get(name, set()))
            for key in unread:
                self.report.add(
                    0,
                    f"choice list {name}",
                    f"unknown key '{key}' (allowed: {', '.join(sorted(CHOICE_KEYS))}; other keys are attributes, "
                    f"and no item's choice_filter reads choice('{key}'))",
                )

    def _check_stops_after_consent(self) -> None:
        """A stop rule may only follow the consent question: nothing is asked before consent."""
        order = [item.id for item in self.form.items]
        consent = next((index for index, item in enumerate(self.form.items) if item.type == "consent"), None)
        if consent is None:
            return
        for index, item in enumerate(self.form.items):
            if item.stop_if is not None and index < consent:
                self.report.add(
                    item.line,
                    f"item {item.id}",
                    f"stop_if: this item comes before the consent item '{order[consent]}'; "
                    "a question that can stop the interview must be asked after consent",
                )

    def _types(self) -> dict[str, ValueType]:
        return {item_id: item.value_type for item_id, item in self.items.items() if item.value_type}

    def _choices(self) -> dict[str, frozenset[str]]:
        return {item_id: frozenset(item.choice_ids()) for item_id, item in self.items.items() if item.choices}

    def _check_expression(
        self,
        expression: Expression,
        where: str,
        line: int,
        name: str,
        types: Mapping[str, ValueType] | None = None,
        choices: Mapping[str, frozenset[str]] | None = None,
        attributes: frozenset[str] | None = None,
    ) -> None:
        if types is None:
            types, choices = self._types(), self._choices()
        for reference in expression.references():
            if reference in self.items and self.items[reference].type == "note":
                self.report.add(line, where, f"{name}: '{reference}' is a note and has no answer")
                return
        try:
            expression.check(types, choices=choices or {}, attributes=attributes)
        except ExpressionError as error:
            self.report.add(line, where, f"{name}: {error}")

    def _check_cycles(self) -> None:
        depends: dict[str, set[str]] = {}
        for section in self.form.sections:
            section_refs = set(section.relevant.references()) if section.relevant else set()
            for item in section.items:
                refs = set(item.relevant.references()) if item.relevant else set()
                if item.calculation is not None:  # a calculated value depends on what it uses
                    refs |= item.calculation.references()
                depends[item.id] = (refs | section_refs) & set(self.items)
        for cycle in _find_cycles(depends):
            item = self.items[cycle[0]]
            self.report.add(
                item.line,
                f"item {item.id}",
                "relevant: conditions depend on each other in a circle: " + " -> ".join(cycle),
            )


def _find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Each cycle once, as a path that returns to its start (depth-first, iterative)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    cycles: list[list[str]] = []
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph.get(start, ()))))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                cycles.append([*path[path.index(child) :], child])
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return cycles
