"""Every piece of a form's wording, each with a stable context for translators.

The context (gettext ``msgctxt``) names where a string lives, so that the same
English text in two places can be translated differently, and a changed source
string is matched to its old translation and marked fuzzy, not silently reused:

    <form>/:title  <form>/:description  <form>/section:<section>  <form>/section:<section>:heading
    <form>/<item>  <form>/<item>:script  <form>/<item>:hint  <form>/<item>:constraint
    <form>/<item>:required  <form>/<item>:stop  <form>/<item>/<choice>

A label or hint may hold ``${item}``: the answer to an earlier item, put in by the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldkit.core.formengine.model import Form, Item

BUILT_IN_CHOICE_TYPES = ("yes_no", "consent")  # their labels are interface strings


@dataclass(frozen=True)
class FormString:
    context: str
    text: str
    comment: str
    line: int


def item_context(form: Form, item: Item, part: str = "") -> str:
    return f"{form.id}/{item.id}{part}"


def choice_context(form: Form, item: Item, choice_id: str) -> str:
    return f"{form.id}/{item.id}/{choice_id}"


def section_context(form: Form, section_id: str) -> str:
    return f"{form.id}/section:{section_id}"


def _item_comment(item: Item, note: str) -> str:
    parts = []
    if item.tags:
        parts.append("Standards: " + ", ".join(item.tags))
    if item.sensitive:
        parts.append("sensitive question: keep the wording gentle")
    if note:
        parts.append(note)
    return "; ".join(parts)


def _reference_comment(text: str, comment: str) -> str:
    if "${" not in text:
        return comment
    note = "keep each ${...} exactly as it is: the page puts there the answer to that question"
    return f"{note}; {comment}" if comment else note


# A section's wording beside its title: the attribute, and the note translators see.
_SECTION_EXTRAS = (
    ("topic", "what the section is about, for the codebook and the report; never shown on the phone"),
    ("heading", "a small line above the section title: the parts of the form it belongs to"),
)


def form_strings(form: Form) -> list[FormString]:
    strings = [FormString(f"{form.id}/:title", form.title, "form title", 0)]
    if form.description:
        strings.append(FormString(f"{form.id}/:description", form.description, "form description", 0))
    for section in form.sections:
        strings.append(FormString(section_context(form, section.id), section.title, "section title", section.line))
        for attribute, comment in _SECTION_EXTRAS:
            text = getattr(section, attribute)
            if text:
                context = f"{section_context(form, section.id)}:{attribute}"
                strings.append(FormString(context, text, comment, section.line))
        for item in section.items:
            comment = _item_comment(item, item.translator_note)
            if item.script:
                note = (
                    "consent script, read aloud to the person before the question; keep {who_can_open} exactly "
                    "as it is: the kit puts there who can open the answers (for example \"our network's regional "
                    'team and our national network")'
                )
                context = item_context(form, item, ":script")
                strings.append(FormString(context, item.script, note + "; " + comment, item.line))
            if not item.takes_answer and item.type != "note":
                continue  # a calculate item is never shown: nothing of it is read or translated
            label_comment = _reference_comment(item.label, comment)
            strings.append(FormString(item_context(form, item), item.label, label_comment, item.line))
            if item.hint:
                hint_comment = _reference_comment(item.hint, "hint; " + comment)
                strings.append(FormString(item_context(form, item, ":hint"), item.hint, hint_comment, item.line))
            if item.required_message:
                context = item_context(form, item, ":required")
                blank = "error message: shown when this required question is left blank"
                strings.append(FormString(context, item.required_message, blank, item.line))
            if item.constraint_message:
                context = item_context(form, item, ":constraint")
                strings.append(FormString(context, item.constraint_message, "error message", item.line))
            if item.stop_note:
                context = item_context(form, item, ":stop")
                comment = "read aloud to the person when this answer stops the interview; keep it warm and plain"
                strings.append(FormString(context, item.stop_note, comment, item.line))
            if item.type in BUILT_IN_CHOICE_TYPES:
                continue
            for choice in item.choices:
                strings.append(
                    FormString(
                        choice_context(form, item, choice.id),
                        choice.label,
                        _item_comment(item, choice.translator_note) + f"; answer to: {item.label[:60]}",
                        item.line,
                    )
                )
    return strings
