"""``fieldkit hub rollup | rollup-import | rollups``: counts, not records, from hub to hub."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.options import HUB_DATA_OPTION, IDENTITY_OPTION, unlock_hub_identities, warn_missing_keys
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION
from fieldkit.core import paths
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.archive import load_archive_for_serving
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.storage.atomic import write_atomic
from sync.hub.definitions import known_to_hub
from sync.hub.forward import FORWARD_DB_FILE, ForwardState
from sync.hub.reports.responses import read_declined
from sync.hub.reports.rollup import count_records
from sync.hub.rollup import import_rollup, list_rollups, make_rollup, send_rollup
from sync.hub.store import HubStore
from sync.protocol.client import TransportError


@click.command("rollup")
@HUB_DATA_OPTION
@IDENTITY_OPTION
@PASSPHRASE_FILE_OPTION
@click.option("--to", "url", default=None, help="The upstream hub (default: the one this hub enrolled at).")
@click.option(
    "--out",
    "out_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the sealed roll-up to this file (for 'fieldkit hub rollup-import') instead of sending it.",
)
def rollup(
    data_dir: Path, identity_file: Path, passphrase_file: Path | None, url: str | None, out_file: Path | None
) -> None:
    """Send this hub's counts to the upstream hub: signed, sealed to it, no record in it.

    Counts per centre, form, version, question, answer and cycle, before small-number
    suppression (the upstream hub suppresses the combined figures). No record id, kit
    id, free text or day leaves this hub. Signed with this hub's forwarding key, the
    one 'fieldkit hub enrol-upstream' enrolled, and sealed to the upstream hub's key.
    Sent over HTTP to the upstream hub, or written to --out FILE.
    """
    if not (data_dir / FORWARD_DB_FILE).exists():
        raise FieldkitError(
            "this hub has no upstream hub yet: run 'fieldkit hub enrol-upstream --data HUBDIR --to URL "
            "--token TOKEN' with a token from the upstream hub first"
        )
    with ForwardState(data_dir) as state:
        upstream = state.find(url)
    with HubStore(data_dir) as store:
        recipients = store.config.recipients
        forms = load_directory(paths.forms_dir())
        archived, _broken = load_archive_for_serving(paths.forms_dir())
        definitions = known_to_hub(store, forms.values(), archived).forms
    identities = unlock_hub_identities(identity_file, passphrase_file)
    warn_missing_keys(identities, recipients, identity_file)
    tables = count_records(
        data_dir, identities, forms, definitions=definitions, declined=read_declined(data_dir, identities)
    )
    counted = tables.read - tables.unreadable
    with HubStore(data_dir) as store:
        made = make_rollup(store, tables, upstream)
        if out_file is None:
            try:
                held = send_rollup(store, made, upstream)
            except TransportError as error:
                raise FieldkitError(f"the roll-up was not sent: {error}") from None
        where = {"sent": held} if out_file is None else {"file": out_file.name}
        store.audit(None, "rollup.made", upstream.hub_id, {"records": counted, **where})
    if out_file is None:
        said = {"unchanged": "it already held this one", "replaced": "it replaces the older one"}.get(held, "held")
        click.echo(f"Sent the counts of {counted} records to hub {upstream.hub_id} ({upstream.url}): {said}.")
    else:
        write_atomic(out_file, made.sealed)
        click.echo(
            f"Wrote {out_file}: counts of {counted} records for hub {upstream.hub_id}, "
            f"sealed to it ({len(made.sealed)} bytes)."
        )
    if tables.unreadable:
        click.echo(f"  {tables.unreadable} records could not be opened and are counted as unreadable", err=True)


@click.command("rollup-import")
@HUB_DATA_OPTION
@IDENTITY_OPTION
@PASSPHRASE_FILE_OPTION
@click.argument("rollup_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rollup_import(data_dir: Path, identity_file: Path, passphrase_file: Path | None, rollup_file: Path) -> None:
    """Check a regional hub's roll-up and hold it, replacing the older one from that hub.

    The roll-up must open with this hub's identity, be signed by a hub enrolled here
    ('fieldkit hub enrol --kind hub'), be made for this hub and be newer than the one
    held. 'fieldkit hub report' then adds its counts to this hub's own.
    """
    try:
        data = rollup_file.read_bytes()
    except OSError as error:
        raise FieldkitError(f"cannot read {rollup_file}: {error.strerror or error}") from None
    identities = unlock_hub_identities(identity_file, passphrase_file)
    with HubStore(data_dir) as store:
        result = import_rollup(store, data, identities)
        if not result.unchanged:  # as for bundles, taking the same one again leaves no entry
            store.audit(None, "rollup.imported", result.opened.hub_id, {"made": result.opened.made})
    opened = result.opened
    if result.unchanged:
        click.echo(f"Already held: the roll-up from hub {opened.hub_id} made {opened.made}; nothing changed.")
    elif result.replaced is not None:
        click.echo(f"Held the roll-up from hub {opened.hub_id} made {opened.made} (replaces {result.replaced}).")
    else:
        click.echo(f"Held the roll-up from hub {opened.hub_id} made {opened.made}.")


@click.command("rollups")
@HUB_DATA_OPTION
def rollups(data_dir: Path) -> None:
    """List the roll-ups this hub holds: one per regional hub, the newest."""
    with HubStore(data_dir):
        held = list_rollups(data_dir)
    if not held:
        click.echo("No roll-ups held.")
    for one in held:
        click.echo(f"{one.hub_id}: made {one.made}, received {one.received}")


__all__ = ["rollup", "rollup_import", "rollups"]
