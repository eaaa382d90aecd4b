"""``fieldkit hub``: the regional hub's commands."""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION, read_file_bytes
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION, read_passphrase
from fieldkit.core.counts import count_of
from fieldkit.core.crypto.hubkeys import generate_hub_keys, read_recipient_file, recipient_fingerprint
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import ensure_private_dir, write_atomic
from sync.hub.enrolment import accept_enrolment, create_token
from sync.hub.store import HubStore, ImportResult, init_hub
from sync.protocol.enrolment import DEFAULT_TOKEN_DAYS


@click.group()
def hub() -> None:
    """Run a regional hub: keys, enrolment, imports, exports and reports."""


@hub.command("keygen")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the new key files.",
)
@click.option("--no-passphrase", is_flag=True, help="Write the identity unprotected (hub-identity.txt).")
@PASSPHRASE_FILE_OPTION
@refuse_together(("no_passphrase", "passphrase_file"))
def keygen(out_dir: Path, no_passphrase: bool, passphrase_file: Path | None) -> None:
    """Create the hub identity and its public recipient.

    Writes OUT/hub-recipient.txt (give it to every kit) and the identity, by
    default as OUT/hub-identity.age protected by a passphrase (age scrypt), or
    with --no-passphrase as OUT/hub-identity.txt, which `age -d -i` accepts.
    Keep the identity offline and backed up: without it no record can be read.
    """
    passphrase = None if no_passphrase else read_passphrase(passphrase_file, prompt="New hub passphrase", confirm=True)
    files = generate_hub_keys(out_dir, passphrase)
    click.echo(f"Hub recipient: {files.recipient}")
    click.echo(f"Its fingerprint: {recipient_fingerprint(files.recipient)} (each kit prints it when it starts)")
    click.echo(f"Wrote {files.recipient_path} and {files.identity_path}")


@hub.command("init")
@HUB_DATA_OPTION
@click.option("--recipient-file", required=True, type=EXISTING_FILE,
              help="The hub's hub-recipient.txt (from 'fieldkit hub keygen').")  # fmt: skip
@click.option("--hub-id", default=None, help="A name for this hub (default: a random hub-... id).")
def init(data_dir: Path, recipient_file: Path, hub_id: str | None) -> None:
    """Create the hub's data folder and its receipt-signing key.

    The folder holds ciphertext, metadata and the receipt key (so the hub can sign
    receipts unattended); the age identity that decrypts records never goes in it.
    """
    config = init_hub(data_dir, read_recipient_file(recipient_file), hub_id=hub_id)
    click.echo(f"Created hub {config.hub_id} in {data_dir} for recipient {config.recipient}")
    click.echo("Enrol each kit with 'fieldkit hub enrol'.")


@hub.command("enrol")
@HUB_DATA_OPTION
@click.option("--accept", "request_file", type=EXISTING_FILE, default=None,
              help="Accept a kit's enrolment request file and write the response.")  # fmt: skip
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Token file to write, or with --accept the response file.")  # fmt: skip
@click.option("--valid-days", type=click.IntRange(1, 365), default=DEFAULT_TOKEN_DAYS,
              show_default=True, help="How long a new token stays usable.")  # fmt: skip
@refuse_together(("request_file", "valid_days"))
def enrol(data_dir: Path, request_file: Path | None, out: Path | None, valid_days: int) -> None:
    """Create a one-time enrolment token, or (--accept) enrol the kit that used one.

    Without --accept: prints a new token, and with --out also writes it to a token
    file for a USB stick. With --accept REQUEST: checks the kit's signed request,
    enrols its key and writes the response the kit needs (default: next to the request).
    """
    with HubStore(data_dir) as store:
        if request_file is None:
            token = create_token(store, valid_days=valid_days)
            click.echo(f"Enrolment token: {token.display}")
            click.echo(f"It works once, until {token.expires}.")
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
@click.argument("kit_id")
def revoke(data_dir: Path, kit_id: str) -> None:
    """Refuse every bundle signed by KIT_ID from now on, old or new."""
    with HubStore(data_dir) as store:
        count = store.revoke(kit_id)
    if count:
        click.echo(f"Revoked {kit_id}: its bundles will be refused.")
    else:
        click.echo(f"{kit_id} was already revoked.")


@hub.command("kits")
@HUB_DATA_OPTION
def kits(data_dir: Path) -> None:
    """List enrolled kits (and hubs) with their status."""
    with HubStore(data_dir) as store:
        sources = store.sources()
    if not sources:
        click.echo("No kit is enrolled yet ('fieldkit hub enrol').")
    for source in sources:
        state = f"revoked {source.revoked}" if source.status == "revoked" else "active"
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
    with HubStore(data_dir) as store:
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
        click.echo(f"Enrolled: {count_of(len(kit_ids), 'kit', 'kits')} ({len(revoked)} revoked)")
        in_quarantine = count_of(len(quarantine), "record id", "record ids")
        click.echo(f"Records: {store.record_count()} accepted, {in_quarantine} in quarantine")
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


from fieldkit.cli.export import export  # noqa: E402 - attached last to keep the command modules apart

hub.add_command(export)


from fieldkit.cli.hub_http import enrol_upstream_command, forward, password, serve  # noqa: E402 - as above

hub.add_command(serve)
hub.add_command(password)
hub.add_command(enrol_upstream_command)
hub.add_command(forward)


from fieldkit.cli.report import report  # noqa: E402 - as above

hub.add_command(report)
