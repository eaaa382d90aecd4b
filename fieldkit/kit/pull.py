"""The kit's side of pulling a form pack over HTTP: ask the enrolled hub, apply what it sends.

The request is signed with the kit's key (``sync.protocol.pull``); the answer is applied
with :func:`fieldkit.kit.packs.apply`, which trusts it only if the hub's enrolled receipt
key signed it, so a captive portal or someone in between can make a pull fail, never
change the kit's forms.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.packs import AppliedPack, PackError, apply, kept_packs
from fieldkit.kit.push import PushTarget
from sync.protocol.client import Backoff, HubClient, TransportError
from sync.protocol.pull import make_pull_request

__all__ = ["PullOutcome", "pull_pack", "pull_with_retries"]


@dataclass(frozen=True)
class PullOutcome:
    """What one pull did: ``applied`` a newer pack, nothing newer (both None), or ``error``."""

    hub_id: str | None
    applied: AppliedPack | None = None
    error: TransportError | None = None


def newest_version(kit: UnlockedKit, hub_id: str) -> int:
    return max((p.version for p in kept_packs(kit.data_dir) if p.hub_id == hub_id), default=0)


def pull_pack(
    kit: UnlockedKit,
    target: PushTarget,
    *,
    shipped: Iterable[Form] = (),
    client: HubClient | None = None,
) -> PullOutcome:
    """One pull from the hub at ``target``; never raises for network trouble or a refused pack."""
    client = client or HubClient(target.url)
    hub_id = target.hub_id
    try:
        hello = client.hello()
        enrolled = {hub.hub_id for hub in SyncState(kit.data_dir).trusted_hubs(kit.config)}
        if hub_id is not None and hello.hub_id != hub_id:
            raise TransportError(
                f"{client.url} is hub {hello.hub_id}, not hub {hub_id} this kit is enrolled with; nothing was asked",
                retryable=False,
            )
        if hello.hub_id not in enrolled:
            raise TransportError(
                f"{client.url} is hub {hello.hub_id}, which this kit is not enrolled with", retryable=False
            )
        hub_id = hello.hub_id
        config = kit.config
        request = make_pull_request(config.kit_id, config.epoch, hub_id, newest_version(kit, hub_id), kit.signing_key)
        answer = client.post_pack_request(request)
        if answer is None:
            return PullOutcome(hub_id)
        try:
            applied = apply(kit.data_dir, answer, shipped)
        except PackError as error:
            raise TransportError(f"the pack from hub {hub_id} was refused: {error}", retryable=False) from None
    except TransportError as error:
        return PullOutcome(hub_id, error=error)
    return PullOutcome(hub_id, applied)


def pull_with_retries(
    kit: UnlockedKit,
    target: PushTarget,
    *,
    attempts: int,
    backoff: Backoff | None = None,
    shipped: Iterable[Form] = (),
    client: HubClient | None = None,
    echo: Callable[[str], None] = lambda _text: None,
    sleep: Callable[[float], None] | None = None,
) -> PullOutcome:
    """Pull until it succeeds, a refusal that waiting cannot fix, or ``attempts`` tries."""
    backoff = backoff or Backoff()
    wait = sleep or time.sleep
    outcome = PullOutcome(target.hub_id)
    for tried in range(1, attempts + 1):
        outcome = pull_pack(kit, target, shipped=shipped, client=client)
        if outcome.error is None or not outcome.error.retryable or tried == attempts:
            return outcome
        delay = backoff.delay(tried)
        echo(f"Problem: {outcome.error}")
        echo(f"Waiting {delay:.1f} s before trying again (attempt {tried + 1} of {attempts}).")
        wait(delay)
    return outcome
