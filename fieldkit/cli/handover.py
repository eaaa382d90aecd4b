"""A kit passes hands: ``fieldkit passphrase`` and ``fieldkit handover``.

``passphrase`` gives the kit a new passphrase (``fieldkit.kit.config.PassphraseChange``):
drafts, sealed settings and records stay as they are, the old passphrase stops opening
the kit's ``kit-keys.json``. ``handover`` shows what the kit holds (records, what still
waits for the hub, unfinished drafts), changes the passphrase and the operator
credential, and prints what the two people must do (``docs/handover.md``). Both refuse
while ``fieldkit serve`` has the kit open (``fieldkit.core.storage.locks.sole_use``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from fieldkit.cli.kit import DATA_OPTION, report_unlock
from fieldkit.cli.operator import store_operator_password
from fieldkit.cli.passphrase import (
    MIN_NEW_PASSPHRASE_LENGTH,
    OPERATOR_PASSWORD_FILE_OPTION,
    PASSPHRASE_FILE_OPTION,
    WORK_FACTOR_OPTION,
    kdf_cost,
    read_operator_password,
    read_passphrase,
)
from fieldkit.core.errors import FieldkitError
from fieldkit.core.storage.locks import sole_use
from fieldkit.kit.config import KEYS_FILE, KitConfig, UnlockedKit, load_config, open_for_change
from fieldkit.kit.drafts import count_drafts
from fieldkit.kit.operator_password import check_new_password
from fieldkit.kit.outbox import Outbox
from fieldkit.kit.push import HubLinks

NEW_PASSPHRASE_FILE_OPTION = click.option(
    "--new-passphrase-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help=f"Read the new passphrase from the first line of FILE instead of asking twice "
    f"(at least {MIN_NEW_PASSPHRASE_LENGTH} characters).",
)


def _change_passphrase(
    data_dir: Path,
    passphrase_file: Path | None,
    new_passphrase_file: Path | None,
    work_factor: int | None,
    before_change: Callable[[str], None] | None = None,
) -> tuple[UnlockedKit, str]:
    """Ask the current passphrase (checked at once), then the new one twice, and change it.

    ``before_change`` gets the new passphrase before anything is written (``handover``
    asks the new operator password there, so a refused one changes nothing). Returns
    the kit and the new passphrase. The caller holds the kit for its sole use.
    """
    old = read_passphrase(passphrase_file, prompt="Current kit passphrase")
    change = open_for_change(data_dir, old)  # a wrong passphrase stops here, before the new one is asked
    report_unlock(change.kit)
    new = read_passphrase(new_passphrase_file, prompt="New kit passphrase", confirm=True)
    if new == old:
        raise FieldkitError("the new passphrase is the same as the old one; nothing was changed")
    if before_change is not None:
        before_change(new)
    cost = kdf_cost(work_factor)
    change.to(new, cost)
    click.echo(f"The kit passphrase of {change.kit.config.kit_id} was changed; the old one no longer opens it.")
    click.echo(f"The new passphrase is stretched with {cost.describe()}.")
    return change.kit, new


@click.command("passphrase")
@DATA_OPTION
@PASSPHRASE_FILE_OPTION
@NEW_PASSPHRASE_FILE_OPTION
@WORK_FACTOR_OPTION
def passphrase(
    data_dir: Path, passphrase_file: Path | None, new_passphrase_file: Path | None, kdf_work_factor: int | None
) -> None:
    """Change the kit passphrase.

    Asks for the current passphrase (--passphrase-file reads it from a file), then
    the new one twice (--new-passphrase-file). Drafts, sealed records and settings
    stay as they are; only kit-keys.json is replaced, in one step, so the old
    passphrase stops opening it. A copy of kit-keys.json made before still opens with
    the old passphrase: see docs/threat-model.md. Stop 'fieldkit serve' first.
    """
    load_config(data_dir)  # a missing kit is reported before asking for a passphrase
    with sole_use(data_dir, action="change the passphrase"):
        _change_passphrase(data_dir, passphrase_file, new_passphrase_file, kdf_work_factor)


class _NewOperatorPassword:
    """Asks the new holder's operator password once the new passphrase is known (they must differ)."""

    def __init__(self, password_file: Path | None) -> None:
        self.password_file = password_file
        self.password = ""

    def __call__(self, new_passphrase: str) -> None:
        password = read_operator_password(self.password_file, required=True)
        assert password is not None  # required
        check_new_password(password, new_passphrase)
        self.password = password


def _say_state(config: KitConfig) -> None:
    data_dir = config.data_dir
    held, waiting = Outbox(data_dir).held_and_waiting()
    drafts = count_drafts(data_dir / "drafts")
    link = HubLinks(data_dir).latest()
    click.echo(f"Kit {config.kit_id} in {data_dir}")
    click.echo(f"  sealed records held: {held}; waiting for the hub: {waiting}")
    if link is None:
        click.echo("  no hub address is set: records go to the hub by USB ('fieldkit sync export')")
    else:
        click.echo(f"  last sent to the hub: {link.last_success or 'never'} ({link.url})")
        if link.last_error:
            click.echo(f"  last try {link.last_attempt} failed: {link.last_error}")
    click.echo(f"  unfinished interviews (drafts): {drafts}")
    if waiting:
        click.echo(
            f"  The {waiting} waiting record(s) stay sealed on the kit for the hub; the new holder sends them "
            "('fieldkit sync push' or 'fieldkit sync export'). Nobody on the kit can read them."
        )
    if drafts:
        click.echo(
            f"  The {drafts} draft(s) stay, and open with the new passphrase: the new holder finishes or discards them."
        )


CHECKLIST = (
    "Tell the new holder the new passphrase in person, not in a message; the old holder does not learn it.",
    "Give the new holder the kit's certificate fingerprint card, and check the fingerprint on it together "
    "against the one the kit shows.",
    "The old holder keeps nothing: no copy of the kit folder or of kit-keys.json, no backup, no passphrase "
    "file, no operator credential. A copy of kit-keys.json made before today still opens with the old "
    "passphrase.",
    "Revoke, on the operator page, any phone paired for the old holder that stays with them.",
    "To cut the old holder off for good: send every record to the hub, then wipe the kit and make a new one.",
)


def _say_checklist() -> None:
    click.echo("Checklist (docs/handover.md explains each step):")
    for item in CHECKLIST:
        click.echo(f"  [ ] {item}")


@click.command("handover")
@DATA_OPTION
@PASSPHRASE_FILE_OPTION
@NEW_PASSPHRASE_FILE_OPTION
@OPERATOR_PASSWORD_FILE_OPTION
@click.option("--dry-run", is_flag=True, help="Show the kit's state and what would change; change nothing.")
@WORK_FACTOR_OPTION
def handover(
    data_dir: Path,
    passphrase_file: Path | None,
    new_passphrase_file: Path | None,
    operator_password_file: Path | None,
    dry_run: bool,
    kdf_work_factor: int | None,
) -> None:
    """Hand the kit to a new interviewer or operator.

    Shows the sealed records held and waiting for the hub, the last sync and the
    unfinished drafts; then changes the kit passphrase (as 'fieldkit passphrase' does)
    and the operator credential, and prints the checklist of docs/handover.md.
    --dry-run shows the state and what would change, and asks no passphrase.
    Stop 'fieldkit serve' first.
    """
    config = load_config(data_dir)
    if dry_run:
        _say_state(config)
        click.echo("Dry run: nothing was changed. Without --dry-run this would:")
        click.echo(f"  - change the kit passphrase (replace {KEYS_FILE}; drafts and records stay as they are)")
        click.echo("  - change the operator credential")
        _say_checklist()
        return
    with sole_use(data_dir, action="hand the kit over"):
        _say_state(config)
        operator_password = _NewOperatorPassword(operator_password_file)
        kit, new_passphrase = _change_passphrase(
            data_dir, passphrase_file, new_passphrase_file, kdf_work_factor, before_change=operator_password
        )
        store_operator_password(kit, operator_password.password, new_passphrase, kdf_work_factor)
        click.echo(f"The operator password of {kit.config.kit_id} was changed; the old one no longer logs in.")
    _say_checklist()
