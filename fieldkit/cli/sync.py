"""``fieldkit sync``: the kit's side of getting sealed records to the hub.

``enrol`` registers the kit at a hub (token in, request out; then the response in;
or all at once over HTTP with ``--hub URL``), ``push`` sends unacknowledged records to
the hub over HTTP, ``export`` writes a signed bundle of them for a USB stick,
``receipt`` applies the hub's signed receipt, ``prune`` deletes acknowledged
ciphertext, ``status`` says where things stand, ``pull`` fetches the hub's newest form pack.
"""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.kit import DATA_OPTION, open_unlocked
from fieldkit.cli.options import EXISTING_FILE, read_file_bytes
from fieldkit.cli.pack import describe, shipped_forms
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION
from fieldkit.core.counts import count_of
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.atomic import write_atomic
from fieldkit.kit.config import load_config
from fieldkit.kit.declined import declined_cells, stopped_cells
from fieldkit.kit.enrolment import apply_enrolment_response, make_enrolment_request
from fieldkit.kit.outbox import Outbox
from fieldkit.kit.pull import pull_with_retries
from fieldkit.kit.push import HubLinks, choose_target, enrol_over_http, push_with_retries
from sync.protocol.client import DEFAULT_BATCH, Backoff, HubClient
from sync.protocol.enrolment import EnrolmentToken
from sync.protocol.receipts import key_fingerprint


@click.group("sync")
def sync() -> None:
    """Send sealed records to the hub: enrol, export bundles, apply receipts, prune."""


@sync.command("export")
@DATA_OPTION
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The bundle file to write (for example on a USB stick).")  # fmt: skip
@PASSPHRASE_FILE_OPTION
def export(data_dir: Path, out: Path, passphrase_file: Path | None) -> None:
    """Write a signed bundle of every record no hub has acknowledged yet.

    Records stay on the kit until a receipt from the hub marks them as synced and
    'fieldkit sync prune' removes them.
    """
    outbox = Outbox(data_dir)
    if not outbox.pending_ids() and not outbox.tally_waiting():
        click.echo("Nothing to export: a hub has acknowledged every record on this kit.")
        return
    if not outbox.state.hubs():
        click.echo(
            "Warning: this kit is not enrolled with a hub yet; the hub will refuse the bundle "
            "until it is ('fieldkit sync enrol').",
            err=True,
        )
    kit = open_unlocked(data_dir, passphrase_file)
    prepared = outbox.export(kit, out)
    if prepared is None:
        click.echo("Nothing to export: a hub has acknowledged every record on this kit.")
        return
    click.echo(
        f"Wrote {out}: {prepared.count} records{' and the tally of declined interviews' if prepared.tally else ''} "
        f"(sequence {prepared.first_seq}-"
        f"{prepared.last_seq}). Import it at the hub, then apply the receipt with "
        "'fieldkit sync receipt'."
    )
    if prepared.read_only:
        click.echo(
            f"The data folder {data_dir} is read-only (the disk may be failing), so this kit saved nothing: "
            "copy the whole folder to another disk before anything else, and keep this bundle.",
            err=True,
        )
    if prepared.remaining:
        click.echo(
            f"{prepared.remaining} more records did not fit in one bundle: apply this bundle's "
            "receipt, then export again."
        )


@sync.command("receipt")
@DATA_OPTION
@click.argument("receipt_file", type=EXISTING_FILE)
def receipt(data_dir: Path, receipt_file: Path) -> None:
    """Apply a receipt from the hub: the records it lists are marked as synced."""
    result = Outbox(data_dir).apply_receipt(read_file_bytes(receipt_file))
    click.echo(
        f"Receipt from hub {result.hub_id}: {result.marked} records marked as synced "
        f"({result.already} already synced, {result.ignored} not recognised)"
        f"{'; the hub holds the tally of declined interviews' if result.tally_marked else ''}."
    )


@sync.command("prune")
@DATA_OPTION
def prune(data_dir: Path) -> None:
    """Delete the ciphertext of records a verified hub has acknowledged; nothing else is touched.

    A hub is verified when it proved at enrolment that it knows the one-time token (or
    the token file named its key).
    """
    outbox = Outbox(data_dir)
    _say_refused(outbox)
    removed = outbox.prune()
    waiting = len(outbox.pending_ids())
    removed_text = count_of(removed, "acknowledged record", "acknowledged records")
    still = "record still waits" if waiting == 1 else "records still wait"
    click.echo(f"Removed {removed_text}; {waiting} {still} for a hub.")
    kept = outbox.unverified_acknowledged()
    if kept:
        click.echo(
            f"Kept {count_of(kept, 'record', 'records')} acknowledged by a hub whose key was never verified "
            "(enrolled by an older version of fieldkit): enrol again with a new token from that hub, "
            "then push and prune.",
            err=True,
        )


def _say_refused(outbox: Outbox) -> None:
    for hub in outbox.state.hub_trust(outbox.config).refused:
        click.echo(f"Warning: {hub.line()}", err=True)


@sync.command("status")
@DATA_OPTION
def status(data_dir: Path) -> None:
    """Show the hubs this kit is enrolled with and how many records wait."""
    outbox = Outbox(data_dir)
    state = outbox.status()
    links = {link.hub_id: link for link in HubLinks(data_dir).all()}
    refused = outbox.state.hub_trust(outbox.config).refused
    for hub in outbox.state.trusted_hubs(outbox.config):
        click.echo(f"Enrolled with hub {hub.hub_id} since {hub.enrolled}")
        if not hub.verified:
            click.echo(
                "  its key was never verified (enrolled by an older version): 'sync prune' keeps what it "
                "acknowledged; enrol again with a new token from that hub"
            )
        link = links.get(hub.hub_id)
        if link is not None:
            click.echo(f"  address {link.url}; last sent {link.last_success or 'never'}")
            if link.last_error:
                click.echo(f"  last try {link.last_attempt} failed: {link.last_error}; next try {link.next_attempt}")
    for refused_hub in refused:
        click.echo(f"Listed but refused: {refused_hub.line()}")
    if len(refused) == len(state.hubs):
        click.echo("Not enrolled with any hub yet ('fieldkit sync enrol').")
    if state.pending_enrolment is not None:
        click.echo(f"Enrolment in progress since {state.pending_enrolment.created}")
    click.echo(
        f"Records: {state.records} held, {state.pending} not yet acknowledged, "
        f"{state.acknowledged} acknowledged (removable with 'fieldkit sync prune')."
    )
    declined = sum(cell.count for cell in declined_cells(data_dir))
    stopped = sum(cell.count for cell in stopped_cells(data_dir))
    if declined or stopped:
        where = "wait for the hub" if outbox.tally_waiting() else "are held by the hub (its latest receipt says so)"
        if declined:
            click.echo(f"Declined interviews: {declined} counted on this kit; the latest counts {where}.")
        if stopped:
            click.echo(
                f"Interviews a form's rule stopped (such as under 18): {stopped} counted on this kit; "
                f"the latest counts {where}."
            )


@sync.command("enrol")
@DATA_OPTION
@click.option("--token-file", type=EXISTING_FILE, default=None, help="Token file from 'fieldkit hub enrol --out'.")
@click.option("--token", "token_text", default=None, help="The token as printed by the hub (typed).")
@click.option("--response", "response_file", type=EXISTING_FILE, default=None,
              help="The hub's response file, to finish enrolling.")  # fmt: skip
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the request (default: enrolment-request-KIT.json here).")  # fmt: skip
@click.option("--hub", "hub_url", default=None, metavar="URL",
              help="Enrol over HTTP with the hub at URL, in one step; the URL is kept for 'sync push'.")  # fmt: skip
@PASSPHRASE_FILE_OPTION
def enrol(
    data_dir: Path,
    token_file: Path | None,
    token_text: str | None,
    response_file: Path | None,
    out: Path | None,
    hub_url: str | None,
    passphrase_file: Path | None,
) -> None:
    """Enrol this kit at a hub: over HTTP in one step, or with files in two.

    With --hub URL and --token (or --token-file): sends a request signed with the kit's
    key to the hub and stores the hub's receipt key from its answer. Without --hub: first
    --token-file (or --token) writes the request for the hub operator ('fieldkit hub
    enrol --accept FILE'); then --response stores the hub's receipt key from its response.
    Every route asks for the kit passphrase: the kit signs its list of hubs, so a hub
    added without it is refused.
    """
    given = [option for option in (token_file, token_text, response_file) if option is not None]
    if len(given) != 1:
        raise FieldkitError("give exactly one of --token-file, --token or --response")
    if hub_url is not None:
        if response_file is not None:
            raise FieldkitError("--response is for enrolling with files; over HTTP (--hub) give --token")
        token = (
            EnrolmentToken.from_file_bytes(read_file_bytes(token_file))
            if token_file is not None
            else EnrolmentToken.from_text(token_text or "")
        )
        hub = enrol_over_http(open_unlocked(data_dir, passphrase_file), hub_url, token)
        link = HubLinks(data_dir).get(hub.hub_id)
        where = link.url if link else hub_url
        click.echo(
            f"Enrolled with hub {hub.hub_id} at {where} (receipt key {key_fingerprint(hub.receipt_public_key)}): "
            "'fieldkit sync push' now sends records there."
        )
        return
    if response_file is not None:
        response = read_file_bytes(response_file)
        # Unlocked: the kit signs its new list of hubs, so no hub gets on it without the passphrase.
        hub = apply_enrolment_response(open_unlocked(data_dir, passphrase_file), response)
        click.echo(
            f"Enrolled with hub {hub.hub_id} (receipt key {key_fingerprint(hub.receipt_public_key)}): "
            "its receipts can now mark records as synced."
        )
        return
    config = load_config(data_dir)
    token = (
        EnrolmentToken.from_file_bytes(read_file_bytes(token_file))
        if token_file is not None
        else EnrolmentToken.from_text(token_text or "")
    )
    kit = open_unlocked(data_dir, passphrase_file)
    request = make_enrolment_request(kit, token)
    target = out or Path(f"enrolment-request-{config.kit_id}.json")
    write_atomic(target, request, mode=0o600)
    click.echo(
        f"Wrote {target}. At the hub: 'fieldkit hub enrol --data HUBDIR --accept {target.name}', "
        "then bring the response back: 'fieldkit sync enrol --data DIR --response FILE'."
    )


@sync.command("push")
@DATA_OPTION
@click.option("--hub", "hub_url", default=None, metavar="URL",
              help="The hub's address (default: the one given at enrolment; a new one is remembered).")  # fmt: skip
@click.option("--batch", type=click.IntRange(1, 10_000), default=DEFAULT_BATCH, show_default=True,
              help="At most this many records per bundle.")  # fmt: skip
@click.option("--once", is_flag=True, help="Try once, without waiting and trying again.")
@click.option("--attempts", type=click.IntRange(1, 1000), default=6, show_default=True,
              help="Give up after this many failed tries.")  # fmt: skip
@click.option("--forever", is_flag=True, help="Keep trying until every record is acknowledged.")
@click.option("--max-wait", type=click.FloatRange(0.01, 86_400), default=300.0, show_default=True,
              help="Longest wait between tries, in seconds (waits double from 2 s up to this).")  # fmt: skip
@PASSPHRASE_FILE_OPTION
@refuse_together(("once", "forever", "attempts"))
def push(
    data_dir: Path,
    hub_url: str | None,
    batch: int,
    once: bool,
    attempts: int,
    forever: bool,
    max_wait: float,
    passphrase_file: Path | None,
) -> None:
    """Send every record no hub has acknowledged to the hub over HTTP.

    Sends bundles until none is left. Only a receipt signed by the hub's enrolled key
    and listing the records marks them as synced, so a Wi-Fi login page that answers
    "OK" changes nothing. After a network error, a captive portal or a busy hub, it
    waits (longer each time) and tries again; a refusal by the hub stops it at once.
    """
    target = choose_target(data_dir, hub_url)
    outbox = Outbox(data_dir)
    waiting = len(outbox.pending_ids())
    if not waiting and not outbox.tally_waiting():
        click.echo("Nothing to push: a hub has acknowledged every record on this kit.")
        return
    kit = open_unlocked(data_dir, passphrase_file)
    click.echo(f"{waiting} {'record waits' if waiting == 1 else 'records wait'}; pushing to {target.url}")
    outcome = push_with_retries(
        kit,
        target,
        attempts=1 if once else (None if forever else attempts),
        backoff=Backoff(first=min(2.0, max_wait), cap=max_wait),
        batch=batch,
        echo=click.echo,
    )
    if outcome.error is not None:
        raise FieldkitError(
            f"push stopped: {outcome.error} ({outcome.marked} records marked as synced before that, "
            f"{outcome.remaining} still wait)"
        )
    click.echo(
        f"Done: {outcome.marked} records marked as synced in {outcome.bundles} bundle(s); "
        f"{outcome.remaining} wait. Remove synced ciphertext with 'fieldkit sync prune' when you wish."
    )


@sync.command("pull")
@DATA_OPTION
@click.option("--hub", "hub_url", default=None, metavar="URL",
              help="The hub's address (default: the one given at enrolment).")  # fmt: skip
@click.option("--attempts", type=click.IntRange(1, 1000), default=3, show_default=True,
              help="Give up after this many failed tries.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=60.0, show_default=True,
              help="Seconds to wait for the hub at each step before giving up on a try.")  # fmt: skip
@click.option("--max-wait", type=click.FloatRange(0.01, 86_400), default=30.0, show_default=True,
              help="Longest wait between tries, in seconds.")  # fmt: skip
@PASSPHRASE_FILE_OPTION
def pull(
    data_dir: Path, hub_url: str | None, attempts: int, timeout: float, max_wait: float, passphrase_file: Path | None
) -> None:
    """Fetch the hub's newest form pack over HTTP and apply it, if it is newer than this kit's.

    The request is signed with the kit's key; the pack must be signed by the enrolled
    hub and passes every check of 'fieldkit pack apply'. A refused pack changes nothing.
    """
    target = choose_target(data_dir, hub_url)
    kit = open_unlocked(data_dir, passphrase_file)
    click.echo(f"Asking {target.url} for a newer form pack...")
    outcome = pull_with_retries(
        kit,
        target,
        attempts=attempts,
        backoff=Backoff(first=min(2.0, max_wait), cap=max_wait),
        shipped=shipped_forms(),
        client=HubClient(target.url, timeout=timeout),
        echo=click.echo,
    )
    if outcome.error is not None:
        raise FieldkitError(f"pull stopped: {outcome.error}; nothing changed")
    if outcome.applied is None:
        click.echo(f"Nothing newer: hub {outcome.hub_id} has no form pack newer than this kit's.")
        return
    click.echo("Applied " + "\n".join(describe(outcome.applied)))
