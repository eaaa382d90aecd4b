"""Flask-WTF forms built from a form definition, one class per section.

Each item becomes an :class:`AnswerField` that keeps the raw submitted values
and turns them into a typed answer with the form engine's own rules, so the
browser decides nothing. The FlaskForm base adds the CSRF token check.
"""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import ValidationError

from fieldkit.core.formengine.answers import AnswerError, parse_answer
from fieldkit.core.formengine.model import Form, Item
from fieldkit.kit.web.i18n import translate_message

# Shapes that suggest a name-like identifier slipped into free text.
PHONE = re.compile(r"(?<!\w)\+?\d[\d\s().-]{6,}\d(?!\w)")
EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]{2,}")


def looks_identifying(text: str) -> bool:
    """True when free text seems to hold a phone number or an e-mail address."""
    return bool(EMAIL.search(text)) or any(len(re.sub(r"\D", "", match.group())) >= 7 for match in PHONE.finditer(text))


class AnswerField(Field):
    """One item's answer: raw values in, a typed answer (or None) out."""

    def __init__(self, item: Item, **kwargs: Any) -> None:
        super().__init__(label=item.label, **kwargs)
        self.item = item
        self.raw: list[str] = []

    def process_formdata(self, valuelist: list[str]) -> None:
        self.raw = [value for value in valuelist if isinstance(value, str)]

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            self.data = parse_answer(self.item, self.raw)
        except AnswerError as error:
            self.data = None
            raise ValidationError(translate_message(error.message)) from None


_classes: dict[tuple[str, str, str], type[FlaskForm]] = {}


def section_form_class(form: Form, section_id: str) -> type[FlaskForm]:
    key = (form.key, form.content_hash, section_id)
    if key not in _classes:
        section = next(section for section in form.sections if section.id == section_id)
        fields = {f"f_{item.id}": AnswerField(item, name=item.id) for item in section.items if item.takes_answer}
        _classes[key] = type(f"Section_{section_id}", (FlaskForm,), fields)
    return _classes[key]


def answer_fields(form: FlaskForm) -> list[AnswerField]:
    return [field for field in form if isinstance(field, AnswerField)]
