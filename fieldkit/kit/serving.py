"""Running the kit's web app with waitress (phones) and cheroot over TLS (the operator), and saying where."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import click
from flask import Flask

from fieldkit.core.formengine.model import Form
from fieldkit.core.memory import trim_heap
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.hub_list import RefusedHub
from fieldkit.kit.mdns import DEFAULT_MDNS_NAME, Plan, plan, start_announcer, with_mdns_url
from fieldkit.kit.netinfo import urls_for
from fieldkit.kit.packs import AppliedPack, PackSummary, summary
from fieldkit.kit.programme import Programme
from fieldkit.kit.pushworker import start_push_worker
from fieldkit.kit.settings_seal import recipient_lines
from fieldkit.kit.tls import TlsIdentity
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.kit.web.operator_access import OperatorAccess
from fieldkit.kit.web.qr import pairing_url, terminal_qr
from fieldkit.webbase.server import BoundServer, ServerOptions, WSGIApp, bind
from fieldkit.webbase.tls_server import TlsListener, TlsOptions, bind_tls

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

DEFAULT_OPERATOR_PORT = 8443
# The operator's TLS listener (cheroot): one operator, so 4 threads; a connection silent for
# 10 s is closed; 16 accepted connections may wait for a thread; bodies above 64 KiB are
# refused (a login or an unlock sends a few hundred bytes).
TLS_OPTIONS = TlsOptions(threads=4, timeout=10.0, queue=16, max_request_body_size=64 * 1024)

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


@dataclass(frozen=True)
class OperatorListener:
    """The operator's TLS listener: its port (0: any free one), the kit's TLS identity, the login state."""

    port: int
    identity: TlsIdentity
    access: OperatorAccess


@dataclass(frozen=True)
class Bound:
    """Both listeners bound, not yet serving, and the addresses they answer on."""

    server: BoundServer
    tls: TlsListener | None
    urls: tuple[str, ...]
    operator_urls: tuple[str, ...]
    announced: Plan | None = None  # what mDNS will announce once serving (None: nothing)

    def close(self) -> None:
        """Close both listeners of a kit that will not serve (and end their threads)."""
        try:
            if self.tls is not None:
                self.tls.stop()
        finally:
            self.server.close()


def bind_listeners(
    host: str, port: int, operator: OperatorListener | None, mdns_name: str | None = DEFAULT_MDNS_NAME
) -> Bound:
    """Bind the phones' port and (with ``operator``) the operator's TLS port to one switchable app.

    ``mdns_name``: the kit is announced as that name.local once serving (None: not at all),
    and its addresses are among those printed and trusted.
    """
    # Bind first, so the app can be told the real port (``--port 0`` picks one).
    server = bind(host, port, SERVER_OPTIONS)
    announced = plan(mdns_name, host, server.port)
    urls = with_mdns_url(urls_for(host, server.port), announced)
    if operator is None:
        return Bound(server, None, urls, (), announced)
    try:
        tls = bind_tls(
            server.wsgi,
            host,
            operator.port,
            cert=operator.identity.cert_path,
            key=operator.identity.key_path,
            options=TLS_OPTIONS,
        )
    except BaseException:
        server.close()
        raise
    operator_urls = tuple(url.replace("http://", "https://", 1).replace(f":{server.port}/", f":{tls.port}/")
                          for url in urls)  # fmt: skip
    operator.access.https_urls = operator_urls
    operator.access.fingerprint = operator.identity.fingerprint
    return Bound(server, tls, urls, operator_urls, announced)


def start_kit(
    kit: UnlockedKit,
    programme: Programme,
    settings: WebSettings,
    *,
    bound: Bound,
    operator: OperatorListener | None,
    broken_forms: Mapping[str, Sequence[object]] | None = None,
    echo: Callable[[str], None] = click.echo,
    pack: PackSummary | None = None,
    shipped: Sequence[Form] = (),
    refused_hubs: Sequence[RefusedHub] = (),
) -> tuple[Flask, Callable[[], None] | None]:
    """Build the kit's app for the bound listeners, print what the operator needs, start the push worker.

    Returns the app and what stops the push worker (None: no worker). Prints every form
    file and language that is not offered, with why: one broken catalogue or form must
    never stop the kit, nor pass unnoticed; and every hub entry of ``sync.json`` the
    kit's signature does not cover (``refused_hubs``), whose packs are not used.
    """
    urls = bound.urls
    hosts = (*urls, *bound.operator_urls)
    app = create_app(
        dataclasses.replace(settings, urls=urls, trusted_urls=hosts), kit, programme, broken_forms,
        operator=operator.access if operator is not None else None,
    )  # fmt: skip
    current = programme.current_forms()  # not the older versions kept for drafts
    pairing = app.extensions["fieldkit"].pairing
    # The operator page shows the pack served, and a newer one the push worker applied:
    # the running kit keeps its programme (drafts and pages agree on it) until a restart.
    app.config["FIELDKIT_PACK"] = pack
    app.config["FIELDKIT_PACK_WAITING"] = None
    # "Stop the kit" on the operator page: the same stop as Ctrl+C, after its page is sent.
    app.config["FIELDKIT_STOP"] = bound.server.request_stop
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
    sealed_to = app.extensions["fieldkit"].finaliser.recipients
    for line in recipient_lines(sealed_to, kit.config.roles):
        echo(f"  records are sealed to {line}")
    if sealed_to[0] != kit.config.hub_recipient:
        echo(
            f"  the hub's key above comes from form pack {programme.pack_version} of hub {programme.hub_id}: "
            f"the hub rotated its key (kit.json names {kit.config.hub_recipient}); records sealed before stay "
            "as they are"
        )
    _echo_unavailable(app.config["FIELDKIT_LANGUAGES"].unavailable, broken_forms or {}, echo)
    for url in urls:
        echo(f"  phones: {url}")
    echo(f"  operator page (this computer only): http://127.0.0.1:{bound.server.port}/operator/")
    if operator is not None:
        echo_operator(bound, operator, echo)
    minutes = settings.pairing_code_minutes
    echo(f"  pairing code: {pairing.code}  (single use, for {minutes} minutes; the operator page shows the next one)")
    echo(terminal_qr(pairing_url(phone_url, pairing.code)))
    # Only when a hub's URL is known; never blocks requests.
    trim_heap()  # what the unlock, the form files and the app's set-up freed
    worker = start_push_worker(kit, echo, shipped=shipped or tuple(current.values()), on_pack=pack_arrived)
    return app, worker.stop if worker is not None else None


def echo_operator(bound: Bound, operator: OperatorListener, echo: Callable[[str], None]) -> None:
    """Print where the operator logs in from a phone, and the certificate fingerprint to check."""
    for url in bound.operator_urls:
        echo(f"  operator from a phone: {url}operator/")
    echo(f"  operator certificate SHA-256 fingerprint: {operator.identity.fingerprint}")
    if operator.access.problem is not None:
        echo(f"  OPERATOR LOGIN OFF: {operator.access.problem}")
    elif operator.access.verifier is None:
        echo(
            "  operator login from the network is off: no operator password; set one with 'fieldkit operator password'"
        )


def serve_bound(
    bound: Bound, app: WSGIApp, *, kit_id: str, echo: Callable[[str], None], cleanup: list[Callable[[], None]]
) -> None:
    """Serve on both listeners and announce the kit until interrupted; then stop them and run ``cleanup``.

    Announced from the start, locked or not: the operator's phone finds a locked kit by
    its name too.
    """
    if bound.tls is not None:
        bound.tls.start()
        cleanup.insert(0, bound.tls.stop)
    announcer = start_announcer(bound.announced, kit_id, echo)
    if announcer is not None:
        cleanup.insert(0, announcer.stop)
    bound.server.serve(app, echo=echo, cleanup=cleanup, stopped="stopped; the draft key is gone from memory")


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
    operator: OperatorListener | None = None,
    mdns_name: str | None = DEFAULT_MDNS_NAME,
) -> None:
    """Serve until interrupted; prints every address, the pairing code and its QR code (see :func:`start_kit`).

    Announces the kit as ``mdns_name``.local (None: not at all).
    """
    bound = bind_listeners(host, port, operator, mdns_name)
    try:
        app, stop_worker = start_kit(
            kit, programme, settings, bound=bound, operator=operator, broken_forms=broken_forms, echo=echo,
            pack=pack, shipped=shipped, refused_hubs=refused_hubs,
        )  # fmt: skip
    except BaseException:
        bound.close()  # a start that failed after binding must still exit
        raise
    serve_bound(bound, app, kit_id=kit.config.kit_id, echo=echo, cleanup=[stop_worker] if stop_worker else [])
