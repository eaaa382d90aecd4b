"""A short "answer only if ..." line for follow-up questions, for phones without JavaScript.

With the page script, skip logic hides a follow-up question until it applies; without
it the question is always shown, so the interviewer needs to know when to ask it.
Simple conditions (one question's answer is one of some choices) are written out
with the question and the answers in the page's language; any other condition gets
a generic line. The server applies the real condition on every save either way.
"""

from __future__ import annotations

from collections.abc import Callable

from flask_babel import gettext as _

from fieldkit.core.formengine import expressions as ex
from fieldkit.core.formengine.model import Form, Item
from fieldkit.core.i18n.cldr_formats import format_list


def simple_condition(expression: ex.Expression) -> tuple[str, list[str]] | None:
    """(item id, choice ids) when the condition only asks "the answer to X is one of these"."""
    return _one_of(expression.tree)


def _one_of(node: object) -> tuple[str, list[str]] | None:
    if isinstance(node, ex.Compare) and node.op == "==":
        for ref, value in ((node.left, node.right), (node.right, node.left)):
            if isinstance(ref, ex.Reference) and isinstance(value, ex.Literal) and isinstance(value.value, str):
                return ref.name, [value.value]
    if isinstance(node, ex.Selected):
        return node.item.name, [node.choice]
    if isinstance(node, ex.Membership) and not node.negated and isinstance(node.element, ex.Reference):
        values = node.options.values
        return (node.element.name, [str(v) for v in values]) if all(isinstance(v, str) for v in values) else None
    if isinstance(node, ex.Logical) and node.word == "or":
        parts = [part for part in (_one_of(operand) for operand in node.operands) if part is not None]
        if len(parts) == len(node.operands) and len({name for name, _choices in parts}) == 1:
            return parts[0][0], [choice for _name, choices in parts for choice in choices]
    return None


def cue(
    form: Form,
    item: Item,
    language: str,
    label_of: Callable[[Item], str],
    choices_of: Callable[[Item], list[tuple[str, str]]],
) -> str:
    """The line shown under a follow-up question when the page script is not running."""
    if item.relevant is None:
        return ""
    simple = simple_condition(item.relevant)
    source = next((other for other in form.items if simple and other.id == simple[0]), None)
    if simple is None or source is None:
        return _("Answer only if it applies.")
    labels = dict(choices_of(source))
    if not all(choice in labels for choice in simple[1]):
        return _("Answer only if it applies.")
    question = label_of(source)
    if len(question) > 80:
        question = question[:77].rstrip() + "…"
    answers = format_list([labels[choice] for choice in simple[1]], language, style="or")
    # TRANSLATORS: %(question)s is an earlier question; %(answers)s one or more of its answers, joined by "or".
    return _("Answer only if the answer to “%(question)s” was: %(answers)s.", question=question, answers=answers)
