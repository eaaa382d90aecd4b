"""Conditions as compact JSON, so the one small page script can apply skip logic live.

The server stays the authority: it evaluates every condition again on each POST.
The JSON is a prefix notation that ``static/app.js`` interprets:
``["ref", id]``, ``["lit", value]``, ``["date", "YYYY-MM-DD"]``, ``["list", [values]]``,
``["not", x]``, ``["and"|"or", [xs]]``, ``["cmp", op, a, b]``, ``["in", a, list, negated]``,
``["math", op, a, b]``, ``["neg", x]``, ``["sel", x, choice]``, ``["count", x]``, ``["today"]``.
In a choice_filter, ``choice('name')`` becomes the attribute's value for the choice at hand,
a ``["lit", value]``: each choice gets its own condition.
References to items on other pages become their saved values, so a page carries
no other data than its own. In an item's own condition (a ``stop_if``), ``.`` is
that item's answer on the page: ``["ref", item id]``. A calculate item whose value can
change on the page is written out as its calculation, so the script works it out live.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from fieldkit.core.formengine import expressions as ex
from fieldkit.core.formengine.model import Form, Section


def live_ids(form: Form, section: Section) -> frozenset[str]:
    """The items whose value can change while this page is open: its own, and calculations using them."""
    live = {item.id for item in section.items}
    for item in form.items:  # a calculation uses only earlier items: one pass finds them all
        if item.calculation is not None and item.calculation.references() & live:
            live.add(item.id)
    return frozenset(live)


def live_calculations(form: Form, live: frozenset[str]) -> dict[str, ex.Expression]:
    return {item.id: item.calculation for item in form.items if item.calculation is not None and item.id in live}


def condition_json(
    expression: ex.Expression,
    known: Mapping[str, Any],
    self_id: str | None = None,
    calculations: Mapping[str, ex.Expression] | None = None,
    choice: Mapping[str, str] | None = None,
) -> Any:
    """The condition as JSON; ``known`` maps ids not on this page to their values.

    ``self_id`` names the item that ``.`` stands for, in a condition about one answer;
    ``calculations`` the calculate items to write out as their calculation; ``choice`` gives the
    attributes of the choice a choice_filter decides on.
    """
    return _Converter(known, self_id, calculations or {}, choice).convert(expression.tree)


def _value(value: Any) -> Any:
    if isinstance(value, datetime.date):
        return ["date", value.isoformat()]
    if isinstance(value, frozenset | set | tuple | list):
        return ["lit", sorted(value)]
    return ["lit", value]


class _Converter:
    def __init__(
        self,
        known: Mapping[str, Any],
        self_id: str | None = None,
        calculations: Mapping[str, ex.Expression] | None = None,
        choice: Mapping[str, str] | None = None,
    ) -> None:
        self.known = known
        self.self_id = self_id
        self.calculations = calculations or {}
        self.choice = choice or {}

    def convert(self, node: Any) -> Any:
        c = self.convert
        if isinstance(node, ex.Reference) and node.name == ex.SELF and self.self_id is not None:
            return ["ref", self.self_id]
        if isinstance(node, ex.Reference) and node.name in self.calculations:
            return c(self.calculations[node.name].tree)
        if isinstance(node, ex.Reference):
            return _value(self.known[node.name]) if node.name in self.known else ["ref", node.name]
        if isinstance(node, ex.Literal):
            return ["lit", node.value]
        if isinstance(node, ex.ListLiteral):
            return ["list", list(node.values)]
        if isinstance(node, ex.Not):
            return ["not", c(node.operand)]
        if isinstance(node, ex.Logical):
            return [node.word, [c(operand) for operand in node.operands]]
        if isinstance(node, ex.Compare):
            return ["cmp", node.op, c(node.left), c(node.right)]
        if isinstance(node, ex.Membership):
            return ["in", c(node.element), c(node.options), node.negated]
        if isinstance(node, ex.Arithmetic):
            return ["math", node.op, c(node.left), c(node.right)]
        if isinstance(node, ex.Negate):
            return ["neg", c(node.operand)]
        if isinstance(node, ex.Selected):
            return ["sel", c(node.item), node.choice]
        if isinstance(node, ex.CountSelected):
            return ["count", c(node.item)]
        if isinstance(node, ex.Today):
            return ["today"]
        if isinstance(node, ex.ChoiceAttribute):
            return _value(self.choice.get(node.name))
        raise TypeError(f"no JSON form for {type(node).__name__}")
