"""The operator page, fetched at every pairing, with 100 records stored and with 100,000.

Two kits are filled with copies of one sealed record: files written straight into the
store's layout (one ``.age`` and one ``.json`` per record, as ``RecordStore.put``
leaves them), then the store's counts are rebuilt once, from every sidecar, which is
what a kit does the first time it starts with no counts file (that time is a figure
too). The page (``GET /operator/`` through Flask's test client, from 127.0.0.1) is
then fetched in turns from both kits; each figure is the median. For comparison, the
old way of counting (reading every record's sidecar) is timed once on the large store.
"""

from __future__ import annotations

import hashlib
import json
import random
import statistics
import tempfile
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.stats import Stopwatch, milliseconds
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.programme import Programme
from fieldkit.kit.web.app import WebSettings, create_app

FORM_ID = "peer-interview"


@dataclass(frozen=True)
class OperatorSettings:
    large: int
    fetches: int


FULL = OperatorSettings(large=100_000, fetches=30)
QUICK = OperatorSettings(large=10_000, fetches=15)
SMALL = 100


def _fill(data_dir: Path, count: int, form: Form) -> None:
    ciphertext = b"age-encryption.org/v1\n" + bytes(2000)  # the size of a sealed peer interview
    records = data_dir / "records"
    records.mkdir(mode=0o700, exist_ok=True)
    rng = random.Random(count)  # random ids spread over the 256 shards, as uuid4 does
    for _ in range(count):
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        shard = records / record_id[:2]
        shard.mkdir(mode=0o700, exist_ok=True)
        (shard / f"{record_id}.age").write_bytes(ciphertext)
        metadata = {"record_id": record_id, "form_id": form.id, "form_version": form.version,
                    "size": len(ciphertext), "day": "2026-05-17"}  # fmt: skip
        (shard / f"{record_id}.json").write_text(json.dumps(metadata, sort_keys=True), encoding="utf-8")


def measure(settings: OperatorSettings, forms: Mapping[str, Form]) -> dict[str, float]:
    form = forms[FORM_ID]
    figures: dict[str, float] = {"operator_large_store": float(settings.large)}
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-operator-") as folder_name:
        folder = Path(folder_name)
        hub = make_hub_keys(folder)
        clients: dict[int, Any] = {}
        for size in (SMALL, settings.large):
            kit = make_kit(folder, hub, name=f"kit-{size}")
            _fill(kit.data_dir, size, form)
            watch = Stopwatch()
            counted = RecordStore(kit.data_dir).rebuild_counts()
            if size == settings.large:
                figures["operator_counts_rebuild_s_100k"] = watch.seconds()
            assert counted == {form.id: size}, counted
            app = create_app(WebSettings(testing=True), kit.unlock(), Programme.from_forms(forms.values()))
            clients[size] = app.test_client()
        times: dict[int, list[float]] = {size: [] for size in clients}
        for _ in range(settings.fetches):
            for size, client in clients.items():
                watch = Stopwatch()
                response = client.get("/operator/")
                times[size].append(watch.seconds())
                assert response.status_code == 200, f"operator page: status {response.status_code}"
                shown = f"<dt>Sealed</dt><dd>{size}</dd>"
                assert shown in response.get_data(as_text=True), "the page does not show the count"
        small = statistics.median(times[SMALL])
        large = statistics.median(times[settings.large])
        figures.update(
            operator_page_ms_100=milliseconds(small),
            operator_page_ms_100k=milliseconds(large),
            operator_page_ratio_100k_vs_100=large / small,
        )
        store = RecordStore(folder / f"kit-{settings.large}")
        watch = Stopwatch()
        ids = list(store.ids())
        Counter(store.metadata(record_id)["form_id"] for record_id in ids)
        figures["operator_sidecar_count_ms_100k"] = milliseconds(watch.seconds())
        # What still grows: sync.json, with an entry per record exported and not yet
        # pruned (here every record, half of them acknowledged).
        _exported(store.root, ids)
        exported = []
        for _ in range(max(3, settings.fetches // 3)):
            watch = Stopwatch()
            assert clients[settings.large].get("/operator/").status_code == 200
            exported.append(watch.seconds())
        figures["operator_page_ms_100k_exported"] = milliseconds(statistics.median(exported))
    return figures


def _exported(data_dir: Path, ids: list[str]) -> None:
    entries = {
        record_id: {
            "seq": seq,
            "sha256": hashlib.sha256(record_id.encode()).hexdigest(),
            "acked_by": "hub-0123456789" if seq % 2 else None,
            "acked": "2026-05-17T10:00:00Z" if seq % 2 else None,
        }
        for seq, record_id in enumerate(ids, start=1)
    }
    SyncState(data_dir).save_outbox({"next_seq": len(ids) + 1, "records": entries})
