"""The centre picker: the list of centres an interview may be about, grouped by region, and its search.

The list is the form pack's (``Programme.centres_for``): code, region and kind only. The
search matches code and region the way codes are compared everywhere
(:func:`~fieldkit.core.formengine.codes.canonical_code`, then without regard to case), on
the kit with JavaScript off (``?q=``) and in the phone with ``kit.js``, which filters the
same list by the same rule (``data-match`` holds the text it compares).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby

from flask import render_template

from fieldkit.core.formengine.codes import canonical_code
from fieldkit.core.formengine.model import CENTRE_OPTIONAL, Form
from fieldkit.core.formengine.wording import choice_context
from fieldkit.kit.programme import Centre, Programme
from fieldkit.kit.web.i18n import form_text

__all__ = ["KIND_ITEM", "PREFERS_NOT", "matches", "render_picker", "search_key"]

# The value posted for "The person prefers not to say": never a centre code, which starts
# with a letter or digit (docs/programme.md).
PREFERS_NOT = "_prefers_not"
# The forms' item whose choices are the kinds of centre (the hub's registry uses the same).
KIND_ITEM = "setting"
_QUERY_MAX = 64


@dataclass(frozen=True)
class CentreChoice:
    code: str
    region: str
    kind: str  # the kind's label, in the page's language
    match: str  # what the search compares: code and region, folded


def search_key(text: str) -> str:
    """``text`` as the search compares it: canonical (NFKC, no invisible characters), case folded."""
    return canonical_code(text).casefold()


def matches(centre: Centre, query: str) -> bool:
    """Whether the centre's code or region holds what was searched for (everything, for an empty search)."""
    wanted = search_key(query)
    return not wanted or wanted in search_key(centre.code) or wanted in search_key(centre.region)


def kind_label(programme: Programme, kind: str, language: str) -> str:
    """The label of a kind of centre, from the current forms' ``setting`` choices, translated."""
    for form in programme.current_forms().values():
        item = next((item for item in form.items if item.id == KIND_ITEM), None)
        if item is None:
            continue
        choice = next((choice for choice in item.choices if choice.id == kind), None)
        if choice is not None:
            return form_text(language, choice_context(form, item, kind), choice.label)
    return kind


def render_picker(
    programme: Programme,
    form: Form,
    language: str,
    offered: tuple[Centre, ...],
    *,
    query: str = "",
    error: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    query = canonical_code(query)[:_QUERY_MAX]
    shown = sorted((c for c in offered if matches(c, query)), key=lambda c: (c.region, c.code))

    def choice(centre: Centre) -> CentreChoice:
        label = kind_label(programme, centre.kind, language)
        return CentreChoice(centre.code, centre.region, label, search_key(f"{centre.code} {centre.region}"))

    regions = [(region, [choice(c) for c in centres]) for region, centres in groupby(shown, key=lambda c: c.region)]
    html = render_template(
        "centre.html",
        form_id=form.id,
        form_title=form_text(language, f"{form.id}/:title", form.title),
        language=language,
        regions=regions,
        query=query,
        total=len(offered),
        shown=len(shown),
        optional=form.centre == CENTRE_OPTIONAL,
        prefers_not=PREFERS_NOT,
        error=error,
    )
    return html, status
