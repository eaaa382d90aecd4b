"""How long an interview takes: the words an interviewer reads aloud, and the time to answer.

A form that is too long tires the person answering, and a person inside a centre may
have little time alone. So ``forms check`` prints, for each form, an estimate made the
same way every time:

- **Reading**: the words read aloud, at ``WORDS_PER_MINUTE`` (130, an unhurried speaking
  pace). Read aloud are a consent item's script (its ``{who_can_open}`` counted as the
  default "our network's regional team"), every question's label, the labels of the
  choices of ``select_one`` and ``select_multiple`` questions (unless the form says the
  interviewer does not read them out, ``read_choices: false``), and a likert question's
  five scale labels. Hints are for the interviewer and never count, nor does a
  ``stop_note``: it is read only when an answer stops the interview, so a whole interview
  never reads it. A note is an instruction to the interviewer unless it says otherwise:
  only the words after a "Read aloud:" marker count (matched without regard to case), and
  a note without one counts nothing.
- **Answering**: a fixed time per question, by its type (``ANSWER_SECONDS``): thinking
  and answering a yes/no question is quicker than choosing among many answers or saying
  something in one's own words.

Every question counts, as if each were shown: skip logic only shortens an interview, so
this is the longest one. It measures the English wording; a translation may be longer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from fieldkit.core.formengine.labels import LIKERT_LABELS
from fieldkit.core.formengine.model import WHO_CAN_OPEN, Form, Item

__all__ = ["ANSWER_SECONDS", "WORDS_PER_MINUTE", "FormTiming", "form_timing", "words_read_aloud"]

WORDS_PER_MINUTE = 130
# Seconds to think and answer, once the question is read, by item type. People answering
# about their own stay tell rather than tick, so these are generous: with them the peer
# interview comes to where a review of the forms put a real one (20 to 30 minutes).
ANSWER_SECONDS = {
    "consent": 60,  # the person's own questions about the interview come first
    "yes_no": 15,
    "likert": 15,
    "select_one": 20,
    "select_multiple": 25,
    "integer": 15,
    "decimal": 15,
    "date": 15,
    "text": 45,
    "note": 0,
}
_DEFAULT_ANSWER_SECONDS = 20
_DEFAULT_WHO_CAN_OPEN = "our network's regional team"  # a kit's hub, unless its init said otherwise
_READ_ALOUD = re.compile(r"read aloud:", re.IGNORECASE)


@dataclass(frozen=True)
class FormTiming:
    """The estimate for one form: words read aloud, and seconds reading and answering."""

    questions: int
    words_aloud: int
    reading_seconds: int
    answering_seconds: int

    @property
    def minutes(self) -> int:
        """The whole interview, rounded up to the minute."""
        return math.ceil((self.reading_seconds + self.answering_seconds) / 60)

    def summary(self) -> str:
        return (
            f"about {self.minutes} min: {self.words_aloud} words read aloud "
            f"({math.ceil(self.reading_seconds / 60)} min at {WORDS_PER_MINUTE} a minute), "
            f"{self.questions} questions to answer ({math.ceil(self.answering_seconds / 60)} min)"
        )


def _words(text: str) -> int:
    return len(text.split())


def words_read_aloud(item: Item) -> int:
    """The words the interviewer reads aloud for this item (see the module docstring)."""
    if item.type == "note":
        marker = _READ_ALOUD.search(item.label)
        return _words(item.label[marker.end() :]) if marker else 0
    script = item.script.replace("{" + WHO_CAN_OPEN + "}", _DEFAULT_WHO_CAN_OPEN)
    words = _words(item.label) + _words(script)
    if item.type in ("select_one", "select_multiple") and item.read_choices:
        words += sum(_words(choice.label) for choice in item.choices)
    elif item.type == "likert" and item.scale in LIKERT_LABELS:
        words += sum(_words(label) for label in LIKERT_LABELS[item.scale])
    return words


def form_timing(form: Form) -> FormTiming:
    """The estimate for ``form``, with every question shown."""
    questions = [item for item in form.items if item.takes_answer]
    words = sum(words_read_aloud(item) for item in form.items)
    return FormTiming(
        questions=len(questions),
        words_aloud=words,
        reading_seconds=math.ceil(words * 60 / WORDS_PER_MINUTE),
        answering_seconds=sum(ANSWER_SECONDS.get(item.type, _DEFAULT_ANSWER_SECONDS) for item in questions),
    )
