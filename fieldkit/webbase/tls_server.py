"""A second listener, over TLS, for the operator's pages: cheroot in a thread beside waitress.

Waitress has no TLS, so the operator's listener is cheroot's (CherryPy's WSGI server),
with the standard library's ``ssl`` through ``cheroot.ssl.builtin.BuiltinSSLAdapter``.
The same WSGI app answers both listeners; a request that came over this one has
``wsgi.url_scheme`` ``https``, which is how the app tells them apart. Its threads are
few and bounded, and a connection that sends nothing for ``timeout`` seconds is closed,
so a slow client cannot hold it: the listener is for one operator, not for the phones.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cheroot.ssl.builtin import BuiltinSSLAdapter
from cheroot.wsgi import Server

from fieldkit.core.errors import FieldkitError

__all__ = ["TlsListener", "TlsOptions", "bind_tls"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


@dataclass(frozen=True)
class TlsOptions:
    """``threads``: requests answered at once; ``timeout``: seconds a silent connection is kept;
    ``queue``: accepted connections waiting for a thread (beyond it, new ones wait in the backlog);
    ``max_request_body_size``: larger bodies are refused with 413 before the app runs."""

    threads: int = 4
    timeout: float = 10.0
    queue: int = 16
    max_request_body_size: int = 64 * 1024
    max_request_header_size: int = 16 * 1024


class TlsListener:
    """A bound TLS listener; :meth:`start` serves in a daemon thread, :meth:`stop` ends it."""

    def __init__(self, server: Server) -> None:
        self._server = server
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve, name="fieldkit-tls", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)


def bind_tls(app: WSGIApp, host: str, port: int, *, cert: Path, key: Path, options: TlsOptions) -> TlsListener:
    """Listen with TLS on ``host:port`` (0: any free port), not yet serving; FieldkitError when that fails."""
    try:
        adapter = BuiltinSSLAdapter(str(cert), str(key))
    except (OSError, ssl.SSLError) as error:
        raise FieldkitError(f"cannot use the TLS key and certificate ({error})") from None
    adapter.context.minimum_version = ssl.TLSVersion.TLSv1_2
    server = Server(
        (host, port),
        app,
        numthreads=options.threads,
        max=options.threads,
        timeout=int(max(1, options.timeout)),
        accepted_queue_size=options.queue,
        server_name="fieldkit",
    )
    server.ssl_adapter = adapter
    server.max_request_body_size = options.max_request_body_size
    server.max_request_header_size = options.max_request_header_size
    try:
        server.prepare()
    except OSError as error:
        raise FieldkitError(
            f"cannot listen on {host}:{port}: {error.strerror or error}; try another --operator-port"
        ) from None
    return TlsListener(server)
