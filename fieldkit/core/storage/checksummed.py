"""A small JSON document written atomically with its own SHA-256, for derived state.

Counts kept beside the data they count (:mod:`.records`, the kit's outbox) are a cache:
the data is the truth. So the file only has to say, cheaply and for certain, whether
it can be trusted. It holds ``{"sha256": ..., "doc": ...}``; a file that is missing,
not JSON, not that shape, or whose digest does not match its document (torn by a
disk fault, or edited by hand) reads as ``None``, and the owner rebuilds from the data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from fieldkit.core.storage.atomic import FsyncFunc, write_atomic

__all__ = ["read_checksummed", "write_checksummed"]


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def write_checksummed(path: Path, doc: dict[str, Any], *, fsync: FsyncFunc = os.fsync) -> None:
    """Replace ``path`` with ``doc`` and its digest; durable when this returns."""
    body = _canonical(doc)
    wrapped = {"sha256": hashlib.sha256(body).hexdigest(), "doc": doc}
    write_atomic(path, _canonical(wrapped), fsync=fsync)


def read_checksummed(path: Path) -> dict[str, Any] | None:
    """The document, or ``None`` when the file is missing or cannot be trusted."""
    try:
        loaded = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(loaded, dict) or set(loaded) != {"sha256", "doc"} or not isinstance(loaded["doc"], dict):
        return None
    if hashlib.sha256(_canonical(loaded["doc"])).hexdigest() != loaded["sha256"]:
        return None
    return loaded["doc"]
