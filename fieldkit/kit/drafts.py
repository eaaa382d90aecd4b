"""Unfinished interviews, encrypted with the kit's draft key before they touch the disk.

Each draft is one file, ``drafts/<draft id>.draft``: a version byte, a random
96-bit nonce and AES-256-GCM ciphertext of the draft as JSON, with the draft id
bound in as associated data so that files cannot be swapped between ids. The
key exists only in the memory of an unlocked kit. A discarded draft moves, still
encrypted, to ``drafts/discarded/`` until it is restored or wiped.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import StorageError, ensure_private_dir, fsync_dir, remove_durably, write_atomic

_VERSION = b"\x01"
_SUFFIX = ".draft"
DISCARDED = "discarded"
_ID = re.compile(r"^[0-9a-f]{32}$")


class DraftUnreadable(FieldkitError):
    """A draft could not be opened: wrong key, damaged file, or no such draft."""


@dataclass
class Draft:
    form_id: str
    form_version: int
    language: str
    owner: str
    started: str
    answers: dict[str, Any] = field(default_factory=dict)
    section: str | None = None
    pilot: bool = False
    interviewer: str | None = None
    draft_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Every language the interview was shown in, in the order first used; ``language``
    # is the one it is shown in now. Drafts saved before the field have none: [language].
    languages: list[str] = field(default_factory=list)
    # Where and under what the interview started (docs/formats.md): the centre picked and
    # its region (as the pack listed it then), the pack's current cycle, and the pack
    # version (None: the shipped forms; the kit keeps that pack until no draft needs it,
    # fieldkit.kit.packs.prune). Older drafts have none.
    centre: str | None = None
    region: str | None = None
    cycle: str | None = None
    pack_version: int | None = None
    # The sections saved at least once: an item's default answer is shown only on a page
    # not saved yet, so an answer cleared on purpose stays cleared. Older drafts have none.
    saved: list[str] = field(default_factory=list)

    def show_in(self, language: str) -> None:
        """Go on in ``language``, remembering every language the interview was shown in."""
        self.languages = self.shown_in()
        if language not in self.languages:
            self.languages.append(language)
        self.language = language

    def shown_in(self) -> list[str]:
        return list(self.languages) or [self.language]


def count_drafts(directory: Path) -> int:
    """How many unfinished drafts ``directory`` holds, counted by name: no key needed."""
    if not directory.is_dir():
        return 0
    return sum(1 for path in directory.glob(f"*{_SUFFIX}") if _ID.match(path.stem))


class DraftStore:
    def __init__(self, directory: Path, key: bytes) -> None:
        self.directory = directory
        self._key = key  # only for the discarded folder's store; the key lives in memory anyway
        self._aead = AESGCM(key)

    def _path(self, draft_id: str) -> Path:
        if not isinstance(draft_id, str) or not _ID.match(draft_id):
            raise DraftUnreadable("no such draft")
        return self.directory / f"{draft_id}{_SUFFIX}"

    def save(self, draft: Draft) -> None:
        """Encrypt and write the draft durably (old or new version survives a crash)."""
        path = self._path(draft.draft_id)
        ensure_private_dir(self.directory)
        plaintext = json.dumps(asdict(draft), sort_keys=True, separators=(",", ":")).encode("utf-8")
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext, draft.draft_id.encode("ascii"))
        write_atomic(path, _VERSION + nonce + sealed)

    def load(self, draft_id: str) -> Draft:
        path = self._path(draft_id)
        try:
            blob = path.read_bytes()
        except OSError:
            raise DraftUnreadable("no such draft") from None
        if len(blob) < 1 + 12 + 16 or blob[:1] != _VERSION:
            raise DraftUnreadable("the draft file is damaged")
        try:
            plaintext = self._aead.decrypt(blob[1:13], blob[13:], draft_id.encode("ascii"))
            return Draft(**json.loads(plaintext))
        except (InvalidTag, ValueError, TypeError):
            raise DraftUnreadable("the draft cannot be opened with this kit's key") from None

    def delete(self, draft_id: str) -> None:
        remove_durably(self._path(draft_id))

    def ids(self) -> Iterator[str]:
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            if _ID.match(path.stem):
                yield path.stem

    def count(self) -> int:
        return count_drafts(self.directory)

    # -- discarded drafts: moved aside whole (a rename, so never half here, half there) --

    @property
    def discarded_dir(self) -> Path:
        return self.directory / DISCARDED

    def discard(self, draft_id: str) -> None:
        """Move the draft into the discarded folder, still encrypted, so it can be restored."""
        ensure_private_dir(self.discarded_dir)
        self._move(self._path(draft_id), self.discarded_dir / f"{draft_id}{_SUFFIX}")

    def restore(self, draft_id: str) -> None:
        """Move a discarded draft back among the unfinished ones."""
        self._path(draft_id)  # refuses anything but a draft id
        self._move(self.discarded_dir / f"{draft_id}{_SUFFIX}", self.directory / f"{draft_id}{_SUFFIX}")

    def load_discarded(self, draft_id: str) -> Draft:
        return self._discarded().load(draft_id)

    def discarded_ids(self) -> Iterator[str]:
        return self._discarded().ids()

    def _discarded(self) -> DraftStore:
        return DraftStore(self.discarded_dir, self._key)

    def wipe_discarded(self, draft_id: str) -> None:
        """Remove a discarded draft for good."""
        self._path(draft_id)
        remove_durably(self.discarded_dir / f"{draft_id}{_SUFFIX}")

    @staticmethod
    def _move(source: Path, target: Path) -> None:
        try:
            os.replace(source, target)
        except FileNotFoundError:
            raise DraftUnreadable("no such draft") from None
        except OSError as exc:
            raise StorageError.from_os_error(exc, source, action="move", outcome="Nothing was moved") from exc
        fsync_dir(target.parent)
        fsync_dir(source.parent)
