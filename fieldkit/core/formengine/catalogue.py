"""All the forms in a folder, and the lock file that keeps their versions honest.

``forms.lock`` records a content hash for every version of every form. A form
whose content changed while its version stayed the same is an error: records
made with the old wording would otherwise be read with the new one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.loader import FormDefinitionError, Problem, load_form_collecting
from fieldkit.core.formengine.model import Form

LOCK_NAME = "forms.lock"


@dataclass(frozen=True)
class CheckResult:
    forms: Mapping[str, Form]
    problems: tuple[Problem, ...]


def form_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.yaml") if path.is_file())


def check_directory(directory: Path, *, lock: bool = True) -> CheckResult:
    """Load every form in ``directory``; collect every problem, including lock-file ones."""
    forms: dict[str, Form] = {}
    problems: list[Problem] = []
    files = form_files(directory)
    if not files:
        problems.append(Problem(str(directory), 0, "", "no form files (*.yaml) found"))
    for path in files:
        form, found = load_form_collecting(path, display=_display(path, directory))
        problems.extend(found)
        if form is not None:
            forms[form.id] = form
    if lock:
        problems.extend(check_lock(forms, directory / LOCK_NAME))
    return CheckResult(forms, tuple(problems))


def load_directory(directory: Path) -> dict[str, Form]:
    """The forms of a folder, or :class:`FormDefinitionError` with every problem.

    The lock file is a check for form authors (``forms check``); at run time each
    record carries its form's content hash, so the lock is not consulted here.
    """
    result = check_directory(directory, lock=False)
    if result.problems:
        raise FormDefinitionError(list(result.problems))
    return dict(result.forms)


def load_serving_forms(directory: Path) -> tuple[dict[str, Form], dict[str, tuple[Problem, ...]]]:
    """The forms a kit can serve, and each broken form file with its problems.

    One broken file makes only that form unavailable: the kit serves the others
    (``forms check`` stays strict, so CI still fails on it). With no usable form
    at all there is nothing to serve, and :class:`FormDefinitionError` says why.
    """
    forms: dict[str, Form] = {}
    broken: dict[str, tuple[Problem, ...]] = {}
    for path in form_files(directory):
        shown = _display(path, directory)
        form, found = load_form_collecting(path, display=shown)
        if form is not None and form.id in forms:
            found = [Problem(shown, 0, f"form {form.id}", "another file defines the same form id")]
        if form is None or found:
            broken[shown] = tuple(found)
        else:
            forms[form.id] = form
    if not forms:
        problems = [problem for found in broken.values() for problem in found]
        raise FormDefinitionError(problems or [Problem(str(directory), 0, "", "no form files (*.yaml) found")])
    return forms, broken


def _display(path: Path, directory: Path) -> str:
    return f"{directory.name}/{path.name}"


def read_lock(lock_path: Path) -> dict[str, dict[str, str]]:
    if not lock_path.exists():
        return {}
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FieldkitError(f"{lock_path.name} cannot be read ({error}); restore it from version control") from None
    if not isinstance(data, dict) or not all(
        isinstance(versions, dict) and all(isinstance(h, str) for h in versions.values()) for versions in data.values()
    ):
        raise FieldkitError(f"{lock_path.name} is not a valid lock file; restore it from version control")
    return data


def check_lock(forms: Mapping[str, Form], lock_path: Path) -> list[Problem]:
    try:
        lock = read_lock(lock_path)
    except FieldkitError as error:
        return [Problem(lock_path.name, 0, "", str(error))]
    problems = []
    for form in forms.values():
        where = f"form {form.id}"
        place = f"{lock_path.parent.name}/{form.path.name}" if form.path else form.id
        versions = lock.get(form.id, {})
        recorded = versions.get(str(form.version))
        newest = max((int(v) for v in versions), default=0)
        if recorded is None and form.version < newest:
            problems.append(
                Problem(
                    place,
                    0,
                    where,
                    f"version {form.version} is older than version {newest} in {LOCK_NAME}; versions only go up",
                )
            )
        elif recorded is None:
            problems.append(
                Problem(
                    place,
                    0,
                    where,
                    f"version {form.version} is not in {LOCK_NAME}; run 'fieldkit forms check --update-lock'",
                )
            )
        elif recorded != form.content_hash:
            problems.append(
                Problem(
                    place,
                    0,
                    where,
                    f"the form changed but its version is still {form.version}: raise 'version' "
                    f"to {newest + 1}, then run 'fieldkit forms check --update-lock'",
                )
            )
    return problems


def update_lock(forms: Mapping[str, Form], lock_path: Path) -> list[str]:
    """Record the current hash of each form version not yet in the lock; never rewrite history."""
    lock = read_lock(lock_path)
    added = []
    for form in forms.values():
        versions = lock.setdefault(form.id, {})
        if str(form.version) not in versions:
            versions[str(form.version)] = form.content_hash
            added.append(form.key)
    lock_path.write_text(json.dumps(lock, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return added
