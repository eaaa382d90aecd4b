"""Conditions in form definitions: skip logic (``relevant``), ``constraint`` and scoring.

The language is described for form authors in forms/README.md ("Conditions"). The loader parses
each condition once with :func:`parse` and checks it against the form's items with
:meth:`Expression.check`; the interview then evaluates it many times with
:meth:`Expression.evaluate`.

The tokenizer and the recursive-descent parser are written by hand and build a tree of frozen
dataclasses. Nothing is ever handed to Python's own evaluator, so a form file cannot run code.
Source length and nesting depth are limited, so hostile input gives an ExpressionError instead
of exhausting the stack.

Rules worth knowing:

- Text is written in single quotes; a quote inside text is written twice: ``'it''s'``.
- A missing value (``None``: unanswered, "prefer not to answer", "don't know") makes every
  comparison false, ``!=`` and ``not in`` included; so ``not (x == 'a')`` is true when ``x`` is
  missing. Arithmetic with a missing value gives a missing value, ``selected()`` gives false,
  ``count_selected()`` gives 0, and ``and``/``or``/``not`` treat a missing value as false.
- Arithmetic without a result (division by zero, a date outside years 1-9999, a number too
  large for a float) gives a missing value, not an error: a constraint must not crash an
  interview.
- An answer of the wrong kind (text where a number belongs, say, from a tampered draft) raises
  ExpressionError. ExpressionError is the only exception this module raises.
"""

from __future__ import annotations

import datetime
import difflib
import enum
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, cast

__all__ = ["SELF", "Expression", "ExpressionError", "ValueType", "parse"]

SELF = "."
MAX_SOURCE_LENGTH = 2000
MAX_DEPTH = 50


class ExpressionError(Exception):
    """A condition that cannot be read, does not fit its form, or met a wrong kind of answer."""


class ValueType(enum.Enum):
    """The kinds of value a condition works with; each value reads well inside a message."""

    NUMBER = "number"
    TEXT = "text"
    BOOL = "true/false"
    DATE = "date"
    CHOICE = "choice"
    CHOICES = "choices"
    LIST = "list"


NUMBER, TEXT, BOOL, DATE, CHOICE, CHOICES, LIST = ValueType
_NO_CHOICES: Mapping[str, frozenset[str]] = MappingProxyType({})
# Each function with how many arguments it takes and how to write it.
_FUNCTIONS = {
    "selected": (2, "selected(item, 'choice')"),
    "count_selected": (1, "count_selected(item)"),
    "today": (0, "today()"),
    "choice": (1, "choice('attribute')"),
}
# Any: Compare.evaluate has checked with _check_comparison that the two kinds can be compared.
_COMPARISONS: dict[str, Callable[[Any, Any], object]] = {
    "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip
_ARITHMETIC = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
# Two-character symbols first, so that "<=" is not read as "<" then "=".
_SYMBOLS = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "(", ")", "[", "]", ",", ".")
_T = TypeVar("_T")


# -- tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "number", "text", "name", "keyword", "symbol" or "end"
    text: str
    pos: int
    value: object = None


def _is_digit(ch: str) -> bool:
    return "0" <= ch <= "9"  # str.isdigit() would also let through '²', which int() refuses


def _is_name_char(ch: str) -> bool:
    return "a" <= ch <= "z" or _is_digit(ch) or ch == "_"


def _scan(source: str, start: int, accept: Callable[[str], bool]) -> int:
    while start < len(source) and accept(source[start]):
        start += 1
    return start


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch.isspace():
            i += 1
            continue
        if _is_digit(ch):
            token = _number_token(source, i)
        elif "a" <= ch <= "z":
            word = source[i : _scan(source, i, _is_name_char)]
            token = _Token("keyword" if word in _KEYWORDS else "name", word, i)
        elif ch == "'":
            token = _text_token(source, i)
        else:
            symbol = next((s for s in _SYMBOLS if source.startswith(s, i)), None)
            if symbol is None:
                raise ExpressionError(f"{_bad_character(ch)} at character {i + 1}")
            token = _Token("symbol", symbol, i)
        tokens.append(token)
        i += len(token.text)
    tokens.append(_Token("end", "", len(source)))
    return tokens


def _bad_character(ch: str) -> str:
    if ch == "=":
        return "use '==' to compare"
    if ch == '"':
        return "write text in single quotes"
    if "A" <= ch <= "Z":
        return "item ids are written in lower case"
    return f"unexpected character {ch!r}"


def _number_token(source: str, start: int) -> _Token:
    end = _scan(source, start, _is_digit)
    value: int | float
    if end + 1 < len(source) and source[end] == "." and _is_digit(source[end + 1]):
        end = _scan(source, end + 1, _is_digit)
        value = float(source[start:end])
        if not math.isfinite(value):
            raise ExpressionError(f"the number at character {start + 1} is too large")
    else:
        value = int(source[start:end])
    return _Token("number", source[start:end], start, value)


def _text_token(source: str, start: int) -> _Token:
    parts, i = [], start + 1
    while (quote := source.find("'", i)) >= 0:
        parts.append(source[i:quote])
        if not source.startswith("''", quote):
            return _Token("text", source[start : quote + 1], start, "".join(parts))
        parts.append("'")  # a doubled quote stands for one quote inside the text
        i = quote + 2
    raise ExpressionError(f"the text starting at character {start + 1} has no closing quote")


# -- types and runtime kinds --------------------------------------------------------------


@dataclass(frozen=True)
class _TypeEnv:
    types: Mapping[str, ValueType]
    choices: Mapping[str, frozenset[str]]
    # The attributes the choices being filtered carry; None outside a choice_filter.
    attributes: frozenset[str] | None = None

    def type_of(self, name: str) -> ValueType:
        if name in self.types:
            return self.types[name]
        if name == SELF:
            raise ExpressionError("'.' (this answer) can only be used in a constraint or scoring")
        raise ExpressionError(f"unknown item '{name}'{did_you_mean(name, self.types)}")

    def check_choice(self, name: str, choice: str) -> None:
        known = self.choices.get(name)
        if known is not None and choice not in known:
            where = "this answer" if name == SELF else f"item '{name}'"
            hint = did_you_mean(choice, known)
            raise ExpressionError(f"'{choice}' is not a choice of {where}{hint}")


@dataclass(frozen=True)
class _Answers:
    values: Mapping[str, object]
    today: datetime.date | None
    choice: Mapping[str, str] | None = None  # the choice a choice_filter is deciding on


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, [o for o in options if o != SELF], n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _kind(value: object) -> ValueType:
    """The kind of a runtime answer, refusing anything an honest answer cannot be."""
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return DATE
    if isinstance(value, frozenset | set | list | tuple) and all(isinstance(v, str) for v in value):
        return CHOICES
    raise ExpressionError(f"an answer of an unexpected kind ({type(value).__name__})")


def _as_text(kind: ValueType) -> ValueType:
    return TEXT if kind is CHOICE else kind  # a choice id is compared as text


def _truth(word: str, value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    raise ExpressionError(f"'{word}' got {_kind(value).value} instead of true/false")


def _require(kind: ValueType, wanted: ValueType, word: str) -> None:
    if kind is not wanted:
        raise ExpressionError(f"'{word}' works on {wanted.value} values, not on {kind.value}")


def _check_comparison(op: str, left: ValueType, right: ValueType) -> None:
    if CHOICES in (left, right):
        raise ExpressionError("cannot compare choices; use selected(item, 'choice') to test one")
    if _as_text(left) is not _as_text(right):
        raise ExpressionError(f"cannot compare {left.value} with {right.value}")
    if op not in ("==", "!=") and left not in (NUMBER, DATE):
        raise ExpressionError(f"'{op}' compares only numbers or dates, not {left.value}")


def _arithmetic_type(op: str, left: ValueType, right: ValueType) -> ValueType:
    if left is NUMBER and right is NUMBER:
        return NUMBER
    if op == "-" and left is DATE and right is DATE:
        return NUMBER  # days between
    if (left, right) == (DATE, NUMBER) and op in "+-":
        return DATE  # a date moved by a number of days
    if (left, right) == (NUMBER, DATE) and op == "+":
        return DATE
    raise ExpressionError(f"cannot use '{op}' on {left.value} and {right.value}")


def _ticked(function: str, value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if (kind := _kind(value)) is not CHOICES:
        raise ExpressionError(f"{function}() got {kind.value} instead of ticked choices")
    return frozenset(cast("Iterable[str]", value))  # _kind has checked: a collection of text


# -- the tree -----------------------------------------------------------------------------


class _Node:
    """One construct of a parsed condition; each subclass is a frozen dataclass."""

    def children(self) -> tuple[_Node, ...]:
        parts = vars(self).values()  # the dataclass fields, in order
        flat = [p for part in parts for p in (part if isinstance(part, tuple) else (part,))]
        return tuple(p for p in flat if isinstance(p, _Node))

    def check(self, env: _TypeEnv) -> ValueType:
        raise NotImplementedError

    def evaluate(self, env: _Answers) -> object:
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(_Node):
    value: int | float | str | bool

    def check(self, env: _TypeEnv) -> ValueType:
        return _kind(self.value)

    def evaluate(self, env: _Answers) -> object:
        return self.value


@dataclass(frozen=True)
class ListLiteral(_Node):
    values: tuple[int | float | str, ...]
    item_type: ValueType  # NUMBER or TEXT

    def check(self, env: _TypeEnv) -> ValueType:
        return LIST

    def evaluate(self, env: _Answers) -> object:
        return self.values


@dataclass(frozen=True)
class Reference(_Node):
    name: str  # an item id, or SELF

    def check(self, env: _TypeEnv) -> ValueType:
        return env.type_of(self.name)

    def evaluate(self, env: _Answers) -> object:
        return env.values.get(self.name)


@dataclass(frozen=True)
class Not(_Node):
    operand: _Node

    def check(self, env: _TypeEnv) -> ValueType:
        _require(self.operand.check(env), BOOL, "not")
        return BOOL

    def evaluate(self, env: _Answers) -> object:
        return not _truth("not", self.operand.evaluate(env))


@dataclass(frozen=True)
class Logical(_Node):
    word: str  # "and" or "or"
    operands: tuple[_Node, ...]

    def check(self, env: _TypeEnv) -> ValueType:
        for operand in self.operands:
            _require(operand.check(env), BOOL, self.word)
        return BOOL

    def evaluate(self, env: _Answers) -> object:
        settles = self.word == "or"  # the operand value that decides the result at once
        for operand in self.operands:
            if _truth(self.word, operand.evaluate(env)) == settles:
                return settles
        return not settles


@dataclass(frozen=True)
class Compare(_Node):
    op: str
    left: _Node
    right: _Node

    def check(self, env: _TypeEnv) -> ValueType:
        left, right = self.left.check(env), self.right.check(env)
        _check_comparison(self.op, left, right)
        for node, kind, other in ((self.left, left, self.right), (self.right, right, self.left)):
            if kind is CHOICE and isinstance(node, Reference) and isinstance(other, Literal):
                env.check_choice(node.name, str(other.value))  # catches a misspelt choice id
        return BOOL

    def evaluate(self, env: _Answers) -> object:
        left, right = self.left.evaluate(env), self.right.evaluate(env)
        if left is None or right is None:
            return False
        _check_comparison(self.op, _kind(left), _kind(right))
        return _COMPARISONS[self.op](left, right)


@dataclass(frozen=True)
class Membership(_Node):
    element: _Node
    options: ListLiteral
    negated: bool

    def check(self, env: _TypeEnv) -> ValueType:
        kind = self.element.check(env)
        self._check_kinds(kind)
        if kind is CHOICE and isinstance(self.element, Reference):
            for option in self.options.values:
                env.check_choice(self.element.name, str(option))
        return BOOL

    def evaluate(self, env: _Answers) -> object:
        value = self.element.evaluate(env)
        if value is None:
            return False
        self._check_kinds(_kind(value))
        return (value in self.options.values) != self.negated

    def _check_kinds(self, kind: ValueType) -> None:
        if _as_text(kind) is not self.options.item_type:
            word, listed = "not in" if self.negated else "in", self.options.item_type.value
            raise ExpressionError(f"'{word}' cannot look for {kind.value} in a list of {listed}")


@dataclass(frozen=True)
class Arithmetic(_Node):
    op: str
    left: _Node
    right: _Node

    def check(self, env: _TypeEnv) -> ValueType:
        return _arithmetic_type(self.op, self.left.check(env), self.right.check(env))

    def evaluate(self, env: _Answers) -> object:
        left, right = self.left.evaluate(env), self.right.evaluate(env)
        if left is None or right is None:
            return None
        result = _arithmetic_type(self.op, _kind(left), _kind(right))
        try:
            if result is DATE:
                date, days = (left, right) if isinstance(left, datetime.date) else (right, left)
                shift = datetime.timedelta(days=days)  # type: ignore[arg-type]
                return date - shift if self.op == "-" else date + shift  # type: ignore[operator]
            if isinstance(left, datetime.date):
                return (left - right).days  # type: ignore[operator]
            if self.op == "/" and right == 0:
                return None
            return _ARITHMETIC[self.op](left, right)
        except (OverflowError, ValueError):
            return None  # no representable result: treated like a missing answer


@dataclass(frozen=True)
class Negate(_Node):
    operand: _Node

    def check(self, env: _TypeEnv) -> ValueType:
        _require(self.operand.check(env), NUMBER, "-")
        return NUMBER

    def evaluate(self, env: _Answers) -> object:
        value = self.operand.evaluate(env)
        if value is None:
            return None
        _require(_kind(value), NUMBER, "-")
        return -value  # type: ignore[operator]


@dataclass(frozen=True)
class Selected(_Node):
    item: Reference
    choice: str

    def check(self, env: _TypeEnv) -> ValueType:
        _require(self.item.check(env), CHOICES, "selected()")
        env.check_choice(self.item.name, self.choice)
        return BOOL

    def evaluate(self, env: _Answers) -> object:
        return self.choice in _ticked("selected", self.item.evaluate(env))


@dataclass(frozen=True)
class CountSelected(_Node):
    item: Reference

    def check(self, env: _TypeEnv) -> ValueType:
        _require(self.item.check(env), CHOICES, "count_selected()")
        return NUMBER

    def evaluate(self, env: _Answers) -> object:
        return len(_ticked("count_selected", self.item.evaluate(env)))


@dataclass(frozen=True)
class Today(_Node):
    def check(self, env: _TypeEnv) -> ValueType:
        return DATE

    def evaluate(self, env: _Answers) -> object:
        return env.today or datetime.date.today()


@dataclass(frozen=True)
class ChoiceAttribute(_Node):
    """``choice('region')``: an attribute of the choice a ``choice_filter`` decides on, as text."""

    name: str

    def check(self, env: _TypeEnv) -> ValueType:
        if env.attributes is None:
            raise ExpressionError("choice('...') can only be used in a choice_filter")
        if self.name not in env.attributes:
            known = ", ".join(sorted(env.attributes)) or "none"
            raise ExpressionError(
                f"no choice of this list has the attribute '{self.name}'{did_you_mean(self.name, env.attributes)}"
                f" (attributes: {known})"
            )
        return TEXT

    def evaluate(self, env: _Answers) -> object:
        if env.choice is None:
            raise ExpressionError("choice('...') can only be used in a choice_filter")
        return env.choice.get(self.name)  # a choice without the attribute: missing, so it is left out


def _walk(root: _Node) -> Iterator[tuple[_Node, int]]:
    """Every node with its depth, without recursion, so a deep tree cannot break the walk."""
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((child, depth + 1) for child in node.children())


# -- the parser ---------------------------------------------------------------------------


class _Parser:
    """Recursive descent, one method per precedence level, loosest first."""

    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.index = 0
        self.nesting = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.token
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    def at(self, text: str, ahead: int = 0) -> bool:
        token = self.tokens[min(self.index + ahead, len(self.tokens) - 1)]
        return token.kind in ("symbol", "keyword") and token.text == text

    def accept(self, text: str) -> bool:
        return self.at(text) and bool(self.advance())

    def expect(self, text: str, message: str = "") -> None:
        if not self.accept(text):
            raise self.error(message or f"expected '{text}' but found {self.found()}")

    def found(self) -> str:
        return "the end" if self.token.kind == "end" else f"'{self.token.text}'"

    def error(self, message: str, token: _Token | None = None) -> ExpressionError:
        return ExpressionError(f"{message} at character {(token or self.token).pos + 1}")

    def nested(self, parse: Callable[[], _T]) -> _T:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise self.error(f"the condition is nested too deeply (more than {MAX_DEPTH} levels)")
        result = parse()
        self.nesting -= 1
        return result

    def parse(self) -> _Node:
        node = self.or_()
        if self.token.kind != "end":
            raise self.error(f"unexpected {self.found()}")
        return node

    def or_(self) -> _Node:
        return self.logical("or", self.and_)

    def and_(self) -> _Node:
        return self.logical("and", self.not_)

    def logical(self, word: str, operand: Callable[[], _Node]) -> _Node:
        operands = [operand()]
        while self.accept(word):
            operands.append(operand())
        return operands[0] if len(operands) == 1 else Logical(word, tuple(operands))

    def not_(self) -> _Node:
        return Not(self.nested(self.not_)) if self.accept("not") else self.comparison()

    def comparison_operator(self) -> str | None:
        if self.token.kind == "symbol" and self.token.text in _COMPARISONS:
            return self.token.text
        if self.at("in"):
            return "in"
        return "not in" if self.at("not") and self.at("in", 1) else None

    def comparison(self) -> _Node:
        left = self.additive()
        op = self.comparison_operator()
        if op is None:
            return left
        for _ in op.split():
            self.advance()
        node: _Node
        if op in ("in", "not in"):
            node = Membership(left, self.list_literal(op), negated=op == "not in")
        else:
            node = Compare(op, left, self.additive())
        if self.comparison_operator() is not None:
            raise self.error("comparisons cannot be chained; join them with 'and'")
        return node

    def additive(self) -> _Node:
        return self.arithmetic("+-", self.multiplicative)

    def multiplicative(self) -> _Node:
        return self.arithmetic("*/", self.unary)

    def arithmetic(self, ops: str, operand: Callable[[], _Node]) -> _Node:
        node = operand()
        while self.token.kind == "symbol" and self.token.text in ops:
            node = Arithmetic(self.advance().text, node, operand())
        return node

    def unary(self) -> _Node:
        return Negate(self.nested(self.unary)) if self.accept("-") else self.primary()

    def primary(self) -> _Node:
        token = self.token
        if token.kind in ("number", "text"):
            self.advance()
            return Literal(token.value)  # type: ignore[arg-type]
        if token.kind == "keyword" and token.text in ("true", "false"):
            self.advance()
            return Literal(token.text == "true")
        if self.accept("."):
            return Reference(SELF)
        if token.kind == "name":
            self.advance()
            return self.nested(lambda: self.call(token)) if self.at("(") else Reference(token.text)
        if self.accept("("):
            node = self.nested(self.or_)
            self.expect(")")
            return node
        if self.at("["):
            raise self.error("a list [...] can only follow 'in' or 'not in'")
        if token.kind == "end":
            raise self.error("the condition ends too early")
        raise self.error(f"unexpected {self.found()}")

    def call(self, name: _Token) -> _Node:
        function = name.text
        if function not in _FUNCTIONS:
            known = ", ".join(sorted(_FUNCTIONS))
            raise self.error(f"unknown function '{function}' (known: {known})", name)
        wanted, usage = _FUNCTIONS[function]
        self.advance()  # the opening bracket
        args = [] if self.at(")") else [self.or_()]
        while args and self.accept(","):
            args.append(self.or_())
        self.expect(")")
        if len(args) != wanted:
            message = f"{function}() takes {wanted} argument{'' if wanted == 1 else 's'}"
            raise self.error(f"{message}, got {len(args)}: write {usage}", name)
        if function == "today":
            return Today()
        if function == "choice":
            if not (isinstance(attribute := args[0], Literal) and isinstance(attribute.value, str)):
                raise self.error(f"choice() needs an attribute name in quotes: write {usage}", name)
            return ChoiceAttribute(attribute.value)
        if not isinstance(item := args[0], Reference):
            raise self.error(f"{function}() needs an item id first: write {usage}", name)
        if function == "count_selected":
            return CountSelected(item)
        if not (isinstance(choice := args[1], Literal) and isinstance(choice.value, str)):
            raise self.error(f"selected() needs a choice id in quotes: write {usage}", name)
        return Selected(item, choice.value)

    def list_literal(self, op: str) -> ListLiteral:
        start = self.token
        self.expect("[", f"'{op}' must be followed by a list such as ['a', 'b']")
        if self.at("]"):
            raise self.error("an empty list matches nothing; name at least one value")
        values = [self.list_value()]
        while self.accept(","):
            values.append(self.list_value())
        self.expect("]")
        kinds = {TEXT if isinstance(value, str) else NUMBER for value in values}
        if len(kinds) > 1:
            raise self.error("a list cannot mix text and numbers", start)
        return ListLiteral(tuple(values), kinds.pop())

    def list_value(self) -> int | float | str:
        negative = self.accept("-")
        token = self.token
        if token.kind == "number" or (token.kind == "text" and not negative):
            self.advance()
            return -token.value if negative else token.value  # type: ignore[operator,return-value]
        raise self.error(f"a list holds numbers or text in quotes, not {self.found()}")


# -- the public face ----------------------------------------------------------------------


@dataclass(frozen=True)
class Expression:
    """A parsed condition; make one with :func:`parse`."""

    source: str
    tree: _Node = field(repr=False, compare=False)

    def references(self) -> frozenset[str]:
        """The item ids the condition reads, SELF included when it uses ``.``."""
        return frozenset(node.name for node, _ in _walk(self.tree) if isinstance(node, Reference))

    def attributes(self) -> frozenset[str]:
        """The choice attributes a choice_filter reads with ``choice('name')``."""
        return frozenset(node.name for node, _ in _walk(self.tree) if isinstance(node, ChoiceAttribute))

    def check(
        self,
        types: Mapping[str, ValueType],
        *,
        choices: Mapping[str, frozenset[str]] = _NO_CHOICES,
        expect: ValueType | None = ValueType.BOOL,
        attributes: frozenset[str] | None = None,
    ) -> ValueType:
        """The condition's result type; ExpressionError when it does not fit the form's items.

        ``types`` gives each item's type (and SELF's, where ``.`` is allowed); ``choices`` gives
        the choice ids of choice items, so that a misspelt choice id is caught; ``attributes``,
        in a choice_filter only, the attributes its choices carry, read with ``choice('name')``.
        """
        result = self.tree.check(_TypeEnv(types, choices, attributes))
        if expect is not None and result is not expect:
            raise ExpressionError(f"the condition gives {result.value} where {expect.value} is needed")
        return result

    def evaluate(
        self,
        answers: Mapping[str, object],
        *,
        today: datetime.date | None = None,
        choice: Mapping[str, str] | None = None,
    ) -> object:
        """The condition's value for these answers; a missing key counts as unanswered.

        ``choice``: in a choice_filter, the attributes of the choice it decides on.
        """
        return self.tree.evaluate(_Answers(answers, today, choice))


def parse(source: str) -> Expression:
    """Read a condition, or raise ExpressionError saying what is wrong and where."""
    if not isinstance(source, str):
        raise ExpressionError(f"a condition must be text, not {type(source).__name__}")
    if len(source) > MAX_SOURCE_LENGTH:
        too_long = f"{len(source)} characters; at most {MAX_SOURCE_LENGTH}"
        raise ExpressionError(f"the condition is too long ({too_long})")
    if not source.strip():
        raise ExpressionError("the condition is empty")
    tree = _Parser(source).parse()
    # Brackets are limited while parsing; long chains such as 1+1+1+... are caught here.
    if max(depth for _, depth in _walk(tree)) > MAX_DEPTH:
        raise ExpressionError(f"the condition is nested too deeply (more than {MAX_DEPTH} levels)")
    return Expression(source, tree)
