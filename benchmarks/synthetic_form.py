"""A 60-question form built in memory, shaped like the shipped ones, for the finalise benchmark.

The shipped forms skip many questions depending on earlier answers, so the number of
answers in one response varies. The budget speaks of a 60-question response, so this
form asks exactly 60 questions, none of them skipped by logic: one consent and 59
questions of the kinds the shipped forms use, in the same proportions.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from fieldkit.core.formengine.loader import load_form
from fieldkit.core.formengine.model import Form

FORM_ID = "benchmark-sixty"
QUESTIONS = 60

# (type, how many, extra keys): 1 consent + 59 questions.
_KINDS: tuple[tuple[str, int, dict[str, object]], ...] = (
    ("likert", 18, {"scale": "agreement"}),
    ("select_one", 12, {"choices": "often"}),
    ("select_multiple", 8, {"choices": "services"}),
    ("yes_no", 9, {}),
    ("integer", 5, {"min": 0, "max": 500}),
    ("decimal", 2, {"min": 0, "max": 100}),
    ("date", 1, {}),
    ("text", 4, {"max_length": 500}),
)
_PER_SECTION = 10


def _definition() -> dict[str, object]:
    items: list[dict[str, object]] = [
        {"id": "consent", "type": "consent", "required": True, "label": "Do you agree to take part?", "tags": ["P2"]}
    ]
    for kind, count, extra in _KINDS:
        for number in range(1, count + 1):
            items.append(
                {
                    "id": f"{kind}_{number}",
                    "type": kind,
                    "label": f"Question {len(items) + 1} ({kind.replace('_', ' ')}), as read aloud",
                    "offer": ["prefer_not"],
                    "tags": ["P1"],
                    **extra,
                }
            )
    assert len(items) == QUESTIONS
    sections = [
        {"id": f"part_{index + 1}", "title": f"Part {index + 1}", "items": items[start : start + _PER_SECTION]}
        for index, start in enumerate(range(0, QUESTIONS, _PER_SECTION))
    ]
    return {
        "id": FORM_ID,
        "version": 1,
        "title": "Sixty questions",
        "choice_lists": {
            "often": [{"id": c, "label": c.title()} for c in ("never", "rarely", "sometimes", "often", "always")],
            "services": [
                {"id": c, "label": c.replace("_", " ")}
                for c in ("counselling", "medication", "housing", "naloxone", "testing", "peer_support", "legal_aid")
            ],
        },
        "sections": sections,
    }


def sixty_question_form() -> Form:
    """The form, checked by the real loader (so it is a form the kit would accept)."""
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-form-") as folder:
        path = Path(folder) / f"{FORM_ID}.yaml"
        path.write_text(yaml.safe_dump(_definition(), sort_keys=False, allow_unicode=True), encoding="utf-8")
        return load_form(path)
