"""``fieldkit hub``: the regional hub's commands."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli import FieldkitGroup
from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION, HUB_DATABASE_OPTION, read_file_bytes
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION, read_passphrase
from fieldkit.core.counts import count_of
from fieldkit.core.crypto.hubkeys import (
    current_identity_file,
    generate_hub_keys,
    identity_needs_passphrase,
    paper_backup,
    read_recipient_file,
    recipient_fingerprint,
    rotate_hub_keys,
)
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, write_atomic
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import IMPORT_CACHE_MIB, HubStore, ImportResult, init_hub, load_hub_config, set_recipient
from sync.protocol.enrolment import DEFAULT_TOKEN_DAYS, TOKEN_KINDS
from sync.protocol.receipts import key_fingerprint

# The hub's sub-commands kept in modules of their own, imported only when one runs, as the
# top-level commands are: 'hub centres add' need not import the web pages, the exports
# and the reports (about 0.4 s of every hub command's start).
HUB_COMMANDS = {
    "audit": "fieldkit.cli.hub_audit:audit",
    "backup": "fieldkit.cli.backup:hub_backup",
    "centres": "fieldkit.cli.hub_programme:centres",
    "cycles": "fieldkit.cli.hub_programme:cycles",
    "enrol-upstream": "fieldkit.cli.hub_http:enrol_upstream_command",
    "export": "fieldkit.cli.export:export",
    "forward": "fieldkit.cli.hub_http:forward",
    "operators": "fieldkit.cli.hub_operators:operators",
    "pack": "fieldkit.cli.hub_programme:pack",
    "packs": "fieldkit.cli.hub_programme:packs",
    "password": "fieldkit.cli.hub_http:password",
    "report": "fieldkit.cli.report:report",
    "restore": "fieldkit.cli.backup:hub_restore",
    "rollup": "fieldkit.cli.rollup:rollup",
    "rollup-import": "fieldkit.cli.rollup:rollup_import",
    "rollups": "fieldkit.cli.rollup:rollups",
    "serve": "fieldkit.cli.hub_http:serve",
    "unlock-login": "fieldkit.cli.hub_http:unlock_login",
}


@click.group(cls=FieldkitGroup, lazy_subcommands=HUB_COMMANDS)
def hub() -> None:
    """Run a regional hub: keys, enrolment, imports, exports, reports, and the programme (centres, cycles, packs)."""


@hub.command("keygen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the new key files (with --rotate or --paper: the folder of the hub's keys).",
)
@click.option("--no-passphrase", is_flag=True, help="Write the identity unprotected (hub-identity.txt).")
@click.option("--rotate", is_flag=True,
              help="Make the hub's next key beside the others in OUT (which stay); it becomes current.")  # fmt: skip
@click.option("--paper", is_flag=True,
              help="Write the newest identity file as armored text protected by a passphrase, to print.")  # fmt: skip
@PASSPHRASE_FILE_OPTION
@refuse_together(("no_passphrase", "passphrase_file"), ("no_passphrase", "paper"))
def keygen(out_dir: Path, no_passphrase: bool, rotate: bool, paper: bool, passphrase_file: Path | None) -> None:
    """Create the hub identity and its public recipient, rotate it, or print it for a paper backup.

    Writes OUT/hub-recipient.txt (give it to every kit) and the identity, by
    default as OUT/hub-identity.age protected by a passphrase (age scrypt), or
    with --no-passphrase as OUT/hub-identity.txt, which `age -d -i` accepts.
    Keep the identity offline and backed up: without it no record can be read.

    With --rotate: writes the next key beside the others, never changing a file:
    OUT/hub-recipient-N.txt and OUT/hub-identity-N.age (or .txt), which holds the
    new identity and every earlier one, so it alone opens every record. Then run
    'fieldkit hub recipient' on the hub: its next form pack carries the new
    recipient to the kits. --passphrase-file gives the passphrase of the current
    identity and of the new one.

    With --paper: writes OUT/hub-identity-N-paper.txt, every identity of the
    newest identity file as armored age text protected by a passphrase; print it
    and store it apart from the hub ('age -d' of it gives the identities back).
    """
    if not rotate and not paper:
        passphrase = None if no_passphrase else read_passphrase(passphrase_file, prompt="New hub passphrase",
                                                                 confirm=True)  # fmt: skip
        files = generate_hub_keys(out_dir, passphrase)
        click.echo(f"Hub recipient: {files.recipient}")
        click.echo(f"Its fingerprint: {recipient_fingerprint(files.recipient)} (each kit prints it when it starts)")
        click.echo(f"Wrote {files.recipient_path} and {files.identity_path}")
        return
    current = current_identity_file(out_dir)
    old_passphrase = None
    if identity_needs_passphrase(current):
        old_passphrase = read_passphrase(passphrase_file, prompt=f"Passphrase of {current.name}")
    if rotate:
        new_passphrase = None if no_passphrase else read_passphrase(passphrase_file, prompt="New hub passphrase",
                                                                    confirm=True)  # fmt: skip
        files = rotate_hub_keys(out_dir, old_passphrase, new_passphrase)
        click.echo(f"Hub recipient (current, key {files.generation}): {files.recipient}")
        click.echo(f"Its fingerprint: {recipient_fingerprint(files.recipient)} (each kit prints it when it starts)")
        click.echo(
            f"Wrote {files.recipient_path} and {files.identity_path}, which holds "
            f"{count_of(files.identities, 'identity', 'identities')}: this one and the earlier ones, "
            "so it opens every record. No earlier file was changed."
        )
        click.echo(
            f"Next, on the hub: 'fieldkit hub recipient --data HUBDIR --recipient-file {files.recipient_path}'; "
            "its next form pack carries the new recipient to the kits. Use the new identity file for "
            "'hub export' and 'hub report', and make a new paper backup ('hub keygen --paper')."
        )
        current, old_passphrase = files.identity_path, new_passphrase
    if paper:
        target = current.with_name(f"{current.name.rsplit('.', 1)[0]}-paper.txt")
        if target.exists():
            raise FieldkitError(f"{target} already exists; nothing was written (never overwrite a hub key)")
        paper_passphrase = read_passphrase(passphrase_file, prompt="Passphrase for the paper copy", confirm=True)
        write_atomic(target, paper_backup(current, old_passphrase, paper_passphrase))
        click.echo(f"Wrote {target}: the identities of {current.name}, armored and protected by the passphrase.")
        click.echo(
            "Print it, check the print can be typed or scanned back, store it apart from the hub and its "
            "passphrase apart from it, then delete the file (docs/hub-keys.md)."
        )


@hub.command("recipient")
@HUB_DATA_OPTION
@click.option("--recipient-file", type=EXISTING_FILE, default=None,
              help="The new key's hub-recipient-N.txt (from 'fieldkit hub keygen --rotate').")  # fmt: skip
def recipient(data_dir: Path, recipient_file: Path | None) -> None:
    """Show the hub's recipients, or (--recipient-file) make a new key the current one.

    The earlier recipients stay known: kits that have not applied a newer form pack
    still seal to them, and the newest identity file opens their records. From the
    next 'fieldkit hub pack', packs carry the current recipient, and each kit that
    applies one seals its new records to it.
    """
    if recipient_file is None:
        config = load_hub_config(data_dir)
    else:
        before, config = set_recipient(data_dir, read_recipient_file(recipient_file))
        with HubStore(data_dir) as store:
            change = {"from": recipient_fingerprint(before.recipient), "to": recipient_fingerprint(config.recipient)}
            store.audit(None, "recipient.changed", config.hub_id, change)
        click.echo(f"Hub {config.hub_id}: records will be sealed to the new recipient once kits apply the next "
                   f"form pack ('fieldkit hub pack'); until then they seal to {before.recipient}.")  # fmt: skip
    click.echo(f"Current recipient: {recipient_fingerprint(config.recipient)}  {config.recipient}")
    for earlier in config.recipients[1:]:
        click.echo(f"Earlier recipient: {recipient_fingerprint(earlier)}  {earlier}")


@hub.command("init")
@HUB_DATA_OPTION
@click.option("--recipient-file", required=True, type=EXISTING_FILE,
              help="The hub's hub-recipient.txt (from 'fieldkit hub keygen').")  # fmt: skip
@click.option("--hub-id", default=None, help="A name for this hub (default: a random hub-... id).")
@HUB_DATABASE_OPTION
def init(data_dir: Path, recipient_file: Path, hub_id: str | None, database: str | None) -> None:
    """Create the hub's data folder and its receipt-signing key.

    The folder holds ciphertext, metadata and the receipt key (so the hub can sign
    receipts unattended); the age identity that decrypts records never goes in it.
    With --database the tables go into a new schema of that PostgreSQL database instead
    of hub.sqlite in the folder; the folder keeps the keys and settings either way.
    """
    config = init_hub(data_dir, read_recipient_file(recipient_file), hub_id=hub_id, database=database)
    click.echo(f"Created hub {config.hub_id} in {data_dir} for recipient {config.recipient}")
    if config.postgres is not None:
        click.echo(f"Its tables are in the PostgreSQL database {config.postgres.shown()}")
    click.echo(f"Its receipt key fingerprint: {key_fingerprint(config.receipt_public_key)} (each kit prints it)")
    click.echo("Enrol each kit with 'fieldkit hub enrol'.")


@hub.command("enrol")
@HUB_DATA_OPTION
@click.option("--accept", "request_file", type=EXISTING_FILE, default=None,
              help="Accept a kit's enrolment request file and write the response.")  # fmt: skip
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Token file to write, or with --accept the response file.")  # fmt: skip
@click.option("--valid-days", type=click.IntRange(1, 365), default=DEFAULT_TOKEN_DAYS,
              show_default=True, help="How long a new token stays usable.")  # fmt: skip
@click.option("--kind", type=click.Choice(TOKEN_KINDS), default="kit", show_default=True,
              help="What the token enrols: a kit, or a hub that forwards here ('hub enrol-upstream').")  # fmt: skip
@click.option("--for", "for_source", default=None, metavar="ID",
              help="Only for this kit (or hub) id, already enrolled: approves a new key epoch for it.")  # fmt: skip
@refuse_together(("request_file", "valid_days"), ("request_file", "kind"), ("request_file", "for_source"))
def enrol(
    data_dir: Path, request_file: Path | None, out: Path | None, valid_days: int, kind: str, for_source: str | None
) -> None:
    """Create a one-time enrolment token, or (--accept) enrol the kit that used one.

    Without --accept: prints a new token, and with --out also writes it to a token
    file for a USB stick. A token enrols one kind of source (--kind), and a new key
    epoch of an id already enrolled only when made with --for ID. With --accept
    REQUEST: checks the kit's signed request and its proof of the token, enrols its key
    and writes the response the kit needs (default: next to the request).
    """
    with HubStore(data_dir) as store:
        if request_file is None:
            token = create_token(store, valid_days=valid_days, kind=kind, for_source=for_source)
            what = f"a {kind}" + (f" ({for_source} only)" if for_source else "")
            click.echo(f"Enrolment token: {token.display}")
            click.echo(f"It enrols {what}, once, until {token.expires}.")
            click.echo(
                f"This hub's receipt key fingerprint: {key_fingerprint(store.config.receipt_public_key)} "
                "(the kit prints the fingerprints of the hubs it trusts)"
            )
            if out is not None:
                write_atomic(out, token.to_file_bytes(), mode=0o600)
                click.echo(f"Wrote {out}: on the kit, run 'fieldkit sync enrol --token-file FILE'.")
            return
        response = accept_enrolment(store, read_file_bytes(request_file))
        target = out or request_file.with_name(
            request_file.name.replace("enrolment-request", "enrolment-response")
            if "enrolment-request" in request_file.name
            else f"{request_file.stem}-response.json"
        )
        write_atomic(target, response, mode=0o600)
        click.echo(f"Enrolled. Wrote {target}: on the kit, run 'fieldkit sync enrol --response FILE'.")


@hub.command("revoke")
@HUB_DATA_OPTION
@click.option("--epoch", type=click.IntRange(1), default=None,
              help="Revoke only this key epoch (an impostor's key), not the kit's others.")  # fmt: skip
@click.option("--keep-up-to", type=click.IntRange(0), default=None, metavar="SEQ",
              help="Keep accepting bundles within sequence numbers 1-SEQ "
              "(default: the last one this hub acknowledged).")  # fmt: skip
@click.argument("kit_id")
def revoke(data_dir: Path, kit_id: str, epoch: int | None, keep_up_to: int | None) -> None:
    """Refuse bundles signed by KIT_ID from a point on.

    Bundles within the sequence numbers this hub already acknowledged (or 1-SEQ with
    --keep-up-to) stay acceptable, so a lost kit's last USB bundle still counts; later
    ones are refused. With --epoch only that key epoch is revoked.
    """
    with HubStore(data_dir) as store:
        count = store.revoke(kit_id, epoch=epoch, keep_up_to=keep_up_to)
        revoked = [s for s in store.sources() if s.source_id == kit_id and s.status == "revoked"]
    which = f"{kit_id} key epoch {epoch}" if epoch is not None else kit_id
    if not count and keep_up_to is None:
        click.echo(f"{which} was already revoked.")
        return
    click.echo(f"Revoked {which}: later bundles will be refused.")
    for source in revoked:
        if source.epoch == epoch or epoch is None:
            kept = source.valid_up_to or 0
            click.echo(
                f"  epoch {source.epoch}: bundles within sequence numbers 1-{kept} stay acceptable"
                if kept
                else f"  epoch {source.epoch}: no bundle stays acceptable"
            )


@hub.command("kits")
@HUB_DATA_OPTION
def kits(data_dir: Path) -> None:
    """List enrolled kits (and hubs) with their status."""
    with HubStore(data_dir) as store:
        sources = store.sources()
    if not sources:
        click.echo("No kit is enrolled yet ('fieldkit hub enrol').")
    for source in sources:
        state = (
            f"revoked {source.revoked} (bundles up to sequence {source.valid_up_to or 0} kept)"
            if source.status == "revoked"
            else "active"
        )
        click.echo(f"{source.kind} {source.source_id}  epoch {source.epoch}  enrolled {source.enrolled}  {state}")


def _receipt_path(result: ImportResult, bundle: Path, receipt_dir: Path | None) -> Path:
    assert result.source is not None and result.bundle_sha256 is not None
    folder = receipt_dir if receipt_dir is not None else bundle.parent
    return folder / f"receipt-{result.source.id}-{result.bundle_sha256[:16]}.json"


@hub.command("import")
@HUB_DATA_OPTION
@click.option("--receipt-out", "receipt_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Folder for receipts (default: beside each bundle).")  # fmt: skip
@click.argument("bundles", nargs=-1, required=True, type=EXISTING_FILE)
def import_(data_dir: Path, receipt_dir: Path | None, bundles: tuple[Path, ...]) -> None:
    """Verify and merge bundles; write a signed receipt for each one accepted.

    Prints, per bundle, how many records were new, duplicates or quarantined, or why
    it was refused. A receipt is written only once the bundle's records are durable.
    """
    if receipt_dir is not None:
        ensure_private_dir(receipt_dir)
    refused = 0
    with HubStore(data_dir, cache_mib=IMPORT_CACHE_MIB) as store:
        for bundle in bundles:
            result = store.import_bundle(bundle, label=bundle.name)
            click.echo(result.summary())
            if result.refused:
                refused += 1
                continue
            assert result.receipt is not None
            target = _receipt_path(result, bundle, receipt_dir)
            write_atomic(target, result.receipt, mode=0o600)
            click.echo(f"  receipt: {target}")
    if refused:
        raise FieldkitError(
            f"{refused} of {len(bundles)} bundles were refused; nothing of them was stored "
            "('fieldkit hub status' lists the reasons)"
        )


@hub.command("status")
@HUB_DATA_OPTION
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True,
              help="How many recent refusals to list.")  # fmt: skip
def status(data_dir: Path, limit: int) -> None:
    """Show what the hub holds, what is in quarantine and which bundles were refused."""
    with HubStore(data_dir) as store:
        sources = store.sources()
        kit_ids = {source.source_id for source in sources}
        revoked = {source.source_id for source in sources if source.status == "revoked"}
        quarantine = store.quarantine()
        refusals = store.events(("refused",), limit=limit)
        click.echo(f"Hub {store.config.hub_id}, recipient {store.config.recipient}")
        if store.config.earlier_recipients:
            click.echo(f"  and {count_of(len(store.config.earlier_recipients), 'earlier one', 'earlier ones')} "
                       "('fieldkit hub recipient' lists them)")  # fmt: skip
        if store.config.postgres is not None:
            click.echo(f"Tables in the PostgreSQL database {store.config.postgres.shown()}")
        click.echo(f"Enrolled: {count_of(len(kit_ids), 'kit', 'kits')} ({len(revoked)} revoked)")
        in_quarantine = count_of(len(quarantine), "record id", "record ids")
        aside = count_of(len(store.set_aside()), "version", "versions")
        click.echo(
            f"Records: {store.record_count()} accepted, {in_quarantine} in quarantine, "
            f"{aside} set aside ('fieldkit hub quarantine list')"
        )
    if quarantine:
        click.echo("Quarantine:")
        for item in quarantine:
            click.echo(f"  {item.record_id}: {count_of(len(item.versions), 'version', 'versions')}")
            for reason in item.reasons:
                click.echo(f"    - {reason}")
    if refusals:
        click.echo(f"Refused bundles (latest {limit}):")
        for event in refusals:
            click.echo(f"  {event.at} [{event.code}] {event.message}")
    else:
        click.echo("No bundle was refused.")


@hub.group("quarantine")
def quarantine() -> None:
    """Review and resolve records in quarantine, and records set aside."""


@quarantine.command("list")
@HUB_DATA_OPTION
def quarantine_list(data_dir: Path) -> None:
    """List record ids held in several versions, and versions set aside, with the reasons.

    Each version is named SHA@KIT (the start of its sha256, and the kit that sent it),
    as 'release' and 'drop' take it.
    """
    with HubStore(data_dir) as store:
        items = store.quarantine()
        aside = store.set_aside()
    if not items and not aside:
        click.echo("Nothing is in quarantine and nothing is set aside.")
        return
    for item in items:
        click.echo(f"In quarantine: record {item.record_id} ({len(item.versions)} versions, none is exported)")
        for version in item.versions:
            click.echo(f"  version {version.sha256[:12]}@{version.kit_id}  {version.form_id} v{version.form_version}")
        for reason in item.reasons:
            click.echo(f"    - {reason}")
    for entry in aside:
        record = entry.record
        click.echo(f"Set aside: record {record.record_id} version {record.sha256[:12]}@{record.kit_id} ({entry.at})")
        click.echo(f"    - {entry.reason}")
    click.echo(
        "Resolve with 'fieldkit hub quarantine release RECORD SHA@KIT' (that version is accepted) or "
        "'fieldkit hub quarantine drop RECORD SHA@KIT'."
    )


@quarantine.command("release")
@HUB_DATA_OPTION
@click.argument("record_id")
@click.argument("version")
def quarantine_release(data_dir: Path, record_id: str, version: str) -> None:
    """Accept VERSION (SHA@KIT) of RECORD_ID; its other versions are set aside."""
    with HubStore(data_dir) as store:
        moved = store.release(record_id, version)
    others = count_of(moved, "other version", "other versions")
    click.echo(f"Record {record_id}: version {version} is accepted; {others} set aside.")


@quarantine.command("drop")
@HUB_DATA_OPTION
@click.option("--from", "from_kit", default=None, metavar="KIT",
              help="Drop every record version sent as KIT, which must be revoked.")  # fmt: skip
@click.argument("record_id", required=False)
@click.argument("version", required=False)
def quarantine_drop(data_dir: Path, from_kit: str | None, record_id: str | None, version: str | None) -> None:
    """Delete VERSION (SHA@KIT) of RECORD_ID for good, or with --from KIT all a revoked kit sent."""
    if (from_kit is None) == (record_id is None):
        raise FieldkitError("give RECORD_ID and VERSION, or --from KIT")
    with HubStore(data_dir) as store:
        if from_kit is not None:
            count = store.drop_source(from_kit)
            click.echo(f"Dropped {count} record versions sent as revoked kit {from_kit}.")
            return
        if version is None:
            raise FieldkitError("give the VERSION (SHA@KIT, from 'fieldkit hub quarantine list') to drop")
        assert record_id is not None
        store.drop(record_id, version)
    click.echo(f"Record {record_id}: version {version} dropped.")
