"""Running the hub's web app with waitress, and telling the operator where it listens.

``fieldkit hub serve`` parses its options, opens the store, makes sure an operator
password is set, and calls :func:`serve_hub`; everything from building the app to the
"stopped" line happens here, so the hub starts and stops like the kit
(``fieldkit.webbase.server``).
"""

from __future__ import annotations

from collections.abc import Callable

from fieldkit.webbase.server import ServerOptions, bind
from sync.hub.reports.web import reports_pages
from sync.hub.store import HubStore
from sync.hub.web import HubSettings, create_hub_app

__all__ = ["DEFAULT_HUB_PORT", "serve_hub", "server_options"]

DEFAULT_HUB_PORT = 8090
_ENVELOPE_BYTES = 1024 * 1024  # the HTTP request around the largest bundle


def server_options(store: HubStore) -> ServerOptions:
    """The hub's waitress options, all of them.

    6 threads: its callers are a few kits and hubs and an operator, fewer than a kit's
    phones; 100 connections (waitress's default, said here) is plenty for them. Idle
    connections close after 120 s: a kit on a slow link may pause between the parts of
    a large bundle. Waitress refuses a body larger than the store's largest bundle (plus
    the request around it) before the app reads any of it; a bundle that large is
    buffered in a temporary file, which holds only sealed records, never answers.
    16 connections per address may wait for a request (a kit pushes on one or two); a
    request must arrive in full within 120 s, as long as the idle timeout, so a large
    bundle over a slow link still fits while a client that drips bytes is closed.
    """
    return ServerOptions(
        threads=6,
        ident="fieldkit-hub",
        connection_limit=100,
        channel_timeout=120,
        max_request_body_size=store.limits.max_bundle_bytes + _ENVELOPE_BYTES,
        per_address=16,
        request_seconds=120.0,
    )


def _url(host: str, port: int) -> str:
    return f"http://{host if ':' not in host else f'[{host}]'}:{port}"


def serve_hub(store: HubStore, settings: HubSettings, *, host: str, port: int, echo: Callable[[str], None]) -> None:
    """Serve the hub over the open ``store`` until SIGINT or SIGTERM; the caller closes the store.

    The operator pages include the reports (files 'fieldkit hub report' left in the hub folder).
    """
    server = bind(host, port, server_options(store))
    app = create_hub_app(settings, store, pages=[reports_pages()])
    url = _url(host, server.port)
    echo(f"fieldkit hub {store.config.hub_id} is serving")
    echo(f"  kits push to: {url}")
    echo(f"  operator pages: {url}/operator/")
    server.serve(app, echo=echo, stopped="stopped")
