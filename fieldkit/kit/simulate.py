"""Synthetic interviews that go through the real draft and finalise path.

Used for demos, load tests and benchmarks. The answers are plausible (they
respect skip logic, ranges and constraints) and reproducible from a seed.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator, Mapping
from typing import Any

from fieldkit.core.formengine.answers import check_answer, is_relevant
from fieldkit.core.formengine.model import CONSENT_GIVEN, Form, Item
from fieldkit.kit.drafts import Draft
from fieldkit.kit.sealing import Finaliser, to_hour

_WORDS = (
    "staff",
    "waiting",
    "room",
    "water",
    "door",
    "locked",
    "doctor",
    "visit",
    "plan",
    "information",
    "friendly",
    "slow",
    "queue",
    "fees",
    "family",
    "group",
    "outside",
)
_TRIES = 20


def _number(rng: random.Random, item: Item) -> float:
    low = item.min if item.min is not None else 0
    high = item.max if item.max is not None else max(low + 100, 100)
    if item.type == "integer":
        return rng.randint(int(low), int(high))
    return round(rng.uniform(float(low), float(high)), 2)


def _candidate(rng: random.Random, item: Item, text_answer: str | None, today: datetime.date) -> Any:
    kind = item.type
    if kind == "text":
        if text_answer is not None:
            return text_answer[: item.max_length]
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(2, 8)))[: item.max_length]
    if kind in ("integer", "decimal"):
        return _number(rng, item)
    if kind == "likert":
        return rng.randint(1, 5)
    if kind == "date":
        return (today - datetime.timedelta(days=rng.randint(0, 120))).isoformat()
    if kind == "consent":
        return CONSENT_GIVEN
    if kind == "select_multiple":
        ids = list(item.choice_ids())
        return sorted(rng.sample(ids, rng.randint(1, len(ids))), key=ids.index)
    return rng.choice(item.choice_ids())


def random_answers(
    form: Form,
    rng: random.Random,
    *,
    text_answer: str | None = None,
    today: datetime.date | None = None,
    skip_rate: float = 0.08,
) -> dict[str, Any]:
    """Answers for one interview, item by item, each checked as the server would."""
    today = today or datetime.date.today()
    answers: dict[str, Any] = {}
    for item in form.items:
        if not item.takes_answer or not is_relevant(form, item, answers, today=today):
            continue
        if item.type != "consent" and not item.required and rng.random() < skip_rate:
            continue
        if item.offer and item.type != "consent" and rng.random() < skip_rate / 2:
            answers[item.id] = rng.choice(item.offer)
            continue
        for _ in range(_TRIES):
            value = _candidate(rng, item, text_answer, today)
            if check_answer(form, item, value, answers, today=today) is None:
                answers[item.id] = value
                break
    return answers


def simulate(
    finaliser: Finaliser,
    forms: Mapping[str, Form],
    count: int,
    *,
    seed: int | None = None,
    text_answer: str | None = None,
    language: str = "en",
) -> Iterator[str]:
    """Make ``count`` interviews, spread over the forms; yield each record id once durable."""
    rng = random.Random(seed)  # noqa: S311 - synthetic answers, not secrets
    ordered = [forms[key] for key in sorted(forms)]
    for index in range(count):
        form = ordered[index % len(ordered)]
        now = datetime.datetime.now(datetime.UTC)
        draft = Draft(
            form_id=form.id,
            form_version=form.version,
            language=language,
            owner="simulate",
            started=to_hour(now),
            interviewer=f"SIM{rng.randint(1, 9):02d}",
        )
        draft.answers = random_answers(form, rng, text_answer=text_answer, today=now.date())
        finaliser.drafts.save(draft)
        yield finaliser.finalise(form, draft, now=now)
