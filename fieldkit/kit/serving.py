"""Running the kit's web app with waitress, and telling the operator where phones connect."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
from waitress import create_server  # type: ignore[attr-defined]  # waitress exports it here; types-waitress omits it

from fieldkit.core.errors import FieldkitError
from fieldkit.core.formengine.model import Form
from fieldkit.kit.config import UnlockedKit
from fieldkit.kit.netinfo import urls_for
from fieldkit.kit.pushworker import start_push_worker
from fieldkit.kit.web.app import WebSettings, create_app
from fieldkit.kit.web.qr import pairing_url, terminal_qr

DEFAULT_PORT = 8080


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class _LateApp:
    """A WSGI callable whose Flask app is set once the socket is bound."""

    app: Callable[..., Any] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None
        return self.app(environ, start_response)


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
    forms: Mapping[str, Form],
    settings: WebSettings,
    *,
    host: str,
    port: int,
    broken_forms: Mapping[str, Sequence[object]] | None = None,
    echo: Callable[[str], None] = click.echo,
) -> None:
    """Serve until interrupted; prints every address, the pairing code and its QR code.

    Also prints every form file and language that is not offered, with why: one
    broken catalogue or form must never stop the kit, nor pass unnoticed.
    """
    # Bind first, so the app can be told the real port (``--port 0`` picks one).
    late = _LateApp()
    try:
        server = create_server(late, host=host, port=port, threads=8, ident="fieldkit")
    except OSError as error:
        raise FieldkitError(f"cannot listen on {host}:{port}: {error.strerror or error}; try another --port") from None
    bound_port = server.effective_port
    urls = tuple(urls_for(host, bound_port))
    app = late.app = create_app(dataclasses.replace(settings, urls=urls), kit, forms, broken_forms)
    pairing = app.extensions["fieldkit"].pairing
    phone_url = next((url for url in urls if not url.startswith("http://127.")), urls[0])
    echo(f"fieldkit kit {kit.config.kit_id} is serving {len(forms)} forms")
    _echo_unavailable(app.config["FIELDKIT_LANGUAGES"].unavailable, broken_forms or {}, echo)
    for url in urls:
        echo(f"  phones: {url}")
    echo(f"  operator page (this computer only): http://127.0.0.1:{bound_port}/operator/")
    echo(f"  pairing code: {pairing.code}  (single use; the operator page shows the next one)")
    echo(terminal_qr(pairing_url(phone_url, pairing.code)))
    worker = start_push_worker(kit, echo)  # only when a hub's URL is known; never blocks requests
    # Ctrl+C, a service manager's SIGTERM and a SIGINT sent to a background process
    # (which a shell may have set to be ignored) all stop the server the same way.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stop)
    try:
        echo("ready")
        server.run()  # returns when stopped: waitress handles the KeyboardInterrupt itself
    except KeyboardInterrupt:
        pass
    finally:
        if worker is not None:
            worker.stop()
        server.close()
    echo("stopped; the draft key is gone from memory")
