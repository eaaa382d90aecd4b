"""Passes that retry with backoff: what one push (kit) or forward (hub) pass achieved, and the loop.

Both sides send bundles in passes; a pass that fails for a reason waiting can fix is
tried again after a backoff delay, and progress resets the count of failures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from sync.protocol.client import Backoff, TransportError


@dataclass(frozen=True)
class PassOutcome:
    """What one pass achieved. ``error`` is set when it stopped early."""

    hub_id: str | None
    bundles: int
    marked: int
    already: int
    remaining: int
    error: TransportError | None = None

    @property
    def progressed(self) -> bool:
        return self.marked > 0


def retry_passes(
    one_pass: Callable[[], PassOutcome],
    *,
    attempts: int | None,
    backoff: Backoff | None = None,
    echo: Callable[[str], None] = lambda _text: None,
    sleep: Callable[[float], None] | None = None,
    on_success: Callable[[PassOutcome], None] = lambda _outcome: None,
    on_failure: Callable[[PassOutcome, float], None] = lambda _outcome, _delay: None,
) -> PassOutcome:
    """Run passes until one succeeds, waiting with backoff after each failed one.

    ``attempts=None`` tries for ever. A refusal that waiting cannot fix (HTTP 4xx other
    than 408/429) ends at once. A pass that made progress resets the count of failures,
    so a long push over a weak link does not drift to the longest wait. Returns the
    last outcome, with the bundles and records of every pass added up.
    """
    backoff = backoff or Backoff()
    wait = sleep or time.sleep
    failures = tried = total_marked = total_bundles = total_already = 0
    while True:
        tried += 1
        outcome = one_pass()
        total_marked += outcome.marked
        total_bundles += outcome.bundles
        total_already += outcome.already
        summed = dataclasses.replace(outcome, marked=total_marked, bundles=total_bundles, already=total_already)
        if outcome.error is None:
            on_success(outcome)
            return summed
        failures = 1 if outcome.progressed else failures + 1
        delay = backoff.delay(failures)
        on_failure(outcome, delay)
        if not outcome.error.retryable or (attempts is not None and tried >= attempts):
            return summed
        left = "" if attempts is None else f" (attempt {tried + 1} of {attempts})"
        echo(f"Problem: {outcome.error}")
        echo(f"Waiting {delay:.1f} s before trying again{left}.")
        wait(delay)
