"""``python -m benchmarks [--quick] [--json FILE]``: every budget figure, measured in one run.

Prints a table (measured, budget, share of the budget used, ok/over) and, with
``--json``, writes every figure as a flat JSON object of numbers. The exit status is
1 only when a measurement could not be made at all; a figure over its budget is a
finding for ``docs/performance.md``, not a failure.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    finalise,
    hub_report,
    hub_scale,
    load,
    merge,
    operator_page,
    pages,
    pi,
    round_trips,
    sealing_speed,
    startup,
)
from benchmarks.report import REQUIRED_KEYS, missed, table
from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import load_directory


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test (well under a minute)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE as JSON")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    options = _arguments(argv)
    quick = options.quick
    forms = load_directory(paths.forms_dir())
    figures: dict[str, float] = {}
    notes: list[str] = []
    failed: list[str] = []

    def run(name: str, measure: Callable[[], object]) -> None:
        print(f"measuring {name} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        try:
            outcome = measure()
        except Exception:
            failed.append(name)
            traceback.print_exc()
            return
        found, extra = outcome if isinstance(outcome, tuple) else (outcome, [])
        figures.update(found)
        figures[f"seconds_{name}"] = time.perf_counter() - started
        notes.extend(f"{name}: {line}" for line in extra)

    def page_weights() -> tuple[dict[str, float], list[str]]:
        found, weights = pages.measure(forms)
        heaviest = sorted(weights, key=lambda weight: weight.total_bytes, reverse=True)[:3]
        return found, [
            f"heavy page {w.language} {w.name}: {w.html_bytes} + {w.asset_bytes} bytes, {w.wire_bytes} on the wire"
            for w in heaviest
        ]

    started = time.perf_counter()
    run("finalise", lambda: finalise.measure(finalise.QUICK if quick else finalise.FULL))
    run("pages", page_weights)
    run("round_trips", round_trips.measure)
    run("load", lambda: load.measure(load.QUICK if quick else load.FULL, forms))
    run("load100", lambda: load.measure_100(forms))
    run("operator", lambda: operator_page.measure(operator_page.QUICK if quick else operator_page.FULL, forms))
    run("merge", lambda: merge.measure(merge.QUICK if quick else merge.FULL, forms))
    run("report", lambda: hub_report.measure(hub_report.QUICK if quick else hub_report.FULL, forms))
    run("scale", lambda: hub_scale.measure(hub_scale.QUICK if quick else hub_scale.FULL, forms))
    run("sealing", lambda: sealing_speed.measure(sealing_speed.QUICK if quick else sealing_speed.FULL))
    run("serve", lambda: startup.measure(startup.QUICK if quick else startup.FULL, forms))
    run("pi", lambda: pi.measure(pi.QUICK if quick else pi.FULL, forms))
    figures["quick"] = 1.0 if quick else 0.0
    figures["cpu_count"] = float(_cpu_count())
    figures["seconds_total"] = time.perf_counter() - started

    print(f"fieldkit benchmarks ({'quick' if quick else 'full'} run, {_cpu_count()} cores, "
          f"Python {platform.python_version()})\n")  # fmt: skip
    print(table(figures))
    for note in notes:
        print(f"  {note}")
    over = missed(figures)
    print(f"\nover budget: {', '.join(over)}" if over else "\nevery budgeted figure is within its budget")
    missing = [key for key in REQUIRED_KEYS if key not in figures or math.isnan(figures[key])]
    if options.json:
        options.json.write_text(json.dumps(_finite(figures), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if failed or missing:
        print(f"could not measure: {', '.join(failed or missing)}", file=sys.stderr)
        return 1
    return 0


def _finite(figures: dict[str, float]) -> dict[str, float]:
    """JSON has no NaN: a figure that could not be computed is left out."""
    return {key: value for key, value in figures.items() if not math.isnan(value)}


def _cpu_count() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
