"""The background worker inside ``fieldkit serve`` that pushes sealed records to the hub.

It runs in one daemon thread beside the web server and shares nothing with the request
threads but the data folder (whose writer lock serialises the few writes) and the
unlocked kit (for its signing key). Network calls happen outside any lock and carry a
timeout, so an interview is never kept waiting by a slow or absent hub.

Each round: if records wait and the hub's next attempt is due, one push pass
(:func:`sync.protocol.client.push_pass`); its result goes to the hub's link in ``sync.json``,
where the operator page reads it. After a failure the next attempt is set with
exponential backoff; the wait is stored as a time, so a restarted server resumes the
backoff instead of hammering the hub. With nothing to send it only looks every
``poll_seconds``.

It also asks the hub for a newer form pack (``fieldkit.kit.pull``) after each successful
push and every ``pull_seconds`` while the hub answers, and applies it. The running kit
keeps serving the pack it started with; ``on_pack`` is told, so the operator page can
say that a newer pack waits for a restart.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable

from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.outbox import Outbox
from fieldkit.kit.packs import AppliedPack
from fieldkit.kit.pull import pull_pack
from fieldkit.kit.push import HubLinks, PushTarget, push_pass
from sync.protocol.client import DEFAULT_BATCH, Backoff, HubClient
from sync.protocol.stamps import parse_stamp

__all__ = ["PushWorker", "start_push_worker"]

log = logging.getLogger("fieldkit.sync")
DEFAULT_POLL_SECONDS = 5.0
DEFAULT_STOP_SECONDS = 5.0
DEFAULT_PULL_SECONDS = 15 * 60.0  # a pack changes a few times a year; asking costs one small request


class PushWorker:
    """Pushes whenever records wait and the hub answers; ``stop()`` ends it."""

    def __init__(
        self,
        kit: UnlockedKit,
        *,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        backoff: Backoff | None = None,
        batch: int = DEFAULT_BATCH,
        timeout: float = 60.0,
        pull_seconds: float = DEFAULT_PULL_SECONDS,
        shipped: Iterable[Form] = (),
        on_pack: Callable[[AppliedPack], None] = lambda _applied: None,
    ) -> None:
        self.kit = kit
        self.pull_seconds = pull_seconds
        self.shipped = tuple(shipped)
        self.on_pack = on_pack
        self._next_pull = 0.0  # monotonic time of the next pull; 0: at the first chance
        self.poll_seconds = poll_seconds
        self.backoff = backoff or Backoff()
        self.batch = batch
        self.timeout = timeout
        self.links = HubLinks(kit.data_dir)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fieldkit-push", daemon=True)

    def start(self) -> PushWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float = DEFAULT_STOP_SECONDS) -> None:
        """Ask the worker to end and wait a little; a request in flight is abandoned.

        Abandoning is safe: the hub merges a bundle at most once and answers a repeat with
        the same receipt, and nothing is marked as synced without one.
        """
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delay = self.step()
            except Exception as error:  # the worker must outlive any surprise; say what, not data
                log.error("push worker: unexpected %s: %s", type(error).__name__, error)
                delay = self.backoff.cap
            self._stop.wait(max(delay, 0.05))

    def step(self, now: datetime.datetime | None = None) -> float:
        """One round; returns how many seconds to wait before the next."""
        link = self.links.latest()
        if link is None:
            return self.poll_seconds
        moment = now or datetime.datetime.now(datetime.UTC)
        due = parse_stamp(link.next_attempt)
        if due is not None and due > moment:
            return min((due - moment).total_seconds(), self.poll_seconds)
        client = HubClient(link.url, timeout=self.timeout)
        target = PushTarget(link.url, link.hub_id)
        outbox = Outbox(self.kit.data_dir)
        if not outbox.pending_ids() and not outbox.tally_waiting():
            if time.monotonic() >= self._next_pull:
                self.pull(target, client)
            return self.poll_seconds
        outcome = push_pass(self.kit, target, batch=self.batch, client=client)
        if outcome.error is None:
            self.links.record_success(link.hub_id)
            log.info("push worker: %s records acknowledged by %s", outcome.marked, link.hub_id)
            self.pull(target, client)  # the hub answers now: a good moment to ask
            return self.poll_seconds
        failures = 1 if outcome.progressed else link.failures + 1
        delay = self.backoff.delay(failures)
        self.links.record_failure(link.hub_id, str(outcome.error), delay)
        log.warning("push worker: %s; next try in %.0f s", outcome.error, delay)
        return delay

    def pull(self, target: PushTarget, client: HubClient) -> AppliedPack | None:
        """Ask the hub for a newer pack and apply it; a failure only waits for the next pull."""
        self._next_pull = time.monotonic() + self.pull_seconds
        outcome = pull_pack(self.kit, target, shipped=self.shipped, client=client)
        if outcome.error is not None:
            log.warning("push worker: no form pack pulled: %s", outcome.error)
            return None
        if outcome.applied is not None:
            log.info("push worker: applied form pack %s from %s", outcome.applied.version, outcome.applied.hub_id)
            self.on_pack(outcome.applied)
        return outcome.applied


def start_push_worker(
    kit: UnlockedKit,
    echo: Callable[[str], None] | None = None,
    *,
    shipped: Iterable[Form] = (),
    on_pack: Callable[[AppliedPack], None] = lambda _applied: None,
) -> PushWorker | None:
    """Start a worker if this kit knows a hub's URL; ``None`` (and nothing started) if not."""
    link = HubLinks(kit.data_dir).latest()
    if link is None:
        return None
    if echo is not None:
        echo(f"  sync: pushing sealed records to hub {link.hub_id} at {link.url} in the background")
    return PushWorker(kit, shipped=shipped, on_pack=on_pack).start()
