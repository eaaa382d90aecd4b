"""``fieldkit hub centres|cycles|pack|packs``: the monitoring programme a hub runs.

The registry of centres, the assessment cycles, and the signed form packs that carry
forms, wording, the centre list and the current cycle to kits (``docs/programme.md``).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.options import EXISTING_FILE, HUB_DATA_OPTION, read_file_bytes
from fieldkit.core import paths
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.catalogue import load_directory
from fieldkit.core.formengine.loader import FormDefinitionError
from fieldkit.core.formengine.model import Form
from fieldkit.core.storage.atomic import write_atomic
from sync.hub import cycles as hub_cycles
from sync.hub import registry
from sync.hub.packing import make_hub_pack, parse_settings, stored_pack
from sync.hub.packing import packs as stored_packs
from sync.hub.store import HubStore

MAX_IMPORT_BYTES = 5 * 1024 * 1024


def _forms_option(name: str) -> Callable[..., Any]:
    return click.option(
        name,
        "forms_dir",
        default=None,
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        help="The hub's forms folder (default: the shipped forms).",
    )


def _load_forms(forms_dir: Path | None) -> dict[str, Form]:
    directory = forms_dir or paths.forms_dir()
    try:
        return load_directory(directory)
    except FormDefinitionError as error:
        raise FieldkitError(f"the forms in {directory} have problems; fix them first:\n{error}") from None


def _kinds(forms_dir: Path | None) -> tuple[str, ...]:
    return registry.centre_kinds(_load_forms(forms_dir))


def _codes(text: str | None) -> list[str]:
    return [part for part in (text or "").split(",") if part.strip()]


# --- hub centres --------------------------------------------------------------------------


@click.group("centres")
def centres() -> None:
    """The registry of centres: codes, names, regions, kinds; names never leave the hub."""


def _describe(centre: registry.Centre) -> str:
    where = f", {centre.location}" if centre.location else ""
    state = "" if centre.active else " (retired)"
    return f"{centre.code} {centre.name} ({centre.kind}, region {centre.region}{where}){state}"


@centres.command("add")
@HUB_DATA_OPTION
@click.argument("code")
@click.option("--name", required=True, help="The centre's name (stays at the hub).")
@click.option("--region", required=True, help="The region's code.")
@click.option("--kind", required=True, help="The kind of centre: a choice of item 'setting' of the centre form.")
@click.option("--location", default=None, help="City or district (never coordinates); stays at the hub.")
@_forms_option("--forms")
def centres_add(
    data_dir: Path, code: str, name: str, region: str, kind: str, location: str | None, forms_dir: Path | None
) -> None:
    """Add a centre with a new CODE (letters A-Z, digits, '-', '_', '.')."""
    kinds = _kinds(forms_dir)
    with HubStore(data_dir) as store:
        centre = registry.add_centre(store, code, name=name, region=region, kind=kind, kinds=kinds, location=location)
    note = f" (written {centre.code})" if centre.code != code else ""
    click.echo(f"Added centre {_describe(centre)}{note}.")


@centres.command("edit")
@HUB_DATA_OPTION
@click.argument("code")
@click.option("--name", default=None, help="A new name.")
@click.option("--region", default=None, help="A new region code.")
@click.option("--kind", default=None, help="A new kind of centre.")
@click.option("--location", default=None, help="A new city or district.")
@click.option("--no-location", "clear_location", is_flag=True, help="Remove the location.")
@click.option("--reactivate", is_flag=True, help="Assess a retired centre again (under the same code).")
@_forms_option("--forms")
@refuse_together(("location", "clear_location"))
def centres_edit(
    data_dir: Path,
    code: str,
    name: str | None,
    region: str | None,
    kind: str | None,
    location: str | None,
    clear_location: bool,
    reactivate: bool,
    forms_dir: Path | None,
) -> None:
    """Change a centre's name, region, kind or location; its code never changes."""
    kinds = _kinds(forms_dir) if kind is not None else ()
    with HubStore(data_dir) as store:
        centre = registry.edit_centre(
            store, code, kinds=kinds, name=name, region=region, kind=kind,
            location="" if clear_location else location, reactivate=reactivate,
        )  # fmt: skip
    click.echo(f"Changed centre {_describe(centre)}.")


@centres.command("retire")
@HUB_DATA_OPTION
@click.argument("code")
def centres_retire(data_dir: Path, code: str) -> None:
    """Stop assessing a centre: it leaves the next pack, and its code is never reused."""
    with HubStore(data_dir) as store:
        centre = registry.retire_centre(store, code)
    click.echo(f"Retired centre {centre.code}: the next pack leaves it out; its code stays reserved.")


@centres.command("list")
@HUB_DATA_OPTION
@click.option("--all", "include_retired", is_flag=True, help="Include retired centres.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def centres_list(data_dir: Path, include_retired: bool, as_json: bool) -> None:
    """The registry's centres (the active ones, or --all)."""
    with HubStore(data_dir) as store:
        found = registry.centres(store, include_retired=include_retired)
    if as_json:
        fields = ("code", "name", "region", "kind", "location", "active", "added", "changed")
        click.echo(json.dumps([{name: getattr(c, name) for name in fields} for c in found], indent=2,
                              ensure_ascii=False))  # fmt: skip
        return
    if not found:
        click.echo("No centre in the registry yet ('fieldkit hub centres add' or 'import').")
        return
    header = ("code", "region", "kind", "status", "location", "name")
    rows = [(c.code, c.region, c.kind, "active" if c.active else "retired", c.location or "-", c.name) for c in found]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])


@centres.command("import")
@HUB_DATA_OPTION
@click.argument("csv_file", type=EXISTING_FILE)
@_forms_option("--forms")
def centres_import(data_dir: Path, csv_file: Path, forms_dir: Path | None) -> None:
    """Add and update centres from a CSV file (header: code,name,region,kind,location,active).

    All or nothing: one bad line and nothing changes; every bad line is listed.
    """
    data = read_file_bytes(csv_file)
    if len(data) > MAX_IMPORT_BYTES:
        raise FieldkitError(f"{csv_file} is too large for a list of centres (at most {MAX_IMPORT_BYTES} bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FieldkitError(f"{csv_file}: line {line} is not UTF-8; save the file as CSV UTF-8") from None
    kinds = _kinds(forms_dir)
    with HubStore(data_dir) as store:
        summary = registry.import_csv(store, text, kinds)
    click.echo(
        f"Imported {csv_file.name}: {summary.added} centres added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged."
    )


@centres.command("export")
@HUB_DATA_OPTION
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the CSV file here (default: print it).")  # fmt: skip
def centres_export(data_dir: Path, out: Path | None) -> None:
    """The whole registry, retired centres too, as the CSV file 'import' reads.

    Cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    with HubStore(data_dir) as store:
        text = registry.export_csv(store)
    if out is None:
        click.echo(text, nl=False)
        return
    write_atomic(out, text.encode("utf-8"))
    click.echo(f"Wrote {out} ({text.count(chr(10)) - 1} centres).")


# --- hub cycles ---------------------------------------------------------------------------


@click.group("cycles")
def cycles() -> None:
    """Assessment cycles: which forms and centres each round covers, and when."""


def _describe_cycle(cycle: hub_cycles.HubCycle) -> str:
    covered = ", ".join(cycle.centres) if cycle.centres else "every active centre"
    state = "open" if cycle.is_open else f"closed {cycle.closed}"
    forms = ", ".join(cycle.forms)
    return f"{cycle.cycle_id} {cycle.name!r}: {cycle.start} to {cycle.end}, forms {forms}; {covered}; {state}"


@cycles.command("add")
@HUB_DATA_OPTION
@click.argument("cycle_id", metavar="ID")
@click.option("--name", required=True, help="A name people read (e.g. 'First quarter 2027').")
@click.option("--start", required=True, help="First day, YYYY-MM-DD.")
@click.option("--end", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--forms", "form_ids", required=True, help="The forms it uses, by id, comma-separated.")
@click.option("--centres", "centre_codes", default=None,
              help="The centres it covers, comma-separated (default: every active centre).")  # fmt: skip
@_forms_option("--forms-dir")
def cycles_add(
    data_dir: Path,
    cycle_id: str,
    name: str,
    start: str,
    end: str,
    form_ids: str,
    centre_codes: str | None,
    forms_dir: Path | None,
) -> None:
    """Add an open cycle; open cycles never overlap in dates."""
    first, last = hub_cycles.parse_day(start, "start"), hub_cycles.parse_day(end, "end")
    known = _load_forms(forms_dir)
    with HubStore(data_dir) as store:
        cycle = hub_cycles.add_cycle(
            store, cycle_id, name=name, start=first, end=last, forms=_codes(form_ids), known_forms=set(known),
            centre_codes=_codes(centre_codes),
        )  # fmt: skip
    click.echo(f"Added cycle {_describe_cycle(cycle)}.")
    click.echo("Kits learn it from the next pack ('fieldkit hub pack').")


@cycles.command("close")
@HUB_DATA_OPTION
@click.argument("cycle_id", metavar="ID")
def cycles_close(data_dir: Path, cycle_id: str) -> None:
    """Close a cycle: no later pack carries it; its records stay in reports."""
    with HubStore(data_dir) as store:
        cycle = hub_cycles.close_cycle(store, cycle_id)
    click.echo(f"Closed cycle {cycle.cycle_id}; the next pack carries no cycle unless another is open.")


@cycles.command("list")
@HUB_DATA_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of lines.")
def cycles_list(data_dir: Path, as_json: bool) -> None:
    """Every cycle, by start day."""
    with HubStore(data_dir) as store:
        found = hub_cycles.cycles(store)
    if as_json:
        click.echo(json.dumps([
            {"id": c.cycle_id, "name": c.name, "start": c.start.isoformat(), "end": c.end.isoformat(),
             "forms": list(c.forms), "centres": list(c.centres), "added": c.added, "closed": c.closed}
            for c in found
        ], indent=2, ensure_ascii=False))  # fmt: skip
        return
    if not found:
        click.echo("No cycle yet ('fieldkit hub cycles add').")
    for cycle in found:
        click.echo(_describe_cycle(cycle))


# --- hub pack, hub packs ------------------------------------------------------------------


@click.command("pack")
@HUB_DATA_OPTION
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The pack file to write (for a USB stick; kits can also pull it from 'hub serve').")  # fmt: skip
@_forms_option("--forms")
@click.option("--translations", "translations_dir", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The translations folder whose forms catalogues go in (default: the shipped ones).")  # fmt: skip
@click.option("--cycle", "cycle_id", default=None, metavar="ID",
              help="Carry this open cycle (default: the open cycle that includes today, if any).")  # fmt: skip
@click.option("--setting", "settings", multiple=True, metavar="NAME=VALUE",
              help="A kit setting the pack sets (idle_minutes, discard_minutes, pairing_code_minutes).")  # fmt: skip
def pack(
    data_dir: Path,
    out: Path,
    forms_dir: Path | None,
    translations_dir: Path | None,
    cycle_id: str | None,
    settings: tuple[str, ...],
) -> None:
    """Sign the next form pack: forms, their wording, the active centres, the cycle.

    The pack carries each active centre's code, region and kind only; names and
    locations stay at the hub. It is signed with the key kits trust from enrolment,
    recorded at the hub, then written to OUT.
    """
    parsed = parse_settings(settings)
    if not out.parent.is_dir():  # checked before the pack is made and recorded
        raise FieldkitError(f"the folder {out.parent} does not exist; nothing was done")
    with HubStore(data_dir) as store:
        made = make_hub_pack(
            store, forms_dir=forms_dir or paths.forms_dir(),
            translations_dir=translations_dir or paths.translations_dir(), cycle_id=cycle_id, settings=parsed,
            today=datetime.datetime.now(datetime.UTC).date(),
        )  # fmt: skip
    try:
        write_atomic(out, made.data, mode=0o644)
    except FieldkitError as error:
        raise FieldkitError(
            f"pack {made.stored.version} is made and kept at the hub, but {out} could not be written ({error}); "
            f"write it again with 'fieldkit hub packs --data {data_dir} --out FILE'"
        ) from None
    contents = made.contents
    click.echo(f"Made pack {contents.version} ({len(made.data)} bytes, sha256 {made.stored.sha256[:16]}...): {out}")
    click.echo("  forms: " + ", ".join(f"{form.form_id} v{form.version}" for form in contents.forms))
    click.echo("  languages: " + (", ".join(sorted(contents.translations)) or "none (the forms' own wording)"))
    for skipped in made.skipped_languages:
        click.echo(f"  left out {skipped}", err=True)
    click.echo(f"  centres: {len(contents.centres)} active (codes, regions and kinds only)")
    if not contents.centres:
        click.echo(
            "Warning: the registry has no active centre, so kits that apply this pack cannot start "
            "interviews ('fieldkit hub centres add').",
            err=True,
        )
    if contents.cycle is None:
        click.echo("  cycle: none (no open cycle includes today; give --cycle ID to carry one)")
    else:
        cycle = contents.cycle
        click.echo(f"  cycle: {cycle.cycle_id} ({cycle.start} to {cycle.end})")
    if made.left_out_centres:
        click.echo(f"  the cycle's retired centres left out: {', '.join(made.left_out_centres)}")
    if contents.settings:
        click.echo("  settings: " + ", ".join(f"{name}={value}" for name, value in contents.settings.items()))
    click.echo("On each kit: 'fieldkit pack apply --data KITDIR FILE', or the kit pulls it from 'hub serve'.")


@click.command("packs")
@HUB_DATA_OPTION
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a pack the hub made to this file again (the newest, or --version).")  # fmt: skip
@click.option("--version", type=click.IntRange(1), default=None, help="With --out: which pack.")
def packs(data_dir: Path, out: Path | None, version: int | None) -> None:
    """The packs this hub made, or (--out) one of them written to a file again."""
    if version is not None and out is None:
        raise FieldkitError("--version says which pack to write: give --out FILE too")
    with HubStore(data_dir) as store:
        if out is not None:
            found = stored_pack(store, version)
            if found is None:
                raise FieldkitError("no such pack ('fieldkit hub packs' lists them)" if version else "no pack yet")
            write_atomic(out, found[1], mode=0o644)
            click.echo(f"Wrote pack {found[0].version} to {out}.")
            return
        made = stored_packs(store)
    if not made:
        click.echo("No pack yet ('fieldkit hub pack').")
    for row in made:
        click.echo(f"pack {row.version}  made {row.made}  sha256 {row.sha256[:16]}...  {row.summary}")
