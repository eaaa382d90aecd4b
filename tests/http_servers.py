"""Real HTTP servers on 127.0.0.1 for the sync tests: the hub app in a thread, a captive
portal and an impostor hub, and ``fieldkit hub serve`` as a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from waitress import create_server
from waitress.channel import HTTPChannel
from waitress.wasyncore import close_all

from fieldkit.webbase.guard import Guard, create_guarded_server
from sync.hub.store import HubStore, init_hub
from sync.hub.web import HubSettings, create_hub_app
from sync.hub.web.auth import OperatorPassword
from tests.bundle_corpus import HUB_RECIPIENT
from tests.processes import start_until_ready, stop

OPERATOR_PASSWORD = "an operator password for tests"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class ServerThread:
    """A WSGI app served by waitress on 127.0.0.1 in a thread; ``stop()`` ends it cleanly."""

    def __init__(self, app: WSGIApp, port: int = 0, *, guard: Guard | None = None, **options: Any) -> None:
        options = {"threads": 4, "ident": "test", **options}  # or an app's own waitress options
        if guard is not None:  # the kit's and hub's rules against slow clients
            self.server = create_guarded_server(app, guard, host="127.0.0.1", port=port, **options)
        else:
            self.server = create_server(app, host="127.0.0.1", port=port, **options)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

    def _close_everything(self) -> None:
        # handle_close also closes a channel's output buffers (temporary files for big
        # answers); plain close() would leave them to the garbage collector.
        for channel in list(self.server._map.values()):
            if isinstance(channel, HTTPChannel):
                channel.handle_close()
        close_all(self.server._map, ignore_all=True)

    def stop(self) -> None:
        # Close every channel from inside the server's own loop; the loop then ends.
        try:
            self.server.trigger.pull_trigger(self._close_everything)
        except OSError:
            # The wake-up pipe is already gone (seen once in a long full run): close from
            # here; the loop then fails on its next poll and its thread ends.
            self._close_everything()
        self._thread.join(10)
        self.server.task_dispatcher.shutdown()
        assert not self._thread.is_alive()


@dataclass
class RunningHub:
    url: str
    store: HubStore
    server: ServerThread


def hub_with_operator(folder: Path, hub_id: str) -> Path:
    """A new hub folder sealing to the test recipient, with the tests' operator password set."""
    init_hub(folder, HUB_RECIPIENT, hub_id=hub_id)
    OperatorPassword.for_hub(folder).set(OPERATOR_PASSWORD, work_factor=10)
    return folder


@contextmanager
def running_hub(hub_dir: Path, **settings: Any) -> Iterator[RunningHub]:
    """The real hub app over ``hub_dir``, served in a thread, with a known operator password."""
    secret = OperatorPassword.for_hub(hub_dir)
    if not secret.exists():
        secret.set(OPERATOR_PASSWORD, work_factor=10)
    store = HubStore(hub_dir)
    server = ServerThread(create_hub_app(HubSettings(**settings), store))
    try:
        yield RunningHub(server.url, store, server)
    finally:
        server.stop()
        store.close()


def captive_portal(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answers every request with 200 and a login page, as hotel and airport Wi-Fi do."""
    stream = environ.get("wsgi.input")
    if stream is not None:
        stream.read(int(environ.get("CONTENT_LENGTH") or 0))
    body = b"<!doctype html><title>Welcome</title><p>Please accept the terms to use this network.</p>"
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
    return [body]


def impostor_hub(hub_id: str, receipt_public_key: str, answer: Callable[[bytes], bytes]) -> WSGIApp:
    """A server that says it is hub ``hub_id`` and answers each POST with ``answer(body)``."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if environ["PATH_INFO"] == "/api/v1/hello":
            body = json.dumps(
                {"format": "fieldkit-hub-hello/1", "hub_id": hub_id, "receipt_public_key": receipt_public_key}
            ).encode()
        else:
            body = answer(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return app


@dataclass
class HubProcess:
    process: subprocess.Popen
    url: str
    output: list[str]

    def kill(self) -> None:
        stop(self.process, gently=False)

    def stop(self) -> None:
        stop(self.process)


def start_hub_process(hub_dir: Path, port: int, password_file: Path) -> HubProcess:
    """``fieldkit hub serve`` on 127.0.0.1:``port``; returns once it says ready."""
    process, text = start_until_ready(
        "hub", "serve", "--data", str(hub_dir), "--host", "127.0.0.1",
        "--port", str(port), "--passphrase-file", str(password_file),
    )  # fmt: skip
    found = re.search(r"kits push to: (http://\S+)", text)
    assert found, text
    return HubProcess(process, found.group(1), text.splitlines())


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
