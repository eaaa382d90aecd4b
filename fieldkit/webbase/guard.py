"""Keeping slow clients from holding every connection: a per-address cap and a time per request.

Waitress reads requests in its main loop and hands only complete ones to its threads,
so a slow client cannot hold a thread; but every open connection counts towards
``connection_limit``, and one that sends a byte every few seconds is never idle, so
``channel_timeout`` never closes it. About a hundred such connections stopped kit and
hub answering anyone. Waitress has no per-client limit or request deadline, so this
adds two small rules to its own server and channel classes (hand-written for that
reason; everything else is waitress's):

- a request whose first byte came more than ``request_seconds`` ago and that is still
  not complete is closed (checked about once a second);
- when a connection opens from an address that already holds ``per_address``
  connections waiting for a request (one half sent, or none started), the longest
  waiting of those is closed, not the new one; and at ``connection_limit`` the
  longest waiting connection of all is closed so that a new one can be taken.

A connection whose request is being answered is never closed by these rules.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

__all__ = ["Guard", "create_guarded_server"]

_SWEEP_SECONDS = 1.0


@dataclass(frozen=True)
class Guard:
    per_address: int
    request_seconds: float


class _GuardedChannel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    request_started = 0.0

    def __init__(self, server: Any, sock: Any, addr: Any, adj: Any, map: Any = None) -> None:
        super().__init__(server, sock, addr, adj, map=map)
        self.request_started = self.creation_time  # waiting for its first request from now
        _make_room(server, self)

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.time()  # a new request begins with this byte
        return bool(super().received(data))

    def waiting_since(self) -> float | None:
        """When it began waiting for a request, or None while one is being answered (or it closes)."""
        if self.requests or self.will_close or self.close_when_flushed or self.total_outbufs_len:
            return None
        return self.request_started if self.request is not None else self.last_activity


def _waiting(channels: Any, host: str | None = None) -> list[tuple[float, _GuardedChannel]]:
    found = []
    for channel in list(channels):
        if isinstance(channel, _GuardedChannel) and (host is None or _host(channel) == host):
            since = channel.waiting_since()
            if since is not None:
                found.append((since, channel))
    return sorted(found, key=lambda pair: pair[0])


def _host(channel: HTTPChannel) -> str:
    addr = channel.addr
    return str(addr[0]) if isinstance(addr, tuple) and addr else str(addr)


def _make_room(server: Any, new: _GuardedChannel) -> None:
    guard: Guard | None = getattr(server, "guard", None)
    if guard is None:
        return
    same = [pair for pair in _waiting(server.active_channels.values(), _host(new)) if pair[1] is not new]
    for _since, channel in same[: max(0, len(same) - guard.per_address + 1)]:
        channel.will_close = True  # waitress closes it on its next turn, as its own timeout does


class _GuardedServer(TcpWSGIServer):  # type: ignore[misc]  # waitress has no type hints
    channel_class = _GuardedChannel
    guard: Guard | None = None
    _next_sweep = 0.0

    def readable(self) -> bool:
        now = time.time()
        if self.guard is not None and now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_SECONDS
            self._sweep(now, self.guard)
        return bool(super().readable())

    def _sweep(self, now: float, guard: Guard) -> None:
        channels: Any = self.active_channels  # a dict of channels; the stubs say one channel
        waiting = _waiting(channels.values())
        for since, channel in waiting:
            if channel.request is not None and since < now - guard.request_seconds:
                channel.will_close = True
        if len(self._map) >= self.adj.connection_limit:  # type: ignore[attr-defined]  # set by asyncore, untyped
            # Full: the longest waiting connection goes, so the next phone gets in.
            for _since, channel in waiting:
                if not channel.will_close:
                    channel.will_close = True
                    break


def create_guarded_server(app: Any, guard: Guard, **adjustments: Any) -> Any:
    """waitress.create_server for TCP listeners, with ``guard``'s rules on every connection."""
    adj = Adjustments(**adjustments)
    socket_map: dict[int, Any] = {}
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    servers: list[Any] = []
    listen: list[Any] = list(adj.listen)  # (family, type, proto, address) tuples; the stubs say str
    for sockinfo in listen:
        server = _GuardedServer(app, socket_map, True, None, dispatcher=dispatcher, adj=adj, sockinfo=sockinfo)
        server.guard = guard
        servers.append(server)
    if len(servers) == 1:
        return servers[0]
    effective = [(server.effective_host, server.effective_port) for server in servers]
    return MultiSocketServer(socket_map, adj=adj, effective_listen=effective, dispatcher=dispatcher)
