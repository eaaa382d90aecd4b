"""Bundles: sealed records and a signed manifest in one uncompressed tar file.

A bundle carries records from a *source* (a kit, or later a hub forwarding upward) to a
hub. Its layout, in this order::

    manifest.json            what the bundle holds (format ``fieldkit-bundle/1``)
    manifest.sig             64 bytes: Ed25519 signature over the exact manifest bytes
    tally.age                optional: the kit's sealed tally of declined interviews
    records/<record_id>.age  one sealed record per manifest entry

A bundle holds at least one record or a tally (a kit whose only news is more declined
interviews sends a bundle of its tally alone). The tally's size and SHA-256 are in the
signed manifest, and it takes a sequence number from the same counter as records, so
the newest tally is always in the bundle with the highest last sequence number.

Reading is done for a hub that must assume the file was made by someone hostile. The
reader never extracts anything to disk: it walks the tar headers, accepts only regular
files with exactly the expected names, refuses links, devices, folders, duplicate
names, oversized or too many members and compressed files (so there is nothing to
inflate), and reads each member into memory with a bounded read. Every failure is a
:class:`BundleError` whose ``code`` says which rule was broken and whose text an
operator can read. ``docs/formats.md`` ("Bundle") is the format's reference.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import os
import re
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.plaintar import TAR_BLOCK, TAR_PROBLEMS, compressed_as, is_plain_tar, member_problem

__all__ = [
    "BUNDLE_FORMAT",
    "DEFAULT_LIMITS",
    "REFUSAL_CODES",
    "BundleError",
    "BundleReader",
    "Limits",
    "Manifest",
    "OutgoingRecord",
    "OutgoingTally",
    "RecordEntry",
    "SourceRef",
    "TallyEntry",
    "VerifiedBundle",
    "build_bundle",
    "read_bundle",
]

BUNDLE_FORMAT = "fieldkit-bundle/1"
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "manifest.sig"
RECORDS_PREFIX = "records/"
RECORD_SUFFIX = ".age"
TALLY_NAME = "tally.age"
SIGNATURE_SIZE = 64
SOURCE_KINDS = ("kit", "hub")

_MiB = 1024 * 1024

_RECORD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_RECORD_MEMBER = re.compile(re.escape(RECORDS_PREFIX) + r"(" + _RECORD_ID.pattern + r")\.age")
_SOURCE_ID = re.compile(r"[a-z][a-z0-9-]{1,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_FORM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

# What each refusal code means, for docs, logs and the hub's pages.
REFUSAL_CODES: dict[str, str] = {
    "too-large": "the file is larger than a bundle may be",
    "compressed": "the file is compressed (gzip, bzip2, xz, zstd, zip); bundles never are",
    "not-a-tar": "the file is not a tar archive",
    "damaged": "the tar archive is truncated or damaged",
    "bad-layout": "manifest.json and manifest.sig are not the first two members",
    "unsafe-member": "a member is a link, device, folder or has a path leaving the bundle",
    "unexpected-member": "a member has a name a bundle never uses",
    "duplicate-member": "two members have the same name",
    "oversized-member": "a member is larger than the limit for its kind",
    "too-many-members": "the bundle has more members than the limit",
    "bad-manifest": "the manifest is not valid (JSON, fields, values)",
    "unsupported-format": "the manifest is of a format version this fieldkit does not read",
    "unknown-source": "the signing kit or hub (or its key epoch) is not enrolled",
    "revoked-source": "the signing kit or hub was revoked",
    "bad-signature": "the manifest signature does not verify with the enrolled key",
    "extra-record": "a record in the tar is not listed in the manifest",
    "missing-record": "a record listed in the manifest is not in the tar",
    "size-mismatch": "a record's size differs from the manifest",
    "hash-mismatch": "a record's SHA-256 differs from the manifest",
    "bad-tally": "the sealed tally of declined interviews is not an age file sealed as the kit's records are",
}


class BundleError(FieldkitError):
    """A bundle was refused; ``code`` is one of :data:`REFUSAL_CODES`, ``str()`` says why."""

    def __init__(self, code: str, message: str) -> None:
        if code not in REFUSAL_CODES:
            raise ValueError(f"unknown bundle refusal code {code!r}")
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Limits:
    """Upper bounds a reader enforces before it reads anything big."""

    max_bundle_bytes: int = 256 * _MiB
    max_manifest_bytes: int = 8 * _MiB
    max_record_bytes: int = 16 * _MiB
    max_records: int = 10_000
    max_tally_bytes: int = 1 * _MiB

    @property
    def max_members(self) -> int:
        return self.max_records + 3


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class SourceRef:
    """Who signed a bundle: a kit or a hub, its id, and its key epoch."""

    kind: str
    id: str
    epoch: int

    def label(self) -> str:
        return f"{self.kind} {self.id} (key epoch {self.epoch})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "epoch": self.epoch}


@dataclass(frozen=True)
class RecordEntry:
    """One record as the manifest describes it (metadata that may be in clear)."""

    record_id: str
    kit_id: str
    seq: int
    sha256: str
    size: int
    form_id: str
    form_version: int
    day: str

    def to_json(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "kit_id": self.kit_id,
            "seq": self.seq,
            "sha256": self.sha256,
            "size": self.size,
            "form_id": self.form_id,
            "form_version": self.form_version,
            "day": self.day,
        }

    @property
    def member_name(self) -> str:
        return f"{RECORDS_PREFIX}{self.record_id}{RECORD_SUFFIX}"


@dataclass(frozen=True)
class TallyEntry:
    """The sealed tally as the manifest lists it: its sequence number, SHA-256 and size."""

    seq: int
    sha256: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "sha256": self.sha256, "size": self.size}


@dataclass(frozen=True)
class Manifest:
    """The signed description of a bundle's content."""

    source: SourceRef
    created: str
    first_seq: int
    last_seq: int
    records: tuple[RecordEntry, ...]
    tally: TallyEntry | None = None

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "format": BUNDLE_FORMAT,
            "source": self.source.to_json(),
            "created": self.created,
            "seq": {"first": self.first_seq, "last": self.last_seq},
            "records": [entry.to_json() for entry in self.records],
        }
        if self.tally is not None:  # absent, not null: a bundle without one is as before
            document["tally"] = self.tally.to_json()
        return canonical_json(document)

    @classmethod
    def parse(cls, data: bytes, limits: Limits = DEFAULT_LIMITS) -> Manifest:
        """Parse and check a manifest; :class:`BundleError` (``bad-manifest`` mostly) if wrong."""
        return _parse_manifest(data, limits)


@dataclass(frozen=True)
class OutgoingRecord:
    """A sealed record to put into a bundle, with the metadata the manifest lists."""

    record_id: str
    kit_id: str
    seq: int
    form_id: str
    form_version: int
    day: str
    ciphertext: bytes


@dataclass(frozen=True)
class OutgoingTally:
    """A sealed tally to put into a bundle, with the sequence number it was given."""

    seq: int
    ciphertext: bytes


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature and every record hash were checked, held in memory."""

    manifest: Manifest
    manifest_sha256: str
    records: dict[str, bytes]
    tally: bytes | None = None


def canonical_json(document: object) -> bytes:
    """The one byte form fieldkit signs: sorted keys, no spaces, ASCII only."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


# --- Building ------------------------------------------------------------------------


def build_bundle(
    signing_key: Ed25519PrivateKey,
    source: SourceRef,
    records: Sequence[OutgoingRecord],
    *,
    created: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
    tally: OutgoingTally | None = None,
) -> bytes:
    """The bytes of a bundle holding ``records`` (and ``tally``), signed with ``signing_key``.

    Records go in sequence order. The result is checked against the same rules a hub
    applies, so fieldkit never writes a bundle it would itself refuse.
    """
    if not records and tally is None:
        raise ValueError("a bundle holds at least one record or a tally")
    ordered = sorted(records, key=lambda record: record.seq)
    entries = tuple(
        RecordEntry(
            record_id=record.record_id,
            kit_id=record.kit_id,
            seq=record.seq,
            sha256=hashlib.sha256(record.ciphertext).hexdigest(),
            size=len(record.ciphertext),
            form_id=record.form_id,
            form_version=record.form_version,
            day=record.day,
        )
        for record in ordered
    )
    tally_entry = (
        TallyEntry(tally.seq, hashlib.sha256(tally.ciphertext).hexdigest(), len(tally.ciphertext))
        if tally is not None
        else None
    )
    seqs = [record.seq for record in ordered] + ([tally.seq] if tally is not None else [])
    manifest = Manifest(
        source=source,
        created=created or datetime.datetime.now(datetime.UTC).date().isoformat(),
        first_seq=min(seqs),
        last_seq=max(seqs),
        records=entries,
        tally=tally_entry,
    )
    manifest_bytes = manifest.to_bytes()
    try:
        _parse_manifest(manifest_bytes, limits)
    except BundleError as error:
        raise ValueError(f"cannot build this bundle: {error}") from None
    signature = signing_key.sign(manifest_bytes)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        _add_member(tar, MANIFEST_NAME, manifest_bytes)
        _add_member(tar, SIGNATURE_NAME, signature)
        if tally is not None:
            _add_member(tar, TALLY_NAME, tally.ciphertext)
        for entry, record in zip(entries, ordered, strict=True):
            _add_member(tar, entry.member_name, record.ciphertext)
    data = buffer.getvalue()
    if len(data) > limits.max_bundle_bytes:
        raise ValueError(f"cannot build this bundle: {len(data)} bytes exceeds the limit")
    return data


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    # Fixed owner, mode and time: the same records always give the same tar bytes.
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


# --- Manifest checks -----------------------------------------------------------------


def _bad(message: str) -> BundleError:
    return BundleError("bad-manifest", f"the manifest is not valid: {message}")


def _refuse_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # JSON allows repeated keys and parsers disagree on which wins; a signed document
    # must mean one thing only.
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _bad(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _load_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _bad("it is not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_keys)
    except json.JSONDecodeError as error:
        raise _bad(f"it is not JSON ({error.msg} at line {error.lineno})") from None
    except RecursionError:
        raise _bad("it is nested too deeply") from None


def _object(value: Any, keys: set[str], where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    if set(value) != keys:
        extra = sorted(set(value) - keys)
        missing = sorted(keys - set(value))
        raise _bad(f"{where} must hold exactly {sorted(keys)} (extra: {extra}, missing: {missing})")
    return value


def _whole(value: Any, where: str, *, minimum: int = 0, maximum: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _bad(f"{where} must be a whole number of at least {minimum}")
    if maximum is not None and value > maximum:
        raise _bad(f"{where} must be at most {maximum}")
    return value


def _matching(value: Any, pattern: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _bad(f"{where} is malformed: {str(value)[:80]!r}")
    return value


def _day(value: Any, where: str) -> str:
    text = _matching(value, _DAY, where)
    try:
        date.fromisoformat(text)
    except ValueError:
        raise _bad(f"{where} is not a real date: {text!r}") from None
    return text


def check_source_id(value: Any, where: str = "source id") -> str:
    """A kit or hub id as bundles, receipts and enrolment carry it; ``BundleError`` if not."""
    return _matching(value, _SOURCE_ID, where)


def _parse_manifest(data: bytes, limits: Limits) -> Manifest:
    document = _load_json(data)
    if not isinstance(document, dict):
        raise _bad("it must be a JSON object")
    found = document.get("format")
    if found != BUNDLE_FORMAT:
        if isinstance(found, str) and found.startswith("fieldkit-bundle/"):
            raise BundleError(
                "unsupported-format",
                f"the bundle is in format {found[:40]!r}, which this fieldkit cannot read "
                f"(it reads {BUNDLE_FORMAT}); update fieldkit on the hub",
            )
        raise _bad(f"its format is {str(found)[:40]!r}, not {BUNDLE_FORMAT!r}")
    keys = {"format", "source", "created", "seq", "records"}
    _object(document, keys | ({"tally"} if "tally" in document else set()), "the manifest")
    raw_source = _object(document["source"], {"kind", "id", "epoch"}, "source")
    if raw_source["kind"] not in SOURCE_KINDS:
        raise _bad(f"source kind must be one of {list(SOURCE_KINDS)}")
    source = SourceRef(
        kind=raw_source["kind"],
        id=check_source_id(raw_source["id"]),
        epoch=_whole(raw_source["epoch"], "source epoch", minimum=1),
    )
    created = _day(document["created"], "created")
    seq = _object(document["seq"], {"first", "last"}, "seq")
    first_seq = _whole(seq["first"], "seq first", minimum=1)
    last_seq = _whole(seq["last"], "seq last", minimum=1)
    tally = _parse_tally_entry(document["tally"], limits) if "tally" in document else None
    raw_records = document["records"]
    if not isinstance(raw_records, list) or not (raw_records or tally is not None):
        raise _bad("records must be a non-empty list (or the bundle must hold a tally)")
    if len(raw_records) > limits.max_records:
        raise _bad(f"it lists {len(raw_records)} records; a bundle holds at most {limits.max_records}")
    entries = tuple(_parse_entry(raw, index, source, limits) for index, raw in enumerate(raw_records))
    ids = [entry.record_id for entry in entries]
    if len(set(ids)) != len(ids):
        twice = sorted({rid for rid in ids if ids.count(rid) > 1})
        raise _bad(f"record {twice[0]} is listed more than once")
    seqs = [entry.seq for entry in entries] + ([tally.seq] if tally is not None else [])
    if len(set(seqs)) != len(seqs):
        raise _bad("two records (or a record and the tally) share one sequence number")
    if min(seqs) != first_seq or max(seqs) != last_seq:
        raise _bad(f"seq first/last ({first_seq}/{last_seq}) do not match the records' numbers")
    return Manifest(source, created, first_seq, last_seq, entries, tally)


def _parse_tally_entry(raw: Any, limits: Limits) -> TallyEntry:
    entry = _object(raw, {"seq", "sha256", "size"}, "tally")
    return TallyEntry(
        seq=_whole(entry["seq"], "tally seq", minimum=1),
        sha256=_matching(entry["sha256"], _SHA256, "tally sha256"),
        size=_whole(entry["size"], "tally size", minimum=1, maximum=limits.max_tally_bytes),
    )


_ENTRY_KEYS = {"record_id", "kit_id", "seq", "sha256", "size", "form_id", "form_version", "day"}


def _parse_entry(raw: Any, index: int, source: SourceRef, limits: Limits) -> RecordEntry:
    where = f"record {index + 1}"
    entry = _object(raw, _ENTRY_KEYS, where)
    record_id = entry["record_id"]
    if not isinstance(record_id, str) or _RECORD_ID.fullmatch(record_id) is None:
        raise _bad(f"{where}: the record id is not a lowercase UUID: {str(record_id)[:80]!r}")
    kit_id = check_source_id(entry["kit_id"], f"{where} kit id")
    if source.kind == "kit" and kit_id != source.id:
        raise _bad(f"{where}: kit {source.id} signed a record that names kit {kit_id}")
    return RecordEntry(
        record_id=record_id,
        kit_id=kit_id,
        seq=_whole(entry["seq"], f"{where} seq", minimum=1),
        sha256=_matching(entry["sha256"], _SHA256, f"{where} sha256"),
        size=_whole(entry["size"], f"{where} size", maximum=limits.max_record_bytes),
        form_id=_matching(entry["form_id"], _FORM_ID, f"{where} form id"),
        form_version=_whole(entry["form_version"], f"{where} form version", minimum=1),
        day=_day(entry["day"], f"{where} day"),
    )


# --- Reading -------------------------------------------------------------------------


def _damaged(detail: str) -> BundleError:
    return BundleError("damaged", f"the bundle is truncated or damaged ({detail})")


class BundleReader:
    """Reads one bundle in steps, so a hub can stop as early as the bundle allows.

    Opening reads only the first two members (manifest and signature). ``manifest``
    parses the manifest; ``verify_signature`` checks it; ``iter_records`` then checks
    the structure of the whole tar before it yields any record, and yields each record
    only after its size and SHA-256 match the manifest. Use as a context manager.
    """

    def __init__(self, fileobj: BinaryIO, size: int, limits: Limits = DEFAULT_LIMITS) -> None:
        self._file = fileobj
        self._size = size
        self.limits = limits
        self._verified = False
        self._manifest: Manifest | None = None
        self.tally: bytes | None = None  # set by iter_records once its size and hash match
        self._check_head()
        try:
            # "r:" never decompresses. The reader outlives this call; close() ends it.
            self._tar = tarfile.open(fileobj=fileobj, mode="r:")  # noqa: SIM115
        except TAR_PROBLEMS as error:
            raise BundleError("not-a-tar", f"the file is not a tar archive ({error})") from None
        self._names: set[str] = set()
        first = self._next_member()
        if first is None or first.name != MANIFEST_NAME:
            raise BundleError("bad-layout", f"the first member must be {MANIFEST_NAME}")
        self.manifest_bytes = self._read(first)
        second = self._next_member()
        if second is None or second.name != SIGNATURE_NAME:
            raise BundleError("bad-layout", f"the second member must be {SIGNATURE_NAME}")
        self.signature = self._read(second)
        self.manifest_sha256 = hashlib.sha256(self.manifest_bytes).hexdigest()

    @classmethod
    def open(cls, source: Path | bytes | BinaryIO, limits: Limits = DEFAULT_LIMITS) -> BundleReader:
        """A reader over a bundle file, bundle bytes already in memory, or an open
        seekable binary file (read from its start; closed with the reader)."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            if len(data) > limits.max_bundle_bytes:
                raise _too_large(len(data), limits)
            return cls(io.BytesIO(data), len(data), limits)
        if not isinstance(source, str | os.PathLike):
            size = source.seek(0, io.SEEK_END)
            source.seek(0)
            if size > limits.max_bundle_bytes:
                raise _too_large(size, limits)
            return cls(source, size, limits)
        path = Path(source)
        try:
            handle = path.open("rb")
        except OSError as error:
            raise FieldkitError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_bundle_bytes:
                raise _too_large(size, limits)
            return cls(handle, size, limits)
        except BaseException:
            handle.close()
            raise

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    # -- steps ---------------------------------------------------------------------

    @property
    def manifest(self) -> Manifest:
        """The parsed manifest (checked once, then kept)."""
        if self._manifest is None:
            self._manifest = _parse_manifest(self.manifest_bytes, self.limits)
        return self._manifest

    def verify_signature(self, public_key: Ed25519PublicKey) -> None:
        """Check ``manifest.sig`` against the manifest bytes with the signer's enrolled key."""
        try:
            public_key.verify(self.signature, self.manifest_bytes)
        except InvalidSignature:
            raise BundleError(
                "bad-signature",
                "the manifest signature does not verify with the enrolled key: the bundle "
                "was changed after it was signed, or signed by another key",
            ) from None
        self._verified = True

    def iter_records(self) -> Iterator[tuple[RecordEntry, bytes]]:
        """Each record with its manifest entry, in tar order, checked before it is yielded.

        The whole structure (member kinds, names, sizes, count, the set of records) is
        checked first; hashes are checked record by record, so a caller storing records
        as they come must undo its work when a later record raises (the hub stores in
        one transaction).
        """
        if not self._verified:
            raise RuntimeError("verify_signature must succeed before records are read")
        manifest = self.manifest
        expected = {entry.record_id: entry for entry in manifest.records}
        members = self._walk_rest()
        present: dict[str, tarfile.TarInfo] = {}
        tally_member: tarfile.TarInfo | None = None
        for member in members:
            if member.name == TALLY_NAME:
                tally_member = self._check_tally_member(member, manifest)
                continue
            match = _RECORD_MEMBER.fullmatch(member.name)
            assert match is not None  # _check_member allowed only these names here
            record_id = match.group(1)
            entry = expected.get(record_id)
            if entry is None:
                raise BundleError(
                    "extra-record",
                    f"{member.name} is in the bundle but not in its signed manifest",
                )
            if member.size != entry.size:
                raise BundleError(
                    "size-mismatch",
                    f"{member.name} has {member.size} bytes; the manifest says {entry.size}",
                )
            present[record_id] = member
        missing = [rid for rid in expected if rid not in present]
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise BundleError(
                "missing-record",
                f"record {missing[0]}{more} is listed in the manifest but not in the bundle",
            )
        if manifest.tally is not None:
            if tally_member is None:
                raise BundleError("missing-record", f"the tally is listed in the manifest but {TALLY_NAME} is missing")
            data = self._read(tally_member)
            if hashlib.sha256(data).hexdigest() != manifest.tally.sha256:
                raise BundleError(
                    "hash-mismatch",
                    f"{TALLY_NAME} does not match its SHA-256 in the manifest: it was changed or damaged in transit",
                )
            self.tally = data
        for record_id, member in present.items():
            entry = expected[record_id]
            data = self._read(member)
            if hashlib.sha256(data).hexdigest() != entry.sha256:
                raise BundleError(
                    "hash-mismatch",
                    f"record {record_id} does not match its SHA-256 in the manifest: it was "
                    "changed or damaged in transit",
                )
            yield entry, data

    @staticmethod
    def _check_tally_member(member: tarfile.TarInfo, manifest: Manifest) -> tarfile.TarInfo:
        if manifest.tally is None:
            raise BundleError("extra-record", f"{TALLY_NAME} is in the bundle but not in its signed manifest")
        if member.size != manifest.tally.size:
            raise BundleError(
                "size-mismatch", f"{TALLY_NAME} has {member.size} bytes; the manifest says {manifest.tally.size}"
            )
        return member

    # -- tar walking -----------------------------------------------------------------

    def _check_head(self) -> None:
        head = self._file.read(TAR_BLOCK)
        self._file.seek(0)
        compression = compressed_as(head)
        if compression is not None:
            raise BundleError(
                "compressed",
                f"the file is {compression}-compressed; bundles are plain tar files and are never decompressed "
                "by the hub",
            )
        if not is_plain_tar(head):
            raise BundleError("not-a-tar", "the file is not a tar archive (no ustar header)")

    def _next_member(self) -> tarfile.TarInfo | None:
        try:
            member = self._tar.next()
        except TAR_PROBLEMS as error:
            raise _damaged(str(error)) from None
        if member is None:
            return None
        self._check_member(member)
        return member

    def _check_member(self, member: tarfile.TarInfo) -> None:
        name = member.name
        shown = repr(name[:120])
        problem = member_problem(member, archive="a bundle", inside="the bundle")
        if problem is not None:
            raise BundleError("unsafe-member", problem)
        if name not in (MANIFEST_NAME, SIGNATURE_NAME, TALLY_NAME) and not _RECORD_MEMBER.fullmatch(name):
            raise BundleError("unexpected-member", f"member {shown} is not a name bundles use")
        if name in self._names:
            raise BundleError("duplicate-member", f"member {shown} appears more than once")
        self._names.add(name)
        if name == SIGNATURE_NAME and member.size != SIGNATURE_SIZE:
            raise BundleError("bad-signature", f"{SIGNATURE_NAME} must be {SIGNATURE_SIZE} bytes, not {member.size}")
        limit = {MANIFEST_NAME: self.limits.max_manifest_bytes, TALLY_NAME: self.limits.max_tally_bytes}.get(
            name, self.limits.max_record_bytes
        )
        if member.size > limit:
            raise BundleError(
                "oversized-member",
                f"member {shown} claims {member.size} bytes; the limit for it is {limit}",
            )
        if member.offset_data + member.size > self._size:
            raise _damaged(f"member {shown} runs past the end of the file")

    def _walk_rest(self) -> list[tarfile.TarInfo]:
        members: list[tarfile.TarInfo] = []
        while True:
            member = self._next_member()
            if member is None:
                return members
            members.append(member)
            if len(members) > self.limits.max_records + (1 if self.manifest.tally is not None else 0):
                raise BundleError(
                    "too-many-members",
                    f"the bundle has more than {self.limits.max_members} members",
                )

    def _read(self, member: tarfile.TarInfo) -> bytes:
        try:
            extracted = self._tar.extractfile(member)
            if extracted is None:
                raise _damaged(f"member {member.name!r} has no data")
            data = extracted.read(member.size)
        except TAR_PROBLEMS as error:
            raise _damaged(str(error)) from None
        if len(data) != member.size:
            raise _damaged(f"member {member.name!r} is cut short")
        return data


def _too_large(size: int, limits: Limits) -> BundleError:
    return BundleError(
        "too-large",
        f"the file has {size} bytes; a bundle may have at most {limits.max_bundle_bytes}",
    )


def read_bundle(
    source: Path | bytes,
    public_key_for: Callable[[SourceRef], Ed25519PublicKey],
    limits: Limits = DEFAULT_LIMITS,
) -> VerifiedBundle:
    """Read and fully verify a bundle into memory.

    ``public_key_for`` returns the enrolled key of a source, or raises
    :class:`BundleError` (``unknown-source``, ``revoked-source``).
    """
    with BundleReader.open(source, limits) as reader:
        manifest = reader.manifest
        reader.verify_signature(public_key_for(manifest.source))
        records = dict((entry.record_id, data) for entry, data in reader.iter_records())
        return VerifiedBundle(manifest, reader.manifest_sha256, records, reader.tally)
