"""Stage 0 of the report, for one record: what it contributes (item levels per area, red flags, sources).

A record is read once, while its plaintext is in memory, and reduced here to
:class:`RecordFacts`: the centre and region codes (the payload's ``centre``, or the
typed answers of older records), the QualityRights level of each
scored answer (grouped by area), which red-flag questions were answered "yes", and
which sources a centre visit used. Free text, dates, interviewer and kit codes are
never kept, so nothing that could point at a person reaches the report.

An item's level is the first of its scoring rules, in the order of ``LEVELS``,
that the answer meets: a listed answer value, or a condition evaluated with the
record's answers (``.`` being this answer). Unanswered items, "prefer not to
answer", "don't know" and answers no rule names give no level.

Records made with another version of a form (or another definition of the same
version) are read with the shipped definition, item by item id: an answer counts
only if it is a valid answer to the shipped item of that id, so an item that was
removed, or whose answers changed kind, gives nothing rather than a wrong level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fieldkit.core.formengine.answers import check_answer, expression_answers, expression_value
from fieldkit.core.formengine.codes import CENTRE_CODE_ITEM, REGION_CODE_ITEM, canonical_code
from fieldkit.core.formengine.expressions import SELF, ExpressionError
from fieldkit.core.formengine.model import DONT_KNOW, LEVELS, OFFERS, PREFER_NOT, RATED_TAGS, Form, Item
from sync.protocol.sealed_record import record_place

__all__ = [
    "CENTRE_FORMS",
    "RecordFacts",
    "answers_by_item_id",
    "cycle_of",
    "facts_of",
    "harm_reduction_items",
    "item_level",
    "normalise_code",
    "place_of",
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

# The centre assessment's section asking where each harm-reduction service can be had.
HARM_REDUCTION_SECTION = "harm_reduction"
# The answers of a "where can people get this service" question (choice lists hr_offer, hr_offer_legal).
SERVICE_ANSWERS = frozenset({"on_site", "by_referral", "not_offered", "not_legal"})

_LEVEL_ORDER = {level: index for index, level in enumerate(LEVELS)}


def normalise_code(value: Any) -> str | None:
    """A centre or region code as typed, made comparable: NFKC without invisible characters
    (:func:`~fieldkit.core.formengine.codes.canonical_code`), upper case."""
    if not isinstance(value, str) or value in OFFERS:
        return None
    code = canonical_code(value).upper()
    return code or None


def place_of(payload: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The centre and region codes a record is about.

    Records of kits with a centre list carry them in the payload's ``centre``
    (``{"code", "region"}``, picked from the form pack's list). Older records, and
    records of form versions that asked for them, have them as typed answers
    (``centre_code``, and ``region_code`` in the centre assessment). Both are made
    comparable with :func:`normalise_code`.
    """
    place = record_place(payload)
    if place.centre_named:
        return normalise_code(place.centre), normalise_code(place.region)
    answers = payload.get("answers")
    if not isinstance(answers, Mapping):
        return None, None
    return normalise_code(answers.get(CENTRE_CODE_ITEM)), normalise_code(answers.get(REGION_CODE_ITEM))


def cycle_of(payload: Mapping[str, Any]) -> str | None:
    """The assessment cycle a record was made in (its payload's ``cycle``); None for older records."""
    return record_place(payload).cycle


def red_flag_items(form: Form) -> tuple[Item, ...]:
    """The form's human-rights red-flag questions: sensitive yes/no items tagged ``rights``."""
    return tuple(item for item in form.items if item.is_red_flag)


def harm_reduction_items(form: Form) -> tuple[Item, ...]:
    """The harm-reduction services a centre form asks about: its "where can people get ..." questions."""
    if form.id not in CENTRE_FORMS:
        return ()
    return tuple(
        item
        for section in form.sections
        if section.id == HARM_REDUCTION_SECTION
        for item in section.items
        if item.type == "select_one" and item.choices and set(item.choice_ids()) <= SERVICE_ANSWERS
    )


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
    denials: frozenset[str] = frozenset()  # ids of red-flag items answered "no"
    sources: frozenset[str] = frozenset()  # visit sources of a centre assessment
    red_flag_sources: frozenset[str] = frozenset()
    answered: int = 0  # questions answered, for the data-quality figures (counts only)
    prefer_not: int = 0  # of those, "prefer not to answer"
    dont_know: int = 0  # of those, "don't know"
    services: Mapping[str, str] = field(default_factory=dict)  # harm-reduction item -> answer (centre forms)


def _ticked(answers: Mapping[str, Any], item_id: str) -> frozenset[str]:
    value = answers.get(item_id)
    if not isinstance(value, list):
        return frozenset()
    return frozenset(choice for choice in value if choice in KNOWN_SOURCES)


def answers_by_item_id(form: Form, answers: Mapping[str, Any]) -> dict[str, Any]:
    """The answers of a record made with another version of ``form`` that fit its items."""
    kept: dict[str, Any] = {}
    for item in form.items:
        if not item.takes_answer or item.id not in answers:
            continue
        value = answers[item.id]
        try:
            fits = check_answer(form, item, value, answers) is None
        except (TypeError, ValueError, AttributeError):
            fits = False  # not an answer of this item's kind
        if fits:
            kept[item.id] = value
    return kept


def facts_of(
    form: Form,
    answers: Mapping[str, Any],
    *,
    same_definition: bool = True,
    place: tuple[str | None, str | None] | None = None,
) -> RecordFacts:
    """Reduce one record's answers to what the report uses.

    ``same_definition`` says the record was made with exactly ``form``; otherwise its
    answers are matched to ``form``'s items by id first (module docstring). ``place``
    is the record's centre and region (:func:`place_of`); without it they are read
    from the answers, as records made before the centre list carried them.
    """
    centre, region = place if place is not None else place_of({"answers": answers})
    if not same_definition:
        answers = answers_by_item_id(form, answers)
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
    asked = red_flag_items(form)
    flags = frozenset(item.id for item in asked if answers.get(item.id) == "yes")
    denials = frozenset(item.id for item in asked if answers.get(item.id) == "no")
    about_people = form.id not in CENTRE_FORMS
    given = [answers[item.id] for item in form.items if item.takes_answer and answers.get(item.id) is not None]
    services = {
        item.id: answers[item.id]
        for item in harm_reduction_items(form)
        if isinstance(answers.get(item.id), str) and answers[item.id] in item.choice_ids()
    }
    return RecordFacts(
        form_id=form.id,
        about_people=about_people,
        centre=centre,
        region=region,
        levels={area: tuple(found) for area, found in levels.items()},
        red_flags=flags,
        denials=denials,
        sources=frozenset() if about_people else _ticked(answers, VISIT_SOURCES_ITEM),
        red_flag_sources=frozenset() if about_people else _ticked(answers, RED_FLAG_SOURCES_ITEM),
        answered=len(given),
        prefer_not=sum(1 for value in given if value == PREFER_NOT),
        dont_know=sum(1 for value in given if value == DONT_KNOW),
        services=services,
    )
