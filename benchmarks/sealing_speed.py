"""Sealing one record: our age implementation against ``pyrage`` (the Rust one), same run.

Both encrypt the same ~3 KB payload (about one sealed interview) to the same X25519
recipients, one and two (hub and escrow). Rounds alternate between the two so that
a busy moment of the machine hurts both alike; the figure per side is the median of
the rounds' per-record times.
"""

from __future__ import annotations

import json
import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pyrage

from benchmarks.stats import Stopwatch
from fieldkit.core.crypto import age

PAYLOAD_BYTES = 3 * 1024


@dataclass(frozen=True)
class SealingSettings:
    rounds: int
    records_per_round: int


FULL = SealingSettings(rounds=7, records_per_round=2000)
QUICK = SealingSettings(rounds=3, records_per_round=300)


def _payload() -> bytes:
    rng = random.Random(3)
    answers = {f"q{n:02d}": rng.choice(["yes", "no", 3, 4, "often", "the staff were kind"]) for n in range(60)}
    text = json.dumps({"format": "fieldkit-record/1", "answers": answers}, separators=(",", ":"))
    return text.ljust(PAYLOAD_BYTES).encode("utf-8")


def _per_record(seal_one: Callable[[], bytes], count: int) -> float:
    watch = Stopwatch()
    for _ in range(count):
        seal_one()
    return watch.seconds() / count


def measure(settings: SealingSettings) -> dict[str, float]:
    payload = _payload()
    identities = [age.X25519Identity.generate() for _ in range(2)]
    ours_recipients = [identity.recipient() for identity in identities]
    theirs_recipients = [pyrage.x25519.Recipient.from_str(r.to_string()) for r in ours_recipients]
    # Each side's output must open with the other side's decryption: same format, fair race.
    assert pyrage.decrypt(age.encrypt(payload, ours_recipients), [pyrage.x25519.Identity.from_str(
        identities[1].to_string())]) == payload  # fmt: skip
    assert age.decrypt(pyrage.encrypt(payload, theirs_recipients), identities[:1]) == payload

    figures: dict[str, float] = {}
    for count in (1, 2):
        ours, theirs = [], []
        for _ in range(settings.rounds):
            ours.append(_per_record(partial(age.encrypt, payload, ours_recipients[:count]), settings.records_per_round))
            theirs.append(
                _per_record(partial(pyrage.encrypt, payload, theirs_recipients[:count]), settings.records_per_round)
            )
        figures[f"seal_us_ours_{count}r"] = statistics.median(ours) * 1e6
        figures[f"seal_us_pyrage_{count}r"] = statistics.median(theirs) * 1e6
        suffix = "" if count == 1 else "_2r"
        figures[f"seal_ratio_vs_pyrage{suffix}"] = statistics.median(ours) / statistics.median(theirs)
    return figures
