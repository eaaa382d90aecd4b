"""The kit's waitress options: an over-long body is refused, clearly, with nothing on disk,
and the connection limit leaves room for 100 phones."""

from __future__ import annotations

import http.client
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from fieldkit.kit.serving import SERVER_OPTIONS
from fieldkit.webbase.server import WAITRESS_INBUF_OVERFLOW
from sync.hub.serving import server_options
from tests.http_servers import ServerThread

_watching = threading.Event()
_writes: list[tuple[object, object, object]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    # Every file the process opens for writing (or as an unnamed temporary file) while watched.
    if event == "open" and _watching.is_set():
        _path, mode, flags = args
        writing = isinstance(mode, str) and any(c in mode for c in "wax+")
        creating = isinstance(flags, int) and bool(flags & (os.O_CREAT | getattr(os, "O_TMPFILE", 0) | os.O_WRONLY))
        if writing or creating:
            _writes.append(args)


sys.addaudithook(_audit)  # audit hooks cannot be removed; it does nothing unless watching


@contextmanager
def files_written() -> Iterator[list[tuple[object, object, object]]]:
    _writes.clear()
    _watching.set()
    try:
        yield _writes
    finally:
        _watching.clear()


def _post(url: str, size: int, *, chunked: bool = False, complete: bool = False) -> tuple[int, str]:
    """POST a body of ``size`` bytes to /pair; read the answer.

    Waitress answers 413 as soon as it knows the body is too large and then closes, so
    the over-long body is declared (Content-Length), or sent (chunked) only up to a
    little past the limit, never to its end: a client still writing would be reset.
    """
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.putrequest("POST", "/pair")
        connection.putheader("Content-Type", "application/x-www-form-urlencoded")
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
            connection.endheaders()
            piece = b"1" * 8192
            for _ in range(min(size, SERVER_OPTIONS.max_request_body_size + 16 * 1024) // len(piece)):
                connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        else:
            connection.putheader("Content-Length", str(size))
            connection.endheaders()
            if complete or size < SERVER_OPTIONS.max_request_body_size:
                connection.send(b"1" * size)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def test_the_kit_and_hub_options_are_set_deliberately(tmp_path) -> None:
    kit = SERVER_OPTIONS.as_waitress()
    assert kit["connection_limit"] >= 300  # 100 phones, a few keep-alive connections each
    assert kit["max_request_body_size"] > 256 * 1024  # above the app's own limit: its page answers first
    assert SERVER_OPTIONS.bodies_stay_in_memory and kit["max_request_body_size"] < WAITRESS_INBUF_OVERFLOW
    assert kit["asyncore_use_poll"] is True


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_over_the_limit_is_refused_and_nothing_is_written(app, chunked: bool) -> None:
    server = ServerThread(app, **SERVER_OPTIONS.as_waitress())
    try:
        with files_written() as written:
            status, text = _post(server.url, 2 * 1024 * 1024, chunked=chunked)
        assert status == 413
        assert "Request Entity Too Large" in text and "exceeds max_body" in text
        assert written == [], written
        # A body over the app's limit but under waitress's gets the kit's own page.
        status, text = _post(server.url, 300 * 1024)
        assert status == 413 and "<!doctype html>" in text and "Traceback" not in text
        assert "Too much to save at once" in text and "nothing was saved" in text
    finally:
        server.stop()


def test_the_watch_sees_the_temporary_file_waitress_writes_with_its_default_limit(app) -> None:
    # The control: the same body, with waitress's default 1 GiB limit, is buffered to disk.
    server = ServerThread(app)
    try:
        with files_written() as written:
            status, _ = _post(server.url, 2 * 1024 * 1024, complete=True)
        assert status == 413  # Flask's limit, after waitress kept the whole body
        assert written, "no temporary file seen: the watch in these tests would prove nothing"
    finally:
        server.stop()


def test_the_hub_still_takes_its_largest_bundle(tmp_path, hub_keys) -> None:
    from sync.hub.store import HubStore
    from tests.sync_cli import init_hub_folder

    with HubStore(init_hub_folder(tmp_path, hub_keys)) as store:
        options = server_options(store).as_waitress()
        assert options["max_request_body_size"] > store.limits.max_bundle_bytes
        assert options["connection_limit"] >= 50 and options["channel_timeout"] >= 60


def test_listeners_closed_without_serving_end_their_threads(tmp_path) -> None:
    """A kit whose start fails after binding must exit: cheroot starts its (not daemon) threads at bind."""
    from fieldkit.kit.serving import TLS_OPTIONS, Bound
    from fieldkit.kit.tls import make_identity
    from fieldkit.webbase.server import bind
    from fieldkit.webbase.tls_server import bind_tls

    identity = make_identity(tmp_path, "kit-000000000000")
    before = {thread.ident for thread in threading.enumerate()}
    server = bind("127.0.0.1", 0, SERVER_OPTIONS)
    tls = bind_tls(server.wsgi, "127.0.0.1", 0, cert=identity.cert_path, key=identity.key_path, options=TLS_OPTIONS)
    started = [thread for thread in threading.enumerate() if thread.ident not in before]
    assert any(not thread.daemon for thread in started), started  # what would keep the process alive
    Bound(server, tls, (), ()).close()
    for thread in started:
        thread.join(timeout=10)
    assert [thread for thread in started if thread.is_alive() and not thread.daemon] == []
