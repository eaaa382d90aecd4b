"""What a running ``fieldkit serve`` shows and refuses (issue 17, points 1, 9 and 10).

One real ``fieldkit serve`` on 127.0.0.1 with ``--port 0``, asked over real HTTP:
it prints the recipients at start and on the operator page, answers only to its own
names in the ``Host`` header, and cannot leave a core dump.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fieldkit.core.crypto.hubkeys import recipient_fingerprint
from tests.processes import start_until_ready, stop
from tests.sync_cli import make_hub_keys, new_kit, write_passphrase_file


@dataclass(frozen=True)
class Serving:
    process: subprocess.Popen
    output: str
    port: int
    recipient: str


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    folder = tmp_path_factory.mktemp("serve-trust")
    hub_keys = make_hub_keys(folder)
    passphrase_file = write_passphrase_file(folder)
    kit = new_kit(folder, hub_keys, passphrase_file)
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", "127.0.0.1", "--port", "0",
    )  # fmt: skip
    try:
        found = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", output)
        assert found, output
        yield Serving(process, output, int(found.group(1)), (hub_keys / "hub-recipient.txt").read_text().strip())
    finally:
        stop(process)


def _get(port: int, path: str, host: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", host)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def test_serve_prints_the_recipients_at_start_and_on_the_operator_page(serving: Serving) -> None:
    fingerprint = recipient_fingerprint(serving.recipient)
    assert f"records are sealed to hub (regional-team): {fingerprint}  {serving.recipient}" in serving.output
    status, page = _get(serving.port, "/operator/", f"127.0.0.1:{serving.port}")
    assert status == 200
    assert fingerprint in page


@pytest.mark.parametrize(
    "host",
    ["rebind.example", "rebind.example:{port}", "127.0.0.1.rebind.example:{port}", "localhost.example", "10.9.8.7"],
)
def test_a_foreign_host_header_is_refused(serving: Serving, host: str) -> None:
    status, body = _get(serving.port, "/pair", host.format(port=serving.port))
    assert status == 400
    assert "This address is not the kit&#39;s." in body
    assert "pair" not in body.lower() and "<form" not in body and "Traceback" not in body  # nothing of the page


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "localhost"])
def test_the_kit_answers_to_its_own_names(serving: Serving, host: str) -> None:
    status, _ = _get(serving.port, "/pair", host.format(port=serving.port))
    assert status == 200


def test_serve_cannot_leave_a_core_dump(serving: Serving) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("core dump limits are read from /proc, on Linux")
    limits = Path(f"/proc/{serving.process.pid}/limits").read_text()
    core = next(line for line in limits.splitlines() if line.startswith("Max core file size"))
    assert core.split()[4:6] == ["0", "0"], core


def test_forbid_core_dumps_makes_the_process_not_dumpable() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_DUMPABLE is Linux's")
    script = (
        "import ctypes, resource\n"
        "from fieldkit.core.hardening import PR_GET_DUMPABLE, forbid_core_dumps\n"
        "libc = ctypes.CDLL(None)\n"
        "before = libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0)\n"
        "forbid_core_dumps()\n"
        "print(before, libc.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), resource.getrlimit(resource.RLIMIT_CORE))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split(maxsplit=2) == ["1", "0", "(0, 0)\n"]


def test_the_refusal_of_a_foreign_host_is_in_the_browsers_language(serving: Serving) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", serving.port, timeout=30)
    try:
        connection.request("GET", "/pair", headers={"Host": "rebind.example", "Accept-Language": "ar, en;q=0.5"})
        response = connection.getresponse()
        body = response.read().decode("utf-8")
    finally:
        connection.close()
    assert response.status == 400
    assert '<html lang="ar" dir="rtl">' in body
    assert "<p>هذا العنوان ليس عنوان العُدّة. افتح العنوان الظاهر على شاشة العُدّة.</p>" in body
