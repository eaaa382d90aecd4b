"""Synthetic interviews that go through the real draft and finalise path.

Used for demos, load tests, benchmarks and the scorecard tests. The answers are
plausible (they respect skip logic, ranges and constraints) and reproducible from
a seed. They are about a fixed, made-up world (:class:`World`): a set of centres in
a few regions, the same for every kit and seed, in which some centres are abusive
(their residents report red flags often and rate them low) and some are rarely
visited, so a report made from them has something true to find.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fieldkit.core.formengine.answers import check_answer, is_relevant, stop_holds, with_calculations
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

# How often a red-flag question is answered "yes", and how a rating leans, by kind of centre.
# An assessment team's one "yes" makes a centre critical, so an ordinary centre's rate is
# low enough that, with a few visits of some ten red-flag questions, most stay clear.
_RED_FLAG_YES = {"abusive": 0.55, "ordinary": 0.002, "rarely-visited": 0.002}
_LIKERT_LEAN = {"abusive": (1, 3), "ordinary": (2, 5), "rarely-visited": (2, 5)}
# Rarely visited centres get this share of a usual centre's interviews.
_RARE_WEIGHT = 0.03


@dataclass(frozen=True)
class SimulatedCentre:
    code: str
    region: str
    kind: str  # "abusive", "ordinary" or "rarely-visited"


@dataclass(frozen=True)
class World:
    """The made-up centres interviews are about: every fourth is abusive, the last two rarely visited."""

    centres: tuple[SimulatedCentre, ...]

    @classmethod
    def make(cls, centres: int = 20, regions: int = 2) -> World:
        if centres < 1 or regions < 1 or regions > centres:
            raise ValueError("a world needs at least one centre, and no more regions than centres")
        made = []
        for index in range(centres):
            if index % 4 == 3:
                kind = "abusive"
            elif centres >= 4 and index >= centres - 2:
                kind = "rarely-visited"
            else:
                kind = "ordinary"
            made.append(SimulatedCentre(f"C{index + 1:02d}", f"R{index % regions + 1}", kind))
        return cls(tuple(made))

    def pick(self, rng: random.Random) -> SimulatedCentre:
        weights = [_RARE_WEIGHT if centre.kind == "rarely-visited" else 1.0 for centre in self.centres]
        return rng.choices(self.centres, weights)[0]

    def codes(self, kind: str) -> list[str]:
        return [centre.code for centre in self.centres if centre.kind == kind]


def _number(rng: random.Random, item: Item) -> float:
    low = item.min if item.min is not None else 0
    high = item.max if item.max is not None else max(low + 100, 100)
    if item.type == "integer":
        return rng.randint(int(low), int(high))
    return round(rng.uniform(float(low), float(high)), 2)


def _candidate(
    rng: random.Random, item: Item, text_answer: str | None, today: datetime.date, centre: SimulatedCentre | None
) -> Any:
    kind = item.type
    if centre is not None:
        if item.is_red_flag:
            return "yes" if rng.random() < _RED_FLAG_YES[centre.kind] else "no"
        if kind == "likert":
            return rng.randint(*_LIKERT_LEAN[centre.kind])
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
    if kind == "time":
        return f"{rng.randint(8, 19):02d}:{rng.choice((0, 15, 30, 45)):02d}"
    if kind == "datetime":
        day = today - datetime.timedelta(days=rng.randint(0, 120))
        return f"{day.isoformat()}T{rng.randint(8, 19):02d}:{rng.choice((0, 15, 30, 45)):02d}"
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
    centre: SimulatedCentre | None = None,
) -> dict[str, Any]:
    """Answers for one interview, item by item, each checked as the server would.

    With a ``centre``, the interview is about it: red flags and ratings as its kind
    makes likely (the centre itself goes into the draft, not the answers). Without
    one, every answer is random.
    """
    today = today or datetime.date.today()
    answers: dict[str, Any] = {}
    for item in form.items:
        if item.calculation is not None:  # worked out from the answers before it, as the kit does
            answers = with_calculations(form, answers, today=today)
            continue
        if not item.takes_answer or not is_relevant(form, item, answers, today=today):
            continue
        if item.type != "consent" and not item.required and rng.random() < skip_rate:
            continue
        if item.offer and item.type != "consent" and rng.random() < skip_rate / 2:
            answers[item.id] = rng.choice(item.offer)
            continue
        for _ in range(_TRIES):
            value = _candidate(rng, item, text_answer, today, centre)
            if check_answer(form, item, value, answers, today=today) is not None:
                continue
            if stop_holds(form, item, {**answers, item.id: value}, today=today):
                continue  # an answer that stops the interview leaves no record to simulate
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
    world: World | None = None,
) -> Iterator[str]:
    """Make ``count`` interviews, spread over the forms, about the centres of ``world``
    (by default 20 centres in 2 regions; each record's ``centre`` names one); yield each
    record id once durable."""
    rng = random.Random(seed)  # noqa: S311 - synthetic answers, not secrets
    world = world or World.make()
    ordered = [forms[key] for key in sorted(forms)]
    for index in range(count):
        form = ordered[index % len(ordered)]
        now = datetime.datetime.now(datetime.UTC)
        centre = world.pick(rng)
        draft = Draft(
            form_id=form.id,
            form_version=form.version,
            language=language,
            owner="simulate",
            started=to_hour(now),
            interviewer=f"SIM{rng.randint(1, 9):02d}",
            centre=centre.code,  # as if picked from a centre list: the record carries it and its region
            region=centre.region,
        )
        draft.answers = random_answers(form, rng, text_answer=text_answer, today=now.date(), centre=centre)
        finaliser.drafts.save(draft)
        yield finaliser.finalise(form, draft, now=now)
