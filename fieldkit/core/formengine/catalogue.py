"""All the forms in a folder, and the lock file that keeps their versions honest.

``forms.lock`` records, for every version of every form, a content hash and the
meaning of each item (its type, and its choice values or likert scale;
``meanings.py``). A form whose content changed while its version stayed the same is
an error: records made with the old wording would otherwise be read with the new one.
So is an item id whose meaning differs between two versions: records of every version
are read together by item id. ``forms check`` checks the forms of the folder and the
archived versions in ``archive/`` (``archive.py``) against each other and the lock.

The lock is JSON, keys sorted, two-space indents::

    {"<form id>": {"<version>": {"hash": "sha256:...",
                                 "items": {"<item id>": {"type": "select_one", "choices": ["a", "b"]}}}}}

A version recorded before item meanings were (``"<version>": "sha256:..."``, or an
entry without ``items``) is still read; ``--update-lock`` adds its items when its file
(current or archived) is at hand with the recorded hash.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.archive import ARCHIVE_DIR, load_archive_collecting
from fieldkit.core.formengine.loader import FormDefinitionError, Problem, appearance_warnings, load_form_collecting
from fieldkit.core.formengine.meanings import (
    Meaning,
    find_conflicts,
    item_meanings,
    meaning_from_json,
    meaning_to_json,
)
from fieldkit.core.formengine.model import Form

LOCK_NAME = "forms.lock"


@dataclass(frozen=True)
class CheckResult:
    forms: Mapping[str, Form]
    problems: tuple[Problem, ...]
    archived: tuple[Form, ...] = ()  # archived versions, when asked for (``archive=True``)
    warnings: tuple[Problem, ...] = ()  # what works but does nothing, such as an unknown appearance


@dataclass(frozen=True)
class LockEntry:
    """One form version in the lock: its content hash and, when recorded, its items' meanings."""

    hash: str
    items: Mapping[str, Meaning] | None = None


def form_files(directory: Path) -> list[Path]:
    return sorted(path for path in directory.glob("*.yaml") if path.is_file())


def check_directory(directory: Path, *, lock: bool = True, archive: bool = False) -> CheckResult:
    """Load every form in ``directory``; collect every problem, including lock-file ones.

    ``archive``: also load ``directory/archive`` and check that no item id changes
    meaning between any two versions (the loaded ones and those the lock records);
    this check runs even with ``lock=False``, so ``--update-lock`` never records a
    conflicting version. ``lock``: check each version's content hash against the lock.
    """
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
    archived: list[Form] = []
    if archive:
        loaded, found = load_archive_collecting(directory)
        problems.extend(Problem(f"{directory.name}/{p.path}", p.line, p.where, p.message) for p in found)
        archived = sorted(loaded, key=lambda form: (form.id, form.version))
        problems.extend(_check_archive_versions(forms, archived, directory))
    if lock:
        problems.extend(check_lock(forms, directory / LOCK_NAME, archived))
    if archive:
        problems.extend(check_meanings([*forms.values(), *archived], directory / LOCK_NAME, directory))
    warnings = [w for form in forms.values() for w in appearance_warnings(form, _place(form, directory))]
    return CheckResult(forms, tuple(problems), tuple(archived), tuple(warnings))


def _place(form: Form, directory: Path) -> str:
    if form.path is None:
        return form.key
    if form.path.parent.name == ARCHIVE_DIR:
        return f"{directory.name}/{ARCHIVE_DIR}/{form.path.name}"
    return f"{directory.name}/{form.path.name}"


def _check_archive_versions(forms: Mapping[str, Form], archived: list[Form], directory: Path) -> list[Problem]:
    problems = []
    for form in archived:
        current = forms.get(form.id)
        if current is not None and form.version >= current.version:
            problems.append(
                Problem(
                    _place(form, directory),
                    0,
                    f"form {form.id}",
                    f"archived version {form.version} is not older than the current version {current.version} "
                    f"in {directory.name}/{current.path.name if current.path else form.id}; the archive holds "
                    "older versions only",
                )
            )
    return problems


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


def read_lock(lock_path: Path) -> dict[str, dict[str, LockEntry]]:
    """The lock file, by form id and version; {} when there is none. FieldkitError if it is damaged."""
    if not lock_path.exists():
        return {}
    try:
        data = json.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise FieldkitError(f"{lock_path.name} cannot be read ({error}); restore it from version control") from None
    invalid = FieldkitError(f"{lock_path.name} is not a valid lock file; restore it from version control")
    if not isinstance(data, dict):
        raise invalid
    lock: dict[str, dict[str, LockEntry]] = {}
    for form_id, versions in data.items():
        if not isinstance(versions, dict):
            raise invalid
        entries = lock[form_id] = {}
        for version, entry in versions.items():
            if not version.isdigit():
                raise invalid
            entries[version] = _lock_entry(entry, invalid)
    return lock


def _lock_entry(entry: object, invalid: FieldkitError) -> LockEntry:
    if isinstance(entry, str):  # recorded before item meanings were
        return LockEntry(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("hash"), str) or set(entry) - {"hash", "items"}:
        raise invalid
    items = entry.get("items")
    if items is None:
        return LockEntry(entry["hash"])
    if not isinstance(items, dict):
        raise invalid
    meanings: dict[str, Meaning] = {}
    for item_id, found in items.items():
        meaning = meaning_from_json(found)
        if meaning is None:
            raise invalid
        meanings[item_id] = meaning
    return LockEntry(entry["hash"], meanings)


def check_lock(forms: Mapping[str, Form], lock_path: Path, archived: Iterable[Form] = ()) -> list[Problem]:
    """Each form's content hash against the lock: a changed form needs a new version."""
    try:
        lock = read_lock(lock_path)
    except FieldkitError as error:
        return [Problem(lock_path.name, 0, "", str(error))]
    problems = []
    directory = lock_path.parent
    for form in forms.values():
        where = f"form {form.id}"
        place = _place(form, directory)
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
        elif recorded.hash != form.content_hash:
            problems.append(
                Problem(
                    place,
                    0,
                    where,
                    f"the form changed but its version is still {form.version}: raise 'version' "
                    f"to {newest + 1}, then run 'fieldkit forms check --update-lock'",
                )
            )
    for form in archived:
        where = f"form {form.id}"
        recorded = lock.get(form.id, {}).get(str(form.version))
        if recorded is None:
            problems.append(
                Problem(
                    _place(form, directory),
                    0,
                    where,
                    f"archived version {form.version} is not in {LOCK_NAME}; the archive holds published "
                    "versions: restore the file as it was published (or, for a version never recorded, run "
                    "'fieldkit forms check --update-lock')",
                )
            )
        elif recorded.hash != form.content_hash:
            problems.append(
                Problem(
                    _place(form, directory),
                    0,
                    where,
                    f"archived version {form.version} differs from the version {LOCK_NAME} recorded; an "
                    "archived form stays exactly as it was published: restore it from version control",
                )
            )
    return problems


def check_meanings(forms: Iterable[Form], lock_path: Path, directory: Path | None = None) -> list[Problem]:
    """Every item id of ``forms`` that means something else in another version (loaded or locked).

    The versions compared: those the lock records with their items, and the loaded
    ``forms`` (which take the place of the lock's entry of the same version). Each
    conflict is reported once, at the file of the later version when it is loaded.
    """
    try:
        lock = read_lock(lock_path)
    except FieldkitError:
        lock = {}  # check_lock reports it; the loaded forms are still compared with each other
    loaded: dict[str, dict[int, Form]] = {}
    for form in forms:
        loaded.setdefault(form.id, {})[form.version] = form
    problems = []
    for form_id, by_version in sorted(loaded.items()):
        versions: dict[int, Mapping[str, Meaning]] = {
            int(version): entry.items for version, entry in lock.get(form_id, {}).items() if entry.items is not None
        }
        versions.update({version: item_meanings(form) for version, form in by_version.items()})
        for conflict in find_conflicts(form_id, versions, checked=by_version):
            at = by_version.get(conflict.later) or by_version[conflict.earlier]
            place = _place(at, directory or lock_path.parent)
            problems.append(Problem(place, 0, f"form {form_id} item {conflict.item_id}", str(conflict)))
    return problems


def update_lock(forms: Iterable[Form] | Mapping[str, Form], lock_path: Path) -> list[str]:
    """Record each form version not yet in the lock; never rewrite history.

    A recorded version without item meanings gets them when its hash is the one
    recorded. Returns what was recorded (``form@version``, or ``form@version items``).
    """
    chosen = list(forms.values()) if isinstance(forms, Mapping) else list(forms)
    lock = read_lock(lock_path)
    added = []
    for form in sorted(chosen, key=lambda form: (form.id, form.version)):
        versions = lock.setdefault(form.id, {})
        recorded = versions.get(str(form.version))
        if recorded is None:
            versions[str(form.version)] = LockEntry(form.content_hash, item_meanings(form))
            added.append(form.key)
        elif recorded.items is None and recorded.hash == form.content_hash:
            versions[str(form.version)] = LockEntry(form.content_hash, item_meanings(form))
            added.append(f"{form.key} items")
    lock_path.write_text(lock_text(lock), encoding="utf-8")
    return added


def lock_text(lock: Mapping[str, Mapping[str, LockEntry]]) -> str:
    """The lock file's text: deterministic (keys and choice values sorted), one line per item."""

    def dumped(value: object) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False)

    forms = []
    for form_id in sorted(lock):
        versions = []
        for version in sorted(lock[form_id], key=int):
            entry = lock[form_id][version]
            fields = [f'      "hash": {dumped(entry.hash)}']
            if entry.items is not None:
                items = ",\n".join(
                    f"        {dumped(item_id)}: {dumped(meaning_to_json(entry.items[item_id]))}"
                    for item_id in sorted(entry.items)
                )
                fields.append('      "items": {' + (f"\n{items}\n      " if items else "") + "}")
            versions.append(f"    {dumped(version)}: {{\n" + ",\n".join(fields) + "\n    }")
        forms.append(f"  {dumped(form_id)}: {{\n" + ",\n".join(versions) + "\n  }")
    return "{\n" + ",\n".join(forms) + "\n}\n" if forms else "{}\n"
