"""Slow clients on the Wi-Fi cannot stop the kit or the hub answering everyone else.

Each test opens more slow connections than the server's connection limit allows, from
127.0.0.1, each sending one byte of an unfinished request every two seconds, while a
well-behaved client (also from 127.0.0.1) asks for a page again and again. Real
``fieldkit serve`` and ``fieldkit hub serve`` processes, real sockets.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from fieldkit.kit.serving import SERVER_OPTIONS
from fieldkit.webbase.guard import Guard
from tests.browser import serve
from tests.conftest import PASSPHRASE
from tests.http_servers import OPERATOR_PASSWORD, ServerThread, start_hub_process
from tests.sync_cli import init_hub_folder

BYTE_EVERY_SECONDS = 2.0
ANSWER_WITHIN_SECONDS = 5.0
ROUNDS = 8  # over 20 s: longer than the slow requests are allowed, so they are replaced too


@contextmanager
def slow_clients(port: int, count: int) -> Iterator[list[int]]:
    """``count`` connections that each send a byte of a never-ending header every few seconds.

    A closed one is opened again, as an attacker would; yields a list holding the number
    of connections opened so far.
    """
    opened = [0]
    stop = threading.Event()

    def connect() -> socket.socket | None:
        try:
            connection = socket.create_connection(("127.0.0.1", port), timeout=5)
            connection.sendall(b"GET /pair HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        except OSError:
            return None
        opened[0] += 1
        return connection

    def drip() -> None:
        connections = [connect() for _ in range(count)]
        while not stop.wait(BYTE_EVERY_SECONDS):
            for index, connection in enumerate(connections):
                try:
                    if connection is None:
                        raise OSError
                    connection.sendall(b"a")
                except OSError:
                    if connection is not None:
                        connection.close()
                    connections[index] = connect()
        for connection in connections:
            if connection is not None:
                connection.close()

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while opened[0] < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened[0] >= count, f"only {opened[0]} slow connections opened"
        yield opened
    finally:
        stop.set()
        thread.join(30)


def answers_every_time(url: str) -> list[float]:
    """Ask for ``url`` ROUNDS times, two seconds apart; how long each answer took."""
    took = []
    for _ in range(ROUNDS):
        started = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=ANSWER_WITHIN_SECONDS) as response:
                response.read()
        except urllib.error.HTTPError as answered:  # an answer all the same (the hub asks to log in)
            answered.close()
            assert answered.code < 500
        took.append(time.monotonic() - started)
        time.sleep(BYTE_EVERY_SECONDS)
    return took


@pytest.mark.slow
def test_the_kit_answers_a_phone_while_more_slow_connections_than_its_limit_are_open(kit, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "pass"
    passphrase_file.write_text(PASSPHRASE + "\n")
    served = serve(kit.data_dir, passphrase_file)
    port = int(served.url.rsplit(":", 1)[1].strip("/"))
    try:
        with slow_clients(port, SERVER_OPTIONS.connection_limit + 20):
            took = answers_every_time(served.url + "pair")
        assert max(took) < ANSWER_WITHIN_SECONDS, took
    finally:
        served.stop()


@pytest.mark.slow
def test_the_hub_answers_while_105_slow_connections_are_open(tmp_path: Path, hub_keys: Path) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    process = start_hub_process(hub, 0, password_file)
    port = int(process.url.rsplit(":", 1)[1].strip("/"))
    try:
        with slow_clients(port, 105):
            took = answers_every_time(process.url.rstrip("/") + "/login")
        assert max(took) < ANSWER_WITHIN_SECONDS, took
    finally:
        process.stop()


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def _closed_within(connection: socket.socket, seconds: float) -> bool:
    """True once the server closed ``connection`` (recv sees the end), within ``seconds``."""
    connection.settimeout(seconds)
    try:
        return connection.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_a_request_still_arriving_after_its_time_is_closed_and_an_idle_one_is_not() -> None:
    server = ServerThread(_hello, guard=Guard(per_address=16, request_seconds=2.0), channel_timeout=60)
    dripping = socket.create_connection(("127.0.0.1", server.port))
    idle = socket.create_connection(("127.0.0.1", server.port))
    try:
        idle.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200"), "a whole request is answered"
        dripping.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        started = time.monotonic()
        closed = False
        while not closed and time.monotonic() - started < 15:
            try:
                dripping.sendall(b"a")
            except OSError:
                closed = True
                break
            closed = _closed_within(dripping, 0.5)
        assert closed, "the dripping request was never closed"
        assert time.monotonic() - started >= 2.0, "closed before its time was up"
        assert not _closed_within(idle, 1.0), "a connection waiting between requests is left to channel_timeout"
    finally:
        dripping.close()
        idle.close()
        server.stop()


def test_an_address_over_its_cap_loses_its_longest_waiting_connection_not_the_new_one() -> None:
    server = ServerThread(_hello, guard=Guard(per_address=3, request_seconds=60.0))
    connections = []
    try:
        for _ in range(5):
            connections.append(socket.create_connection(("127.0.0.1", server.port)))
            time.sleep(0.1)  # each waits a little longer than the next
        assert [_closed_within(c, 2.0) for c in connections[:2]] == [True, True]
        newest = connections[-1]
        newest.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        newest.settimeout(5)
        assert newest.recv(4096).startswith(b"HTTP/1.1 200"), "the newest connection is served"
    finally:
        for connection in connections:
            connection.close()
        server.stop()
