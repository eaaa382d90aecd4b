"""The hub's audit trail: who did what, when, in an append-only log chained by hash.

Every operator action that changes or takes something out of the hub leaves one entry
in the ``audit`` table of the hub store: enrolment tokens made and kits enrolled,
revocations, imports (accepted or refused; a bundle merged before changes nothing, is
not written down again, and keeps re-import free of writes), quarantine decisions,
exports, reports, logins and failed logins, password changes, changes to the
programme (centres, cycles, form packs), a new hub key, backups and restores, and
forwarding upward. An entry says who (``actor``), when (``at``, UTC), what (``action``),
on what (``subject``: a kit or hub id, a record id, a centre code, a cycle id) and a few
details (``detail``, a JSON object: counts, formats, a bundle's sha256, file names
without their folder). It never holds an answer, a ciphertext, a password or a token:
only what the hub's own log and pages already show.

Actors: ``cli:ACCOUNT`` for a command run on the hub machine (the OS account that ran
it, :func:`cli_actor`), ``operator`` for the hub's pages (``sync.hub.web.auth.current_actor``;
the operator's name once operators have names), ``api`` for a kit or hub talking to
``/api/v1`` (the kit is named in the subject and was authenticated by its signature or
its one-time token). The account name is the one the process's environment gives
(``getpass.getuser`` reads ``LOGNAME`` and its kin first): whoever has a shell on the
hub machine can claim another, so it says which door, not who beyond doubt.

The chain
---------

Entry ``seq`` (1, 2, 3, ...) stores ``prev_hash``, the hash of entry ``seq - 1`` (the
first one: :data:`GENESIS`), and ``hash`` = SHA-256 of the canonical encoding
(:func:`entry_hash`: a JSON array, no spaces, ASCII only) of seq, at, actor, action,
subject, detail and prev_hash. The detail is kept as that same canonical JSON text (keys
sorted), and the hash covers the text as stored.

The newest ``seq`` and ``hash`` are also kept in the store's ``meta`` row ``audit_head``,
written in the same transaction as the entry, and a new entry chains to that head, not
to whatever row is last. So :func:`verify` finds:

- an edited entry (any field): its hash no longer matches;
- a deleted entry in the middle: a gap in ``seq`` and a ``prev_hash`` that does not match;
- rows put in another order, or a row's ``seq`` changed: the same;
- the newest entries deleted: the head names a ``seq`` (and hash) no longer there;
- the head deleted or edited: it no longer names the last entry.

What it does not prove: someone who can write to the database file (the seized disk,
or root on the hub machine) can rewrite every entry after the one they change and the
head with it, since every input of the hash is in the database. A signature would not
help: the only key the hub could sign with unattended is its receipt key, which lies in
the same folder. What does detect a rewrite is a head copied out of the hub: ``fieldkit
hub audit`` prints the head (seq and hash) after the entries, and ``--verify --head
SEQ:HASH`` checks that entry SEQ still has that hash, so an office that writes the head
down (in its minutes, a message to the network, a backup kept elsewhere) can show later
that nothing up to it was changed. ``docs/threat-model.md`` says this to networks.

The SQL is small and portable (plain INSERT/SELECT, the next ``seq`` given explicitly),
so it moves with the store to SQLAlchemy Core without change of meaning.
"""

from __future__ import annotations

import datetime
import getpass
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync.hub.database import Database

__all__ = [
    "API_ACTOR",
    "GENESIS",
    "HEAD_KEY",
    "AuditEntry",
    "Verdict",
    "append",
    "canonical_detail",
    "cli_actor",
    "entries",
    "entry_hash",
    "head",
    "parse_head",
    "verify",
]

# The prev_hash of the first entry: a fixed value, so a chain cannot start anywhere else.
GENESIS = hashlib.sha256(b"fieldkit hub audit chain, version 1").hexdigest()
HEAD_KEY = "audit_head"
# The actor of what a kit or hub does through /api/v1 (the subject names which one).
API_ACTOR = "api"
_FORMAT = "fieldkit-audit/1"


def cli_actor() -> str:
    """The actor of a command run on the hub machine: ``cli:`` and the OS account name."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name and no password entry (a bare container)
        name = ""
    return f"cli:{name}" if name else "cli"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """The detail as it is stored and hashed: JSON, keys sorted, no spaces, ASCII only."""
    return json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(seq: int, at: str, actor: str, action: str, subject: str, detail: str, prev_hash: str) -> str:
    """SHA-256 (hex) of the canonical encoding of one entry and the hash before it."""
    encoded = json.dumps(
        [_FORMAT, seq, at, actor, action, subject, detail, prev_hash], separators=(",", ":"), ensure_ascii=True
    )
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class AuditEntry:
    """One entry of the audit trail, as stored."""

    seq: int
    at: str
    actor: str
    action: str
    subject: str
    detail: str  # canonical JSON text
    prev_hash: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        try:
            value = json.loads(self.detail)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def line(self) -> str:
        """One readable line: when, who, what, on what, and the details."""
        shown = ", ".join(f"{key}={_shown(value)}" for key, value in sorted(self.details.items()))
        text = f"{self.seq:>6}  {self.at}  {self.actor}  {self.action}"
        if self.subject:
            text += f"  {self.subject}"
        return f"{text}  ({shown})" if shown else text

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at, "actor": self.actor, "action": self.action,
            "subject": self.subject, "detail": self.details, "prev_hash": self.prev_hash, "hash": self.hash,
        }  # fmt: skip


def _shown(value: object) -> str:
    if isinstance(value, list | tuple):
        return "[" + " ".join(str(item) for item in value) + "]"
    return str(value)


def head(db: Database) -> tuple[int, str] | None:
    """The newest (seq, hash) as the head row keeps it; None before the first entry."""
    row = db.execute("SELECT value FROM meta WHERE key=?", (HEAD_KEY,)).fetchone()
    if row is None:
        return None
    return parse_head(str(row[0]))


def parse_head(text: str) -> tuple[int, str] | None:
    """``SEQ:HASH`` as (seq, hash), or None when it is not in that form."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
        return None
    return int(seq), digest


def append(
    db: Database,
    actor: str,
    action: str,
    subject: str = "",
    detail: Mapping[str, Any] | None = None,
    *,
    at: str | None = None,
) -> AuditEntry:
    """Add one entry, inside the caller's transaction (the store's ``_transaction``).

    It chains to the head row. Without a head (the first entry, or a head someone
    deleted) it chains to :data:`GENESIS` after the highest ``seq`` present, so a deleted
    head shows as a break at the next entry instead of being papered over.
    """
    at = at or _now()
    text = canonical_detail(detail)
    found = head(db)
    if found is None:
        last = db.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        seq, prev_hash = int(last or 0) + 1, GENESIS
    else:
        seq, prev_hash = found[0] + 1, found[1]
        # A later row than the head (the head row put back to an older value): never overwrite it.
        last = db.execute("SELECT MAX(seq) FROM audit").fetchone()[0]
        if last is not None and int(last) >= seq:
            seq, prev_hash = int(last) + 1, GENESIS
    digest = entry_hash(seq, at, actor, action, subject, text, prev_hash)
    db.execute(
        "INSERT INTO audit(seq, at, actor, action, subject, detail, prev_hash, hash) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, subject, text, prev_hash, digest),
    )
    db.execute("DELETE FROM meta WHERE key=?", (HEAD_KEY,))
    db.execute("INSERT INTO meta(key, value) VALUES(?, ?)", (HEAD_KEY, f"{seq}:{digest}"))
    return AuditEntry(seq, at, actor, action, subject, text, prev_hash, digest)


def entries(db: Database, *, limit: int | None = None) -> list[AuditEntry]:
    """Entries oldest first; ``limit`` keeps the newest N."""
    sql = "SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq DESC"
    rows = db.execute(sql + " LIMIT ?", (limit,)).fetchall() if limit is not None else db.execute(sql).fetchall()
    return [_entry(row) for row in reversed(rows)]


def _entry(row: tuple) -> AuditEntry:
    seq, at, actor, action, subject, detail, prev_hash, digest = row
    return AuditEntry(int(seq), str(at), str(actor), str(action), str(subject or ""), str(detail), str(prev_hash),
                      str(digest))  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """What :func:`verify` found: ``ok``, how many entries, and the first break (seq and why)."""

    ok: bool
    count: int
    head: tuple[int, str] | None
    broken_seq: int | None = None
    problem: str | None = None

    def message(self) -> str:
        if self.ok:
            if self.head is None:
                return "The audit trail is empty; nothing to check."
            return f"The audit trail verifies: {self.count} entries, head {self.head[0]}:{self.head[1]}."
        return f"The audit trail is broken at entry {self.broken_seq}: {self.problem}"


def verify(db: Database, *, expected_head: tuple[int, str] | None = None) -> Verdict:
    """Check the whole chain, and the head row; the first break found is named.

    ``expected_head`` is a (seq, hash) copied out of the hub earlier: that entry must
    still be there with that hash.
    """
    kept_head_row = db.execute("SELECT value FROM meta WHERE key=?", (HEAD_KEY,)).fetchone()
    stored_head = parse_head(str(kept_head_row[0])) if kept_head_row else None
    prev_hash, expected_seq, count = GENESIS, 1, 0
    found_expected = False
    last: AuditEntry | None = None
    cursor = db.execute("SELECT seq, at, actor, action, subject, detail, prev_hash, hash FROM audit ORDER BY seq")
    for row in cursor:
        entry = _entry(row)
        if entry.seq != expected_seq:
            missing = (
                f"entry {expected_seq}" if entry.seq == expected_seq + 1 else f"entries {expected_seq}-{entry.seq - 1}"
            )
            return _broken(count, stored_head, expected_seq, f"{missing} missing (deleted)")
        if entry.prev_hash != prev_hash:
            return _broken(count, stored_head, entry.seq, "it does not chain to the entry before it (that entry was "
                           "deleted, replaced or moved, or this one was)")  # fmt: skip
        recomputed = entry_hash(
            entry.seq, entry.at, entry.actor, entry.action, entry.subject, entry.detail, entry.prev_hash
        )
        if recomputed != entry.hash:
            return _broken(count, stored_head, entry.seq, "its content was changed after it was written (the hash "
                           "does not match)")  # fmt: skip
        if expected_head is not None and entry.seq == expected_head[0]:
            if entry.hash != expected_head[1]:
                return _broken(count, stored_head, entry.seq, "its hash is not the one copied out earlier: the trail "
                               "up to it was rewritten")  # fmt: skip
            found_expected = True
        prev_hash, expected_seq, count, last = entry.hash, entry.seq + 1, count + 1, entry
    if last is None:
        if stored_head is not None:
            return _broken(0, stored_head, stored_head[0], "the head names it, but the audit table is empty (deleted)")
        if expected_head is not None:
            return _broken(0, None, expected_head[0], "it was copied out earlier, but the audit table is empty")
        return Verdict(True, 0, None)
    if stored_head is None:
        return _broken(count, None, last.seq, f"the head row ('{HEAD_KEY}' in meta) is missing or damaged")
    if stored_head[0] > last.seq:
        which = (
            f"entry {stored_head[0]}" if stored_head[0] == last.seq + 1 else f"entries {last.seq + 1}-{stored_head[0]}"
        )
        return _broken(count, stored_head, last.seq + 1, f"the newest {which} missing: the head names "
                       f"entry {stored_head[0]}, the last one present is {last.seq} (deleted)")  # fmt: skip
    if stored_head != (last.seq, last.hash):
        return _broken(count, stored_head, last.seq, "the head row does not name the last entry (the head or the "
                       "last entry was changed)")  # fmt: skip
    if expected_head is not None and not found_expected:
        return _broken(count, stored_head, expected_head[0], "it was copied out earlier, but the trail ends at "
                       f"entry {last.seq}")  # fmt: skip
    return Verdict(True, count, stored_head)


def _broken(count: int, stored_head: tuple[int, str] | None, seq: int, problem: str) -> Verdict:
    return Verdict(False, count, stored_head, seq, problem)
