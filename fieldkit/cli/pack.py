"""``fieldkit pack``: form packs on a kit: apply one from a file (a USB stick), list those kept.

A pack over HTTP comes with ``fieldkit sync pull``; both end in :func:`fieldkit.kit.packs.apply`.
"""

from __future__ import annotations

from pathlib import Path

import click

from fieldkit.cli.kit import DATA_OPTION
from fieldkit.cli.options import EXISTING_FILE, read_file_bytes
from fieldkit.core import paths
from fieldkit.core.counts import count_of
from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from fieldkit.core.formengine.archive import load_archive_for_serving
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import load_config
from fieldkit.kit.packs import AppliedPack, apply, kept_packs
from sync.protocol.pack import MAX_PACK_BYTES, PackError


def shipped_forms() -> list[Form]:
    """The installed forms, archived versions too: a pack may not give their (id, version) other content."""
    forms, _broken = load_serving_forms(paths.forms_dir())
    archived, _broken_archive = load_archive_for_serving(paths.forms_dir())
    return [*forms.values(), *archived]


def describe(applied: AppliedPack) -> list[str]:
    """What a pack holds, in a few lines for the person at the kit."""
    contents = applied.contents
    forms = ", ".join(f"{form.form_id} v{form.version}" for form in contents.forms)
    languages = ", ".join(sorted(contents.translations)) or "none (the forms' own wording)"
    cycle = contents.cycle
    cycle_text = f"{cycle.cycle_id} ({cycle.name}, {cycle.start} to {cycle.end})" if cycle else "none"
    lines = [
        f"pack {contents.version} from hub {contents.hub_id}, made {contents.made}",
        f"  forms: {forms}",
        f"  languages: {languages}",
        f"  centres: {count_of(len(contents.centres), 'centre', 'centres')}",
        f"  cycle: {cycle_text}",
    ]
    if contents.recipient is not None:  # the hub rotated its key (docs/hub-keys.md)
        lines.append(
            f"  hub key: {recipient_fingerprint(contents.recipient)}  {contents.recipient} "
            "(new records are sealed to it once 'fieldkit serve' uses this pack)"
        )
    return lines


@click.group("pack")
def pack() -> None:
    """Form packs from the hub: the forms, centres and cycle this kit follows."""


@pack.command("apply")
@DATA_OPTION
@click.argument("pack_file", type=EXISTING_FILE)
def apply_command(data_dir: Path, pack_file: Path) -> None:
    """Check a form pack file (from 'fieldkit hub pack') and apply it.

    The pack must be signed by a hub this kit enrolled with and be newer than the
    pack it has; every form and catalogue in it is checked first. A refused pack
    changes nothing. 'fieldkit serve' then offers its forms and centres; a running
    kit takes them up at its next restart.
    """
    load_config(data_dir)  # a clear error for a folder that is not a kit
    try:
        size = pack_file.stat().st_size
    except OSError as error:
        raise click.ClickException(f"cannot read {pack_file}: {error.strerror or error}") from None
    if size > MAX_PACK_BYTES:
        raise click.ClickException(
            f"refused: {pack_file} is too large for a form pack ({size} bytes; at most "
            f"{MAX_PACK_BYTES}); nothing changed"
        )
    try:
        applied = apply(data_dir, read_file_bytes(pack_file), shipped_forms())
    except PackError as error:
        raise click.ClickException(f"refused: {error}; nothing changed") from None
    click.echo("Applied " + "\n".join(describe(applied)))


@pack.command("list")
@DATA_OPTION
def list_command(data_dir: Path) -> None:
    """The form packs this kit keeps; the last one is what it serves."""
    load_config(data_dir)
    kept = kept_packs(data_dir)
    if not kept:
        click.echo("No form pack applied: this kit serves the shipped forms and has no centre list.")
        return
    for applied in kept:
        mark = " (serving)" if applied is kept[-1] else " (kept for unfinished interviews)"
        lines = describe(applied)
        click.echo(lines[0] + mark)
        for line in lines[1:]:
            click.echo(line)
