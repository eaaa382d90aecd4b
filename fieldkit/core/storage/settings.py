"""Read a small versioned JSON settings file (``kit.json``, ``kit-keys.json``, ``hub.json``).

Each such file is one JSON object whose ``format`` says what it is and which version
of it (``fieldkit-kit/1``). :func:`read_settings` is the one reader of them: a file
that is missing, unreadable, not JSON, not an object, of another kind, or of a newer
version is a :class:`~fieldkit.core.errors.FieldkitError` (or the caller's subclass)
that names the file and says what to do. Checking the fields inside is the caller's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fieldkit.core.errors import FieldkitError


def read_settings(
    path: Path,
    *,
    expected_format: str,
    also_accepted: tuple[str, ...] = (),
    what: str,
    missing: str,
    damaged: str = "restore it from a backup",
    error: type[FieldkitError] = FieldkitError,
) -> dict[str, Any]:
    """The object in ``path``, whose ``format`` must be ``expected_format`` (or one of ``also_accepted``).

    ``what`` names the file for a person ("kit settings file"); ``missing`` is the whole
    message when there is no file (what the folder is not, and the command that makes
    one); ``damaged`` is what to do when it cannot be read as one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(missing) from None
    except UnicodeDecodeError as problem:
        raise error(f"{path} cannot be read as a {what}: it is not UTF-8 text ({problem.reason}); {damaged}") from None
    except OSError as problem:
        reason = problem.strerror or str(problem)
        raise error(f"{path} cannot be read as a {what}: {reason}; check that this account may read it") from None
    try:
        data = json.loads(text)
    except ValueError as problem:
        raise error(f"{path} cannot be read as a {what}: it is not JSON ({problem}); {damaged}") from None
    found = data.get("format") if isinstance(data, dict) else None
    if not isinstance(data, dict) or (found != expected_format and found not in also_accepted):
        newest = max((expected_format, *also_accepted), key=_version)
        if isinstance(found, str) and _is_newer(found, newest):
            raise error(f"{path} is a {what} from a newer version of fieldkit ({found}); upgrade fieldkit to use it")
        raise error(f"{path} is not a {what} this version of fieldkit understands")
    return data


def _version(format_name: str) -> int:
    version = format_name.rpartition("/")[2]
    return int(version) if version.isdigit() else 0


def _is_newer(found: str, expected: str) -> bool:
    """Whether ``found`` is a later version of the same format (``fieldkit-kit/2`` after ``/1``)."""
    name, _, version = found.rpartition("/")
    expected_name, _, expected_version = expected.rpartition("/")
    if name != expected_name or not version.isdigit() or not expected_version.isdigit():
        return False
    return int(version) > int(expected_version)
