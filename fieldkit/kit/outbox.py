"""The kit's outbox: sealed records no hub has acknowledged, and the kit's sync state.

The outbox is not a queue that finalise writes to: a record is *pending* simply when it
is in the :class:`~fieldkit.core.storage.records.RecordStore` and no verified receipt has
acknowledged it. So finalising an interview never touches this state, and nothing
written at export can lose a record.

State lives in ``DATA/sync.json`` (TinyDB on atomic writes, under the kit's writer
lock), written only at export, receipt, enrolment and prune:

- table ``outbox``, one document: ``next_seq`` and, per record that was ever exported,
  its sequence number, SHA-256 and which hub acknowledged it (``acked_by``);
- table ``hubs``: hubs this kit is enrolled with, with their receipt public keys, and
  table ``hubs_signature``: the kit's signature over that list (``fieldkit.kit.hub_list``:
  only the hubs it covers are trusted, for packs, receipts, push, pull and prune);
- table ``pending``: the enrolment in progress (what the token told us about the hub);
- table ``tally``, one document: the last tally of declined interviews given a sequence
  number (its ``seq``, a digest of its counts, and which hub acknowledged it). A tally
  is sealed afresh into each bundle until a hub acknowledges it; when the counts change
  it gets a new sequence number, so the hub can tell the newest (docs/sync.md).

Sequence numbers are assigned once, at a record's first export, and never reused
(``next_seq`` only grows, even when pruned records leave the table).
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinydb
from tinydb.table import Document

from fieldkit.core.crypto import age
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic
from fieldkit.core.storage.locks import lock_unless_read_only, writer_lock
from fieldkit.core.storage.records import RecordStore
from fieldkit.core.storage.tinydb_storage import open_db
from fieldkit.kit.config import KitConfig, UnlockedKit, load_config
from fieldkit.kit.declined import declined_cells, stopped_cells, tally_digest, tally_payload
from fieldkit.kit.hub_list import SYNC_STATE_FILE, HubTrust, check_hub_list, read_hub_list, write_hub_list
from fieldkit.kit.sealing import seal, sealing_recipients
from sync.protocol.bundle import DEFAULT_LIMITS, Limits, OutgoingRecord, OutgoingTally, SourceRef, build_bundle
from sync.protocol.receipts import ReceiptError, load_public_key, read_receipt

__all__ = [
    "SYNC_STATE_FILE",
    "EnrolledHub",
    "Outbox",
    "OutboxStatus",
    "PendingEnrolment",
    "PreparedBundle",
    "ReceiptResult",
    "SyncState",
]

_STATE_DOC_ID = 1
_TALLY_TABLE = "tally"
# Room kept per record for its tar header and padding and its manifest entry, so a
# bundle built from records that fit stays under the size limit.
_PER_RECORD_OVERHEAD = 2048
_FIXED_OVERHEAD = 64 * 1024


@dataclass(frozen=True)
class EnrolledHub:
    """A hub this kit sends to, and the key its receipts must verify with."""

    hub_id: str
    receipt_public_key: str
    enrolled: str
    # How the kit knows the key is the hub's: "token-proof" (the hub proved it knows the
    # one-time token), "token-file" (and the token file named this key). None for a hub
    # enrolled by an older version, which trusted whoever answered: its receipts mark
    # records as synced, but 'sync prune' does not delete them on its word.
    verified: str | None = None


@dataclass(frozen=True)
class PendingEnrolment:
    """An enrolment request this kit made and whose response it still waits for.

    ``mac_key`` (hex) checks the hub's proof in its response; it is derived from the
    one-time token and erased when the enrolment ends. The token itself is not kept.
    """

    hub_id: str | None
    receipt_public_key: str | None
    token_id: str
    mac_key: str
    created: str


@dataclass(frozen=True)
class PreparedBundle:
    """A signed bundle of pending records, ready to write to a file or to push."""

    data: bytes
    count: int
    first_seq: int
    last_seq: int
    remaining: int
    tally: bool = False  # the bundle carries the kit's tally of declined interviews
    read_only: bool = False  # the data folder could not be written: its sequence numbers were not saved


@dataclass(frozen=True)
class ReceiptResult:
    """What one receipt changed: ``marked`` records are now synced."""

    hub_id: str
    marked: int
    already: int
    ignored: int
    tally_marked: bool = False  # the receipt acknowledged the tally this kit waits to hear of


@dataclass(frozen=True)
class OutboxStatus:
    records: int
    pending: int
    acknowledged: int
    hubs: tuple[EnrolledHub, ...]
    pending_enrolment: PendingEnrolment | None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _today() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


class SyncState:
    """The kit's ``sync.json``. Every method takes the kit's writer lock around its write."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / SYNC_STATE_FILE

    def _open(self) -> tinydb.TinyDB:
        return open_db(self.path)

    # -- hubs and enrolment --------------------------------------------------------

    def hubs(self) -> list[EnrolledHub]:
        """Every entry of the hub list as stored, trusted or not (see :meth:`trusted_hubs`)."""
        with self._open() as db:
            return [_hub_from(doc) for doc in db.table("hubs").all()]

    def hub_trust(self, config: KitConfig) -> HubTrust:
        """Which hub entries the kit's signature covers, checked with the public key in ``config``."""
        with self._open() as db:
            docs, signature = read_hub_list(db)
        return check_hub_list(docs, signature, config.kit_id, config.verify_key(), required=config.hub_list_signed)

    def trusted_hubs(self, config: KitConfig) -> list[EnrolledHub]:
        """The hubs this kit enrolled with and vouches for: the only ones whose packs and receipts count."""
        with self._open() as db:
            docs, signature = read_hub_list(db)
        trust = check_hub_list(docs, signature, config.kit_id, config.verify_key(), required=config.hub_list_signed)
        return [_hub_from(doc) for doc in docs if trust.covers(doc)]

    def add_hub(self, hub: EnrolledHub, kit: UnlockedKit) -> None:
        """Enrol with ``hub`` (replacing an earlier entry for the same hub id) and sign the new list.

        The signature covers the new entry and those the old signature covered; an entry
        it did not cover stays in the list, refused, and is not signed now either.
        """
        config = kit.config
        with writer_lock(self.data_dir), self._open() as db:
            docs, signature = read_hub_list(db)
            trust = check_hub_list(docs, signature, config.kit_id, config.verify_key(), required=config.hub_list_signed)
            earlier = next((doc for doc in docs if doc.get("hub_id") == hub.hub_id), None)
            if earlier is not None and (
                earlier.get("receipt_public_key") != hub.receipt_public_key
                or not earlier.get("verified")
                or not trust.covers(earlier)
            ):
                # What the earlier, other or unverified key acknowledged is not known to be
                # at the hub: those records wait again (the hub counts a re-send as a duplicate).
                self._forget_acknowledgements(db, hub.hub_id)
            new = {
                "hub_id": hub.hub_id,
                "receipt_public_key": hub.receipt_public_key,
                "enrolled": hub.enrolled,
                "verified": hub.verified,
            }
            kept = [doc for doc in docs if doc.get("hub_id") != hub.hub_id]
            signed = [doc for doc in kept if trust.covers(doc)] + [new]
            write_hub_list(db, [*kept, new], signed, config.kit_id, kit.signing_key)

    @staticmethod
    def _forget_acknowledgements(db: tinydb.TinyDB, hub_id: str) -> None:
        outbox = db.table("outbox")
        doc = outbox.get(doc_id=_STATE_DOC_ID)
        if not isinstance(doc, dict):
            return
        records = dict(doc["records"])
        for entry in records.values():
            if entry.get("acked_by") == hub_id:
                entry["acked_by"] = None
                entry["acked"] = None
        outbox.upsert(Document({"next_seq": doc["next_seq"], "records": records}, doc_id=_STATE_DOC_ID))
        tally = db.table(_TALLY_TABLE).get(doc_id=_STATE_DOC_ID)
        if isinstance(tally, dict) and tally.get("acked_by") == hub_id:
            db.table(_TALLY_TABLE).upsert(Document({**tally, "acked_by": None}, doc_id=_STATE_DOC_ID))

    def pending_enrolment(self) -> PendingEnrolment | None:
        with self._open() as db:
            docs = db.table("pending").all()
        if not docs or "mac_key" not in docs[0]:
            return None  # none, or one begun by an older version (it cannot be finished)
        doc = docs[0]
        return PendingEnrolment(
            hub_id=doc["hub_id"],
            receipt_public_key=doc["receipt_public_key"],
            token_id=doc["token_id"],
            mac_key=doc["mac_key"],
            created=doc["created"],
        )

    def set_pending_enrolment(self, pending: PendingEnrolment) -> None:
        with writer_lock(self.data_dir), self._open() as db:
            table = db.table("pending")
            table.truncate()
            table.insert(
                {
                    "hub_id": pending.hub_id,
                    "receipt_public_key": pending.receipt_public_key,
                    "token_id": pending.token_id,
                    "mac_key": pending.mac_key,
                    "created": pending.created,
                }
            )

    def clear_pending_enrolment(self) -> None:
        with writer_lock(self.data_dir), self._open() as db:
            db.table("pending").truncate()

    # -- outbox document -----------------------------------------------------------

    def load_outbox(self) -> dict[str, Any]:
        """``{"next_seq": int, "records": {record_id: {...}}}`` (a fresh copy)."""
        with self._open() as db:
            doc = db.table("outbox").get(doc_id=_STATE_DOC_ID)
        if doc is None:
            return {"next_seq": 1, "records": {}}
        return {"next_seq": int(doc["next_seq"]), "records": dict(doc["records"])}

    def save_outbox(self, state: dict[str, Any]) -> None:
        """Replace the outbox document (hold the writer lock around the read-modify-write)."""
        with writer_lock(self.data_dir), self._open() as db:
            db.table("outbox").upsert(Document(state, doc_id=_STATE_DOC_ID))

    # -- the tally of declined interviews ---------------------------------------------

    def tally(self) -> dict[str, Any] | None:
        """``{"seq", "digest", "acked_by"}`` of the last numbered tally, or None."""
        with self._open() as db:
            doc = db.table(_TALLY_TABLE).get(doc_id=_STATE_DOC_ID)
        return dict(doc) if isinstance(doc, dict) else None

    def save_tally(self, tally: dict[str, Any]) -> None:
        with writer_lock(self.data_dir), self._open() as db:
            db.table(_TALLY_TABLE).upsert(Document(tally, doc_id=_STATE_DOC_ID))


def _hub_from(doc: dict[str, Any]) -> EnrolledHub:
    """An entry as stored; one edited by hand shows as what it holds, never a crash."""
    verified = doc.get("verified")
    return EnrolledHub(
        hub_id=str(doc.get("hub_id")),
        receipt_public_key=str(doc.get("receipt_public_key")),
        enrolled=str(doc.get("enrolled")),
        verified=verified if isinstance(verified, str) else None,
    )


class Outbox:
    """Pending records of one kit: export them as bundles, apply receipts, prune."""

    def __init__(self, data_dir: Path, *, limits: Limits = DEFAULT_LIMITS) -> None:
        self.data_dir = Path(data_dir)
        self.config = load_config(self.data_dir)
        self.records = RecordStore(self.data_dir)
        self.state = SyncState(self.data_dir)
        self.limits = limits

    def pending_ids(self) -> list[str]:
        """Ids of records in the store that no hub has acknowledged, sorted."""
        acked = {rid for rid, entry in self.state.load_outbox()["records"].items() if entry.get("acked_by")}
        return [rid for rid in self.records.ids() if rid not in acked]

    def tally_waiting(self) -> bool:
        """True when the kit's declined or stopped counts changed since a hub last acknowledged them."""
        cells, stopped = declined_cells(self.data_dir), stopped_cells(self.data_dir)
        if not cells and not stopped:
            return False
        sent = self.state.tally()
        return sent is None or sent.get("digest") != tally_digest(cells, stopped) or not sent.get("acked_by")

    def held_and_waiting(self) -> tuple[int, int]:
        """Records held, and how many of them wait for a hub, without listing the records.

        For the operator page, fetched at every pairing: the store's kept counts
        (:meth:`RecordStore.counts`) and the acknowledged entries of ``sync.json``, so
        no record or sidecar is opened. ``status()`` checks every record instead.
        """
        held = sum(self.records.counts().values())
        acknowledged = sum(1 for entry in self.state.load_outbox()["records"].values() if entry.get("acked_by"))
        return held, max(0, held - acknowledged)

    def status(self) -> OutboxStatus:
        held = list(self.records.ids())
        acked = {rid for rid, entry in self.state.load_outbox()["records"].items() if entry.get("acked_by")}
        acknowledged = sum(1 for rid in held if rid in acked)
        return OutboxStatus(
            records=len(held),
            pending=len(held) - acknowledged,
            acknowledged=acknowledged,
            hubs=tuple(self.state.hubs()),
            pending_enrolment=self.state.pending_enrolment(),
        )

    # -- export --------------------------------------------------------------------

    def prepare_bundle(self, kit: UnlockedKit, *, created: str | None = None) -> PreparedBundle | None:
        """Sign a bundle of pending records (oldest sequence numbers first); ``None`` if none.

        New pending records get sequence numbers here, saved before the bundle is built,
        so a bundle never carries a number that could be given out again. On a read-only
        data folder (a failing disk) nothing can be saved and nothing else can add a
        record: the numbers are given in memory, in the same order a later export from a
        copy of the folder gives them, so a dying kit can still be exported from.
        """
        if kit.config.kit_id != self.config.kit_id:
            raise FieldkitError("the unlocked kit is not the kit of this data folder")
        with lock_unless_read_only(self.data_dir) as writable:
            state = self.state.load_outbox()
            entries: dict[str, dict[str, Any]] = state["records"]
            pending = [rid for rid in self.records.ids() if not entries.get(rid, {}).get("acked_by")]
            tally = self._tally_to_send(kit, state, save=writable)
            if not pending and tally is None:
                return None
            fresh = [rid for rid in pending if rid not in entries]
            if fresh:
                fresh_metadata = {rid: self.records.metadata(rid) for rid in fresh}
                fresh.sort(key=lambda rid: (fresh_metadata[rid]["day"], rid))
                for record_id in fresh:
                    ciphertext = self.records.get(record_id)
                    entries[record_id] = {
                        "seq": state["next_seq"],
                        "sha256": hashlib.sha256(ciphertext).hexdigest(),
                        "acked_by": None,
                        "acked": None,
                    }
                    state["next_seq"] += 1
                if writable:
                    self.state.save_outbox(state)
        pending.sort(key=lambda rid: entries[rid]["seq"])
        chosen: list[OutgoingRecord] = []
        budget = self.limits.max_bundle_bytes - _FIXED_OVERHEAD
        for record_id in pending:
            metadata = self.records.metadata(record_id)
            cost = int(metadata["size"]) + _PER_RECORD_OVERHEAD
            if chosen and (len(chosen) >= self.limits.max_records or cost > budget):
                break
            budget -= cost
            ciphertext = self.records.get(record_id)
            chosen.append(
                OutgoingRecord(
                    record_id=record_id,
                    kit_id=self.config.kit_id,
                    seq=entries[record_id]["seq"],
                    form_id=metadata["form_id"],
                    form_version=metadata["form_version"],
                    day=metadata["day"],
                    ciphertext=ciphertext,
                )
            )
        source = SourceRef("kit", self.config.kit_id, self.config.epoch)
        data = build_bundle(kit.signing_key, source, chosen, created=created, limits=self.limits, tally=tally)
        seqs = [record.seq for record in chosen] + ([tally.seq] if tally is not None else [])
        return PreparedBundle(
            data=data,
            count=len(chosen),
            first_seq=min(seqs),
            last_seq=max(seqs),
            remaining=len(pending) - len(chosen),
            tally=tally is not None,
            read_only=not writable,
        )

    def _tally_to_send(self, kit: UnlockedKit, state: dict[str, Any], *, save: bool = True) -> OutgoingTally | None:
        """The sealed tally of declined (and stopped) interviews when no hub has acknowledged it yet.

        Called under the writer lock, with the outbox ``state`` just loaded: counts that
        changed since the last numbered tally get the next sequence number (saved before
        the bundle is built, like a record's), so a newer tally always has a higher one.
        """
        cells, stopped = declined_cells(self.data_dir), stopped_cells(self.data_dir)
        if not cells and not stopped:
            return None  # nobody declined, no interview stopped: bundles are as they always were
        digest = tally_digest(cells, stopped)
        sent = self.state.tally()
        if sent is None or sent.get("digest") != digest:
            sent = {"seq": state["next_seq"], "digest": digest, "acked_by": None, "acked": None}
            state["next_seq"] += 1
            if save:
                self.state.save_outbox(state)
                self.state.save_tally(sent)
        if sent.get("acked_by"):
            return None
        # The day only: a finer time would help nobody but someone tracing who declined.
        payload = tally_payload(self.config.kit_id, self.config.epoch, cells, _today(), stopped)
        # Sealed as new records are: to the newest pack's hub recipient once the hub rotated its key.
        from fieldkit.kit.packs import pack_hub_recipient  # packs reads this module's SyncState

        recipients = sealing_recipients(kit.config.recipients, pack_hub_recipient(self.data_dir))
        return OutgoingTally(int(sent["seq"]), seal(payload, [age.parse_recipient(r) for r in recipients]))

    def export(self, kit: UnlockedKit, out: Path) -> PreparedBundle | None:
        """Write a bundle of pending records to ``out`` atomically; ``None`` (no file) if none."""
        prepared = self.prepare_bundle(kit)
        if prepared is not None:
            write_atomic(Path(out), prepared.data, mode=0o600)
        return prepared

    # -- receipts ------------------------------------------------------------------

    def apply_receipt(self, data: bytes) -> ReceiptResult:
        """Mark the records a verified hub receipt lists as synced.

        The receipt must verify with the receipt key of a hub this kit enrolled with,
        name this kit, and list each record with the SHA-256 this kit exported; anything
        else changes nothing (and a bad signature raises :class:`ReceiptError`).
        """
        receipt, document = read_receipt(data)
        hubs = {hub.hub_id: hub for hub in self.state.trusted_hubs(self.config)}
        hub = hubs.get(receipt.hub_id)
        if hub is None:
            refused = next((r for r in self.state.hub_trust(self.config).refused if r.hub_id == receipt.hub_id), None)
            if refused is not None:
                raise ReceiptError(f"the receipt is refused: {refused.line()} Nothing was marked as synced")
            raise ReceiptError(
                f"the receipt comes from hub {receipt.hub_id}, which this kit is not enrolled "
                "with; nothing was marked as synced"
            )
        if not document.verify(load_public_key(hub.receipt_public_key, "hub receipt key")):
            raise ReceiptError(
                f"the receipt's signature does not verify with the key of hub {hub.hub_id}: it "
                "is forged or damaged; nothing was marked as synced"
            )
        if receipt.source.kind != "kit" or receipt.source.id != self.config.kit_id:
            raise ReceiptError(
                f"the receipt is for {receipt.source.kind} {receipt.source.id}, not this kit "
                f"({self.config.kit_id}); nothing was marked as synced"
            )
        marked = already = ignored = 0
        with writer_lock(self.data_dir):
            state = self.state.load_outbox()
            entries = state["records"]
            for record_id, sha256 in receipt.records:
                entry = entries.get(record_id)
                if entry is None or entry["sha256"] != sha256:
                    ignored += 1
                elif entry.get("acked_by"):
                    already += 1
                else:
                    entry["acked_by"] = hub.hub_id
                    entry["acked"] = _today()  # the day is enough; an exact time helps only a tracer
                    marked += 1
            if marked:
                self.state.save_outbox(state)
            tally_marked = False
            sent = self.state.tally()
            if receipt.tally is not None and sent is not None and receipt.tally[0] == sent["seq"]:
                tally_marked = not sent.get("acked_by")
                if tally_marked:
                    self.state.save_tally({**sent, "acked_by": hub.hub_id, "acked": _today()})
        return ReceiptResult(hub.hub_id, marked, already, ignored, tally_marked)

    # -- prune ---------------------------------------------------------------------

    def unverified_acknowledged(self) -> int:
        """Records acknowledged only by hubs whose key was never verified (kept by prune)."""
        verified = {hub.hub_id for hub in self.state.trusted_hubs(self.config) if hub.verified}
        entries = self.state.load_outbox()["records"]
        return sum(1 for entry in entries.values() if entry.get("acked_by") and entry["acked_by"] not in verified)

    def prune(self) -> int:
        """Delete the ciphertext of acknowledged records; return how many were removed.

        Only records acknowledged by a hub whose key the kit verified at enrolment (the
        hub proved it knows the token, or a token file named its key) are deleted: a
        receipt from a key an impostor slipped in must never cost an interview. Records
        no hub acknowledged are never touched, nor those of a hub entry the kit's signature
        over its hub list does not cover (``fieldkit.kit.hub_list``).
        """
        verified = {hub.hub_id for hub in self.state.trusted_hubs(self.config) if hub.verified}
        with writer_lock(self.data_dir):
            state = self.state.load_outbox()
            acked = [rid for rid, entry in state["records"].items() if entry.get("acked_by") in verified]
            removed = self.records.delete(rid for rid in acked if rid in self.records)
            for record_id in acked:
                del state["records"][record_id]
            if acked:
                self.state.save_outbox(state)
        return removed
