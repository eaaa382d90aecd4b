"""``fieldkit serve``: unlock a kit and serve interviews to phones on the local network."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from fieldkit.cli.conflicts import refuse_together
from fieldkit.cli.kit import DATA_OPTION, open_unlocked, report_unlock
from fieldkit.cli.options import translations_option
from fieldkit.cli.passphrase import PASSPHRASE_FILE_OPTION
from fieldkit.core import paths
from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.archive import load_archive_for_serving
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.formengine.model import Form
from fieldkit.core.hardening import forbid_core_dumps
from fieldkit.core.memory import limit_malloc_arenas
from fieldkit.core.storage.locks import in_use
from fieldkit.kit.config import UnlockedKit, load_config, unlock
from fieldkit.kit.hub_list import RefusedHub
from fieldkit.kit.mdns import DEFAULT_MDNS_NAME, MdnsNameError, host_label
from fieldkit.kit.operator_password import VerifierRefused, load_verifier
from fieldkit.kit.outbox import SyncState
from fieldkit.kit.packs import (
    PackSummary,
    forms_needed_by_drafts,
    kept_packs,
    load_programme,
    missing_forms,
    pack_translations,
    prune_for_drafts,
    serving_summary,
)  # fmt: skip
from fieldkit.kit.programme import Programme
from fieldkit.kit.serving import (
    DEFAULT_OPERATOR_PORT,
    DEFAULT_PORT,
    OperatorListener,
    bind_listeners,
    serve_bound,
    serve_kit,
    start_kit,
)  # fmt: skip
from fieldkit.kit.tls import ensure_identity
from fieldkit.kit.web.app import DEFAULT_INTERVIEWER_CODES, WebSettings
from fieldkit.kit.web.locked import create_locked_app
from fieldkit.kit.web.operator_access import Attempts, OperatorAccess

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
MDNS_NAME_OPTION = click.option(
    "--mdns-name",
    default=None,
    metavar="NAME",
    help=f"Announce the kit on the local network as NAME.local by mDNS (default: {DEFAULT_MDNS_NAME}).",
)
NO_MDNS_OPTION = click.option("--no-mdns", is_flag=True, help="Do not announce the kit by mDNS.")


def mdns_label(mdns_name: str | None, no_mdns: bool) -> str | None:
    """The mDNS host label ``serve`` announces (None: none), from ``--mdns-name`` and ``--no-mdns``."""
    if no_mdns:
        if mdns_name is not None:
            raise click.UsageError("--mdns-name and --no-mdns contradict each other: give one of them")
        return None
    try:
        return host_label(mdns_name if mdns_name is not None else DEFAULT_MDNS_NAME)
    except MdnsNameError as error:
        raise click.BadParameter(str(error), param_hint="--mdns-name") from None


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
@click.option(
    "--operator-port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_OPERATOR_PORT,
    show_default=True,
    help="HTTPS port of the operator's pages from a phone (0 picks a free one).",
)
@PASSPHRASE_FILE_OPTION
@click.option(
    "--wait-for-unlock",
    is_flag=True,
    help="Start locked (as a service, with no terminal): serve only an unlock page over HTTPS until the operator "
    "unlocks the kit from a phone.",
)
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
@MDNS_NAME_OPTION
@NO_MDNS_OPTION
@click.option(
    "--attempt-window",
    type=click.FloatRange(min=0.1, max=3600),
    default=60.0,
    hidden=True,  # tests shorten the window of the unlock and login throttles
)
@refuse_together(("wait_for_unlock", "passphrase_file"))
def serve(
    data_dir: Path,
    host: str,
    port: int,
    operator_port: int,
    passphrase_file: Path | None,
    wait_for_unlock: bool,
    forms_dir: Path | None,
    translations_dir: Path | None,
    interviewer_codes: str | None,
    allow_incomplete_translations: bool,
    idle_minutes: float,
    attempt_window: float,
    mdns_name: str | None,
    no_mdns: bool,
) -> None:
    """Unlock the kit and serve the interview to phones (waitress), and the operator's pages over HTTPS.

    Prints every address phones can use, a one-time pairing code and its QR
    code, and the fingerprint of the kit's certificate, which the operator checks
    in the phone's browser before logging in. Stop with Ctrl+C: the draft key
    leaves memory with the process.

    With --wait-for-unlock (for a service with no terminal) the kit starts locked:
    phones are told so, and the operator unlocks it with the kit passphrase on the
    HTTPS unlock page.

    A form file or a language catalogue with errors is left out and named in
    the output and on the operator page; the kit serves the rest.

    On a network, the kit announces itself by mDNS as fieldkit.local (or
    --mdns-name), so phones can open http://fieldkit.local:PORT/.
    """
    announced_as = mdns_label(mdns_name, no_mdns)  # a bad option changes nothing
    forbid_core_dumps()  # before the passphrase and the keys are in memory
    limit_malloc_arenas()  # before waitress starts its threads (docs/performance.md)
    settings = WebSettings(
        interviewer_codes=_codes(interviewer_codes),
        allow_incomplete_translations=allow_incomplete_translations,
        idle_minutes=idle_minutes,
        translations_dir=translations_dir or paths.translations_dir(),
    )
    ctx = click.get_current_context()
    config = load_config(data_dir)  # a missing kit is reported before anything else
    # Held while serving: 'fieldkit passphrase' refuses to replace the keys meanwhile.
    ctx.with_resource(in_use(data_dir))
    identity, made = ensure_identity(data_dir, config.kit_id)
    if made:
        click.echo(f"Made this kit's TLS certificate for the operator's pages; write its fingerprint on the kit's "
                   f"card:\n  {identity.fingerprint}")  # fmt: skip
    access = OperatorAccess(logins=Attempts(attempt_window), unlocks=Attempts(attempt_window))
    operator = OperatorListener(operator_port, identity, access)
    if wait_for_unlock:
        _serve_locked(data_dir, config.kit_id, settings, host, port, operator, forms_dir, ctx, announced_as)
        return
    if passphrase_file is None and not (sys.stdin is not None and sys.stdin.isatty()):
        raise FieldkitError(
            "a passphrase is needed and there is no terminal to ask on: use --passphrase-file FILE, or "
            "--wait-for-unlock to start locked and unlock from the operator's phone"
        )
    kit = open_unlocked(data_dir, passphrase_file)
    ready = _ready_to_serve(kit, settings, forms_dir, ctx, click.echo)
    _load_operator_password(kit, access)
    serve_kit(kit, *ready.args, host=host, port=port, **ready.kwargs, operator=operator, mdns_name=announced_as)


@dataclasses.dataclass(frozen=True)
class _Ready:
    """What ``serve_kit``/``start_kit`` need after the unlock, found the same way on both paths."""

    programme: Programme
    settings: WebSettings
    broken_forms: dict[str, Sequence[object]]
    pack: PackSummary | None
    shipped: tuple[Form, ...]
    refused_hubs: Sequence[RefusedHub]

    @property
    def args(self) -> tuple[Programme, WebSettings]:
        return self.programme, self.settings

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"broken_forms": self.broken_forms, "pack": self.pack, "shipped": self.shipped,
                "refused_hubs": self.refused_hubs}  # fmt: skip


def _ready_to_serve(
    kit: UnlockedKit, settings: WebSettings, forms_dir: Path | None, ctx: click.Context, echo: Callable[[str], None]
) -> _Ready:
    """Everything ``serve`` does after the unlock and before serving: the forms, packs and settings."""
    data_dir = kit.data_dir
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
        echo(
            f"  NOT AVAILABLE: form {form_id} version {version}, which unfinished drafts were started "
            "under: no kept pack, shipped form or archived version has it, so they cannot be finished"
        )
    given = pack_settings(settings, programme.settings, ctx)
    if given != settings:
        changed = ", ".join(f"{name} {value}" for name, value in sorted(programme.settings.items())
                            if getattr(given, name) != getattr(settings, name))  # fmt: skip
        echo(f"  settings from the form pack: {changed}")
    settings = given
    if programme.pack_version is not None:
        settings = dataclasses.replace(
            settings, translations_dir=pack_translations(data_dir, programme, settings.translations_dir, kept)
        )
    return _Ready(programme, settings, dict(broken_forms), serving_summary(data_dir, kept),
                  (*forms.values(), *archived), refused_hubs)  # fmt: skip


def _load_operator_password(kit: UnlockedKit, access: OperatorAccess) -> None:
    """The operator password, when it is set and signed by this kit; else the network login stays off."""
    try:
        access.verifier = load_verifier(kit.config)
    except VerifierRefused as error:
        access.verifier, access.problem = None, str(error)


def _serve_locked(
    data_dir: Path,
    kit_id: str,
    settings: WebSettings,
    host: str,
    port: int,
    operator: OperatorListener,
    forms_dir: Path | None,
    ctx: click.Context,
    mdns_name: str | None,
) -> None:
    """Serve the unlock page until the operator unlocks the kit, then the kit, on the same listeners."""
    bound = bind_listeners(host, port, operator, mdns_name)
    cleanup: list[Callable[[], None]] = []

    def unlock_and_serve(passphrase: str) -> None:
        kit = unlock(data_dir, passphrase)
        click.echo(f"kit {kit_id} was unlocked from the operator's page")
        report_unlock(kit)
        ready = _ready_to_serve(kit, settings, forms_dir, ctx, click.echo)
        _load_operator_password(kit, operator.access)
        app, stop_worker = start_kit(kit, *ready.args, bound=bound, operator=operator, **ready.kwargs)
        if stop_worker is not None:
            cleanup.append(stop_worker)
        bound.server.switch(app)

    locked = create_locked_app(
        settings, data_dir=data_dir, kit_id=kit_id, operator=operator.access, unlock=unlock_and_serve, urls=bound.urls
    )
    click.echo(f"fieldkit kit {kit_id} is locked: phones are told so until the operator unlocks it")
    for url in bound.urls:
        click.echo(f"  phones, once unlocked: {url}")
    for url in bound.operator_urls:
        click.echo(f"  unlock from the operator's phone: {url}operator/unlock")
    click.echo(f"  operator certificate SHA-256 fingerprint: {operator.identity.fingerprint}")
    serve_bound(bound, locked, kit_id=kit_id, echo=click.echo, cleanup=cleanup)


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
