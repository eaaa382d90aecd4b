"""Load: 30 phones at once against a real ``fieldkit serve``, each doing a whole peer interview;
then 100 phones against a ``serve`` held to one core (:func:`measure_100`).

The server is the real command (waitress, 8 threads) on 127.0.0.1; the phones are
threads of this process (:mod:`benchmarks.phones`), so on a 2-core machine they share
the cores with the server and the latencies include their own overhead. Afterwards
every receipt a phone was shown must name a sealed record in the kit's store, and the
store must hold exactly as many records as interviews were completed.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks import browser_check
from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.phones import LoadResult, operator_code_source, records_lost, run_phones
from benchmarks.served import start_serve
from benchmarks.stats import milliseconds, percentile
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore

FORM_ID = "peer-interview"


@dataclass(frozen=True)
class LoadSettings:
    phones: int
    interviews_each: int
    chromium: bool


FULL = LoadSettings(phones=30, interviews_each=1, chromium=True)
QUICK = FULL  # the budget is about 30 phones at once, and they take only seconds
PHONES_100 = 100


def latency_figures(result: LoadResult, prefix: str) -> dict[str, float]:
    figures: dict[str, float] = {}
    for kind, times in result.timings.items():
        if times:
            for label, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
                figures[f"{prefix}_{kind}_{label}_ms"] = milliseconds(percentile(times, fraction))
    every = result.all_times()
    for label, fraction in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        figures[f"{prefix}_{label}_ms"] = milliseconds(percentile(every, fraction))
    return figures


def measure(settings: LoadSettings, forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    """Figures, and the first error messages (if any) to show under the table."""
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-load-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder))
        store = RecordStore(kit.data_dir)
        served = start_serve(kit)
        try:
            next_code = operator_code_source(served.base_url)
            result = run_phones(
                served.base_url, next_code, settings.phones, forms[FORM_ID],
                interviews_each=settings.interviews_each, seed=30,
            )  # fmt: skip
            figures = latency_figures(result, "load")
            figures.update(
                load_phones=float(settings.phones),
                load_interviews=float(result.completed),
                load_requests=float(result.requests),
                load_seconds=result.seconds,
                load_pages_per_s=result.requests / result.seconds,
                load_interviews_per_s=result.completed / result.seconds,
                load_errors=float(len(result.errors)),
                load_unfinished=float(settings.phones * settings.interviews_each - result.completed),
                load_records_lost=float(records_lost(result, store)),
            )  # fmt: skip
            if settings.chromium:
                seen = browser_check.off_kit_requests(served.base_url, next_code)
                if seen is not None:
                    figures["chromium_requests"], figures["chromium_external_requests"] = map(float, seen)
        finally:
            served.stop()
    return figures, result.errors[:5]


def measure_100(forms: Mapping[str, Form]) -> tuple[dict[str, float], list[str]]:
    """100 phones at once, each pairing and doing one interview, against a serve on one core.

    One core, as on a small Raspberry Pi or a laptop busy with other work: the server's
    threads are pinned after "ready"; the phones (threads of this process) are not.
    """
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-load100-") as folder_name:
        folder = Path(folder_name)
        kit = make_kit(folder, make_hub_keys(folder))
        store = RecordStore(kit.data_dir)
        served = start_serve(kit)
        try:
            core = served.pin_to_one_core()
            next_code = operator_code_source(served.base_url)
            result = run_phones(served.base_url, next_code, PHONES_100, forms[FORM_ID], seed=100)
            figures = {
                key.replace("load_", "load100_", 1): value for key, value in latency_figures(result, "load").items()
            }
            figures.update(
                load100_core=float(core),
                load100_interviews=float(result.completed),
                load100_errors=float(len(result.errors)),
                load100_unfinished=float(PHONES_100 - result.completed),
                load100_records_lost=float(records_lost(result, store)),
                load100_pages_per_s=result.requests / result.seconds,
            )  # fmt: skip
        finally:
            served.stop()
    return figures, result.errors[:5]
