"""Pi-class budgets: ``fieldkit serve`` held to one core and a bounded address space.

A Raspberry Pi in a bag has one or a few slow cores and 512 MB to 1 GB of memory. The
server is started as ``taskset -c CORE prlimit --data=BOUND:BOUND python -m fieldkit
serve ...``: every thread it ever starts runs on one core (the affinity is set before
Python starts, so the imports and the unlock are pinned too), and its data segment is
bounded by ``RLIMIT_DATA`` (see :data:`DATA_LIMIT_BYTES`).

- ``pi_serve_ready_s``: start to "ready" without the passphrase's scrypt. Start-up is
  timed as in :mod:`benchmarks.startup` (from before the process is created to its
  "ready" line, median of several starts); the scrypt the unlock runs is timed on its
  own, on the same core, in a process that derives a key with the kit's own
  parameters from ``kit-keys.json`` (only the derivation is timed, not its imports),
  and that median is taken off. The KDF's cost is chosen for safety (issue 20: about
  1 s, never below N = 2^17), so it is reported beside the figure, not inside it.
- ``pi_serve_rss_mb``: VmRSS of that server after 100 interviews by simulated phones;
  ``pi_serve_rss_peak_mb`` is its VmHWM, which includes scrypt's 128 MiB.
- ``pi_load30_p95_ms``: then 30 phones at once against the same server, each doing a
  whole interview: p95 over every request, and no error (``pi_load30_errors``).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.load import latency_figures
from benchmarks.phones import operator_code_source, records_lost, run_phones
from benchmarks.served import start_serve
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import DEFAULT_WORK_FACTOR, KEYS_FILE

FORM_ID = "peer-interview"
# RLIMIT_DATA, not RLIMIT_AS: since Linux 4.7 it counts every private writable mapping
# (the heap, the malloc arenas' used parts, thread stacks, scrypt's 128 MiB buffer), but
# not the address space reserved and never written (each arena reserves 64 MiB, each
# thread stack 8 MiB), which RLIMIT_AS would count. It is a bound on what the server can
# ask for, not on what is resident: the kernel cannot bound RSS without a cgroup (the
# systemd unit's MemoryMax). At most 384 MiB: scrypt's buffer and about twice the
# server's own data (VmData about 120 MiB after 100 interviews).
DATA_LIMIT_BYTES = 384 * 1024 * 1024
PHONES_AT_ONCE = 30

# Times the unlock's scrypt alone, with the parameters the kit's keys file names.
_KDF_SCRIPT = """
import json, sys, time
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
kdf = json.loads(open(sys.argv[1], encoding="utf-8").read())["kdf"]
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    Scrypt(salt=b"0" * 16, length=32, n=2 ** int(kdf["work_factor"]), r=int(kdf["r"]), p=int(kdf["p"])).derive(b"x")
    times.append(time.perf_counter() - started)
print(" ".join(repr(t) for t in times))
"""


@dataclass(frozen=True)
class PiSettings:
    starts: int
    phones: int
    interviews_each: int  # phones x interviews_each interviews before memory is read


FULL = PiSettings(starts=5, phones=10, interviews_each=10)
QUICK = PiSettings(starts=3, phones=10, interviews_each=10)  # the budget names 100 interviews


def wrapper(core: int) -> list[str]:
    """The command that runs serve on ``core`` with its data segment bounded."""
    return ["taskset", "-c", str(core), "prlimit", f"--data={DATA_LIMIT_BYTES}:{DATA_LIMIT_BYTES}", "--"]


def kdf_seconds(keys_file: Path, core: int, times: int) -> list[float]:
    """The unlock's scrypt, timed ``times`` times in a process on ``core``."""
    command = [*wrapper(core), sys.executable, "-c", _KDF_SCRIPT, str(keys_file), str(times)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120)
    return [float(word) for word in done.stdout.split()]


def measure(settings: PiSettings, forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    core = max(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-pi-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder), work_factor=DEFAULT_WORK_FACTOR)
        store = RecordStore(kit.data_dir)
        ready: list[float] = []
        for _ in range(settings.starts - 1):
            served = start_serve(kit, wrapper=wrapper(core))
            ready.append(served.ready_seconds)
            served.stop()
        kdf = kdf_seconds(kit.data_dir / KEYS_FILE, core, settings.starts)
        served = start_serve(kit, wrapper=wrapper(core))
        ready.append(served.ready_seconds)
        try:
            if os.sched_getaffinity(served.process.pid) != {core}:
                raise RuntimeError(f"serve is not held to core {core}")
            rss_at_ready = served.memory_mb()
            next_code = operator_code_source(served.base_url)
            interviews = run_phones(
                served.base_url, next_code, settings.phones, forms[FORM_ID],
                interviews_each=settings.interviews_each, seed=7,
            )  # fmt: skip
            rss = served.memory_mb()
            held_before = store.count()
            at_once = run_phones(served.base_url, next_code, PHONES_AT_ONCE, forms[FORM_ID], seed=31)
            peak = served.memory_mb("VmHWM")
            rss_after_load = served.memory_mb()
        finally:
            served.stop()
        lost = records_lost(at_once, store, held_before)
    load = {key.replace("load_", "pi_load30_", 1): value for key, value in latency_figures(at_once, "load").items()}
    figures = {
        "pi_serve_ready_s": statistics.median(ready) - statistics.median(kdf),
        "pi_serve_ready_with_kdf_s": statistics.median(ready),
        "pi_kdf_s": statistics.median(kdf),
        "pi_serve_rss_at_ready_mb": rss_at_ready,
        "pi_serve_rss_mb": rss,
        "pi_serve_rss_interviews": float(interviews.completed),
        "pi_serve_rss_peak_mb": peak,
        "pi_serve_rss_after_load30_mb": rss_after_load,
        "pi_core": float(core),
        "pi_data_limit_mb": DATA_LIMIT_BYTES / 1024 / 1024,
        **load,
        "pi_load30_errors": float(len(at_once.errors)),
        "pi_load30_interviews": float(at_once.completed),
        "pi_load30_records_lost": float(lost),
    }
    return figures, [*interviews.errors[:5], *at_once.errors[:5]]
