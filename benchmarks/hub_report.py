"""``fieldkit hub report`` over a hub of 100,000 records: its peak memory and its time.

How the hub is filled (not timed):

1. A pool of interviews is answered with :func:`fieldkit.kit.simulate.random_answers`
   about the centres of the simulate :class:`~fieldkit.kit.simulate.World` (20 centres in
   2 regions, some abusive, some rarely visited), as ``fieldkit simulate`` does, and
   checked with :func:`~fieldkit.core.formengine.answers.validate_record` as
   ``Finaliser`` does. Answering takes ~1.5 ms an interview, so 100,000 distinct ones
   would take minutes; a pool of a few thousand gives the report real centres and
   spreads of answers all the same.
2. Bundle by bundle, each record is the pool's next interview under a fresh record id,
   built with :func:`fieldkit.kit.sealing.build_payload` and sealed with
   :func:`fieldkit.kit.sealing.seal` (what ``finalise`` does), signed by an enrolled kit
   with :func:`sync.protocol.bundle.build_bundle` and merged with the real
   :meth:`sync.hub.store.HubStore.import_bundle`. No file per record, no CLI call per
   record.

Then, measured: a real ``fieldkit hub report`` subprocess, first over the smaller hub
(10,000 records), then after the hub has grown to the large one (100,000), so the
growth per record shows beside the figure. Its stdout must say that it read every
record (a few are not used: interviews that skipped the optional centre code).

Peak memory is the child's ``VmHWM`` from ``/proc/PID/status``, read every few
milliseconds until it exits (the high-water mark only rises, so the last reading is
the peak up to a few milliseconds before exit). Not ``getrusage(RUSAGE_CHILDREN)`` or
``wait4``: Linux starts a child's ``ru_maxrss`` at its parent's high-water mark when it
is spawned with ``vfork`` (as :mod:`subprocess` does), so it would report this
benchmark's own memory, not the report's.
"""

from __future__ import annotations

import datetime
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.kits import HubKeys, enrolled_kits, make_hub_keys
from benchmarks.stats import Stopwatch
from fieldkit.core.formengine.answers import validate_record
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.sealing import RecordCentre, TranslationInfo, build_payload, seal, to_hour
from fieldkit.kit.simulate import World, random_answers
from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import OutgoingRecord, SourceRef, build_bundle


@dataclass(frozen=True)
class ReportSettings:
    small: int  # records in the hub at the first report
    large: int  # records in the hub at the second report: the budgeted figure
    per_bundle: int
    pool: int  # distinct simulated interviews, sealed again under fresh ids


FULL = ReportSettings(small=10_000, large=100_000, per_bundle=1_000, pool=2_000)
QUICK = ReportSettings(small=100, large=400, per_bundle=100, pool=50)

SAMPLE_SECONDS = 0.005
REPORT_TIMEOUT_SECONDS = 1_800.0
_USED = re.compile(r"(\d+) records used of (\d+)")


@dataclass(frozen=True)
class Interview:
    form: Form
    answers: dict[str, Any]
    centre: RecordCentre | None = None


@dataclass
class Filler:
    """Adds sealed records to a hub, bundle by bundle, from one enrolled kit."""

    hub_dir: Path
    kit: UnlockedKit
    pool: list[Interview]
    per_bundle: int
    next_seq: int = 1
    held: int = 0

    def fill_to(self, total: int) -> None:
        config = self.kit.config
        recipients = config.age_recipients()
        now = datetime.datetime.now(datetime.UTC)
        hour, day = to_hour(now), now.date().isoformat()
        with HubStore(self.hub_dir) as store:
            while self.held < total:
                records = []
                for _ in range(min(self.per_bundle, total - self.held)):
                    interview = self.pool[(self.next_seq - 1) % len(self.pool)]
                    record_id = str(uuid.uuid4())
                    payload = build_payload(
                        record_id=record_id, form=interview.form, answers=interview.answers,
                        kit_id=config.kit_id, started=hour, finished=hour,
                        translation=TranslationInfo("en"), interviewer="SIM01", centre=interview.centre,
                    )  # fmt: skip
                    records.append(
                        OutgoingRecord(
                            record_id=record_id,
                            kit_id=config.kit_id,
                            seq=self.next_seq,
                            form_id=interview.form.id,
                            form_version=interview.form.version,
                            day=day,
                            ciphertext=seal(payload, recipients),
                        )
                    )
                    self.next_seq += 1
                bundle = build_bundle(self.kit.signing_key, SourceRef("kit", config.kit_id, config.epoch), records)
                result = store.import_bundle(bundle, label=f"bundle-{self.next_seq}")
                if result.status != "accepted" or result.new != len(records):
                    raise RuntimeError(f"bundle not merged whole: {result.summary()}")
                self.held += result.new


def simulated_pool(forms: Mapping[str, Form], count: int, *, seed: int = 15) -> list[Interview]:
    """``count`` interviews about the simulate world's centres, spread over the forms."""
    rng = random.Random(seed)  # synthetic answers, not secrets
    world = World.make()
    today = datetime.datetime.now(datetime.UTC).date()
    ordered = [forms[key] for key in sorted(forms)]
    pool = []
    for index in range(count):
        form = ordered[index % len(ordered)]
        centre = world.pick(rng)
        answers = random_answers(form, rng, today=today, centre=centre)
        pool.append(
            Interview(form, dict(validate_record(form, answers, today=today)), RecordCentre(centre.code, centre.region))
        )
    return pool


@dataclass(frozen=True)
class ReportRun:
    peak_mb: float
    seconds: float
    used: int
    read: int


def run_report(hub_dir: Path, hub: HubKeys, out_dir: Path) -> ReportRun:
    """One ``fieldkit hub report`` process: its peak resident memory and wall time."""
    command = [
        sys.executable, "-m", "fieldkit", "hub", "report", "--data", str(hub_dir),
        "--identity", str(hub.identity_path), "--out", str(out_dir), "--no-progress",
    ]  # fmt: skip
    run = run_with_peak(command, out_dir.parent / f"{out_dir.name}.log", "fieldkit hub report")
    counts = _USED.search(run.output)
    if counts is None:
        raise RuntimeError(f"fieldkit hub report did not say how many records it read:\n{run.output}")
    return ReportRun(run.peak_mb, run.seconds, int(counts.group(1)), int(counts.group(2)))


@dataclass(frozen=True)
class ProcessRun:
    peak_mb: float
    seconds: float
    output: str  # stdout and stderr together


def run_with_peak(command: list[str], log: Path, what: str, timeout: float = REPORT_TIMEOUT_SECONDS) -> ProcessRun:
    """Run ``command`` to its end, sampling its peak resident memory; a failure raises, naming ``what``."""
    with log.open("w+", encoding="utf-8") as output:
        watch = Stopwatch()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, text=True)
        peak_kb = 0
        deadline = time.monotonic() + timeout
        while process.poll() is None:
            peak_kb = max(peak_kb, _high_water_kb(process.pid))
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise RuntimeError(f"{what} took more than {timeout:.0f} s")
            time.sleep(SAMPLE_SECONDS)
        seconds = watch.seconds()
        output.seek(0)
        text = output.read()
    if process.returncode != 0 or peak_kb == 0:
        raise RuntimeError(f"{what} failed (exit {process.returncode}):\n{text}")
    return ProcessRun(peak_kb / 1024, seconds, text)


def _high_water_kb(pid: int) -> int:
    """VmHWM of a running process, 0 once it has gone (its last reading stands)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    except OSError:
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB$", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def measure(settings: ReportSettings, forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-report-") as folder_name:
        folder = Path(folder_name)
        hub = make_hub_keys(folder)
        hub_dir = folder / "hub"
        init_hub(hub_dir, hub.recipient)
        (kit,) = enrolled_kits(folder, hub, hub_dir, 1)
        filler = Filler(hub_dir, kit, simulated_pool(forms, settings.pool), settings.per_bundle)
        runs = {}
        fill_seconds = 0.0
        for size in (settings.small, settings.large):
            watch = Stopwatch()
            filler.fill_to(size)
            fill_seconds += watch.seconds()
            run = runs[size] = run_report(hub_dir, hub, folder / f"report-{size}")
            if run.read != size:
                raise RuntimeError(f"the report read {run.read} records; the hub holds {size}")
    small, large = runs[settings.small], runs[settings.large]
    growth_kb = (large.peak_mb - small.peak_mb) * 1024 / (settings.large - settings.small) * 1_000
    figures = {
        "report_rss_mb_100k": large.peak_mb,
        "report_seconds_100k": large.seconds,
        "report_records_100k": float(settings.large),
        "report_records_used_100k": float(large.used),
        "report_rss_mb_10k": small.peak_mb,
        "report_seconds_10k": small.seconds,
        "report_rss_kb_per_1k_records": growth_kb,
        "report_records_per_s": settings.large / large.seconds,
        "report_fill_records_per_s": settings.large / fill_seconds,
    }
    notes = [
        f"peak {small.peak_mb:.1f} MB at {settings.small:,} records, {large.peak_mb:.1f} MB at {settings.large:,}",
    ]
    return figures, notes
