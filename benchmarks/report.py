"""The budgets of ``docs/performance.md`` and the table that sets each figure beside its budget.

Ratio is the share of the budget used, so below 1 is always within it: measured/limit
for an upper limit ("at most"), limit/measured for a lower one ("at least"). Figures
without a budget are shown for context, marked ``info``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

AT_MOST = "at most"
AT_LEAST = "at least"


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    unit: str = ""
    limit: float | None = None
    direction: str = AT_MOST

    def ratio(self, value: float) -> float | None:
        if self.limit is None or self.limit == 0 or value == 0:
            return None
        return value / self.limit if self.direction == AT_MOST else self.limit / value

    def status(self, value: float) -> str:
        if self.limit is None:
            return "info"
        if math.isnan(value):
            return "over"
        within = value <= self.limit if self.direction == AT_MOST else value >= self.limit
        return "ok" if within else "over"


# Every key the issue asks for comes first in its group; the rest give context.
ROWS: tuple[Row, ...] = (
    Row("submit_p50_ratio_10k_vs_100", "finalise+seal p50, largest store vs 100", "x", 1.3),
    Row("submit_largest_store", "  largest store (10,000; 2,000 with --quick)", "records"),
    Row("submit_p50_ms_100", "  finalise+seal p50 at 100 records", "ms"),
    Row("submit_p50_ms_1000", "  finalise+seal p50 at 1,000 records", "ms"),
    Row("submit_p50_ms_2000", "  finalise+seal p50 at 2,000 records", "ms"),
    Row("submit_p50_ms_10000", "  finalise+seal p50 at 10,000 records", "ms"),
    Row("submit_p90_ms_100", "  finalise+seal p90 at 100 records", "ms"),
    Row("submit_p90_ms_10000", "  finalise+seal p90 at 10,000 records", "ms"),
    Row("naive_tinydb_ratio_10k_vs_100", "naive TinyDB insert p50, largest vs 100", "x"),
    Row("naive_tinydb_p50_ms_100", "  naive TinyDB insert p50 at 100", "ms"),
    Row("naive_tinydb_p50_ms_2000", "  naive TinyDB insert p50 at 2,000", "ms"),
    Row("naive_tinydb_p50_ms_10000", "  naive TinyDB insert p50 at 10,000", "ms"),
    Row("page_kb_max", "heaviest page, HTML+CSS+JS", "KB", 25),
    Row("page_kb_wire_max", "heaviest page on the wire, gzip, with headers", "KB", 14),
    Row("external_requests", "references leaving the kit, all pages", "", 0),
    Row("chromium_external_requests", "  requests leaving the kit, in Chromium", "", 0),
    Row("next_round_trips", "requests for one Next, JavaScript on", "", 1),
    Row("load_errors", "errors, 30 phones at once", "", 0),
    Row("load_records_lost", "  sealed interviews missing afterwards", "", 0),
    Row("load_p95_ms", "  p95 latency, every page", "ms"),
    Row("load_p50_ms", "  p50 latency, every page", "ms"),
    Row("load_p99_ms", "  p99 latency, every page", "ms"),
    Row("load_finalise_p95_ms", "  p95 latency, finish and seal", "ms"),
    Row("load_pages_per_s", "  throughput", "pages/s"),
    Row("load100_errors", "errors, 100 phones at once, serve on one core", "", 0),
    Row("load100_records_lost", "  sealed interviews missing afterwards", "", 0),
    Row("load100_p95_ms", "  p95 latency, every page", "ms"),
    Row("load100_pair_post_p95_ms", "  p95 latency, pairing", "ms"),
    Row("load100_finalise_p95_ms", "  p95 latency, finish and seal", "ms"),
    Row("load100_pages_per_s", "  throughput", "pages/s"),
    Row("operator_page_ratio_100k_vs_100", "operator page, largest store vs 100 records", "x", 1.3),
    Row("operator_large_store", "  largest store (100,000; 10,000 with --quick)", "records"),
    Row("operator_page_ms_100", "  operator page at 100 records (median)", "ms"),
    Row("operator_page_ms_100k", "  operator page at the largest store (median)", "ms"),
    Row("operator_page_ms_100k_exported", "  the same, every record exported and not pruned", "ms"),
    Row("operator_counts_rebuild_s_100k", "  counts rebuilt from every sidecar, largest store", "s"),
    Row("operator_sidecar_count_ms_100k", "  the old way: reading every sidecar, largest store", "ms"),
    Row("merge_records_per_s", "hub merge, fresh bundles", "records/s", 5000, AT_LEAST),
    Row("merge_first_tenth_records_per_s", "  first tenth of the bundles", "records/s"),
    Row("merge_last_tenth_records_per_s", "  last tenth of the bundles", "records/s"),
    Row("merge_export_records_per_s", "  export of the merged hub, in process", "records/s"),
    Row("reimport_speedup", "re-import of merged bundles, speed-up", "x", 10, AT_LEAST),
    Row("merge_rate_ratio_1m", "hub import rate, large hub vs 10,000 records", "x", 0.8, AT_LEAST),
    Row("scale_large_records", "  large hub (1,000,000; 20,000 with --quick)", "records"),
    Row("merge_records_per_s_10k", "  import into the small hub (10,000; 2,000 with --quick)", "records/s"),
    Row("merge_records_per_s_1m", "  import into the large hub", "records/s"),
    Row("scale_fill_records_per_s", "  filling the large hub (set-up)", "records/s"),
    Row("store_bytes_per_ciphertext_byte", "hub store size per ciphertext byte, large hub", "x", 1.3),
    Row("store_bytes_per_record_1m", "  store bytes per record, large hub", "bytes"),
    Row("ciphertext_bytes_per_record", "  ciphertext bytes per record", "bytes"),
    Row("store_bytes_per_ciphertext_byte_10k", "  store size per ciphertext byte, small hub", "x"),
    Row("export_records_per_s", "hub export, 100,000 records (2,000 with --quick)", "records/s", 2000, AT_LEAST),
    Row("export_rss_mb_100k", "  export peak resident, 100,000 records", "MB"),
    Row("export_rss_mb_10k", "  export peak resident, 10,000 records (500 with --quick)", "MB"),
    Row("export_rss_ratio_100k_vs_10k", "export peak resident, 100,000 vs 10,000 records (flat)", "x", 1.1),
    Row("report_rss_mb_100k", "hub report: peak resident, largest hub", "MB", 150),
    Row("report_records_100k", "  largest hub (100,000; 2,000 with --quick)", "records"),
    Row("report_seconds_100k", "  time, largest hub", "s"),
    Row("report_rss_mb_10k", "  peak resident, smaller hub (10,000; 500 with --quick)", "MB"),
    Row("report_seconds_10k", "  time, smaller hub", "s"),
    Row("report_rss_kb_per_1k_records", "  peak growth per 1,000 records more", "KB"),
    Row("report_records_per_s", "  records read per second, largest hub", "records/s"),
    Row("seal_ratio_vs_pyrage", "sealing time vs pyrage, 1 recipient", "x", 3),
    Row("seal_ratio_vs_pyrage_2r", "  sealing time vs pyrage, 2 recipients", "x", 3),
    Row("seal_us_ours_1r", "  sealing one ~3 KB record, ours", "us"),
    Row("serve_start_s", "fieldkit serve: start to ready (median)", "s", 1.5),
    Row("serve_rss_mb", "fieldkit serve: resident after interviews", "MB", 80),
    Row("serve_rss_peak_mb", "  peak resident (scrypt unlock included)", "MB"),
    Row("pi_serve_ready_s", "serve on one core, bounded: start to ready, scrypt excluded", "s", 1.0),
    Row("pi_serve_ready_with_kdf_s", "  start to ready, scrypt included (median)", "s"),
    Row("pi_kdf_s", "  the unlock's scrypt alone, same core (median)", "s"),
    Row("pi_serve_rss_mb", "serve on one core, bounded: resident after 100 interviews", "MB", 64),
    Row("pi_serve_rss_at_ready_mb", "  resident at ready", "MB"),
    Row("pi_serve_rss_peak_mb", "  peak resident (scrypt unlock included)", "MB"),
    Row("pi_serve_rss_after_load30_mb", "  resident after the 30 phones too", "MB"),
    Row("pi_load30_errors", "errors, 30 phones at once, serve on one core, bounded", "", 0),
    Row("pi_load30_records_lost", "  sealed interviews missing afterwards", "", 0),
    Row("pi_load30_p95_ms", "  p95 latency, every page", "ms"),
    Row("pi_load30_finalise_p95_ms", "  p95 latency, finish and seal", "ms"),
)

REQUIRED_KEYS = (
    "submit_p50_ratio_10k_vs_100",
    "naive_tinydb_ratio_10k_vs_100",
    "page_kb_max",
    "page_kb_wire_max",
    "external_requests",
    "load_errors",
    "load_p95_ms",
    "load100_errors",
    "load100_p95_ms",
    "operator_page_ms_100k",
    "operator_page_ratio_100k_vs_100",
    "merge_records_per_s",
    "reimport_speedup",
    "merge_rate_ratio_1m",
    "store_bytes_per_ciphertext_byte",
    "export_records_per_s",
    "export_rss_mb_100k",
    "report_rss_mb_100k",
    "report_seconds_100k",
    "seal_ratio_vs_pyrage",
    "serve_start_s",
    "serve_rss_mb",
    "pi_serve_ready_s",
    "pi_serve_rss_mb",
    "pi_serve_rss_peak_mb",
    "pi_load30_errors",
    "pi_load30_p95_ms",
)


def _number(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value == int(value):
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Mapping[str, float]) -> str:
    """A plain-text table of every known figure that was measured (Markdown-compatible)."""
    header = ("figure", "measured", "budget", "ratio", "")
    lines = [header]
    for row in ROWS:
        if row.key not in figures:
            continue
        value = figures[row.key]
        unit = f" {row.unit}" if row.unit else ""
        budget = "-" if row.limit is None else f"{row.direction} {_number(row.limit)}{unit}"
        ratio = row.ratio(value)
        lines.append((row.label, f"{_number(value)}{unit}", budget, "-" if ratio is None else f"{ratio:.2f}",
                      row.status(value)))  # fmt: skip
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    rendered = []
    for number, line in enumerate(lines):
        cells = [cell.ljust(width) if column == 0 else cell.rjust(width)
                 for column, (cell, width) in enumerate(zip(line, widths, strict=True))]  # fmt: skip
        rendered.append("| " + " | ".join(cells) + " |")
        if number == 0:
            rendered.append("|" + "|".join("-" * (width + 2) for width in widths) + "|")
    return "\n".join(rendered)


def missed(figures: Mapping[str, float]) -> list[str]:
    """Labels of budgeted figures that are over their budget."""
    return [row.label.strip() for row in ROWS if row.key in figures and row.status(figures[row.key]) == "over"]
