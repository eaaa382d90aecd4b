"""Finalise-and-seal latency of a 60-question response as the record store grows.

Each timed call is :meth:`fieldkit.kit.sealing.Finaliser.finalise` on a real kit with the
real, fsyncing :class:`~fieldkit.core.storage.records.RecordStore`: check the answers, seal
them to the hub, store the record durably, delete the draft. Only the store's size
matters to the budget, so the store is filled between sizes with copies of one sealed
record through ``RecordStore.put`` without fsync (fast, and the same files on disk).

Beside it, the naive design the budget guards against: TinyDB with its default
``JSONStorage`` and one ``insert`` per record of the same sealed bytes (base64). That
reads and rewrites the whole JSON file on every insert, so it slows as it grows.
"""

from __future__ import annotations

import base64
import datetime
import random
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tinydb

from benchmarks.kits import make_hub_keys, make_kit
from benchmarks.stats import Stopwatch, milliseconds, percentile
from benchmarks.synthetic_form import sixty_question_form
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.drafts import Draft, DraftStore
from fieldkit.kit.sealing import Finaliser, TranslationInfo, build_payload, seal, to_hour
from fieldkit.kit.simulate import random_answers


@dataclass(frozen=True)
class FinaliseSettings:
    sizes: tuple[int, ...]  # records in the store while finalising; smallest first
    samples: int  # finalises timed at each store size
    naive_samples_small: int  # TinyDB inserts timed at the smallest size
    naive_samples_large: int  # ... and at the largest (each rewrites the whole file)


FULL = FinaliseSettings(sizes=(100, 1_000, 10_000), samples=200, naive_samples_small=50, naive_samples_large=10)
# Filling a store with 10,000 records takes longer than a smoke test should.
QUICK = FinaliseSettings(sizes=(100, 1_000, 2_000), samples=15, naive_samples_small=10, naive_samples_large=2)


def _no_fsync(_fd: int) -> None:
    """Filling the store is set-up, not measurement: it may skip the flushes."""


def _fill(store: RecordStore, target: int, ciphertext: bytes, form: Form) -> None:
    day = datetime.date.today().isoformat()
    for _ in range(target - store.count()):
        record_id = str(uuid.uuid4())
        metadata = {
            "record_id": record_id,
            "form_id": form.id,
            "form_version": form.version,
            "size": len(ciphertext),
            "day": day,
        }
        store.put(record_id, ciphertext, metadata)


def _draft(form: Form, answers: dict[str, Any]) -> Draft:
    now = datetime.datetime.now(datetime.UTC)
    draft = Draft(
        form_id=form.id,
        form_version=form.version,
        language="en",
        owner="P01",
        started=to_hour(now),
        interviewer="P01",
    )
    draft.answers = dict(answers)
    return draft


def _timed_finalise(finaliser: Finaliser, form: Form, answers: dict[str, Any]) -> float:
    """Seconds for one finalise; its record is then removed, so the store keeps its size."""
    draft = _draft(form, answers)
    finaliser.drafts.save(draft)  # the page save before finalising is not part of it
    watch = Stopwatch()
    record_id = finaliser.finalise(form, draft)
    seconds = watch.seconds()
    finaliser.records.delete([record_id])
    return seconds


def _sealed(form: Form, answers: dict[str, Any], finaliser: Finaliser, record_id: str) -> bytes:
    """The bytes ``finalise`` would store for these answers, without storing them."""
    payload = build_payload(
        record_id=record_id,
        form=form,
        answers=answers,
        kit_id=finaliser.kit.config.kit_id,
        started=to_hour(datetime.datetime.now(datetime.UTC)),
        finished=to_hour(datetime.datetime.now(datetime.UTC)),
        translation=TranslationInfo("en"),
    )
    return seal(payload, finaliser.kit.config.age_recipients())


def _naive_times(
    folder: Path, size: int, count: int, seal_one: Callable[[str], bytes], template: dict[str, Any]
) -> list[float]:
    """Seal, base64 and insert one record at a time into a default TinyDB of ``size`` rows."""
    path = folder / f"naive-{size}.json"
    db = tinydb.TinyDB(path)  # default JSONStorage: the design the budget rules out
    try:
        db.insert_multiple(dict(template, record_id=str(uuid.uuid4())) for _ in range(size))
        times = []
        for _ in range(count):
            watch = Stopwatch()
            record_id = str(uuid.uuid4())
            ciphertext = seal_one(record_id)
            db.insert(dict(template, record_id=record_id, ciphertext=base64.b64encode(ciphertext).decode("ascii")))
            times.append(watch.seconds())
        return times
    finally:
        db.close()
        path.unlink()


def measure(settings: FinaliseSettings) -> dict[str, float]:
    """Per-size p50/p90 in ms, and the ratios of the largest size to the smallest.

    The ratio keys name the full run's sizes (10,000 vs 100); ``submit_largest_store``
    says which size was the largest in this run.
    """
    sizes = settings.sizes
    form = sixty_question_form()
    rng = random.Random(60)
    answer_pool = [random_answers(form, rng, skip_rate=0.0) for _ in range(50)]
    assert all(len(answers) == 60 for answers in answer_pool)
    figures: dict[str, float] = {"submit_largest_store": float(sizes[-1])}
    with tempfile.TemporaryDirectory(prefix="fieldkit-bench-finalise-") as folder_name:
        folder = Path(folder_name)
        hub = make_hub_keys(folder)
        finalisers: dict[int, Finaliser] = {}
        for size in sizes:
            kit = make_kit(folder, hub, name=f"kit-{size}").unlock()
            drafts = DraftStore(kit.data_dir / "drafts", kit.draft_key)
            finalisers[size] = Finaliser(kit, RecordStore(kit.data_dir), drafts)
        first = finalisers[sizes[0]]
        example = _sealed(form, answer_pool[0], first, str(uuid.uuid4()))
        for size, finaliser in finalisers.items():
            _fill(RecordStore(finaliser.kit.data_dir, fsync=_no_fsync), size, example, form)
            for answers in answer_pool[:3]:  # warm the caches and imports
                _timed_finalise(finaliser, form, answers)
        # Round-robin over the stores, in turning order, so that a slow moment of the
        # disk (fsync times vary a lot on shared machines) hurts every size alike.
        times: dict[int, list[float]] = {size: [] for size in sizes}
        for index in range(settings.samples):
            answers = answer_pool[index % len(answer_pool)]
            turn = index % len(sizes)
            for size in sizes[turn:] + sizes[:turn]:
                times[size].append(_timed_finalise(finalisers[size], form, answers))
        for size in sizes:
            assert finalisers[size].records.count() == size
            figures[f"submit_p50_ms_{size}"] = milliseconds(percentile(times[size], 0.5))
            figures[f"submit_p90_ms_{size}"] = milliseconds(percentile(times[size], 0.9))
        figures["submit_p50_ratio_10k_vs_100"] = percentile(times[sizes[-1]], 0.5) / percentile(times[sizes[0]], 0.5)
        figures["sealed_record_bytes"] = float(len(example))

        template = {"form_id": form.id, "form_version": form.version, "day": datetime.date.today().isoformat(),
                    "ciphertext": base64.b64encode(example).decode("ascii")}  # fmt: skip

        def seal_one(record_id: str) -> bytes:
            return _sealed(form, answer_pool[0], first, record_id)

        naive = {
            sizes[0]: _naive_times(folder, sizes[0], settings.naive_samples_small, seal_one, template),
            sizes[-1]: _naive_times(folder, sizes[-1], settings.naive_samples_large, seal_one, template),
        }
        for size, naive_times in naive.items():
            figures[f"naive_tinydb_p50_ms_{size}"] = milliseconds(percentile(naive_times, 0.5))
        figures["naive_tinydb_ratio_10k_vs_100"] = percentile(naive[sizes[-1]], 0.5) / percentile(naive[sizes[0]], 0.5)
    return figures
