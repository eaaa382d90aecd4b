"""A Babel extraction method for form definitions (forms/*.yaml).

Each piece of wording becomes one ``pgettext`` message whose context is the
string's place in the form (see :mod:`fieldkit.core.formengine.wording`), with a
translator comment naming the Standards tags and the form author's note.

``fieldkit translations extract`` calls it directly; it is also registered as the
Babel extractor ``fieldkit_forms``, so ``pybabel extract`` can use it with a
mapping line ``[fieldkit_forms: forms/*.yaml]``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import yaml

from fieldkit.core.formengine.loader import load_form
from fieldkit.core.formengine.model import Form
from fieldkit.core.formengine.wording import form_strings

CONTEXT_KEYWORD = "pgettext"  # Babel's keyword whose first argument is the context


def extract_form_wording(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Yield ``(line, "pgettext", (context, text), [comment])`` for every string of one form.

    A form with errors raises :class:`~fieldkit.core.formengine.loader.FormDefinitionError`:
    wording that cannot be loaded must not be silently left out of the template.
    """
    del comment_tags, options  # every string carries its comment; there are no options
    if CONTEXT_KEYWORD not in keywords:
        raise ValueError(f"the form extractor needs the keyword '{CONTEXT_KEYWORD}' (with its context argument)")
    for string in form_strings(_load(fileobj)):
        yield (
            string.line,
            CONTEXT_KEYWORD,
            (string.context, string.text),
            [string.comment] if string.comment else [],
        )


def _load(fileobj: IO[bytes]) -> Form:
    name = getattr(fileobj, "name", None)
    if isinstance(name, str) and Path(name).is_file():
        return load_form(Path(name))
    # A stream without a file behind it: the form loader reads files, so give it one,
    # named after the form's id as the loader requires.
    data = fileobj.read()
    parsed = yaml.safe_load(data)
    form_id = parsed.get("id") if isinstance(parsed, dict) else None
    name = form_id if isinstance(form_id, str) and form_id.replace("-", "").isalnum() else "form"
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / f"{name}.yaml"
        copy.write_bytes(data)
        return load_form(copy)
