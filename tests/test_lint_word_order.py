"""The stigma lint catches "clean" and "dirty" of tests and people in any word order.

The sentences come from tests/lint_corpus/word_order.yaml, a held-out corpus written
after the near rules in translations/stigma-terms/ and not used to write them. A
"fail" sentence must give at least one error; a "pass" sentence none (a warning for
the word alone is allowed). The tests folder is not linted, so the corpus may spell
the terms out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from fieldkit.core.lint import lint_text

CORPUS = yaml.safe_load((Path(__file__).parent / "lint_corpus" / "word_order.yaml").read_text(encoding="utf-8"))
CASES = [
    pytest.param(language, verdict, sentence, id=f"{language}-{verdict}-{number}")
    for language, verdicts in CORPUS.items()
    for verdict, sentences in verdicts.items()
    for number, sentence in enumerate(sentences, start=1)
]


def test_the_corpus_is_large_enough_in_every_language() -> None:
    assert set(CORPUS) == {"en", "es", "fr", "pt", "ru", "ar"}
    for language, verdicts in CORPUS.items():
        least = 25 if language == "en" else 15
        assert len(verdicts["fail"]) + len(verdicts["pass"]) >= least, language
        assert len(verdicts["fail"]) >= 5 and len(verdicts["pass"]) >= 5, language


@pytest.mark.parametrize(("language", "verdict", "sentence"), CASES)
def test_held_out_sentence_gets_its_verdict(language: str, verdict: str, sentence: str) -> None:
    errors = [(f.matched_text, f.suggestion) for f in lint_text(sentence, language) if f.is_error]
    if verdict == "fail":
        assert errors, f"not caught: {sentence}"
    else:
        assert errors == [], f"neutral, but reported: {sentence}"
