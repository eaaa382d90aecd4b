"""Kit commands: ``fieldkit init``, ``simulate`` and ``wipe``."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.passphrase import (
    OPERATOR_PASSWORD_FILE_OPTION,
    PASSPHRASE_FILE_OPTION,
    WORK_FACTOR_OPTION,
    kdf_cost,
    read_operator_password,
    read_passphrase,
)
from fieldkit.core import paths
from fieldkit.core.counts import count_of
from fieldkit.core.crypto.hubkeys import parse_recipient_text, read_recipient_file
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.storage.atomic import remove_durably, remove_temp_files
from fieldkit.core.storage.locks import writer_lock
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import KEYS_FILE, KIT_FILE, UnlockedKit, init_kit, load_config, unlock
from fieldkit.kit.drafts import DraftStore
from fieldkit.kit.operator_password import check_new_password, set_operator_password
from fieldkit.kit.outbox import Outbox
from fieldkit.kit.roles import HUB_ROLE_DEFAULT, ROLES
from fieldkit.kit.sealing import Finaliser
from fieldkit.kit.settings_seal import recipient_lines
from fieldkit.kit.simulate import World
from fieldkit.kit.simulate import simulate as run_simulation
from fieldkit.kit.tls import make_identity
from sync.protocol.receipts import key_fingerprint

DATA_OPTION = click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The kit's data folder.",
)


def open_unlocked(data_dir: Path, passphrase_file: Path | None) -> UnlockedKit:
    load_config(data_dir)  # a missing kit is reported before asking for a passphrase
    passphrase = read_passphrase(passphrase_file, prompt="Kit passphrase")
    kit = unlock(data_dir, passphrase)
    report_unlock(kit)
    return kit


def report_unlock(kit: UnlockedKit) -> None:
    """Say what an unlock changed once and for all (sealing old settings, signing the hub list)."""
    if kit.sealed_now:
        # Said once: from now on a change to kit.json stops the kit from unlocking.
        click.echo(
            f"This kit's settings ({KIT_FILE}) were not sealed yet; they are now sealed with the passphrase, "
            "so a change made without it stops the kit from unlocking. Check that these are your hub's keys:",
            err=True,
        )
        for line in recipient_lines(kit.config.recipients, kit.config.roles):
            click.echo(f"  {line}", err=True)
    if kit.hubs_vouched_now:
        # Said once: from now on a hub added to sync.json without the passphrase is refused.
        click.echo(
            "This kit now signs its list of hubs with its key, so a hub added to sync.json without the "
            "passphrase is refused. It vouches for the hubs listed now; check each receipt key fingerprint "
            "with your hub's ('fieldkit hub init' and 'fieldkit hub enrol' print it):",
            err=True,
        )
        for entry in kit.hubs_vouched_now:
            click.echo(f"  hub {entry['hub_id']}: receipt key {key_fingerprint(entry['receipt_public_key'])}", err=True)


def finaliser_for(kit) -> Finaliser:
    """A finaliser that seals as ``serve`` would: to the newest pack's hub recipient when it carries one."""
    from fieldkit.kit.packs import pack_hub_recipient  # only the commands that seal read the packs

    drafts = DraftStore(kit.data_dir / "drafts", kit.draft_key)
    return Finaliser(kit, RecordStore(kit.data_dir), drafts, hub_recipient=pack_hub_recipient(kit.data_dir))


def hub_recipient_from(text: str | None, recipient_file: Path | None) -> str:
    """The hub's recipient from --hub-recipient (the key) or --hub-recipient-file (a file)."""
    if text is not None and recipient_file is not None:
        raise FieldkitError("give --hub-recipient or --hub-recipient-file, not both")
    if recipient_file is not None:
        return read_recipient_file(recipient_file)
    if text is None:
        raise FieldkitError(
            "give the hub's public key: --hub-recipient-file HUBKEYS/hub-recipient.txt (from 'fieldkit hub "
            "keygen') or --hub-recipient age1..."
        )
    text = text.strip()
    if not text.lower().startswith("age1") and ("/" in text or text.endswith(".txt") or Path(text).exists()):
        raise FieldkitError(
            f"--hub-recipient takes the key itself (age1...), and {text} looks like a file: "
            f"give --hub-recipient-file {text}"
        )
    return parse_recipient_text(text)


@click.command("init")
@DATA_OPTION
@click.option("--hub-recipient-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The hub's hub-recipient.txt (from 'fieldkit hub keygen').")  # fmt: skip
@click.option("--hub-recipient", metavar="age1...", default=None,
              help="The hub's public key itself, instead of --hub-recipient-file.")  # fmt: skip
@click.option("--escrow-recipient", metavar="age1...", default=None, help="Also seal every record to this key.")
@click.option("--hub-role", type=click.Choice(list(ROLES)), default=HUB_ROLE_DEFAULT, show_default=True,
              help="Who holds the hub's key: the consent script tells each person who can open answers.")  # fmt: skip
@click.option("--escrow-role", type=click.Choice(list(ROLES)), default=None,
              help="Who holds --escrow-recipient's key (needed with it), named in the consent script too.")  # fmt: skip
@PASSPHRASE_FILE_OPTION
@OPERATOR_PASSWORD_FILE_OPTION
@WORK_FACTOR_OPTION
@refuse_together(("hub_recipient", "hub_recipient_file"))
def init(
    data_dir: Path,
    hub_recipient_file: Path | None,
    hub_recipient: str | None,
    escrow_recipient: str | None,
    hub_role: str,
    escrow_role: str | None,
    passphrase_file: Path | None,
    operator_password_file: Path | None,
    kdf_work_factor: int | None,
) -> None:
    """Create a kit: its id, signing key, recipients, draft-key salt and TLS certificate.

    Give the hub's public key with --hub-recipient-file (or the key itself with
    --hub-recipient). The kit passphrase protects the signing key and the drafts;
    it is asked for twice unless --passphrase-file is given.

    The consent script read before each interview says who can open the answers, by
    the role of each key's holder: --hub-role (our network's regional team unless
    given) and, with --escrow-recipient, --escrow-role.

    The operator password (asked twice, or --operator-password-file) lets the
    operator log in from a phone over HTTPS; without a terminal or the file none
    is set, and 'fieldkit operator password' sets one later. Write the printed
    certificate fingerprint on the card kept with the kit.
    """
    # Every key is checked before the passphrase is asked for, so a mistake costs no typing.
    recipient = hub_recipient_from(hub_recipient, hub_recipient_file)
    escrow = parse_recipient_text(escrow_recipient.strip()) if escrow_recipient is not None else None
    if escrow is not None and escrow_role is None:
        raise click.UsageError(
            f"--escrow-recipient needs --escrow-role (one of: {', '.join(ROLES)}): the consent script tells "
            "each person who can open their answers"
        )
    if escrow_role is not None and escrow is None:
        raise click.UsageError("--escrow-role names who holds --escrow-recipient's key; give --escrow-recipient too")
    passphrase = read_passphrase(passphrase_file, prompt="New kit passphrase", confirm=True)
    operator_password = read_operator_password(operator_password_file, required=False)
    if operator_password is not None:
        check_new_password(operator_password, passphrase)  # before the kit is made
    cost = kdf_cost(kdf_work_factor)
    config = init_kit(
        data_dir,
        recipient,
        passphrase,
        escrow_recipient=escrow,
        hub_role=hub_role,
        escrow_role=escrow_role,
        work_factor=cost.work_factor,
        parallel=cost.parallel,
    )
    click.echo(f"Created kit {config.kit_id} in {data_dir}")
    click.echo(f"The passphrase is stretched with {cost.describe()}.")
    click.echo(f"Records will be sealed to {len(config.recipients)} recipient(s); this kit cannot read them back:")
    for line in recipient_lines(config.recipients, config.roles):
        click.echo(f"  {line}")
    if operator_password is not None:
        kit = unlock(data_dir, passphrase)
        set_operator_password(kit.config, kit.signing_key, operator_password, passphrase=passphrase)
        click.echo("Set the operator password for the operator's pages from a phone.")
    else:
        click.echo("No operator password was set (no terminal to ask on): the operator's pages answer only on this "
                   "computer until 'fieldkit operator password' sets one.")  # fmt: skip
    identity = make_identity(data_dir, config.kit_id)
    click.echo("The kit's certificate for the operator's pages; write its SHA-256 fingerprint on the kit's card:")
    click.echo(f"  {identity.fingerprint}")


@click.command("simulate")
@DATA_OPTION
@click.option(
    "--responses", "count", required=True, type=click.IntRange(1, 1_000_000), help="How many interviews to make."
)
@click.option("--seed", type=int, default=None, help="Make the same answers every time.")
@click.option("--text-answer", default=None, help="Put TEXT into every free-text answer (canary tests).")
@click.option(
    "--centres", type=click.IntRange(1, 999), default=20, show_default=True,
    help="How many made-up centres (C01, C02, ...) the interviews are about.",
)  # fmt: skip
@click.option(
    "--regions", type=click.IntRange(1, 99), default=2, show_default=True,
    help="How many regions (R1, R2, ...) the centres are spread over.",
)  # fmt: skip
@PASSPHRASE_FILE_OPTION
def simulate(
    data_dir: Path,
    count: int,
    seed: int | None,
    text_answer: str | None,
    centres: int,
    regions: int,
    passphrase_file: Path | None,
) -> None:
    """Fill the shipped forms with random, plausible answers through the real finalise path.

    The interviews are about a fixed set of made-up centres, the same for every kit
    and seed: every fourth centre is abusive (its residents often report red flags),
    and the last two are rarely visited. Prints each record id on its own line once
    that record is durable.
    """
    if regions > centres:
        raise click.BadParameter(f"{regions} regions need at least {regions} centres", param_hint="--regions")
    world = World.make(centres, regions)
    kit = open_unlocked(data_dir, passphrase_file)
    forms = load_directory(paths.forms_dir())
    finaliser = finaliser_for(kit)
    for record_id in run_simulation(finaliser, forms, count, seed=seed, text_answer=text_answer, world=world):
        click.echo(record_id)
        sys.stdout.flush()


def refuse_stranding(data_dir: Path, abandon: int | None) -> None:
    """Refuse to wipe while records wait for a hub, unless --abandon-unsent gives their exact count."""
    outbox = Outbox(data_dir)
    waiting = outbox.pending_ids()
    unsent = len(waiting)
    if abandon is not None and abandon != unsent:
        raise FieldkitError(
            f"--abandon-unsent {abandon} does not match: {count_of(unsent, 'record', 'records')} on this kit "
            "no hub has acknowledged. Nothing was wiped; check the count with 'fieldkit sync status'."
        )
    if unsent and abandon is None:
        numbered = outbox.state.load_outbox()["records"]
        in_bundle = sum(1 for record_id in waiting if record_id in numbered)
        bundled = (
            f" ({in_bundle} of them went into a bundle already, but no receipt for them came back: "
            "apply the hub's receipt with 'fieldkit sync receipt')"
            if in_bundle
            else ""
        )
        raise FieldkitError(
            f"{count_of(unsent, 'record', 'records')} on this kit no hub has acknowledged yet{bundled}. "
            "Wiping the keys would strand them for good: without the keys no bundle can be signed. "
            f"Send them first with 'fieldkit sync export --data {data_dir} --out FILE' (or 'fieldkit sync push'), "
            "import the bundle at the hub and apply its receipt. To wipe anyway and abandon them, give "
            f"--abandon-unsent {unsent}. Nothing was wiped."
        )


@click.command("wipe")
@DATA_OPTION
@click.option(
    "--confirm", "confirmation", default=None, metavar="KIT_ID", help="Confirm without a prompt by giving the kit id."
)
@click.option(
    "--abandon-unsent",
    "abandon",
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="Wipe although N records (the count wipe shows) wait for a hub: they can never be sent afterwards.",
)
def wipe(data_dir: Path, confirmation: str | None, abandon: int | None) -> None:
    """Destroy this kit's drafts and keys (crypto-erasure).

    Sealed records stay: only the hub can read them. Without the keys file, the
    drafts cannot be decrypted even with the passphrase. Type the kit id to confirm.

    While records wait for a hub (no hub has acknowledged them), wipe refuses and
    shows how many: send them first ('fieldkit sync export'), or give
    --abandon-unsent with that exact number.
    """
    config = load_config(data_dir)
    refuse_stranding(data_dir, abandon)
    if confirmation is None:
        if sys.stdin is None or not sys.stdin.isatty():
            raise FieldkitError("wipe needs confirmation: give --confirm KIT_ID (no terminal to ask on)")
        confirmation = click.prompt(f"This destroys all drafts and keys of {config.kit_id}. Type the kit id to confirm")
    if confirmation.strip() != config.kit_id:
        raise FieldkitError("the kit id does not match; nothing was wiped")
    with writer_lock(data_dir):
        remove_durably(data_dir / KEYS_FILE)
        # A passphrase change killed before its rename leaves a whole second copy of the keys.
        remove_temp_files(data_dir / KEYS_FILE)
        drafts = data_dir / "drafts"
        if drafts.exists():
            shutil.rmtree(drafts)
    click.echo(f"Wiped the keys and drafts of {config.kit_id}. Sealed records remain, readable only by the hub.")
