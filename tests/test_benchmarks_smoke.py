"""The benchmarks run end to end and report every figure the budgets name.

Not a speed test: the figures depend on the machine. It proves that
``python -m benchmarks --quick --json FILE`` still measures everything through the
real code paths (a serve process, phones over HTTP, a hub merge, an export) and
writes each budget key as a number.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.hub_report import QUICK
from benchmarks.hub_scale import QUICK as SCALE_QUICK
from benchmarks.report import REQUIRED_KEYS

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_quick_benchmark_writes_every_budget_figure(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    figures = json.loads(out.read_text(encoding="utf-8"))
    for key in REQUIRED_KEYS:
        assert key in figures, f"{key} is missing"
        value = figures[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), f"{key} = {value!r}"
        assert math.isfinite(value), f"{key} = {value!r}"
    assert len(REQUIRED_KEYS) == 27
    # Facts that hold on any machine: nothing leaves the kit, no phone failed, nothing lost.
    assert figures["external_requests"] == 0
    assert figures["load_errors"] == 0, result.stdout  # the notes name each failed phone
    assert figures["load_records_lost"] == 0, result.stdout  # the notes name each failed phone
    assert figures["load_interviews"] == 30
    assert figures["load100_errors"] == 0, result.stdout  # the notes name each failed phone
    assert figures["load100_records_lost"] == 0, result.stdout  # the notes name each failed phone
    assert figures["load100_interviews"] == 100
    # serve held to one core and a bounded data segment (the Pi-class figures).
    assert figures["pi_serve_rss_interviews"] == 100
    assert figures["pi_load30_errors"] == 0, result.stdout  # the notes name each failed phone
    assert figures["pi_load30_records_lost"] == 0, result.stdout
    assert figures["pi_load30_interviews"] == 30
    assert 0 < figures["pi_serve_ready_s"] < figures["pi_serve_ready_with_kdf_s"]
    assert figures["pi_serve_rss_peak_mb"] >= figures["pi_serve_rss_mb"]
    assert figures["merge_held_after"] == figures["merge_records"]
    assert figures["export_records"] == figures["merge_records"]
    # The scale benchmark's hubs hold what was sent, probes included; the export opened every record.
    half = SCALE_QUICK.probes * SCALE_QUICK.per_bundle // 2
    assert figures["scale_large_records_after"] == SCALE_QUICK.large + half
    assert figures["export_records_100k"] == SCALE_QUICK.export_large
    assert figures["store_bytes_per_ciphertext_byte"] > 1
    # The report read every record of both hubs (the smaller first), in a process of its own.
    assert figures["report_records_100k"] == QUICK.large
    assert 0 < figures["report_records_used_100k"] <= figures["report_records_100k"]
    assert figures["report_rss_mb_10k"] > 0 and figures["report_seconds_100k"] > 0
    assert "heaviest page, HTML+CSS+JS" in result.stdout
    assert figures["page_kb_wire_max"] < figures["page_kb_max"]
