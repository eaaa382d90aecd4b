"""The condition language of form definitions (fieldkit.core.formengine.expressions).

Table-driven cases pin down every construct, its precedence and the missing-answer rules;
Hypothesis then throws arbitrary text, token soup and generated well-typed conditions at the
module to show that ExpressionError is the only thing it ever raises, and that evaluation
agrees with a small independent model of the semantics.
"""

from __future__ import annotations

import dataclasses
import datetime
import operator
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fieldkit.core.formengine import expressions
from fieldkit.core.formengine.expressions import SELF, ExpressionError, ValueType, parse
from tests.hypothesis_profiles import examples

NUMBER, TEXT, BOOL, DATE, CHOICE, CHOICES = (
    ValueType.NUMBER, ValueType.TEXT, ValueType.BOOL, ValueType.DATE, ValueType.CHOICE,
    ValueType.CHOICES,
)  # fmt: skip
TODAY = datetime.date(2024, 3, 15)
TYPES = {
    "age": NUMBER, "score": NUMBER, "name": TEXT, "has_water": CHOICE, "came_how": CHOICE,
    "services": CHOICES, "visit_date": DATE, "flag": BOOL, SELF: NUMBER,
}  # fmt: skip
CHOICE_IDS = {
    "has_water": frozenset({"yes", "no"}),
    "came_how": frozenset({"police", "court", "self"}),
    "services": frozenset({"naloxone", "needles", "testing"}),
}
ANSWERS = {
    "age": 30, "score": 2.5, "name": "Sam", "has_water": "yes", "came_how": "court",
    "services": frozenset({"naloxone", "testing"}), "visit_date": datetime.date(2024, 3, 1),
    "flag": True, SELF: 42,
}  # fmt: skip
NOTHING = dict.fromkeys(ANSWERS)  # every item present but unanswered


def value_of(source: str, answers: Mapping[str, object] = ANSWERS) -> object:
    return parse(source).evaluate(answers, today=TODAY)


def check(source: str, *, expect: ValueType | None = BOOL) -> ValueType:
    return parse(source).check(TYPES, choices=CHOICE_IDS, expect=expect)


# -- every construct, with precedence ------------------------------------------------------

EVALUATION_CASES = [
    # literals and references
    ("3", 3), ("2.5", 2.5), ("007", 7), ("'yes'", "yes"), ("'it''s'", "it's"), ("''", ""),
    ("true", True), ("false", False), ("age", 30), (".", 42), ("name", "Sam"),
    # arithmetic and its precedence
    ("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("10 - 4 - 3", 3), ("12 / 4 / 3", 1.0),
    ("7 / 2", 3.5), ("2 * 3 / 4", 1.5), ("-age", -30), ("-2 * 3", -6), ("2 * -3", -6),
    ("- - 4", 4), ("age - -1", 31), ("-(1 + 2)", -3), ("score * 2", 5.0), (". / 2", 21.0),
    # comparisons
    ("age == 30", True), ("age != 30", False), ("age < 31", True), ("age <= 30", True),
    ("age > 30", False), ("age >= 30", True), ("score == 2.5", True), ("name == 'Sam'", True),
    ("name != 'sam'", True), ("has_water == 'yes'", True), ("'yes' == has_water", True),
    ("has_water == came_how", False), ("1 + 2 == 3", True), ("age > 10 * 3", False),
    ("true == true", True), ("flag != false", True), ("visit_date < today()", True),
    # membership
    ("came_how in ['police', 'court']", True), ("came_how not in ['police', 'court']", False),
    ("came_how not in ['police']", True), ("age in [30, 31]", True), ("age in [-30]", False),
    ("-age in [-30]", True), ("score in [2.5]", True), ("name in ['Sam']", True),
    # logic and its precedence: not > and > or, all looser than comparisons
    ("true or false and false", True), ("(true or false) and false", False),
    ("false and false or true", True), ("not true or true", True), ("not (true or true)", False),
    ("not age == 30", False), ("not not true", True), ("not age > 40 and age > 20", True),
    ("age == 30 and name == 'Sam'", True), ("age == 1 or age == 2 or age == 30", True),
    ("age == 30 and age == 30 and age == 1", False),
    # functions
    ("selected(services, 'naloxone')", True), ("selected(services, 'needles')", False),
    ("count_selected(services)", 2), ("count_selected(services) * 2 > 3", True),
    ("today()", TODAY), ("today() - visit_date", 14), ("visit_date + 14 == today()", True),
    ("14 + visit_date", TODAY), ("visit_date - 1", datetime.date(2024, 2, 29)),
    ("today() - visit_date > 7", True), ("today() - (visit_date + 20)", -6),
    ("selected(services,'naloxone')and count_selected(services)>=2", True),
    # layout
    ("age==30", True), ("  age\n  ==\t30 ", True),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), EVALUATION_CASES)
def test_evaluation(source: str, expected: object) -> None:
    result = value_of(source)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    "services", [["naloxone", "testing"], ("naloxone", "testing"), {"naloxone", "testing"}]
)
def test_ticked_choices_may_come_as_any_collection(services: object) -> None:
    answers = {**ANSWERS, "services": services}
    assert value_of("selected(services, 'testing') and count_selected(services) == 2", answers)


def test_ticked_choices_are_counted_once() -> None:
    assert value_of("count_selected(services)", {"services": ["needles", "needles"]}) == 1


def test_today_defaults_to_the_real_date() -> None:
    before = datetime.date.today()
    result = parse("today()").evaluate({})
    assert before <= result <= datetime.date.today()  # type: ignore[operator]


# -- missing answers -----------------------------------------------------------------------

MISSING_CASES = [
    ("age", None), ("age == 30", False), ("age != 30", False), ("not (age == 30)", True),
    ("age < 1", False), ("age >= 1", False), ("has_water == 'yes'", False),
    ("has_water != 'yes'", False), ("came_how in ['police']", False),
    ("came_how not in ['police']", False), ("age + 1", None), ("-age", None),
    ("age * 0", None), ("1 / age", None), ("age + 1 > 0", False),
    ("selected(services, 'naloxone')", False), ("not selected(services, 'naloxone')", True),
    ("count_selected(services)", 0), ("count_selected(services) == 0", True),
    ("visit_date - today()", None), ("today() - visit_date > 7", False),
    ("visit_date + 1", None), ("flag", None), ("flag and true", False), ("not flag", True),
    ("flag or true", True), ("has_water == 'yes' or age > 3", False), (". > 3", False),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), MISSING_CASES)
@pytest.mark.parametrize("answers", [NOTHING, {}], ids=["none", "absent"])
def test_missing_answers(source: str, expected: object, answers: dict[str, object]) -> None:
    assert value_of(source, answers) == expected


@pytest.mark.parametrize(
    ("source", "answers"),
    [
        ("false and name > 3", {"name": "text"}),
        ("true or name > 3", {"name": "text"}),
        ("age == 1 and selected(name, 'a')", {"age": 2, "name": 5}),
    ],
)
def test_and_or_stop_at_the_first_deciding_operand(source: str, answers: dict) -> None:
    parse(source).evaluate(answers)  # the ill-typed right side is never reached
    flipped = source.replace("false and", "true and").replace("true or", "false or")
    flipped = flipped.replace("age == 1", "age == 2")
    with pytest.raises(ExpressionError):
        parse(flipped).evaluate(answers)


@pytest.mark.parametrize(
    ("source", "answers", "expected"),
    [
        ("age / 0", ANSWERS, None),
        ("age / (age - 30)", ANSWERS, None),
        ("0 / 0", ANSWERS, None),
        ("score / 0.0", ANSWERS, None),
        ("age / 0 > 1", ANSWERS, False),
        ("not (age / 0 > 1)", ANSWERS, True),
        ("visit_date - 1", {"visit_date": datetime.date.min}, None),
        ("visit_date + 1", {"visit_date": datetime.date.max}, None),
        ("visit_date + age", {"visit_date": TODAY, "age": 10.0**300}, None),
        ("visit_date + age", {"visit_date": TODAY, "age": float("nan")}, None),
        ("9" * 400 + " * 1.5", {}, None),
        ("9" * 400 + " / 3", {}, None),
        ("visit_date - 1 < today()", {"visit_date": datetime.date.min}, False),
    ],
)
def test_arithmetic_without_a_result_is_missing(
    source: str, answers: dict, expected: object
) -> None:
    assert value_of(source, answers) == expected


WRONG_KIND_CASES = [
    ("age > 3", {"age": "3"}), ("age + 1", {"age": "x"}), ("-age", {"age": "1"}),
    ("age == 1", {"age": True}), ("age == 1", {"age": object()}), ("age == 1", {"age": {}}),
    ("age + 1", {"age": b"1"}), ("visit_date < today()", {"visit_date": "2024-01-01"}),
    ("visit_date < today()", {"visit_date": datetime.datetime(2024, 1, 1)}),
    ("today() - visit_date", {"visit_date": datetime.datetime(2024, 1, 1)}),
    ("selected(services, 'x')", {"services": "x"}),
    ("count_selected(services)", {"services": [1, 2]}),
    ("count_selected(services)", {"services": 3}),
    ("has_water == 'yes'", {"has_water": ["yes"]}), ("came_how in ['a']", {"came_how": 3}),
    ("age in [1]", {"age": "1"}), ("flag and true", {"flag": "yes"}), ("not flag", {"flag": 1}),
]  # fmt: skip


@pytest.mark.parametrize(("source", "answers"), WRONG_KIND_CASES)
def test_an_answer_of_the_wrong_kind_is_an_expression_error(source: str, answers: dict) -> None:
    with pytest.raises(ExpressionError):
        value_of(source, answers)


# -- parse errors --------------------------------------------------------------------------

PARSE_ERRORS = [
    ("", "empty"), ("   ", "empty"), ("age ==", "ends too early"), ("age = 3", "use '=='"),
    ("age == == 3", "unexpected '==' at character 8"), ("age == 3 == 4", "cannot be chained"),
    ("1 < age < 3", "cannot be chained"), ("age in ['a'] in ['b']", "cannot be chained"),
    ("(age == 3", "expected ')' but found the end"), ("age == 3)", "unexpected ')'"),
    ("'abc", "no closing quote"), ("'it's'", "no closing quote"), ('"abc"', "single quotes"),
    ("Age == 3", "lower case"), ("age in 3", "must be followed by a list"),
    ("age not in name", "must be followed by a list"), ("age in []", "empty list"),
    ("age in ['a', 1]", "cannot mix"), ("age in [1,]", "numbers or text in quotes"),
    ("age in [-'a']", "numbers or text in quotes"), ("age in [age]", "numbers or text"),
    ("[1] == age", "can only follow 'in'"), ("foo(1)", "unknown function 'foo'"),
    ("selected(services)", "selected() takes 2 arguments, got 1"),
    ("today(1)", "today() takes 0 arguments, got 1"),
    ("count_selected()", "count_selected() takes 1 argument, got 0"),
    ("selected('services', 'a')", "needs an item id"), ("count_selected(1)", "needs an item id"),
    ("selected(services, name)", "choice id in quotes"), ("a.b", "unexpected '.'"),
    ("x[0]", "unexpected '['"), ("age ! 3", "unexpected character '!'"),
    ("2.", "unexpected '.'"), (".5", "unexpected '5'"), ("1" * 400 + ".5", "too large"),
    ("x" * 2001, "too long (2001 characters; at most 2000)"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "message"), PARSE_ERRORS)
def test_parse_errors_say_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse(source)


def test_a_condition_that_is_not_text_is_refused() -> None:
    for value in (None, 3, True, ["age"]):
        with pytest.raises(ExpressionError, match="must be text"):
            parse(value)  # type: ignore[arg-type]


# -- nesting limits ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "(" * 10_000 + "1" + ")" * 10_000,  # beyond the length limit as well
        "(" * 51 + "1" + ")" * 51,
        "not " * 60 + "true",
        "-" * 60 + "1",
        "1" + " + 1" * 60,  # a chain nests without brackets
        "selected(" * 60 + "s, 'a'" + ")" * 60,
        "today(" * 60 + ")" * 60,
    ],
)
def test_deep_nesting_is_an_expression_error(source: str) -> None:
    with pytest.raises(ExpressionError, match=r"nested too deeply|too long"):
        parse(source)


def test_nesting_within_the_limit_works() -> None:
    assert value_of("(" * 45 + "1 + 1" + ")" * 45) == 2
    assert value_of("not " * 40 + "true") is True
    assert value_of("1" + " + 1" * 40) == 41
    assert value_of(" or ".join(["age == 1"] * 150)) is False  # and/or chains stay flat


# -- check() -------------------------------------------------------------------------------

CHECK_ERRORS = [
    ("xyz == 1", "unknown item 'xyz'"), ("agee == 1", "unknown item 'agee' (did you mean 'age'?)"),
    ("age == 'x'", "cannot compare number with text"),
    ("visit_date == 3", "cannot compare date with number"),
    ("has_water == 1", "cannot compare choice with number"),
    ("flag == 1", "cannot compare true/false with number"),
    ("name < 'b'", "'<' compares only numbers or dates, not text"),
    ("has_water >= 'no'", "'>=' compares only numbers or dates, not choice"),
    ("services == 'naloxone'", "use selected(item, 'choice')"),
    ("selected(has_water, 'yes')", "'selected()' works on choices values, not on choice"),
    ("count_selected(age) > 1", "'count_selected()' works on choices values, not on number"),
    ("has_water == 'yess'", "'yess' is not a choice of item 'has_water' (did you mean 'yes'?)"),
    ("'nope' != has_water", "'nope' is not a choice of item 'has_water'"),
    ("came_how in ['police', 'cort']", "'cort' is not a choice of item 'came_how'"),
    ("selected(services, 'nalox')", "'nalox' is not a choice of item 'services'"),
    ("age + name > 1", "cannot use '+' on number and text"),
    ("today() * 2 > 1", "cannot use '*' on date and number"),
    ("1 - today() > 1", "cannot use '-' on number and date"),
    ("visit_date + today() > today()", "cannot use '+' on date and date"),
    ("-name == 'x'", "'-' works on number values, not on text"),
    ("age and true", "'and' works on true/false values, not on number"),
    ("true or name", "'or' works on true/false values, not on text"),
    ("not age", "'not' works on true/false values, not on number"),
    ("name in [1, 2]", "'in' cannot look for text in a list of number"),
    ("age not in ['a']", "'not in' cannot look for number in a list of text"),
    ("visit_date in [1]", "'in' cannot look for date in a list of number"),
    ("age + 1", "the condition gives number where true/false is needed"),
    ("has_water", "the condition gives choice where true/false is needed"),
    ("foo(age)", "unknown function 'foo'"), ("selected(services, 'a', 'b')", "takes 2 arguments"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "message"), CHECK_ERRORS)
def test_check_errors_say_what_is_wrong(source: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        check(source)


def test_this_answer_outside_a_constraint() -> None:
    types = {name: kind for name, kind in TYPES.items() if name != SELF}
    with pytest.raises(ExpressionError, match=re.escape("'.' (this answer) can only be used")):
        parse(". > 3").check(types)


def test_a_choice_typo_on_this_answer() -> None:
    types, choices = {SELF: CHOICE}, {SELF: frozenset({"yes", "no"})}
    parse(". == 'yes'").check(types, choices=choices)
    with pytest.raises(ExpressionError, match="'maybe' is not a choice of this answer"):
        parse(". in ['yes', 'maybe']").check(types, choices=choices)


def test_choice_ids_are_only_checked_when_known() -> None:
    assert parse("has_water == 'anything'").check(TYPES) is BOOL


@pytest.mark.parametrize(
    ("source", "expect", "result"),
    [
        ("today() - visit_date", None, NUMBER), ("visit_date + 1", None, DATE),
        ("1 + visit_date", DATE, DATE), ("age * 2", NUMBER, NUMBER), ("name", TEXT, TEXT),
        ("has_water", None, CHOICE), ("services", None, CHOICES), (". >= 80", BOOL, BOOL),
        ("count_selected(services)", NUMBER, NUMBER), ("today()", DATE, DATE),
        ("has_water == name", BOOL, BOOL), ("flag", BOOL, BOOL),
        ("has_water in ['yes'] and not flag or selected(services, 'needles')", BOOL, BOOL),
    ],
)  # fmt: skip
def test_check_gives_the_result_type(
    source: str, expect: ValueType | None, result: ValueType
) -> None:
    assert check(source, expect=expect) is result


def test_references() -> None:
    expression = parse(
        "age > 3 and selected(services, 'x') or . == 1 and today() > visit_date + age"
    )
    assert expression.references() == {"age", "services", SELF, "visit_date"}
    assert parse("1 + 2 > today() - today()").references() == frozenset()


def test_an_expression_is_immutable_and_keeps_its_source() -> None:
    expression = parse("age > 3")
    assert expression.source == "age > 3"
    assert expression == parse("age > 3")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expression.source = "true"  # type: ignore[misc]
    assert {expression, parse("age > 3")} == {expression}


# -- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "__import__('os').system('x')", "().__class__", "a.b", "lambda", "lambda: 1", "x[0]",
    "open('/etc/passwd')", "age.__class__", "exec('1')", "eval('1')", "globals()",
    "{}", "age if true else 1", "1; 2", "age = 1", "`id`", "$(id)", "age ** 2", "age // 2",
    "age % 2", "~age", "age & 1", "age is none", "None", "True", "f'{age}'", "'\\x00'.x",
]  # fmt: skip


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_input_is_refused(source: str) -> None:
    with pytest.raises(ExpressionError):
        parse(source).check(TYPES)


def test_the_module_never_hands_text_to_the_python_evaluator() -> None:
    text = Path(expressions.__file__).read_text(encoding="utf-8")
    for name in ("eval", "exec", "compile", "literal_eval", "__import__", "getattr"):
        assert not re.search(rf"\b{name}\s*\(", text), name


# -- hypothesis: arbitrary input -----------------------------------------------------------

TOKENS = [
    "age", "name", "has_water", "services", "visit_date", "flag", "unknown", ".", "0", "1",
    "2.5", "'yes'", "'it''s'", "'", "true", "false", "and", "or", "not", "in", "==", "!=", "<",
    "<=", ">", ">=", "=", "+", "-", "*", "/", "(", ")", "[", "]", ",", "selected", "today",
    "count_selected", "()", "_", "A", "\n",
]  # fmt: skip
WILD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.dates(),
    st.datetimes(), st.frozensets(st.text(max_size=3)), st.lists(st.integers(), max_size=2),
    st.binary(max_size=2), st.dictionaries(st.text(max_size=1), st.integers(), max_size=1),
)  # fmt: skip
WILD_ANSWERS = st.fixed_dictionaries({name: WILD_VALUES for name in TYPES})


def only_expression_errors(action: Callable[[], object]) -> object:
    try:
        return action()
    except ExpressionError as error:
        assert str(error)
        return error


@given(st.text(max_size=200))
def test_arbitrary_text_gives_nothing_but_expression_errors(source: str) -> None:
    only_expression_errors(lambda: parse(source))


@settings(max_examples=examples(300))
@given(
    st.lists(st.sampled_from(TOKENS), max_size=30),
    st.sampled_from([" ", ""]),
    WILD_ANSWERS,
)
def test_token_soup_gives_nothing_but_expression_errors(
    tokens: list[str], separator: str, answers: dict[str, object]
) -> None:
    expression = only_expression_errors(lambda: parse(separator.join(tokens)))
    if isinstance(expression, expressions.Expression):
        only_expression_errors(lambda: expression.check(TYPES, choices=CHOICE_IDS, expect=None))
        only_expression_errors(lambda: expression.evaluate(answers, today=TODAY))
        only_expression_errors(lambda: expression.evaluate({}))


# -- hypothesis: generated well-typed conditions against a model ---------------------------
# Each strategy draws (source, model): the model gives the value the source should have. It is
# written apart from the module, from the documented rules for missing answers.

Model = Callable[[Mapping[str, object]], object]
ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
COMPARISON = {
    "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def constant(value: object) -> Model:
    return lambda _answers: value


def answer(name: str) -> Model:
    return lambda answers: answers.get(name)


def arithmetic_model(op: str, left: Model, right: Model) -> Model:
    def model(answers: Mapping[str, object]) -> object:
        a, b = left(answers), right(answers)
        if a is None or b is None or (op == "/" and b == 0):
            return None
        try:
            return ARITHMETIC[op](a, b)
        except OverflowError:  # e.g. a float division whose result cannot be a float
            return None

    return model


def comparison_model(op: str, left: Model, right: Model) -> Model:
    def model(answers: Mapping[str, object]) -> bool:
        a, b = left(answers), right(answers)
        return a is not None and b is not None and COMPARISON[op](a, b)

    return model


def count_model(answers: Mapping[str, object]) -> int:
    ticked = answers.get("services")
    return 0 if ticked is None else len(set(ticked))  # type: ignore[arg-type]


def days_since_visit_model(answers: Mapping[str, object]) -> object:
    visit = answers.get("visit_date")
    return None if visit is None else (TODAY - visit).days  # type: ignore[operator]


def shifted_visit_model(days: int) -> Model:
    def model(answers: Mapping[str, object]) -> object:
        visit = answers.get("visit_date")
        try:
            return None if visit is None else visit + datetime.timedelta(days=days)  # type: ignore[operator]
        except OverflowError:  # before year 1 or after year 9999
            return None

    return model


def quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@st.composite
def numbers(draw: st.DrawFn, depth: int = 3) -> tuple[str, Model]:
    kinds = ["integer", "decimal", "item", "count", "days"]
    kind = draw(st.sampled_from(kinds + (["binary", "negate"] * 2 if depth else [])))
    if kind == "integer":
        n = draw(st.integers(0, 10**6))
        return str(n), constant(n)
    if kind == "decimal":
        text = f"{draw(st.integers(0, 999))}.{draw(st.integers(0, 99))}"
        return text, constant(float(text))
    if kind == "item":
        name = draw(st.sampled_from(["age", "score", SELF]))
        return name, answer(name)
    if kind == "count":
        return "count_selected(services)", count_model
    if kind == "days":
        return "(today() - visit_date)", days_since_visit_model
    left_source, left = draw(numbers(depth - 1))
    if kind == "negate":
        return f"-({left_source})", arithmetic_model("-", constant(0), left)
    op = draw(st.sampled_from(sorted(ARITHMETIC)))
    right_source, right = draw(numbers(depth - 1))
    return f"({left_source} {op} {right_source})", arithmetic_model(op, left, right)


@st.composite
def comparisons(draw: st.DrawFn) -> tuple[str, Model]:
    """A condition without and/or/not."""
    kind = draw(st.sampled_from(["literal", "numbers", "choice", "member", "text", "selected",
                                 "date"]))  # fmt: skip
    if kind == "literal":
        value = draw(st.booleans())
        return str(value).lower(), constant(value)
    if kind == "numbers":
        (left_source, left), (right_source, right) = draw(numbers()), draw(numbers())
        op = draw(st.sampled_from(sorted(COMPARISON)))
        return f"{left_source} {op} {right_source}", comparison_model(op, left, right)
    if kind in ("choice", "member"):
        name = draw(st.sampled_from(["has_water", "came_how"]))
        ids = sorted(CHOICE_IDS[name])
        if kind == "choice":
            op, choice = draw(st.sampled_from(["==", "!="])), draw(st.sampled_from(ids))
            model = comparison_model(op, answer(name), constant(choice))
            return f"{name} {op} {quoted(choice)}", model
        negated, listed = draw(st.booleans()), draw(st.lists(st.sampled_from(ids), min_size=1))
        source = f"{name} {'not in' if negated else 'in'} [{', '.join(map(quoted, listed))}]"
        return source, lambda a: a.get(name) is not None and (a[name] in listed) != negated
    if kind == "text":
        op, text = draw(st.sampled_from(["==", "!="])), draw(st.sampled_from(["Sam", "it's", ""]))
        return f"name {op} {quoted(text)}", comparison_model(op, answer("name"), constant(text))
    if kind == "selected":
        choice = draw(st.sampled_from(sorted(CHOICE_IDS["services"])))
        return f"selected(services, '{choice}')", lambda a: choice in (a.get("services") or ())
    op, days = draw(st.sampled_from(["<", ">=", "=="])), draw(st.integers(-400_000, 400_000))
    shifted = f"visit_date + {days}" if days >= 0 else f"visit_date - {-days}"
    model = comparison_model(op, shifted_visit_model(days), constant(TODAY))
    return f"{shifted} {op} today()", model


@st.composite
def conditions(draw: st.DrawFn, depth: int = 3) -> tuple[str, Model]:
    kind = draw(st.sampled_from(["leaf"] + (["not", "and", "or"] if depth else [])))
    if kind == "leaf":
        return draw(comparisons())
    if kind == "not":
        source, model = draw(conditions(depth - 1))
        return f"not ({source})", lambda a: not model(a)
    parts = draw(st.lists(conditions(depth - 1), min_size=2, max_size=3))
    combine = any if kind == "or" else all
    source = f" {kind} ".join(f"({part})" for part, _ in parts)
    return source, lambda a: combine(model(a) for _, model in parts)


finite_numbers = st.one_of(
    st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
)
services = st.sampled_from(sorted(CHOICE_IDS["services"]))
WELL_TYPED_ANSWERS = st.fixed_dictionaries(
    {
        "age": st.none() | finite_numbers,
        "score": st.none() | finite_numbers,
        SELF: st.none() | finite_numbers,
        "name": st.none() | st.sampled_from(["Sam", "it's", ""]) | st.text(max_size=4),
        "has_water": st.none() | st.sampled_from(sorted(CHOICE_IDS["has_water"])),
        "came_how": st.none() | st.sampled_from(sorted(CHOICE_IDS["came_how"])),
        "services": st.none() | st.frozensets(services) | st.lists(services),
        "visit_date": st.none() | st.dates(),
    }
)


@settings(max_examples=examples(400))
@given(conditions(), WELL_TYPED_ANSWERS)
def test_well_typed_conditions_check_and_agree_with_the_model(
    condition: tuple[str, Model], answers: dict[str, object]
) -> None:
    source, model = condition
    expression = parse(source)
    assert expression.check(TYPES, choices=CHOICE_IDS) is BOOL
    assert expression.evaluate(answers, today=TODAY) is model(answers)


@settings(max_examples=examples(300))
@given(conditions(), WILD_ANSWERS)
def test_well_typed_conditions_over_wild_answers_raise_only_expression_errors(
    condition: tuple[str, Model], answers: dict[str, object]
) -> None:
    result = only_expression_errors(lambda: parse(condition[0]).evaluate(answers, today=TODAY))
    assert isinstance(result, bool | ExpressionError)


@given(
    st.lists(st.tuples(st.booleans(), comparisons(), st.sampled_from(["and", "or"])), min_size=1),
    WELL_TYPED_ANSWERS,
)
def test_unbracketed_chains_follow_the_precedence_of_not_and_or(
    parts: list[tuple[bool, tuple[str, Model], str]], answers: dict[str, object]
) -> None:
    # "not" binds tighter than "and", and "and" tighter than "or": an unbracketed chain is an
    # "or" of "and" groups, whose members may each carry a "not".
    words, groups, group = [], [], []
    for index, (negate, (source, model), joiner) in enumerate(parts):
        words += ["not", source] if negate else [source]
        group.append(model(answers) != negate)
        if index == len(parts) - 1:
            break  # the last part's joiner joins nothing
        words.append(joiner)
        if joiner == "or":
            groups.append(all(group))
            group = []
    groups.append(all(group))
    chain = " ".join(words)
    if len(chain) <= expressions.MAX_SOURCE_LENGTH:
        assert parse(chain).evaluate(answers, today=TODAY) is any(groups)
