"""How long a form takes: the words read aloud and the answer time that `forms check` prints."""

from __future__ import annotations

import math
import re
from pathlib import Path

from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.loader import load_form_text
from fieldkit.core.formengine.model import Form
from fieldkit.core.formengine.timing import ANSWER_SECONDS, WORDS_PER_MINUTE, form_timing, words_read_aloud

FORM = """\
id: visit
version: 1
title: Visit
choice_lists:
  wait: [{id: soon, label: The same day}, {id: later, label: Much later}]
sections:
  - id: one
    title: One
    items:
      - {id: consent, type: consent, label: Do you agree to talk with me today?, tags: [P2]}
      - {id: instruction, type: note, label: "For you, the interviewer: find a quiet place first.", tags: [P2]}
      - {id: script, type: note, label: "Check the time. Read aloud: Now a few questions about waiting.", tags: [P2]}
      - id: wait
        type: select_one
        choices: wait
        label: How long did you wait?
        hint: These hint words are for the interviewer and are never read aloud.
        tags: [P1]
      - {id: respect, type: likert, scale: frequency, label: Were you treated with respect?, tags: [P2]}
      - {id: alone, type: yes_no, label: Could you talk alone?, tags: [P2]}
"""


def loaded(text: str) -> Form:
    form, problems = load_form_text(text, Path("visit.yaml"))
    assert form is not None and not problems, problems
    return form


def test_words_read_aloud_are_labels_choices_and_scale_but_never_hints_or_instructions() -> None:
    items = {item.id: item for item in loaded(FORM).items}
    counted = {item_id: words_read_aloud(item) for item_id, item in items.items()}
    assert counted == {
        "consent": 8,
        "instruction": 0,  # a note without "Read aloud:" is for the interviewer
        "script": 6,  # only what follows the marker
        "wait": 5 + 3 + 2,  # the question and its two choices; not the hint
        "respect": 5 + 5,  # the question and the five frequency labels
        "alone": 4,
    }


def test_the_estimate_adds_reading_at_the_speaking_pace_and_each_questions_answer_time() -> None:
    timing = form_timing(loaded(FORM))
    words = 8 + 6 + 10 + 10 + 4
    answers = sum(ANSWER_SECONDS[kind] for kind in ("consent", "select_one", "likert", "yes_no"))
    assert (timing.questions, timing.words_aloud) == (4, words)
    assert timing.reading_seconds == math.ceil(words * 60 / WORDS_PER_MINUTE)
    assert timing.answering_seconds == answers
    assert timing.minutes == math.ceil((timing.reading_seconds + answers) / 60)
    # One more question costs its reading and its answer time, nothing else.
    longer = form_timing(loaded(FORM + "      - {id: more, type: yes_no, label: Was there water?, tags: [P2]}\n"))
    assert longer.words_aloud == words + 3
    assert longer.answering_seconds == answers + ANSWER_SECONDS["yes_no"]


def test_forms_check_prints_each_shipped_forms_estimate() -> None:
    result = CliRunner().invoke(cli, ["forms", "check"])
    assert result.exit_code == 0, result.output
    for form in load_directory(paths.forms_dir()).values():
        timing = form_timing(form)
        line = re.search(rf"ok  {re.escape(form.key)}  .*\n    (about \d+ min: .*)\n", result.output)
        assert line, result.output
        assert line.group(1) == timing.summary()
        assert f"{timing.words_aloud} words read aloud" in line.group(1)
        assert timing.questions == sum(1 for item in form.items if item.type != "note")


def test_answers_the_interviewer_does_not_read_out_leave_the_reading_time() -> None:
    quiet = FORM.replace("        choices: wait\n", "        choices: wait\n        read_choices: false\n")
    items = {item.id: item for item in loaded(quiet).items}
    assert not items["wait"].read_choices and items["respect"].read_choices
    assert words_read_aloud(items["wait"]) == 5  # the question only; the person's answer is ticked
    assert form_timing(loaded(quiet)).words_aloud == form_timing(loaded(FORM)).words_aloud - 5


def test_read_choices_only_on_questions_with_a_choice_list() -> None:
    for bad, expected in (
        ("      - {id: alone2, type: yes_no, label: Alone?, read_choices: false, tags: [P2]}\n", "read_choices"),
        ("      - {id: w2, type: select_one, choices: wait, label: Wait?, read_choices: 'no', tags: [P1]}\n",
         "'read_choices' must be true or false"),
    ):  # fmt: skip
        form, problems = load_form_text(FORM + bad, Path("visit.yaml"))
        assert form is None or problems
        assert any(expected in str(problem) for problem in problems), problems


def test_the_shipped_forms_keep_to_their_budgets() -> None:
    """Issue budgets: a peer interview of 20 minutes at most, a centre assessment of 85 items or fewer."""
    forms = load_directory(paths.forms_dir())
    assert form_timing(forms["peer-interview"]).minutes <= 20, form_timing(forms["peer-interview"]).summary()
    assert len(forms["centre-assessment"].items) <= 85


def test_the_phone_tells_the_interviewer_which_answers_not_to_read_out(client, app) -> None:
    from tests.webclient import Interviewer

    interviewer = Interviewer(client, app)
    interviewer.pair()
    url = interviewer.start("peer-interview")
    first = interviewer.submit(url, [("consent", "given")])
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    gender = page.split('id="q-gender"', 1)[1].split('<div class="q', 1)[0]
    age = page.split('id="q-age_band"', 1)[1].split('<div class="q', 1)[0]
    assert "Do not read these answers out" in gender and "Do not read these answers out" not in age
