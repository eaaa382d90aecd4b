"""``fieldkit backup`` / ``restore`` (a kit) and ``fieldkit hub backup`` / ``hub restore``.

A backup is one tar file with a manifest of every file's size and SHA-256; it appears
only once it is whole, and a restore writes only into a new or empty folder
(``docs/backup.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from fieldkit.cli.kit import DATA_OPTION
from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION, HUB_DATABASE_OPTION
from fieldkit.core.counts import count_of
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.backup import BackupManifest
from fieldkit.kit.backup import backup_kit, restore_kit
from sync.hub.backup import SIGNING_KEYS, backup_hub, restore_hub
from sync.hub.store import HubStore

OUT_OPTION = click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The backup file to write (best on another disk than the data folder).",
)
FROM_OPTION = click.option(
    "--from", "source", required=True, type=EXISTING_FILE, help="The backup file (from 'backup')."
)


def _size(manifest: BackupManifest) -> str:
    return f"{count_of(len(manifest.files), 'file', 'files')}, {manifest.total_bytes:,} bytes"


@click.command("backup")
@DATA_OPTION
@OUT_OPTION
def backup(data_dir: Path, out: Path) -> None:
    """Write a backup of the kit: its settings, wrapped keys, sealed records, drafts and state.

    Everything in it is as the kit stores it: records sealed for the hub, drafts and
    keys encrypted with the kit passphrase, so the backup holds no answer in clear and
    the passphrase is still needed after a restore. The cache/ folder is left out. Safe
    while 'fieldkit serve' runs; FILE appears only once it is complete.
    """
    manifest = backup_kit(data_dir, out)
    click.echo(f"Wrote {out}: the backup of kit {manifest.source_id} ({_size(manifest)}).")
    click.echo("Restore it with 'fieldkit restore --from FILE --data NEWFOLDER'; the kit passphrase is still needed.")


def _restore_into(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The --data option of a restore: a new or empty folder for the restored kit or hub."""
    return click.option(
        "--data",
        "data_dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help=f"A new or empty folder for the restored {what}.",
    )


@click.command("restore")
@FROM_OPTION
@_restore_into("kit")
def restore(source: Path, data_dir: Path) -> None:
    """Restore a kit backup into a new or empty folder, after checking every file.

    A damaged or truncated backup, or one holding a path outside the folder, is
    refused and nothing is written. A restore never writes over a data folder.
    """
    manifest = restore_kit(source, data_dir)
    click.echo(f"Restored kit {manifest.source_id} from {source} into {data_dir} ({_size(manifest)}).")
    click.echo(
        f"The backup was made at {manifest.created}. If the kit took interviews after that, send what this "
        "copy holds ('fieldkit sync export' or 'sync push') and take new interviews on a new kit: this copy "
        'would give out its sequence numbers again (docs/backup.md, "Limits").'
    )


@click.command("backup")
@HUB_DATA_OPTION
@OUT_OPTION
def hub_backup(data_dir: Path, out: Path) -> None:
    """Write a backup of the hub folder: its database (copied with SQLite's backup API) and files.

    Safe while 'fieldkit hub serve' runs and merges bundles. The hub identity that opens
    the records is never in the hub folder, so it is not in the backup: keep its own
    backup. The backup does hold the hub's signing keys as the folder stores them: keep
    it as safe as the hub folder.
    """
    manifest = backup_hub(data_dir, out)
    click.echo(f"Wrote {out}: the backup of hub {manifest.source_id} ({_size(manifest)}).")
    try:  # after the copy, so the backup holds the trail up to it; a read-only disk is still backed up
        with HubStore(data_dir) as store:
            store.audit(None, "backup.written", manifest.source_id, {"file": out.name, "files": len(manifest.files)})
    except FieldkitError as error:
        click.echo(f"Warning: the backup is not in the hub's audit trail: {error}", err=True)
    keys = [entry.path for entry in manifest.files if entry.path in SIGNING_KEYS]
    if keys:
        click.echo(
            f"It holds the hub's signing keys ({', '.join(keys)}) as the hub folder stores them: whoever has "
            "the file can sign receipts as this hub, so keep it as safe as the hub folder.",
            err=True,
        )


@click.command("restore")
@FROM_OPTION
@_restore_into("hub")
@HUB_DATABASE_OPTION
def hub_restore(source: Path, data_dir: Path, database: str | None) -> None:
    """Restore a hub backup into a new or empty folder, after checking every file.

    A damaged or truncated backup is refused and nothing is written. A restore never
    writes over a hub folder. The tables go into hub.sqlite in the folder, or with
    --database into a new schema of that PostgreSQL database, whichever database the
    backed-up hub used: that is also how an SQLite hub moves to PostgreSQL.
    """
    manifest = restore_hub(source, data_dir, database=database)
    with HubStore(data_dir) as store:  # the restored trail goes on from the backup's, and says so
        store.audit(None, "backup.restored", manifest.source_id, {"file": source.name})
    click.echo(f"Restored hub {manifest.source_id} from {source} into {data_dir} ({_size(manifest)}).")
