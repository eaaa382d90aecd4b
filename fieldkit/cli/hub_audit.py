"""``fieldkit hub audit``: the hub's audit trail, and a check of its hash chain."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fieldkit.cli.options import HUB_DATA_OPTION
from fieldkit.core.errors import FieldkitError
from sync.hub.audit import parse_head
from sync.hub.store import HubStore


@click.command("audit")
@HUB_DATA_OPTION
@click.option("--verify", is_flag=True,
              help="Check the whole chain; exit with status 1 naming the first broken entry.")  # fmt: skip
@click.option("--head", "expected_head", default=None, metavar="SEQ:HASH",
              help="With --verify: a head printed before and kept elsewhere; that entry must match.")  # fmt: skip
@click.option("--limit", type=click.IntRange(1), default=None, metavar="N", help="Print only the newest N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per line instead.")
def audit(data_dir: Path, verify: bool, expected_head: str | None, limit: int | None, as_json: bool) -> None:
    """Print the audit trail: who enrolled, revoked, imported, exported, reported, logged in.

    Entries come oldest first (the newest last), then the head: the number and hash
    of the newest entry. Each entry holds the hash of the one before it, so a deleted,
    changed or moved entry breaks the chain; --verify checks it, and the head row that
    shows when the newest entries were deleted. Someone able to write to the hub's
    database could rewrite the whole chain: copy the head out of the hub now and then
    (write it down, send it to the network), and check later with --verify --head SEQ:HASH.
    No entry holds an answer, a ciphertext, a password or a token.
    """
    head = None
    if expected_head is not None:
        if not verify:
            raise FieldkitError("--head goes with --verify (it checks that entry against the trail)")
        head = parse_head(expected_head)
        if head is None:
            raise FieldkitError(
                f"--head must be SEQ:HASH as 'fieldkit hub audit' prints it (a number, ':', 64 hex digits), "
                f"not {expected_head[:80]!r}"
            )
    with HubStore(data_dir) as store:
        entries = store.audit_entries(limit)
        verdict = store.verify_audit(head) if verify else None
        found_head = verdict.head if verdict is not None else store.audit_head()
    for entry in entries:
        click.echo(json.dumps(entry.as_json(), sort_keys=True) if as_json else entry.line())
    if not entries and not as_json:
        click.echo("The audit trail is empty.")
    if as_json:
        if verdict is not None:
            click.echo(json.dumps({"verified": verdict.ok, "entries": verdict.count,
                                   "broken_seq": verdict.broken_seq, "problem": verdict.problem}))  # fmt: skip
    elif found_head is not None:
        click.echo(f"Head: {found_head[0]}:{found_head[1]} (copy it out of the hub to check it later)")
    if verdict is None:
        return
    if not verdict.ok:
        raise FieldkitError(verdict.message())
    if not as_json:
        click.echo(verdict.message())
