"""``fieldkit serve`` and ``fieldkit hub serve`` start and stop the same way.

Each test runs the real command as a subprocess on 127.0.0.1 with ``--port 0``, asks it
one thing over real HTTP on the port it printed, then stops it as a service manager
(SIGTERM) or a person (Ctrl+C, SIGINT) would: it must exit 0 and say it stopped.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from sync.hub.store import init_hub
from sync.hub.web.auth import OperatorPassword
from tests.bundle_corpus import HUB_RECIPIENT
from tests.http_servers import OPERATOR_PASSWORD
from tests.processes import start_until_ready, stop
from tests.sync_cli import new_kit

STOP_SIGNALS = [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT")]


def _stopped_by(process: subprocess.Popen, number: int) -> tuple[int, str]:
    """Send ``number``; the exit status and whatever the process printed after "ready"."""
    process.send_signal(number)
    try:
        rest, _ = process.communicate(timeout=30)
    finally:
        stop(process, gently=False)  # only if it did not stop by itself; closes the pipe
    return process.returncode, rest


@pytest.mark.parametrize("number", STOP_SIGNALS)
def test_hub_serve_stops_cleanly_on_a_signal(tmp_path: Path, number: int) -> None:
    hub = tmp_path / "hub"
    init_hub(hub, HUB_RECIPIENT, hub_id="hub-stop")
    OperatorPassword.for_hub(hub).set(OPERATOR_PASSWORD, work_factor=10)
    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    process, output = start_until_ready(
        "hub", "serve", "--data", str(hub), "--host", "127.0.0.1", "--port", "0",
        "--passphrase-file", str(password_file),
    )  # fmt: skip
    found = re.search(r"kits push to: (http://127\.0\.0\.1:(\d+))", output)
    assert found and found.group(2) != "0", output
    with urllib.request.urlopen(found.group(1) + "/api/v1/hello", timeout=30) as response:
        assert json.load(response)["hub_id"] == "hub-stop"
    status, rest = _stopped_by(process, number)
    assert status == 0, rest
    assert rest.splitlines()[-1:] == ["stopped"], rest
    assert "Traceback" not in rest


@pytest.mark.parametrize("number", STOP_SIGNALS)
def test_kit_serve_stops_cleanly_on_a_signal(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path, number: int
) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    found = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", output)
    assert found and found.group(1) != "0", output
    with urllib.request.urlopen(f"http://127.0.0.1:{found.group(1)}/pair", timeout=30) as response:
        assert response.status == 200
    status, rest = _stopped_by(process, number)
    assert status == 0, rest
    assert rest.splitlines()[-1:] == ["stopped; the draft key is gone from memory"], rest
    assert "Traceback" not in rest
