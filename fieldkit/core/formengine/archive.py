"""Archived form versions: ``forms/archive/<form id>.v<version>.yaml``, older published versions of forms.

When a form gets a new version, its previous text moves to the archive, unchanged, so
that a draft started under it can still be finished with it and the hub can read its
records by their own definition. The archive is read strictly: a file whose name does
not say the form id and version it holds is refused, with what to rename it to.

``forms check`` checks archived versions like the current ones (``catalogue.py``): their
content must be the one ``forms.lock`` recorded, each must be older than the form's
current version, and no item id may change meaning between versions (``meanings.py``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from fieldkit.core.formengine.loader import FormDefinitionError, Problem, load_form_text
from fieldkit.core.formengine.model import Form

__all__ = [
    "ARCHIVE_DIR",
    "archive_files",
    "archived_name",
    "load_archive_collecting",
    "load_archive_for_serving",
    "load_archived_forms",
]  # fmt: skip

ARCHIVE_DIR = "archive"
_ARCHIVED = re.compile(r"([a-z][a-z0-9-]{0,63})\.v([1-9][0-9]{0,8})\.yaml")


def archived_name(form_id: str, version: int) -> str:
    """The file name of an archived form version: ``<form id>.v<version>.yaml``."""
    return f"{form_id}.v{version}.yaml"


def archive_files(forms_dir: Path) -> list[Path]:
    """The ``*.yaml`` files of ``forms_dir/archive`` (none when there is no archive)."""
    folder = Path(forms_dir) / ARCHIVE_DIR
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.glob("*.yaml") if path.is_file())


def load_archive_collecting(forms_dir: Path) -> tuple[list[Form], list[Problem]]:
    """Every archived form version that loads without problem, and every problem found."""
    forms: list[Form] = []
    problems: list[Problem] = []
    for path in archive_files(forms_dir):
        shown = f"{ARCHIVE_DIR}/{path.name}"
        named = _ARCHIVED.fullmatch(path.name)
        if named is None:
            problems.append(
                Problem(shown, 0, "", "an archived form's file must be named <form id>.v<version>.yaml, such as "
                        "peer-interview.v2.yaml")
            )  # fmt: skip
            continue
        form_id, version = named.group(1), int(named.group(2))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            problems.append(Problem(shown, 0, "", f"cannot read the file: {error}"))
            continue
        # Loaded as if named <form id>.yaml: the loader then checks the id inside against the name.
        form, found = load_form_text(text, path.with_name(f"{form_id}.yaml"), shown)
        found = [_archive_wording(problem, path.name) for problem in found]
        if form is not None and not found and form.version != version:
            found = [
                Problem(
                    shown,
                    0,
                    f"form {form.id}",
                    f"the file is named for version {version} but holds version {form.version}; "
                    f"name it {archived_name(form.id, form.version)}",
                )
            ]
        problems.extend(found)
        if form is not None and not found:
            forms.append(dataclasses.replace(form, path=path))
    return forms, problems


def _archive_wording(problem: Problem, name: str) -> Problem:
    """The loader's "id must match the file name" said for an archive's file name."""
    if problem.where == "form" and "must match the file name" in problem.message:
        declared = problem.message.split("'")[1] if problem.message.count("'") >= 2 else "?"
        return dataclasses.replace(
            problem,
            message=f"form id '{declared}' does not match the file name {name}; an archived form "
            "is named <form id>.v<version>.yaml",
        )
    return problem


def load_archived_forms(forms_dir: Path) -> list[Form]:
    """Every archived form version of ``forms_dir``, oldest first per form id.

    Strict: any problem in any archived file raises :class:`FormDefinitionError`
    listing every one, so a kit or hub never half-reads its archive.
    """
    forms, problems = load_archive_collecting(forms_dir)
    if problems:
        raise FormDefinitionError(problems)
    return sorted(forms, key=lambda form: (form.id, form.version))


def load_archive_for_serving(forms_dir: Path) -> tuple[list[Form], dict[str, tuple[Problem, ...]]]:
    """The archived versions a kit can serve, and each broken archive file with its problems.

    Lenient, as :func:`fieldkit.core.formengine.catalogue.load_serving_forms` is: a broken
    archive file only leaves its drafts unfinished (``serve`` names it); ``forms check``
    stays strict.
    """
    forms, problems = load_archive_collecting(forms_dir)
    broken: dict[str, tuple[Problem, ...]] = {}
    for problem in problems:
        broken[problem.path] = (*broken.get(problem.path, ()), problem)
    return sorted(forms, key=lambda form: (form.id, form.version)), broken
