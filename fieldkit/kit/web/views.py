"""What the interview templates show: items as view models, languages, and failures.

Templates stay simple: every string they print comes translated from here or
from their own ``_()`` calls, and no answer ever reaches a page other than the
draft's own section being edited.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import g, render_template
from flask_babel import force_locale, ngettext
from flask_babel import gettext as _

from fieldkit.core.formengine.answers import allowed_choices, expression_answers, is_relevant
from fieldkit.core.formengine.labels import BUILT_IN_LABELS, LIKERT_LABELS
from fieldkit.core.formengine.model import DONT_KNOW, OFFERS, PREFER_NOT, WHO_CAN_OPEN, Form, Item, Section
from fieldkit.core.formengine.wording import choice_context, form_strings, item_context, section_context
from fieldkit.core.i18n.catalogues import SOURCE_LANGUAGE, catalogue_digest
from fieldkit.core.i18n.cldr_formats import format_list
from fieldkit.core.storage.atomic import StorageError
from fieldkit.kit.drafts import Draft
from fieldkit.kit.web.clock import from_stamp, local_time
from fieldkit.kit.web.conditions import condition_json, live_calculations, live_ids
from fieldkit.kit.web.cues import cue
from fieldkit.kit.web.i18n import (
    current_language,
    form_text,
    forms_coverage,
    interface_languages,
    language_name,
    serving_languages,
    translations_dir,
)
from fieldkit.kit.web.references import fill_references
from fieldkit.kit.web.services import services

log = logging.getLogger("fieldkit.kit.web")

# -- languages -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Availability:
    language: str
    complete: bool
    usable: bool
    reason: str = ""

    @property
    def name(self) -> str:
        return language_name(self.language)


def form_languages(form: Form) -> dict[str, Availability]:
    """Each language with a catalogue, and whether this form may be used in it."""
    allow_pilot = services().settings.allow_incomplete_translations
    result = {SOURCE_LANGUAGE: Availability(SOURCE_LANGUAGE, True, True)}
    wanted = frozenset((s.context, s.text) for s in form_strings(form))
    for language in interface_languages()[1:]:
        coverage = forms_coverage(language, wanted)  # not the wording itself: see catalogue_coverage
        if coverage is None:
            result[language] = Availability(language, False, False, _("its translation has errors"))
            continue
        if coverage.digest is None:
            result[language] = Availability(language, False, allow_pilot, _("no translation of the forms yet"))
            continue
        missing = coverage.missing
        if missing == 0:
            result[language] = Availability(language, True, True)
            continue
        fuzzy = coverage.fuzzy
        # TRANSLATORS: %(missing)s texts of the form's %(num)s are not translated yet.
        untranslated = ngettext(
            "%(missing)s of %(num)s text not translated", "%(missing)s of %(num)s texts not translated",
            len(wanted), missing=missing,
        )  # fmt: skip
        to_review = ngettext("%(num)s to review", "%(num)s to review", fuzzy)
        # TRANSLATORS: joins "5 of 300 texts not translated" and "2 to review".
        reason = _("%(untranslated)s, %(to_review)s", untranslated=untranslated, to_review=to_review)
        result[language] = Availability(language, False, allow_pilot, reason)
    for language in sorted(serving_languages().unavailable):
        result[language] = Availability(language, False, False, _("its translation has errors"))
    return result


def unavailable_notices() -> list[str]:
    """One sentence per language or form the kit cannot offer, for the operator."""
    notices = [
        ngettext(
            "%(language)s is not offered: its catalogues have %(num)s error. Run 'fieldkit translations check'.",
            "%(language)s is not offered: its catalogues have %(num)s errors. Run 'fieldkit translations check'.",
            len(problems),
            language=language_name(language),
        )
        for language, problems in sorted(serving_languages().unavailable.items())
    ]
    notices += [
        ngettext(
            "The form in %(file)s is not offered: it has %(num)s problem. Run 'fieldkit forms check'.",
            "The form in %(file)s is not offered: it has %(num)s problems. Run 'fieldkit forms check'.",
            len(problems),
            file=name,
        )
        for name, problems in sorted(services().broken_forms.items())
    ]
    return notices


def catalogue_hash(language: str) -> str | None:
    """A hash of the catalogues an interview was shown in (None for the source language)."""
    if language == SOURCE_LANGUAGE:
        return None
    digests = [catalogue_digest(translations_dir(), language, domain) or "" for domain in ("messages", "forms")]
    return "sha256:" + hashlib.sha256("\n".join(digests).encode("ascii")).hexdigest()


# -- forms and drafts for the home page ------------------------------------------------------------


def form_choice(form: Form) -> dict[str, Any]:
    return {
        "id": form.id,
        "title": form_text(current_language(), f"{form.id}/:title", form.title),
        "languages": list(form_languages(form).values()),
        "sections": len(form.sections),
    }


def draft_progress(form: Form, draft: Draft) -> str:
    """ "started 14:00, page 4 of 11": when, on the kit's clock, and how far it got."""
    moment = from_stamp(draft.started)
    when = local_time(moment) if moment is not None else draft.started
    ids = [s.id for s in form.sections]
    if draft.section in ids:
        return _(
            "started %(time)s, page %(number)s of %(total)s",
            time=when,
            number=ids.index(draft.section) + 1,
            total=len(ids),
        )
    return _("started %(time)s, at the review", time=when)


def draft_summary(form: Form, draft: Draft) -> dict[str, Any]:
    titles = {s.id: s.title for s in form.sections}
    return {
        "id": draft.draft_id,
        "form_title": form_text(draft.language, f"{form.id}/:title", form.title),
        "progress": draft_progress(form, draft),
        "language": language_name(draft.language),
        "where": form_text(draft.language, section_context(form, draft.section), titles[draft.section])
        if draft.section in titles
        else _("Review"),
    }


# -- items on a page ---------------------------------------------------------------------------------


@dataclass
class ItemView:
    id: str
    type: str
    label: str
    hint: str
    required: bool
    sensitive: bool
    value: Any
    error: str | None
    choices: list[tuple[str, str]] = field(default_factory=list)
    offers: list[tuple[str, str]] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    when: str | None = None
    cue: str = ""  # "answer only if ...", shown while no script applies the skip logic
    read_choices: bool = True  # False: the interviewer ticks what the person says
    stop: str | None = None  # the item's stop_if as JSON: the script's skip logic shows stop_note at once
    stop_note: str = ""
    script: list[str] = field(default_factory=list)  # a consent item's words read aloud, by paragraph
    choice_when: dict[str, str] = field(default_factory=dict)  # choice id -> its choice_filter as JSON
    filter_cue: str = ""  # without the page script: the choices shown are not yet filtered
    minimal: bool = False  # a drop-down list
    horizontal: bool = False  # answers side by side, wrapping
    # Said when this required question was left blank: shown on a page saved before with it
    # blank; ``required_blank`` is the skip logic's "no answer", which hides it once answered.
    required_message: str = ""
    required_blank: str | None = None

    @property
    def input_type(self) -> str:
        return {"date": "date", "time": "time", "datetime": "datetime-local"}.get(self.type, "text")

    def checked(self, choice_id: str) -> bool:
        if isinstance(self.value, list):
            return choice_id in self.value
        return str(self.value) == choice_id if self.value is not None else False

    @property
    def text_value(self) -> str:
        if self.value is None or self.value in (PREFER_NOT, DONT_KNOW) or isinstance(self.value, list):
            return ""
        return str(self.value)


def item_choices(item: Item) -> list[tuple[str, str]]:
    """The interface's own labels for yes/no and consent answers, in the page's language."""
    return [(choice.id, _(BUILT_IN_LABELS[choice.id])) for choice in item.choices]


def _choices(form: Form, item: Item, language: str) -> list[tuple[str, str]]:
    if item.type == "likert":
        return [(str(n), _(label)) for n, label in enumerate(LIKERT_LABELS[item.scale or "agreement"], start=1)]
    if item.type in ("yes_no", "consent"):
        return item_choices(item)
    return [
        (choice.id, form_text(language, choice_context(form, item, choice.id), choice.label)) for choice in item.choices
    ]


def _attrs(item: Item) -> dict[str, Any]:
    if item.type == "integer":
        return {"inputmode": "numeric", "min": item.min, "max": item.max, "step": 1}
    if item.type == "decimal":
        return {"inputmode": "decimal", "min": item.min, "max": item.max, "step": "any"}
    if item.type == "text":
        return {"maxlength": item.max_length}
    return {}


def shown_answer(form: Form, item_id: str, language: str, answers: dict[str, Any]) -> str:
    """An answer as a label shows it (``${item}``): choices by their label in ``language``."""
    value = answers.get(item_id)
    if value is None:
        return ""
    if value in OFFERS or isinstance(value, bool):
        return _(BUILT_IN_LABELS[value if value in OFFERS else ("yes" if value else "no")])
    if isinstance(value, float):  # a calculated share, say: two decimals are plenty inside a sentence
        return f"{value:.2f}".rstrip("0").rstrip(".")
    labels = dict(_choices(form, form.item(item_id), language))
    if isinstance(value, list):
        return ", ".join(labels.get(str(choice), str(choice)) for choice in value)
    return labels.get(str(value), str(value))


def _filled(form: Form, language: str, answers: dict[str, Any], context: str, text: str) -> str:
    """A label or hint in ``language`` with the ``${item}`` answers saved so far in it."""
    return fill_references(form_text(language, context, text), lambda name: shown_answer(form, name, language, answers))


def item_view(
    form: Form,
    section: Section,
    item: Item,
    language: str,
    answers: dict[str, Any],
    error: str | None,
    saved: Sequence[str] = (),
) -> ItemView:
    when = None
    cue_text = ""
    if item.relevant is not None:
        on_page = live_ids(form, section)
        if item.relevant.references() & on_page:
            values = expression_answers(form, answers)
            known = {key: value for key, value in values.items() if key not in on_page}
            calculations = live_calculations(form, on_page)
            when = json.dumps(condition_json(item.relevant, known, calculations=calculations), separators=(",", ":"))
            cue_text = cue(
                form,
                item,
                language,
                lambda other: form_text(language, item_context(form, other), other.label),
                lambda other: _choices(form, other, language),
            )
    choices = _choices(form, item, language)
    filtering = _choice_filter(form, section, item, answers)
    if filtering is not None and not filtering[1]:  # the filter reads earlier pages only: the kit applies it
        choices = [(value, label) for value, label in choices if value in filtering[0]]
    return ItemView(
        id=item.id,
        type=item.type,
        label=_filled(form, language, answers, item_context(form, item), item.label),
        hint=_filled(form, language, answers, item_context(form, item, ":hint"), item.hint),
        required=item.required or item.type == "consent",  # consent is always asked for
        sensitive=item.sensitive,
        value=answers.get(item.id),
        error=error,
        choices=choices,
        offers=[(offer, _(BUILT_IN_LABELS[offer])) for offer in item.offer],
        attrs={key: value for key, value in _attrs(item).items() if value is not None},
        when=when,
        cue=cue_text,
        read_choices=item.read_choices,
        **_stop(form, section, item, language, answers),
        script=consent_script(form, item, language),
        choice_when=filtering[1] if filtering is not None else {},
        filter_cue=_("Choose an answer that goes with the answers above.") if filtering and filtering[1] else "",
        minimal=item.appears("minimal"),
        horizontal=item.appears("horizontal"),
        **_required_note(form, section, item, language, answers, saved),
    )


def _choice_filter(
    form: Form, section: Section, item: Item, answers: dict[str, Any]
) -> tuple[set[str], dict[str, str]] | None:
    """The choices an item's choice_filter keeps, and, when it reads this page, each choice's filter as JSON.

    A filter that reads only earlier pages is applied here: the page holds only the choices kept.
    One that reads this page's answers is left to the page script, choice by choice (data-when),
    and the kit checks the answer on the POST either way.
    """
    if item.choice_filter is None:
        return None
    on_page = live_ids(form, section)
    if not item.choice_filter.references() & on_page:
        return {choice.id for choice in allowed_choices(form, item, answers)}, {}
    known = {key: value for key, value in expression_answers(form, answers).items() if key not in on_page}
    calculations = live_calculations(form, on_page)
    # The question's own condition too, so that a choice in a hidden question stays disabled.
    relevant = item.relevant
    reads_page = relevant is not None and bool(relevant.references() & on_page)
    asked = condition_json(relevant, known, calculations=calculations) if relevant and reads_page else None
    when = {}
    for choice in item.choices:
        keep = condition_json(item.choice_filter, known, calculations=calculations, choice=choice.attribute_map)
        when[choice.id] = json.dumps(["and", [asked, keep]] if asked else keep, separators=(",", ":"))
    return {choice.id for choice in item.choices}, when


def _required_note(
    form: Form, section: Section, item: Item, language: str, answers: dict[str, Any], saved: Sequence[str]
) -> dict[str, Any]:
    """A required question's own message, on a page saved before with the question blank.

    The review lists the question with the same words. The page script hides the message
    as soon as an answer is given (with ``blank``, the skip logic's condition "no answer"),
    except where the question offers "prefer not" or "don't know", which that logic reads
    as no answer: there the message stays until the page is saved.
    """
    if not item.required_message or section.id not in saved or answers.get(item.id) is not None:
        return {}
    blank = None if item.offer else json.dumps(["not", ["cmp", "!=", ["ref", item.id], ["lit", ""]]])
    return {"required_message": required_message(form, item, language), "required_blank": blank}


def required_message(form: Form, item: Item, language: str) -> str:
    """The form's own words for this required question left blank, in ``language`` ("" when it has none)."""
    if not item.required_message:
        return ""
    return form_text(language, item_context(form, item, ":required"), item.required_message)


def _stop(form: Form, section: Section, item: Item, language: str, answers: dict[str, Any]) -> dict[str, Any]:
    """What the page script needs to show an item's stop note as soon as the answer is picked.

    Only a hint for the interviewer: the server decides on the POST (interview.py).
    """
    if item.stop_if is None:
        return {}
    on_page = live_ids(form, section)
    known = {key: value for key, value in expression_answers(form, answers).items() if key not in on_page}
    calculations = live_calculations(form, on_page)
    stop = condition_json(item.stop_if, known, self_id=item.id, calculations=calculations)
    return {
        "stop": json.dumps(stop, separators=(",", ":")),
        "stop_note": form_text(language, item_context(form, item, ":stop"), item.stop_note),
    }


def who_can_open(language: str) -> str:
    """Who can open the sealed answers, in ``language``: the roles of the kit's recipients, as a list."""
    with force_locale(language):
        names = [_(text) for text in services().kit.config.who_can_open()]
    return format_list(names, language)


def consent_script(form: Form, item: Item, language: str) -> list[str]:
    """A consent item's script in ``language``, with who can open the answers, as paragraphs (a line each)."""
    if not item.script:
        return []
    text = form_text(language, item_context(form, item, ":script"), item.script)
    text = text.replace("{" + WHO_CAN_OPEN + "}", who_can_open(language))
    return [line.strip() for line in text.splitlines() if line.strip()]


def _shown_on_page(form: Form, section: Section, item: Item, answers: dict[str, Any]) -> bool:
    """Items hidden by answers on other pages are left out; same-page logic is the script's."""
    if not item.takes_answer and item.type != "note":
        return False  # a calculate item: worked out by the kit, never shown
    if item.relevant is None:
        return True
    if item.relevant.references() & live_ids(form, section):
        return True
    return is_relevant(form, item, answers)


def render_section(
    form: Form,
    draft: Draft,
    section: Section,
    page: Any,
    *,
    answers: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> tuple[str, int]:
    language = draft.language
    if section.id not in draft.saved:  # a page not saved yet starts with its items' defaults
        answers = {**{item.id: item.default for item in section.items if item.default is not None}, **answers}
    items = [
        item_view(form, section, item, language, answers, errors.get(item.id), draft.saved)
        for item in section.items
        if _shown_on_page(form, section, item, answers)
    ]
    position = [s.id for s in form.sections].index(section.id) + 1
    heading = form_text(language, section_context(form, section.id) + ":heading", section.heading)
    html = render_template(
        "section.html",
        form_title=form_text(language, f"{form.id}/:title", form.title),
        section_title=form_text(language, section_context(form, section.id), section.title),
        section_heading=heading if section.heading else "",
        centre=draft.centre,
        position=position,
        total=len(form.sections),
        first=position == 1,
        draft_id=draft.draft_id,
        section_id=section.id,
        items=items,
        errors=[(view.id, view.label, view.error) for view in items if view.error],
        page=page,
        languages=[(a.language, a.name) for a in form_languages(form).values() if a.usable],
    )
    return html, status


def render_review(
    form: Form,
    draft: Draft,
    missing: list[tuple[Section, Item]],
    sections: list[Section],
    *,
    problems: Sequence[tuple[Section, Item, str]] = (),
    refusal: str | None = None,
) -> str:
    language = draft.language

    def entry(s: Section, item: Item) -> dict[str, str]:
        return {
            "section": s.id,
            "section_title": form_text(language, section_context(form, s.id), s.title),
            "label": _filled(form, language, draft.answers, item_context(form, item), item.label),
            "item": item.id,
            "required_message": required_message(form, item, language),
        }

    answered = {
        s.id: sum(1 for item in s.items if item.takes_answer and draft.answers.get(item.id) is not None)
        for s in sections
    }
    return render_template(
        "review.html",
        form_title=form_text(language, f"{form.id}/:title", form.title),
        draft_id=draft.draft_id,
        centre=draft.centre,
        refusal=refusal,
        missing=[entry(s, item) for s, item in missing],
        problems=[{**entry(s, item), "message": message} for s, item, message in problems],
        sections=[
            {"id": s.id, "title": form_text(language, section_context(form, s.id), s.title), "answered": answered[s.id]}
            for s in sections
        ],
    )


def storage_failure(error: StorageError) -> tuple[str, int]:
    """The interviewer sees, in the interview's language, that nothing was saved and why.

    The storage layer's sentence is English and names a path on the kit: it goes to the
    operator's log (it never holds an answer), and the phone gets what it can act on.
    """
    log.error("%s", error)
    g.setdefault("language", None)
    if error.disk_full:
        message = _(
            "The kit's disk is full, so nothing was saved. Tell the kit's operator. What was saved before is safe."
        )
    else:
        message = _(
            "The kit could not save this, so nothing was saved. What was saved before is safe. "
            "Try again, or tell the kit's operator."
        )
    return render_template("error.html", title=_("Not saved"), message=message), 503
