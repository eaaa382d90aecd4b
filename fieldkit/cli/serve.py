"""``fieldkit serve``: unlock a kit and serve interviews to phones on the local network."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from fieldkit.cli.kit import DATA_OPTION, open_unlocked
from fieldkit.cli.options import translations_option
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION
from fieldkit.core import paths
from fieldkit.core.formengine.archive import load_archive_for_serving
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.hardening import forbid_core_dumps
from fieldkit.core.memory import limit_malloc_arenas
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.packs import (
    forms_needed_by_drafts,
    kept_packs,
    load_programme,
    missing_forms,
    pack_translations,
    prune_for_drafts,
    serving_summary,
)  # fmt: skip
from fieldkit.kit.serving import DEFAULT_PORT, serve_kit
from fieldkit.kit.web.app import DEFAULT_INTERVIEWER_CODES, WebSettings

ALL_INTERFACES = "0.0.0.0"  # noqa: S104  # nosec B104 - phones on the local network must reach the kit
HOST_OPTION = click.option(
    "--host", default=ALL_INTERFACES, show_default=True, help="Address to listen on (0.0.0.0: every network)."
)
PORT_OPTION = click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True, help="Port (0 picks a free one)."
)
FORMS_DIR_OPTION = click.option(
    "--forms",
    "forms_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of form definitions to serve (default: the shipped forms).",
)
TRANSLATIONS_DIR_OPTION = translations_option("Folder of the gettext catalogues (default: the shipped translations).")


def _codes(text: str | None) -> tuple[str, ...]:
    if not text:
        return DEFAULT_INTERVIEWER_CODES
    codes = tuple(code.strip() for code in text.split(",") if code.strip())
    if not codes or any(not code.isalnum() or len(code) > 12 for code in codes):
        raise click.BadParameter(
            "give codes like P01,P02: letters and digits, at most 12 each", param_hint="--interviewer-codes"
        )
    return codes


@click.command("serve")
@DATA_OPTION
@HOST_OPTION
@PORT_OPTION
@PASSPHRASE_FILE_OPTION
@FORMS_DIR_OPTION
@TRANSLATIONS_DIR_OPTION
@click.option(
    "--interviewer-codes", default=None, help="Comma-separated codes interviewers choose from (default P01-P20)."
)
@click.option(
    "--allow-incomplete-translations",
    is_flag=True,
    help="Pilot mode: offer forms in languages whose translation is incomplete; records say so.",
)
@click.option(
    "--idle-minutes",
    type=click.FloatRange(min=0.01, max=24 * 60),
    default=30.0,
    show_default=True,
    help="End a phone's session after this many minutes without a request (a quick exit with no link cannot say so).",
)
def serve(
    data_dir: Path,
    host: str,
    port: int,
    passphrase_file: Path | None,
    forms_dir: Path | None,
    translations_dir: Path | None,
    interviewer_codes: str | None,
    allow_incomplete_translations: bool,
    idle_minutes: float,
) -> None:
    """Unlock the kit and serve the interview to phones (waitress).

    Prints every address phones can use, a one-time pairing code and its QR
    code. Stop with Ctrl+C: the draft key leaves memory with the process.

    A form file or a language catalogue with errors is left out and named in
    the output and on the operator page; the kit serves the rest.
    """
    forbid_core_dumps()  # before the passphrase and the keys are in memory
    limit_malloc_arenas()  # before waitress starts its threads (docs/performance.md)
    settings = WebSettings(
        interviewer_codes=_codes(interviewer_codes),
        allow_incomplete_translations=allow_incomplete_translations,
        idle_minutes=idle_minutes,
        translations_dir=translations_dir or paths.translations_dir(),
    )
    kit = open_unlocked(data_dir, passphrase_file)
    # Checked after the unlock checked kit.json (and its public key) against the seal.
    refused_hubs = SyncState(data_dir).hub_trust(kit.config).refused
    forms_folder = forms_dir or paths.forms_dir()
    forms, broken_forms = load_serving_forms(forms_folder)
    # Older published versions, so that drafts started under them can be finished.
    archived, broken_archive = load_archive_for_serving(forms_folder)
    broken_forms.update(broken_archive)
    prune_for_drafts(kit)  # older packs no unfinished interview needs any more
    kept = kept_packs(data_dir)  # read and verified once, for the programme, its wording and the summary
    programme = load_programme(data_dir, forms, archived, kept)
    for form_id, version in missing_forms(programme, forms_needed_by_drafts(kit) or ()):
        click.echo(
            f"  NOT AVAILABLE: form {form_id} version {version}, which unfinished drafts were started "
            "under: no kept pack, shipped form or archived version has it, so they cannot be finished"
        )
    given = pack_settings(settings, programme.settings, click.get_current_context())
    if given != settings:
        changed = ", ".join(f"{name} {value}" for name, value in sorted(programme.settings.items())
                            if getattr(given, name) != getattr(settings, name))  # fmt: skip
        click.echo(f"  settings from the form pack: {changed}")
    settings = given
    if programme.pack_version is not None:
        settings = dataclasses.replace(
            settings, translations_dir=pack_translations(data_dir, programme, settings.translations_dir, kept)
        )
    serve_kit(
        kit, programme, settings, host=host, port=port, broken_forms=broken_forms,
        pack=serving_summary(data_dir, kept), shipped=(*forms.values(), *archived), refused_hubs=refused_hubs,
    )  # fmt: skip


# Pack settings and the WebSettings field each sets; the option of the same name, when
# given on the command line, wins over the pack.
_PACK_SETTINGS = {"idle_minutes": "idle_minutes", "discard_minutes": "discard_minutes",
                  "pairing_code_minutes": "pairing_code_minutes"}  # fmt: skip


def pack_settings(settings: WebSettings, from_pack: Mapping[str, object], ctx: click.Context) -> WebSettings:
    """``settings`` with the pack's kit settings, except those given on the command line."""
    changes: dict[str, Any] = {}
    for name, value in from_pack.items():
        field_name = _PACK_SETTINGS.get(name)
        if field_name is None:
            continue
        source = ctx.get_parameter_source(name) if name in ctx.params else None
        if source is ParameterSource.COMMANDLINE:
            continue
        changes[field_name] = float(value) if field_name == "idle_minutes" else value  # type: ignore[arg-type]
    return dataclasses.replace(settings, **changes) if changes else settings
