"""Answers: from what a phone sends, to typed values checked against the form.

Answers are kept as JSON-friendly values: ``int`` for integer and likert items,
``float`` for decimals, ``"YYYY-MM-DD"`` for dates, a choice id for single choices,
a sorted list of choice ids for multiple choices, and ``"prefer_not"`` or
``"dont_know"`` where the item offers them. The server checks every answer here,
whatever the browser did, so skip logic and constraints hold with JavaScript off
and against a hostile client.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fieldkit.core.formengine.codes import CODE_ITEM_IDS, canonical_code
from fieldkit.core.formengine.expressions import SELF, ExpressionError, ValueType
from fieldkit.core.formengine.labels import N_, N_plural
from fieldkit.core.formengine.messages import Message
from fieldkit.core.formengine.model import CONSENT_GIVEN, DONT_KNOW, OFFERS, PREFER_NOT, Choice, Form, Item
from fieldkit.core.formengine.wording import item_context

Answers = Mapping[str, Any]


class AnswerError(ValueError):
    """An answer that does not fit its item.

    ``message`` is what to tell the interviewer, translated by the page that shows it;
    ``str()`` is its English text, safe for a log (it never holds the answer).
    """

    def __init__(self, message: Message | str) -> None:
        self.message = message if isinstance(message, Message) else Message(message)
        super().__init__(str(self.message))


def _say(text: str, **params: object) -> Message:
    return Message(text, params)


def parse_answer(item: Item, raw: str | Sequence[str] | None) -> Any:
    """Turn submitted text (or several values for multiple choice) into a typed answer.

    Returns ``None`` for "no answer". Raises :class:`AnswerError` with a message for the
    interviewer when the text cannot be an answer to this item.
    """
    if isinstance(raw, str) and item.id in CODE_ITEM_IDS:
        raw = canonical_code(raw)  # one centre, one code: see fieldkit.core.formengine.codes
    if isinstance(raw, str | type(None)):
        values = [] if raw is None or raw.strip() == "" else [raw.strip()]
    else:
        values = [value.strip() for value in raw if isinstance(value, str) and value.strip()]
    if not values:
        return None
    special = [value for value in values if value in OFFERS]
    if special:
        if len(values) > 1 or special[0] not in item.offer:
            raise AnswerError(_say(N_("Choose either an answer or one of the other options, not both.")))
        return special[0]
    if item.type == "select_multiple":
        return _check_choices(item, values)
    if len(values) > 1:
        raise AnswerError(_say(N_("Give one answer only.")))
    return _convert(item, values[0])


def _convert(item: Item, text: str) -> Any:
    if item.type == "text":
        return text
    if item.type == "integer":
        try:
            return int(text, 10)
        except ValueError:
            raise AnswerError(_say(N_("Enter a whole number, such as 12."))) from None
    if item.type == "decimal":
        try:
            number = float(text.replace(",", "."))
        except ValueError:
            raise AnswerError(_say(N_("Enter a number, such as 2.5."))) from None
        if not math.isfinite(number):
            raise AnswerError(_say(N_("Enter a number, such as 2.5.")))
        return number
    if item.type == "likert":
        if text not in {"1", "2", "3", "4", "5"}:
            raise AnswerError(_say(N_("Choose one of the five answers.")))
        return int(text)
    if item.type == "date":
        try:
            return datetime.date.fromisoformat(text).isoformat()
        except ValueError:
            raise AnswerError(_say(N_("Enter a date as year-month-day, such as 2026-03-31."))) from None
    if item.type in ("time", "datetime"):
        value = clock_text(item.type, text)
        if value is None:
            raise AnswerError(_clock_message(item.type))
        return value
    if item.type in ("select_one", "yes_no", "consent"):
        if text not in item.choice_ids():
            raise AnswerError(_say(N_("Choose one of the answers shown.")))
        return text
    raise AnswerError(_say(N_("This item takes no answer.")))


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"(?P<hour>[01][0-9]|2[0-3]):(?P<minute>[0-5][0-9])(?::(?P<second>[0-5][0-9]))?")


def clock_text(kind: str, text: str) -> str | None:
    """A time ("14:30") or a local date and time ("2026-03-31T14:30") as stored; None when it is not one.

    Seconds are kept only when they are not zero, so that a browser that sends "14:30:00"
    stores what one that sends "14:30" does. A date and time may be typed with a space
    (a phone without the picker); it is stored with ISO's "T". No time zone: the time is
    the interview's local one.
    """
    if kind == "datetime":
        day, _, clock = text.replace(" ", "T", 1).partition("T")
        if not _DAY.fullmatch(day):
            return None
        try:
            datetime.date.fromisoformat(day)
        except ValueError:
            return None
        time = clock_text("time", clock)
        return None if time is None else f"{day}T{time}"
    match = _TIME.fullmatch(text)
    if match is None:
        return None
    second = match["second"]
    return f"{match['hour']}:{match['minute']}" + (f":{second}" if second and second != "00" else "")


def _clock_message(kind: str) -> Message:
    if kind == "time":
        return _say(N_("Enter a time as hours:minutes, such as 14:30."))
    return _say(N_("Enter a date and time as year-month-day hours:minutes, such as 2026-03-31 14:30."))


def _check_choices(item: Item, values: Sequence[str]) -> list[str]:
    allowed = item.choice_ids()
    if any(value not in allowed for value in values):
        raise AnswerError(_say(N_("Choose from the answers shown.")))
    return sorted(set(values), key=allowed.index)


def expression_value(item: Item, value: Any) -> Any:
    """The value an expression sees: special answers count as unanswered, dates as dates."""
    if value is None or value in OFFERS:
        return None
    if (item.type == "date" or item.value_type is ValueType.DATE) and isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return None
    if item.type == "select_multiple" and isinstance(value, list):
        return frozenset(value)
    return value


def expression_answers(form: Form, answers: Answers) -> dict[str, Any]:
    return {item.id: expression_value(item, answers.get(item.id)) for item in form.items if item.stores_value}


def with_calculations(form: Form, answers: Answers, *, today: datetime.date | None = None) -> dict[str, Any]:
    """``answers`` with every calculate item's value worked out again, in form order.

    Whatever a phone or an old draft says a calculated value is, this one is kept: each
    calculation uses only earlier items (the loader checks), so one pass is enough. A
    calculation without a value (an answer it needs is missing) stores nothing.
    """
    result = dict(answers)
    for item in form.items:
        if item.calculation is None:
            continue
        result.pop(item.id, None)
        try:
            value = item.calculation.evaluate(expression_answers(form, result), today=today)
        except ExpressionError:
            value = None
        if isinstance(value, datetime.date):
            value = value.isoformat()
        elif isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            value = int(value)  # 4.0 is stored as 4, as an integer answer would be
        if value is not None:
            result[item.id] = value
    return result


def is_relevant(form: Form, item: Item, answers: Answers, *, today: datetime.date | None = None) -> bool:
    """Whether the item is shown, given the answers so far (its section's condition too)."""
    values = expression_answers(form, answers)
    section = form.section_of(item.id)
    for condition in (section.relevant, item.relevant):
        if condition is not None and condition.evaluate(values, today=today) is not True:
            return False
    return True


def section_is_relevant(form: Form, section_id: str, answers: Answers, *, today: datetime.date | None = None) -> bool:
    for section in form.sections:
        if section.id == section_id:
            if section.relevant is None:
                return True
            return section.relevant.evaluate(expression_answers(form, answers), today=today) is True
    raise KeyError(section_id)


def stop_holds(form: Form, item: Item, answers: Answers, *, today: datetime.date | None = None) -> bool:
    """Whether ``item``'s ``stop_if`` holds for the answers given: the interview must stop.

    Only a valid, shown answer can stop an interview: an item without a rule, without an
    answer, hidden by skip logic, or with an answer its checks refuse, does not.
    """
    if item.stop_if is None:
        return False
    value = answers.get(item.id)
    if value is None or check_answer(form, item, value, answers, today=today) is not None:
        return False
    if not is_relevant(form, item, answers, today=today):
        return False
    values = expression_answers(form, answers)
    values[SELF] = values[item.id]
    try:
        return item.stop_if.evaluate(values, today=today) is True
    except ExpressionError:
        return False


def stopping_item(
    form: Form, answers: Answers, items: Sequence[Item] | None = None, *, today: datetime.date | None = None
) -> Item | None:
    """The first of ``items`` (every item of the form by default) whose stop rule holds, or None."""
    for item in form.items if items is None else items:
        if stop_holds(form, item, answers, today=today):
            return item
    return None


def check_answer(
    form: Form, item: Item, value: Any, answers: Answers, *, today: datetime.date | None = None
) -> Message | None:
    """Why ``value`` is not acceptable for ``item`` (a message for the interviewer), or None.

    A failed constraint gives the form's own message, with its msgctxt, so that the page
    shows the reviewed translation from the forms catalogue.
    """
    if value is None:
        return None
    if value in OFFERS:
        return None if value in item.offer else _say(N_("This option is not offered for this question."))
    problem = value_problem(item, value) or _filter_problem(form, item, value, answers, today)
    if problem:
        return problem
    if item.constraint is not None:
        values = expression_answers(form, answers)
        values[SELF] = values[item.id] = expression_value(item, value)
        try:
            satisfied = item.constraint.evaluate(values, today=today)
        except ExpressionError:
            satisfied = False
        if satisfied is not True:
            return Message(item.constraint_message, form_context=item_context(form, item, ":constraint"))
    return None


def allowed_choices(
    form: Form, item: Item, answers: Answers, *, today: datetime.date | None = None
) -> tuple[Choice, ...]:
    """The item's choices that its choice_filter keeps for these answers (all of them without one)."""
    if item.choice_filter is None:
        return item.choices
    values = expression_answers(form, answers)
    kept = []
    for choice in item.choices:
        try:
            keep = item.choice_filter.evaluate(values, today=today, choice=choice.attribute_map)
        except ExpressionError:
            keep = False  # an answer of the wrong kind (a tampered draft) keeps nothing
        if keep is True:
            kept.append(choice)
    return tuple(kept)


def _filter_problem(
    form: Form, item: Item, value: Any, answers: Answers, today: datetime.date | None
) -> Message | None:
    if item.choice_filter is None:
        return None
    allowed = {choice.id for choice in allowed_choices(form, item, answers, today=today)}
    picked = value if isinstance(value, list) else [value]
    if all(choice in allowed for choice in picked):
        return None
    return _say(N_("This answer does not go with an earlier answer. Choose one of the answers shown."))


def value_problem(item: Item, value: Any) -> Message | None:
    """Why ``value`` cannot be a stored answer of ``item`` by its type and limits, or None."""
    kind = item.type
    if kind == "calculate":
        return None  # never taken from a phone: with_calculations works it out again
    if kind in ("time", "datetime"):
        ok = isinstance(value, str) and clock_text(kind, value) == value
        return None if ok else _clock_message(kind)
    if kind == "text":
        if not isinstance(value, str):
            return _say(N_("Enter text."))
        if item.max_length is not None and len(value) > item.max_length:
            one, many = N_plural("Use at most %(num)s character.", "Use at most %(num)s characters.")
            return Message(one, plural=many, count=item.max_length)
        return None
    if kind in ("integer", "decimal", "likert"):
        number_types = (int,) if kind != "decimal" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            return _say(N_("Enter a number."))
        if kind == "likert":
            return None if value in (1, 2, 3, 4, 5) else _say(N_("Choose one of the five answers."))
        if item.min is not None and value < item.min:
            # TRANSLATORS: %(number)s is the smallest answer allowed, such as 0 or 18.
            return _say(N_("Enter %(number)s or more."), number=_number(item.min))
        if item.max is not None and value > item.max:
            # TRANSLATORS: %(number)s is the largest answer allowed, such as 120.
            return _say(N_("Enter %(number)s or less."), number=_number(item.max))
        return None
    if kind == "date":
        try:
            datetime.date.fromisoformat(value)
        except (TypeError, ValueError):
            return _say(N_("Enter a date as year-month-day."))
        return None
    if kind == "select_multiple":
        if not isinstance(value, list) or any(choice not in item.choice_ids() for choice in value):
            return _say(N_("Choose from the answers shown."))
        return None
    if kind in ("select_one", "yes_no", "consent"):
        return None if value in item.choice_ids() else _say(N_("Choose one of the answers shown."))
    return _say(N_("This item takes no answer."))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def validate_record(form: Form, answers: Answers, *, today: datetime.date | None = None) -> dict[str, Any]:
    """The answers to keep for a finalised record, or AnswerError naming the first problem.

    Answers to unknown items are refused; answers to items hidden by skip logic are
    dropped, so a record never holds an answer its form would not have asked for.
    """
    unknown = set(answers) - {item.id for item in form.items if item.stores_value}
    if unknown:
        raise AnswerError(f"answers for items the form does not have: {', '.join(sorted(unknown))}")
    answers = with_calculations(form, answers, today=today)
    kept: dict[str, Any] = {}
    for item in form.items:
        if not item.takes_answer or answers.get(item.id) is None:
            continue
        if not is_relevant(form, item, answers, today=today):
            continue
        problem = check_answer(form, item, answers[item.id], answers, today=today)
        if problem:
            raise AnswerError(f"{item.id}: {problem}")
        kept[item.id] = answers[item.id]
    return with_calculations(form, kept, today=today)  # from the answers kept, hidden ones dropped


def missing_consent(form: Form, answers: Answers, *, through: str | None = None) -> Item | None:
    """The first consent item not answered "given", or None when consent stands.

    Only the sections up to and including ``through`` count (every section when it is
    None), so a page may ask for the consent it holds. Skip logic is ignored on
    purpose: no condition, however written, can let answers in without consent.
    """
    for section in form.sections:
        for item in section.items:
            if item.type == "consent" and answers.get(item.id) != CONSENT_GIVEN:
                return item
        if section.id == through:
            break
    return None


__all__ = [
    "DONT_KNOW",
    "PREFER_NOT",
    "AnswerError",
    "Message",
    "allowed_choices",
    "check_answer",
    "expression_answers",
    "is_relevant",
    "missing_consent",
    "parse_answer",
    "section_is_relevant",
    "stop_holds",
    "stopping_item",
    "validate_record",
    "value_problem",
    "with_calculations",
]
