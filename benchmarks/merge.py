"""Hub merge: many signed bundles verified, deduplicated and stored; then imported again.

How the bundles are made (the set-up is not timed):

1. A real kit makes ``pool`` interviews with :func:`fieldkit.kit.simulate.simulate`, the
   function behind ``fieldkit simulate``: random answers to the shipped forms, drafts,
   then :class:`~fieldkit.kit.sealing.Finaliser` (the record store skips fsync here, which
   changes no byte). Sealing 100,000 interviews that way would take most of an hour.
2. The benchmark holds the hub's identity, so it opens each of those records and, for
   every bundle record, seals its payload again under a fresh record id and the
   sending kit's id with :func:`fieldkit.kit.sealing.seal` (the function ``finalise``
   uses). So every record in every bundle is a real ``fieldkit-record/1``, unique,
   whose sealed id matches its bundle entry; an export can open all of them.
3. Several kits, enrolled through the real token flow (:mod:`sync.protocol.enrolment`), sign
   the bundles with :func:`sync.protocol.bundle.build_bundle` (what ``Outbox`` uses), with
   sequence numbers running on per kit; the bundles are written to files, as on a
   USB stick.

Then, timed: :meth:`sync.hub.store.HubStore.import_bundle` of every file into a new hub
(fresh), the same files again (re-import), and :func:`sync.hub.export.run.run_export` of the
merged hub (decryption rate).
"""

from __future__ import annotations

import datetime
import json
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.kits import HubKeys, enrolled_kits, make_hub_keys, make_kit
from benchmarks.stats import Stopwatch
from fieldkit.core.crypto import age
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.sealing import Finaliser, seal
from fieldkit.kit.simulate import simulate
from sync.hub.export.run import plan_export, run_export
from sync.hub.store import IMPORT_CACHE_MIB, HubStore, init_hub
from sync.protocol.bundle import OutgoingRecord, SourceRef, build_bundle


@dataclass(frozen=True)
class MergeSettings:
    bundles: int
    records_per_bundle: int
    kits: int  # kits signing the bundles, taking turns
    pool: int  # interviews made with the real simulate path, re-sealed under fresh ids


FULL = MergeSettings(bundles=100, records_per_bundle=1_000, kits=10, pool=1_000)
QUICK = MergeSettings(bundles=5, records_per_bundle=200, kits=1, pool=100)


def _no_fsync(_fd: int) -> None:
    """Making the pool is set-up; the bytes are the same with or without the flushes."""


def _simulated_payloads(folder: Path, hub: HubKeys, forms: Mapping[str, Form], count: int) -> list[dict[str, Any]]:
    kit = make_kit(folder, hub, name="pool-kit").unlock()
    records = RecordStore(kit.data_dir, fsync=_no_fsync)
    finaliser = Finaliser(kit, records, DraftStore(kit.data_dir / "drafts", kit.draft_key))
    ids = list(simulate(finaliser, forms, count, seed=5))
    return [json.loads(age.decrypt(records.get(record_id), hub.identities)) for record_id in ids]


def _write_bundles(
    folder: Path, settings: MergeSettings, kits: list[UnlockedKit], payloads: list[dict[str, Any]]
) -> list[Path]:
    folder.mkdir()
    next_seq = {kit.config.kit_id: 1 for kit in kits}
    day = datetime.datetime.now(datetime.UTC).date().isoformat()
    paths = []
    source_index = 0
    for number in range(settings.bundles):
        kit = kits[number % len(kits)]
        config = kit.config
        recipients = config.age_recipients()
        records = []
        for _ in range(settings.records_per_bundle):
            payload = dict(payloads[source_index % len(payloads)], record_id=str(uuid.uuid4()), kit_id=config.kit_id)
            source_index += 1
            records.append(
                OutgoingRecord(
                    record_id=payload["record_id"],
                    kit_id=config.kit_id,
                    seq=next_seq[config.kit_id],
                    form_id=payload["form"]["id"],
                    form_version=payload["form"]["version"],
                    day=day,
                    ciphertext=seal(payload, recipients),
                )
            )
            next_seq[config.kit_id] += 1
        path = folder / f"bundle-{number + 1:03d}.tar"
        path.write_bytes(build_bundle(kit.signing_key, SourceRef("kit", config.kit_id, config.epoch), records))
        paths.append(path)
    return paths


def _import_all(hub_dir: Path, bundles: list[Path], expected: str) -> tuple[list[float], int]:
    """Seconds to import each bundle, in order, and how many records came in new."""
    new = 0
    seconds = []
    with HubStore(hub_dir, cache_mib=IMPORT_CACHE_MIB) as store:
        for path in bundles:
            watch = Stopwatch()
            result = store.import_bundle(path)
            seconds.append(watch.seconds())
            if result.status != expected:
                raise RuntimeError(f"{path.name}: {result.summary()} (expected {expected})")
            new += result.new
    return seconds, new


def measure(settings: MergeSettings, forms: Mapping[str, Form]) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-merge-") as folder_name:
        folder = Path(folder_name)
        hub = make_hub_keys(folder)
        hub_dir = folder / "hub"
        init_hub(hub_dir, hub.recipient)
        payloads = _simulated_payloads(folder, hub, forms, settings.pool)
        kits = enrolled_kits(folder, hub, hub_dir, settings.kits)
        bundles = _write_bundles(folder / "usb", settings, kits, payloads)
        total = settings.bundles * settings.records_per_bundle

        fresh, new = _import_all(hub_dir, bundles, "accepted")
        if new != total:
            raise RuntimeError(f"{new} new records from {total} sent")
        again, again_new = _import_all(hub_dir, bundles, "already-merged")
        if again_new != 0:
            raise RuntimeError(f"re-import stored {again_new} records again")
        with HubStore(hub_dir) as store:
            held = store.record_count()

        plan = plan_export(hub_dir, folder / "export", forms=forms)
        watch = Stopwatch()
        report = run_export(plan, hub.identities)
        export_seconds = watch.seconds()
        exported = report.exported
        if report.failed or report.warnings:
            raise RuntimeError(f"export: {report.failed} unreadable records, warnings {report.warnings[:2]}")
    fresh_seconds, again_seconds = sum(fresh), sum(again)
    tenth = max(1, len(fresh) // 10)  # does merging slow down as the hub fills?
    per_bundle = settings.records_per_bundle
    return {
        "merge_first_tenth_records_per_s": per_bundle * tenth / sum(fresh[:tenth]),
        "merge_last_tenth_records_per_s": per_bundle * tenth / sum(fresh[-tenth:]),
        "merge_bundles": float(settings.bundles),
        "merge_records": float(total),
        "merge_seconds": fresh_seconds,
        "merge_records_per_s": total / fresh_seconds,
        "merge_held_after": float(held),
        "reimport_seconds": again_seconds,
        "reimport_records_per_s": total / again_seconds,
        "reimport_speedup": fresh_seconds / again_seconds,
        "export_records": float(exported),
        "merge_export_records_per_s": exported / export_seconds,
    }
