"""Running the kit's web app with waitress, and telling the operator where phones connect."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import click

from fieldkit.core.formengine.model import Form
from fieldkit.core.memory import trim_heap
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.hub_list import RefusedHub
from fieldkit.kit.netinfo import urls_for
from fieldkit.kit.packs import AppliedPack, PackSummary, summary
from fieldkit.kit.programme import Programme
from fieldkit.kit.pushworker import start_push_worker
from fieldkit.kit.settings_seal import recipient_lines
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.kit.web.qr import pairing_url, terminal_qr
from fieldkit.webbase.server import ServerOptions, bind

DEFAULT_PORT = 8080
# The kit's waitress options, all of them (docs/deployment.md says why each):
# - 8 threads for the phones of one site (docs/performance.md measures with these);
# - 400 connections: a phone's browser keeps a few keep-alive connections open, so
#   100 phones can hold 300 and more; waitress's default of 100 made late phones wait
#   in the backlog until their pairing timed out;
# - idle connections closed after 60 s, which frees them while a person reads or answers;
#   the phone's next tap opens a new one (one round trip);
# - bodies refused by waitress above 320 KiB: a little over the app's own limit
#   (WebSettings.max_request_bytes, 256 KiB), so an over-long form still gets the app's
#   translated page, and below waitress's in-memory buffer, so no body ever goes to disk;
# - 16 connections per address waiting for a request (a phone's browser opens about 6),
#   and 20 s for a request to arrive in full (a 256 KiB page over weak Wi-Fi takes a few):
#   slow clients cannot hold every connection (fieldkit/webbase/guard.py).
SERVER_OPTIONS = ServerOptions(
    threads=8,
    ident="fieldkit",
    connection_limit=400,
    channel_timeout=60,
    max_request_body_size=320 * 1024,
    per_address=16,
    request_seconds=20.0,
)

_SHOWN_PROBLEMS = 5


def _echo_unavailable(
    languages: Mapping[str, Sequence[object]], forms: Mapping[str, Sequence[object]], echo: Callable[[str], None]
) -> None:
    for kind, name, problems in [
        *(("language", language, found) for language, found in sorted(languages.items())),
        *(("form", file, found) for file, found in sorted(forms.items())),
    ]:
        hint = "fieldkit translations check" if kind == "language" else "fieldkit forms check"
        echo(f"  NOT AVAILABLE: {kind} {name}, {len(problems)} problem(s); '{hint}' lists them:")
        for problem in list(problems)[:_SHOWN_PROBLEMS]:
            echo(f"    {problem}")
        if len(problems) > _SHOWN_PROBLEMS:
            echo(f"    ... and {len(problems) - _SHOWN_PROBLEMS} more")


def serve_kit(
    kit: UnlockedKit,
    programme: Programme,
    settings: WebSettings,
    *,
    host: str,
    port: int,
    broken_forms: Mapping[str, Sequence[object]] | None = None,
    echo: Callable[[str], None] = click.echo,
    pack: PackSummary | None = None,
    shipped: Sequence[Form] = (),
    refused_hubs: Sequence[RefusedHub] = (),
) -> None:
    """Serve until interrupted; prints every address, the pairing code and its QR code.

    Also prints every form file and language that is not offered, with why: one
    broken catalogue or form must never stop the kit, nor pass unnoticed; and every
    hub entry of ``sync.json`` the kit's signature does not cover (``refused_hubs``),
    whose packs are not used.
    """
    # Bind first, so the app can be told the real port (``--port 0`` picks one).
    server = bind(host, port, SERVER_OPTIONS)
    urls = tuple(urls_for(host, server.port))
    app = create_app(dataclasses.replace(settings, urls=urls), kit, programme, broken_forms)
    current = programme.current_forms()  # not the older versions kept for drafts
    pairing = app.extensions["fieldkit"].pairing
    # The operator page shows the pack served, and a newer one the push worker applied:
    # the running kit keeps its programme (drafts and pages agree on it) until a restart.
    app.config["FIELDKIT_PACK"] = pack
    app.config["FIELDKIT_PACK_WAITING"] = None
    app.config["FIELDKIT_REFUSED_HUBS"] = tuple(
        {"hub_id": hub.hub_id, "fingerprint": hub.fingerprint} for hub in refused_hubs
    )

    def pack_arrived(applied: AppliedPack) -> None:
        app.config["FIELDKIT_PACK_WAITING"] = summary(applied)
        echo(f"  form pack {applied.version} from hub {applied.hub_id} applied; restart 'fieldkit serve' to use it")

    phone_url = next((url for url in urls if not url.startswith("http://127.")), urls[0])
    echo(f"fieldkit kit {kit.config.kit_id} is serving {len(current)} forms")
    if pack is not None:
        echo(f"  form pack {pack.version} from hub {pack.hub_id} (made {pack.made})")
    for hub in refused_hubs:
        echo(f"  REFUSED: {hub.line()}")
    if refused_hubs and pack is None:
        echo("  serving the forms installed with fieldkit (no form pack from a trusted hub)")
    # At every start, so an added or swapped key is seen by the person at the kit.
    for line in recipient_lines(kit.config.recipients, kit.config.roles):
        echo(f"  records are sealed to {line}")
    _echo_unavailable(app.config["FIELDKIT_LANGUAGES"].unavailable, broken_forms or {}, echo)
    for url in urls:
        echo(f"  phones: {url}")
    echo(f"  operator page (this computer only): http://127.0.0.1:{server.port}/operator/")
    minutes = settings.pairing_code_minutes
    echo(f"  pairing code: {pairing.code}  (single use, for {minutes} minutes; the operator page shows the next one)")
    echo(terminal_qr(pairing_url(phone_url, pairing.code)))
    # Only when a hub's URL is known; never blocks requests.
    trim_heap()  # what the unlock, the form files and the app's set-up freed
    worker = start_push_worker(kit, echo, shipped=shipped or tuple(current.values()), on_pack=pack_arrived)
    server.serve(
        app,
        echo=echo,
        cleanup=[worker.stop] if worker is not None else [],
        stopped="stopped; the draft key is gone from memory",
    )
