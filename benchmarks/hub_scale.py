"""The hub at scale: import into a hub of 1,000,000 records, its size on disk, export memory.

How the hubs are filled (not timed), always bundle by bundle through the real
:meth:`sync.hub.store.HubStore.import_bundle` of signed bundle files, as from a USB stick:

1. The large hub first takes real records: each is an interview of a pool answered with
   :func:`fieldkit.kit.simulate.random_answers` (``benchmarks.hub_report.simulated_pool``),
   built with :func:`fieldkit.kit.sealing.build_payload` under a fresh record id and
   sealed with :func:`fieldkit.kit.sealing.seal`, so an export opens every one. The
   export is measured at 10,000 and at 100,000 of them.
2. Then it grows to 1,000,000 with ciphertext reused under new record ids: a few hundred
   of those sealed records, cycled. Sealing a million records would add a quarter of an hour and
   prove nothing more about the store; the hub checks each one's size, SHA-256 and age
   header as for any record (issue 21 allows this). A second hub takes 10,000 the same way.

Then, timed: probe bundles of fresh record ids imported into the small and the large
hub in turn (so a slow moment of the shared machine hurts both alike): the ratio of the
two rates is ``merge_rate_ratio_1m``. The large hub's folder, its write-ahead log
checkpointed, is weighed against the ciphertext it holds. The export is a real
``fieldkit hub export`` process, its peak resident memory (VmHWM) sampled as for the
report.
"""

from __future__ import annotations

import datetime
import json
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from statistics import median

from benchmarks.hub_report import Interview, run_with_peak, simulated_pool
from benchmarks.kits import HubKeys, enrolled_kits, make_hub_keys
from benchmarks.stats import Stopwatch
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.sealing import TranslationInfo, build_payload, seal, to_hour
from sync.hub.store import DB_FILE, IMPORT_CACHE_MIB, HubStore, init_hub
from sync.protocol.bundle import OutgoingRecord, SourceRef, build_bundle


@dataclass(frozen=True)
class ScaleSettings:
    small: int  # records held by the small hub
    large: int  # records held by the large hub: the budget names 1,000,000
    export_small: int  # real records in the large hub at the first export
    export_large: int  # ... at the second: the budget names 100,000
    per_bundle: int
    probes: int  # probe bundles into each hub, taking turns: half before the hub holds its size, half after
    pool: int  # distinct interviews answered; also how many sealed records are reused as filler


FULL = ScaleSettings(
    small=10_000, large=1_000_000, export_small=10_000, export_large=100_000, per_bundle=1_000, probes=10, pool=500
)
# A much smaller "large" hub: the ratio then says little about a million records.
QUICK = ScaleSettings(
    small=2_000, large=20_000, export_small=500, export_large=2_000, per_bundle=500, probes=4, pool=50
)

EXPORT_TIMEOUT_SECONDS = 1_800.0
PROGRESS_EVERY = 50_000


def _day() -> str:
    return datetime.datetime.now(datetime.UTC).date().isoformat()


# (record id, kit) -> (form id, form version, ciphertext) of one record to send
Sealer = Callable[[str, UnlockedKit], tuple[str, int, bytes]]


@dataclass(frozen=True)
class Bundle:
    path: Path
    ciphertext_bytes: int


@dataclass
class Grower:
    """Adds records to one hub, a signed bundle file at a time, from kits enrolled there."""

    store: HubStore
    kits: list[UnlockedKit]
    folder: Path  # where each bundle file is written, imported, then deleted
    held: int = 0
    ciphertext_bytes: int = 0  # of every record held
    next_seq: dict[str, int] = field(default_factory=dict)
    turn: int = 0

    def bundle(self, count: int, ciphertexts: Sealer) -> Bundle:
        """A bundle file of ``count`` records under fresh ids; ``ciphertexts(record_id, kit)`` seals each."""
        kit = self.kits[self.turn % len(self.kits)]
        self.turn += 1
        config = kit.config
        seq = self.next_seq.get(config.kit_id, 1)
        records = []
        for _ in range(count):
            record_id = str(uuid.uuid4())
            form_id, form_version, ciphertext = ciphertexts(record_id, kit)
            records.append(OutgoingRecord(record_id, config.kit_id, seq, form_id, form_version, _day(), ciphertext))
            seq += 1
        self.next_seq[config.kit_id] = seq
        self.folder.mkdir(exist_ok=True)
        path = self.folder / f"bundle-{self.turn:06d}.tar"
        path.write_bytes(build_bundle(kit.signing_key, SourceRef("kit", config.kit_id, config.epoch), records))
        return Bundle(path, sum(len(record.ciphertext) for record in records))

    def import_file(self, bundle: Bundle) -> float:
        """Import one bundle file whole, then delete it; the seconds ``import_bundle`` took."""
        watch = Stopwatch()
        result = self.store.import_bundle(bundle.path)
        seconds = watch.seconds()
        if result.status != "accepted" or result.quarantined or result.duplicates:
            raise RuntimeError(f"bundle not merged whole: {result.summary()}")
        self.held += result.new
        self.ciphertext_bytes += bundle.ciphertext_bytes
        bundle.path.unlink()
        return seconds

    def grow_to(self, total: int, per_bundle: int, ciphertexts: Sealer, what: str) -> None:
        reported = self.held
        while self.held < total:
            self.import_file(self.bundle(min(per_bundle, total - self.held), ciphertexts))
            if self.held - reported >= PROGRESS_EVERY or self.held == total:
                print(f"  {what}: {self.held:,} records", file=sys.stderr, flush=True)
                reported = self.held


def _sealer(pool: list[Interview]) -> Sealer:
    """Real records: the pool's next interview under ``record_id``, sealed as ``finalise`` does."""
    interviews = cycle(pool)
    hour = to_hour(datetime.datetime.now(datetime.UTC))

    def ciphertext(record_id: str, kit: UnlockedKit) -> tuple[str, int, bytes]:
        interview = next(interviews)
        payload = build_payload(
            record_id=record_id, form=interview.form, answers=interview.answers, kit_id=kit.config.kit_id,
            started=hour, finished=hour, translation=TranslationInfo("en"), interviewer="SIM01",
            centre=interview.centre,
        )  # fmt: skip
        return interview.form.id, interview.form.version, seal(payload, kit.config.age_recipients())

    return ciphertext


def _reused(ciphertexts: list[tuple[str, int, bytes]]) -> Sealer:
    """Filler: sealed bytes cycled under new ids (the hub cannot tell, an export would)."""
    source = cycle(ciphertexts)
    return lambda _record_id, _kit: next(source)


@dataclass(frozen=True)
class ExportRun:
    peak_mb: float
    seconds: float
    records: int


def run_export(hub_dir: Path, hub: HubKeys, out_dir: Path, expected: int) -> ExportRun:
    """One ``fieldkit hub export`` process, which must export exactly ``expected`` records."""
    command = [
        sys.executable, "-m", "fieldkit", "hub", "export", "--data", str(hub_dir),
        "--identity", str(hub.identity_path), "--out", str(out_dir), "--no-progress",
    ]  # fmt: skip
    run = run_with_peak(command, out_dir.parent / f"{out_dir.name}.log", "fieldkit hub export", EXPORT_TIMEOUT_SECONDS)
    descriptor = json.loads((out_dir / "datapackage.json").read_text(encoding="utf-8"))
    exported = descriptor["fieldkit"]["records_exported"]
    if exported != expected:
        raise RuntimeError(f"the export wrote {exported} records; the hub holds {expected}")
    return ExportRun(run.peak_mb, run.seconds, expected)


def store_bytes(hub_dir: Path) -> int:
    """Every file of the hub folder, the write-ahead log first checkpointed into the database."""
    with closing(sqlite3.connect(hub_dir / DB_FILE)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return sum(path.stat().st_size for path in hub_dir.rglob("*") if path.is_file())


def _probe(small: Grower, large: Grower, settings: ScaleSettings, filler: Sealer) -> tuple[float, float]:
    """Records/s of fresh bundles into the small and the large hub, the two taking turns.

    Each rate is that of the median bundle: on a shared machine one bundle caught by
    another process's burst would otherwise weigh on one side only.
    """
    seconds: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(settings.probes):
        for name, grower in (("small", small), ("large", large)):
            seconds[name].append(grower.import_file(grower.bundle(settings.per_bundle, filler)))
    return settings.per_bundle / median(seconds["small"]), settings.per_bundle / median(seconds["large"])


def measure(settings: ScaleSettings, forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-scale-") as folder_name:
        folder = Path(folder_name)
        hub = make_hub_keys(folder)
        large_dir, small_dir = folder / "hub-large", folder / "hub-small"
        init_hub(large_dir, hub.recipient)
        init_hub(small_dir, hub.recipient)
        large_kits = enrolled_kits(folder / "large", hub, large_dir, 2)
        small_kits = enrolled_kits(folder / "small", hub, small_dir, 2)
        pool = simulated_pool(forms, settings.pool)
        sealer = _sealer(pool)
        exports = {}
        with (
            HubStore(large_dir, cache_mib=IMPORT_CACHE_MIB) as large_store,
            HubStore(small_dir, cache_mib=IMPORT_CACHE_MIB) as small_store,
        ):
            large = Grower(large_store, large_kits, folder / "usb-large")
            small = Grower(small_store, small_kits, folder / "usb-small")
            watch = Stopwatch()
            for size in (settings.export_small, settings.export_large):
                large.grow_to(size, settings.per_bundle, sealer, "large hub, sealed records")
                exports[size] = run_export(large_dir, hub, folder / f"export-{size}", size)
            filler = _reused([sealer(str(uuid.uuid4()), large_kits[0]) for _ in range(settings.pool)])
            # Filled to half the probes short of its size, so that it holds its size midway through them.
            half = settings.probes * settings.per_bundle // 2
            large.grow_to(settings.large - half, settings.per_bundle, filler, "large hub, reused ciphertext")
            fill_seconds = watch.seconds()
            small.grow_to(settings.small - half, settings.per_bundle, filler, "small hub")
            small_rate, large_rate = _probe(small, large, settings, filler)
        large_bytes, small_bytes = store_bytes(large_dir), store_bytes(small_dir)
    first, last = exports[settings.export_small], exports[settings.export_large]
    figures = {
        "merge_rate_ratio_1m": large_rate / small_rate,
        "merge_records_per_s_10k": small_rate,
        "merge_records_per_s_1m": large_rate,
        "scale_large_records": float(settings.large),  # midway through the probes
        "scale_small_records": float(settings.small),
        "scale_large_records_after": float(large.held),
        "scale_fill_records_per_s": large.held / fill_seconds,
        "store_bytes_per_ciphertext_byte": large_bytes / large.ciphertext_bytes,
        "store_bytes_per_ciphertext_byte_10k": small_bytes / small.ciphertext_bytes,
        "store_bytes_per_record_1m": large_bytes / large.held,
        "ciphertext_bytes_per_record": large.ciphertext_bytes / large.held,
        "export_records_per_s": settings.export_large / last.seconds,
        "export_rss_mb_100k": last.peak_mb,
        "export_rss_mb_10k": first.peak_mb,
        "export_rss_ratio_100k_vs_10k": last.peak_mb / first.peak_mb,
        "export_rss_kb_per_1k_records": (last.peak_mb - first.peak_mb) * 1024_000 / (last.records - first.records),
        "export_records_100k": float(settings.export_large),
    }
    notes = [
        f"import {small_rate:,.0f} records/s into {settings.small:,} held, {large_rate:,.0f} into {settings.large:,}",
        f"store {large_bytes / large.held:,.0f} bytes a record for {large.ciphertext_bytes / large.held:,.0f} "
        "of ciphertext",
        f"export peak {first.peak_mb:.1f} MB at {settings.export_small:,} records, {last.peak_mb:.1f} MB at "
        f"{settings.export_large:,}",
    ]
    return figures, notes
