"""What one record contributes to the scorecards: item levels per area, red flags, sources.

A record is read once, while its plaintext is in memory, and reduced here to
:class:`RecordFacts`: the centre and region codes, the QualityRights level of each
scored answer (grouped by area), which red-flag questions were answered "yes", and
which sources a centre visit used. Free text, dates, interviewer and kit codes are
never kept, so nothing that could point at a person reaches the report.

An item's level is the first of its scoring rules, in the order of ``LEVELS``,
that the answer meets: a listed answer value, or a condition evaluated with the
record's answers (``.`` being this answer). Unanswered items, "prefer not to
answer", "don't know" and answers no rule names give no level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldkit.core.formengine.answers import expression_answers, expression_value
from fieldkit.core.formengine.codes import CENTRE_CODE_ITEM, REGION_CODE_ITEM, canonical_code
from fieldkit.core.formengine.expressions import SELF, ExpressionError
from fieldkit.core.formengine.model import LEVELS, OFFERS, RATED_TAGS, Form, Item

__all__ = [
    "CENTRE_FORMS",
    "RecordFacts",
    "facts_of",
    "item_level",
    "normalise_code",
    "red_flag_items",
]

# Forms that describe a centre (observation, documents, staff): their counts are not
# about people. Every other form is taken to be an interview with a person, whose
# answers are published only in groups of at least the threshold.
CENTRE_FORMS = frozenset({"centre-assessment"})

# The centre assessment's "which sources did you use" questions (choices: visit_source).
VISIT_SOURCES_ITEM = "visit_sources"
RED_FLAG_SOURCES_ITEM = "rf_sources"
KNOWN_SOURCES = ("observation", "documents", "staff_talk")

_LEVEL_ORDER = {level: index for index, level in enumerate(LEVELS)}


def normalise_code(value: Any) -> str | None:
    """A centre or region code as typed, made comparable: NFKC without invisible characters
    (:func:`~fieldkit.core.formengine.codes.canonical_code`), upper case."""
    if not isinstance(value, str) or value in OFFERS:
        return None
    code = canonical_code(value).upper()
    return code or None


def red_flag_items(form: Form) -> tuple[Item, ...]:
    """The form's human-rights red-flag questions: sensitive yes/no items tagged ``rights``."""
    return tuple(item for item in form.items if item.is_red_flag)


def item_level(item: Item, answer: Any, values: Mapping[str, Any]) -> str | None:
    """The QualityRights level of one answer, or None when it gives none.

    ``values`` are the record's answers as conditions see them
    (:func:`fieldkit.core.formengine.answers.expression_answers`).
    """
    if answer is None or isinstance(answer, bool) or (isinstance(answer, str) and answer in OFFERS):
        return None
    seen = expression_value(item, answer)
    for rule in sorted(item.scoring, key=lambda rule: _LEVEL_ORDER[rule.level]):
        if rule.condition is not None:
            try:
                met = rule.condition.evaluate({**values, item.id: seen, SELF: seen}) is True
            except ExpressionError:
                met = False  # an answer of the wrong kind (a tampered record) scores nothing
            if met:
                return rule.level
        elif isinstance(answer, (str, int)) and answer in rule.values:
            return rule.level
    return None


@dataclass(frozen=True)
class RecordFacts:
    """What a report may keep of one record."""

    form_id: str
    about_people: bool  # an interview with a person (suppressed), not a centre description
    centre: str | None
    region: str | None
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # area -> levels of its answers
    red_flags: frozenset[str] = frozenset()  # ids of red-flag items answered "yes"
    sources: frozenset[str] = frozenset()  # visit sources of a centre assessment
    red_flag_sources: frozenset[str] = frozenset()


def _ticked(answers: Mapping[str, Any], item_id: str) -> frozenset[str]:
    value = answers.get(item_id)
    if not isinstance(value, list):
        return frozenset()
    return frozenset(choice for choice in value if choice in KNOWN_SOURCES)


def facts_of(form: Form, answers: Mapping[str, Any]) -> RecordFacts:
    """Reduce one record's answers (made with exactly ``form``) to what the report uses."""
    values = expression_answers(form, answers)
    levels: dict[str, list[str]] = {}
    for item in form.items:
        if not item.scoring:
            continue
        level = item_level(item, answers.get(item.id), values)
        if level is None:
            continue
        for area in item.tags:
            if area in RATED_TAGS:
                levels.setdefault(area, []).append(level)
    flags = frozenset(item.id for item in red_flag_items(form) if answers.get(item.id) == "yes")
    about_people = form.id not in CENTRE_FORMS
    return RecordFacts(
        form_id=form.id,
        about_people=about_people,
        centre=normalise_code(answers.get(CENTRE_CODE_ITEM)),
        region=None if about_people else normalise_code(answers.get(REGION_CODE_ITEM)),
        levels={area: tuple(found) for area, found in levels.items()},
        red_flags=flags,
        sources=frozenset() if about_people else _ticked(answers, VISIT_SOURCES_ITEM),
        red_flag_sources=frozenset() if about_people else _ticked(answers, RED_FLAG_SOURCES_ITEM),
    )
