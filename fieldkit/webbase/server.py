"""Binding, serving and stopping a waitress server, the same way for the kit and the hub.

The socket is bound before the app exists, so ``--port 0`` works and the app (the kit
shows its addresses to phones) can be built knowing the real port. Ctrl+C, a service
manager's SIGTERM and a SIGINT sent to a background process (which a shell may have set
to be ignored) all stop it the same way: waitress finishes what it is doing, the
caller's cleanup runs, and one "stopped" line is printed; the exit status is 0. The app
can ask for the same stop (the kit's "Stop the kit" button) with ``BoundServer.request_stop``:
the request that asked is answered first.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

from fieldkit.core.errors import FieldkitError
from fieldkit.webbase.guard import Guard, create_guarded_server

__all__ = ["WAITRESS_INBUF_OVERFLOW", "BoundServer", "ServerOptions", "WSGIApp", "bind"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


# waitress keeps a request body in memory up to this size (its default), and spills it to
# a temporary file beyond it; a limit below it means nothing sent to us touches the disk.
WAITRESS_INBUF_OVERFLOW = 512 * 1024

# After a stop is asked for, requests being answered get this long to be sent in full.
STOP_GRACE_SECONDS = 5.0


@dataclass(frozen=True)
class ServerOptions:
    """The waitress options one app sets, every one deliberately; each app states its own in one place.

    ``connection_limit``: open connections waitress serves at once; beyond it new ones
    wait in the listen backlog (waitress's default of 100 is less than 100 phones with
    keep-alive). ``channel_timeout``: seconds an idle connection is kept. Bodies over
    ``max_request_body_size`` are refused by waitress with 413 before the app runs.
    Sockets are watched with poll(), not select(), which stops at 1,024 descriptors.
    ``per_address``: connections one address may hold waiting for a request before its
    longest waiting one is closed; ``request_seconds``: time a request may take to
    arrive in full (see fieldkit/webbase/guard.py, which slow clients made necessary).
    """

    threads: int
    ident: str
    connection_limit: int
    channel_timeout: int
    max_request_body_size: int
    per_address: int = 16
    request_seconds: float = 20.0

    @property
    def guard(self) -> Guard:
        return Guard(per_address=self.per_address, request_seconds=self.request_seconds)

    def as_waitress(self) -> dict[str, Any]:
        return {
            "threads": self.threads,
            "ident": self.ident,
            "connection_limit": self.connection_limit,
            "channel_timeout": self.channel_timeout,
            "max_request_body_size": self.max_request_body_size,
            "asyncore_use_poll": True,
        }

    @property
    def bodies_stay_in_memory(self) -> bool:
        """True when waitress refuses a body before it would spill to a temporary file."""
        return self.max_request_body_size < WAITRESS_INBUF_OVERFLOW


class _LateApp:
    """A WSGI callable whose app is set once the socket is bound, and may be swapped later.

    A kit that boots locked serves its unlock page first and its real app once unlocked:
    each request reads the current app once, so a request is answered by one app.
    """

    app: WSGIApp | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "serve() sets the app before any request is read"
        return self.app(environ, start_response)


def _stop(signum: int, frame: FrameType | None) -> None:
    # waitress's loop ends on KeyboardInterrupt and lets running requests finish.
    raise KeyboardInterrupt


class BoundServer:
    """A waitress server listening on its socket, not yet serving."""

    def __init__(self, server: Any, late: _LateApp) -> None:
        self._server = server
        self._late = late
        self._stop_asked = threading.Event()
        self._stop_deadline = 0.0

    def request_stop(self) -> None:
        """Stop as SIGINT does, from any thread, once every request being answered has been sent.

        Safe to call from a view: its own response goes out before the server stops
        (within ``STOP_GRACE_SECONDS``). Does nothing before ``serve`` or if already asked.
        """
        if not self._stop_asked.is_set():
            self._stop_deadline = time.monotonic() + STOP_GRACE_SECONDS
            self._stop_asked.set()

    def _stop_due(self) -> bool:
        if not self._stop_asked.is_set():
            return False
        if time.monotonic() >= self._stop_deadline:
            return True
        return not any(c.requests or c.total_outbufs_len for c in self._channels())

    def _channels(self) -> list[Any]:
        """The connections being served (not the listening sockets nor waitress's trigger)."""
        return [c for c in self._map().values() if hasattr(c, "requests")]

    def _map(self) -> dict[int, Any]:
        found: dict[int, Any] = getattr(self._server, "map", None) or self._server._map
        return found

    def _run(self) -> None:
        """waitress's own ``run`` loop, which also ends when a stop was asked for and is due."""
        server = self._server
        adj = server.adj
        try:
            while self._map() and not self._stop_due():
                # A short turn while stopping, so the loop notices promptly.
                timeout = 0.05 if self._stop_asked.is_set() else adj.asyncore_loop_timeout
                server.asyncore.loop(timeout=timeout, map=self._map(), use_poll=adj.asyncore_use_poll, count=1)
        except (SystemExit, KeyboardInterrupt):
            pass
        server.task_dispatcher.shutdown()  # lets the threads finish, as waitress's run does
        for channel in self._channels():
            channel.handle_close()  # the phones' connections and their buffers; the listener closes in serve()

    @property
    def port(self) -> int:
        """The port actually bound (the one ``port=0`` picked)."""
        return int(self._server.effective_port)

    @property
    def wsgi(self) -> WSGIApp:
        """The callable this server answers with, for another listener to share (see :meth:`switch`)."""
        return self._late

    def switch(self, app: WSGIApp) -> None:
        """Answer the next requests with ``app`` (a locked kit, once unlocked)."""
        self._late.app = app

    def close(self) -> None:
        """Close the socket of a server that will not serve, and end its threads.

        waitress starts its (non-daemon) threads when the socket is bound: left running,
        a kit whose start failed after binding would never exit.
        """
        self._server.task_dispatcher.shutdown()
        self._server.close()

    def serve(
        self,
        app: WSGIApp,
        *,
        echo: Callable[[str], None],
        cleanup: Sequence[Callable[[], None]] = (),
        stopped: str = "stopped",
    ) -> None:
        """Print "ready", serve ``app`` until SIGINT, SIGTERM or ``request_stop``; then the cleanup, and ``stopped``.

        ``cleanup`` runs in order after the server stops taking requests, before the
        socket closes; each runs even when one before it fails. The signal handlers are
        the previous ones again on return.
        """
        self._late.app = app
        previous = {number: signal.signal(number, _stop) for number in _STOP_SIGNALS}
        try:
            echo("ready")
            self._run()  # returns when stopped by a signal or request_stop
        except KeyboardInterrupt:
            pass  # the signal came just before or after waitress's loop
        finally:
            try:
                _run_all(cleanup)
            finally:
                self._server.close()
                for number, handler in previous.items():
                    signal.signal(number, handler)
        echo(stopped)


def _run_all(callbacks: Sequence[Callable[[], None]]) -> None:
    if not callbacks:
        return
    try:
        callbacks[0]()
    finally:
        _run_all(callbacks[1:])


def bind(host: str, port: int, options: ServerOptions) -> BoundServer:
    """Listen on ``host:port`` (``port`` 0: any free one); FieldkitError when that fails."""
    late = _LateApp()
    try:
        server = create_guarded_server(late, options.guard, host=host, port=port, **options.as_waitress())
    except OSError as error:
        raise FieldkitError(f"cannot listen on {host}:{port}: {error.strerror or error}; try another --port") from None
    return BoundServer(server, late)
