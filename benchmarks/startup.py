"""``fieldkit serve``: time until "ready", and resident memory after 100 interviews.

The kit is made with the default scrypt work factor, as people's kits are, so the
unlock at start-up costs what it costs in the field. Start-up is timed from before the
process is created to the "ready" line, several times (the median is the figure).
Memory is the server's VmRSS from ``/proc`` after the interviews, done by simulated
phones over HTTP (:mod:`benchmarks.phones`), a few at a time.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.phones import operator_code_source, run_phones
from benchmarks.served import start_serve
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import DEFAULT_WORK_FACTOR

FORM_ID = "peer-interview"


@dataclass(frozen=True)
class StartupSettings:
    starts: int
    phones: int
    interviews_each: int  # phones x interviews_each interviews before memory is read


FULL = StartupSettings(starts=5, phones=10, interviews_each=10)
QUICK = StartupSettings(starts=3, phones=10, interviews_each=3)


def measure(settings: StartupSettings, forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-serve-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder), work_factor=DEFAULT_WORK_FACTOR)
        ready: list[float] = []
        for _ in range(settings.starts - 1):
            served = start_serve(kit)
            ready.append(served.ready_seconds)
            served.stop()
        served = start_serve(kit)
        ready.append(served.ready_seconds)
        try:
            rss_at_ready = served.memory_mb()
            result = run_phones(
                served.base_url, operator_code_source(served.base_url), settings.phones, forms[FORM_ID],
                interviews_each=settings.interviews_each, seed=7,
            )  # fmt: skip
            rss = served.memory_mb()
            peak = served.memory_mb("VmHWM")
        finally:
            served.stop()
    figures = {
        "serve_start_s": statistics.median(ready),
        "serve_start_max_s": max(ready),
        "serve_rss_at_ready_mb": rss_at_ready,
        "serve_rss_mb": rss,
        "serve_rss_peak_mb": peak,
        "serve_rss_interviews": float(result.completed),
    }
    return figures, result.errors[:5]
