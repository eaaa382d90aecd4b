"""The kit announces itself by mDNS: a browser on the same machine finds it and reaches it.

A real ``fieldkit serve`` process listens on the machine's network address (not loopback:
a kit on loopback announces nothing); a zeroconf ServiceBrowser in the test process,
bound to the same interface, finds the ``_http._tcp.local.`` service named after the
kit over real multicast, resolves its port, address and host name, and the test then
fetches the pair page at that address and port with ``Host: NAME.local``, which the kit
must trust. Multicast leaves and comes back through the interface (IP_MULTICAST_LOOP),
as it does on a Pi's wlan0; loopback carries no multicast, so it cannot be used.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.kit.mdns import SERVICE_TYPE, MdnsNameError, announced_addresses, host_label, plan, with_mdns_url
from fieldkit.kit.netinfo import lan_addresses
from tests.processes import start_until_ready, stop
from tests.sync_cli import new_kit

FIND_SECONDS = 20
NOTHING_SECONDS = 4


def _network_address() -> str:
    addresses = announced_addresses("0.0.0.0")
    if not addresses:
        pytest.skip(f"this machine has no non-loopback IPv4 address for multicast (found {lan_addresses()})")
    return addresses[0]


class _Found:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.event = threading.Event()

    def add_service(self, zeroconf, service_type: str, name: str) -> None:
        self.names.append(name)
        self.event.set()

    def update_service(self, zeroconf, service_type: str, name: str) -> None:
        self.add_service(zeroconf, service_type, name)

    def remove_service(self, zeroconf, service_type: str, name: str) -> None:
        pass


def test_a_browser_finds_the_kit_by_mdns_and_reaches_it(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    from zeroconf import IPVersion, ServiceBrowser, Zeroconf

    address = _network_address()
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    label = f"fieldkit-test-{secrets.token_hex(3)}"  # two runs at once must not answer for each other
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", address, "--port", "0",
        "--mdns-name", label,
    )  # fmt: skip
    try:
        kit_id = re.search(r"fieldkit kit (\S+) is serving", output)
        printed = re.search(rf"phones: http://{label}\.local:(\d+)/", output)
        assert kit_id and printed, output
        browser_zeroconf = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
        try:
            found = _Found()
            browser = ServiceBrowser(browser_zeroconf, SERVICE_TYPE, found)
            wanted = f"{label} {kit_id.group(1)}.{SERVICE_TYPE}"
            deadline = time.monotonic() + FIND_SECONDS
            while wanted not in found.names and time.monotonic() < deadline:
                found.event.wait(0.5)
                found.event.clear()
            assert wanted in found.names, (found.names, output)
            info = browser_zeroconf.get_service_info(SERVICE_TYPE, wanted, timeout=5000)
            browser.cancel()
        finally:
            browser_zeroconf.close()
        assert info is not None
        assert info.port == int(printed.group(1))
        assert info.server == f"{label}.local."
        assert address in info.parsed_addresses()
        request = urllib.request.Request(
            f"http://{address}:{info.port}/pair", headers={"Host": f"{label}.local:{info.port}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200
        process.send_signal(2)
        rest, _ = process.communicate(timeout=30)
    finally:
        stop(process, gently=False)
    whole = output + "\n" + rest
    assert f"announced by mDNS as {label}.local" in whole
    assert "WARNING" not in whole and "Traceback" not in whole, whole
    assert rest.splitlines()[-1:] == ["stopped; the draft key is gone from memory"], rest


def test_a_kit_on_loopback_announces_nothing_and_prints_no_mdns_address() -> None:
    assert plan("fieldkit", "127.0.0.1", 8080) is None
    assert plan(None, "0.0.0.0", 8080) is None
    announced = plan("fieldkit", "192.0.2.7", 8080)
    assert announced is not None and announced.addresses == ("192.0.2.7",)
    urls = with_mdns_url(["http://192.0.2.7:8080/", "http://127.0.0.1:8080/"], announced)
    assert urls == ("http://192.0.2.7:8080/", "http://fieldkit.local:8080/", "http://127.0.0.1:8080/")


@pytest.mark.parametrize("name", ["", "-kit", "kit-", "kit.two", "kit_two", "k" * 64, "fieldkit.lan"])
def test_a_name_that_cannot_be_announced_is_refused(name: str) -> None:
    with pytest.raises(MdnsNameError):
        host_label(name)


def test_a_name_is_one_lowercase_label() -> None:
    assert host_label("Kit-2.local") == "kit-2"
    assert host_label("fieldkit.local.") == "fieldkit"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--no-mdns", "--mdns-name", "kit"], "--mdns-name and --no-mdns contradict each other"),
        (["--mdns-name", "kit_two"], "cannot be announced"),
    ],
)
def test_serve_refuses_bad_mdns_options_before_anything(tmp_path: Path, args: list[str], message: str) -> None:
    kit = tmp_path / "kit"  # not even made: the options are checked first
    result = CliRunner().invoke(cli, ["serve", "--data", str(kit), *args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not kit.exists()


def test_with_no_mdns_nothing_is_announced_and_the_name_is_not_trusted(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    from zeroconf import IPVersion, ServiceBrowser, Zeroconf

    address = _network_address()
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    process, output = start_until_ready(
        "serve", "--data", str(kit), "--passphrase-file", str(passphrase_file), "--host", address, "--port", "0",
        "--no-mdns",
    )  # fmt: skip
    try:
        port = re.search(rf"phones: http://{re.escape(address)}:(\d+)/", output)
        kit_id = re.search(r"fieldkit kit (\S+) is serving", output)
        assert port and kit_id, output
        assert ".local" not in output
        browser_zeroconf = Zeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
        try:
            found = _Found()
            browser = ServiceBrowser(browser_zeroconf, SERVICE_TYPE, found)
            time.sleep(NOTHING_SECONDS)  # the announcing kit above is found within a second or two
            browser.cancel()
        finally:
            browser_zeroconf.close()
        assert not [name for name in found.names if kit_id.group(1) in name], found.names
        for host, status in ((f"fieldkit.local:{port.group(1)}", 400), (f"{address}:{port.group(1)}", 200)):
            request = urllib.request.Request(f"http://{address}:{port.group(1)}/pair", headers={"Host": host})
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    got = response.status
            except urllib.error.HTTPError as error:
                got = error.code
            assert got == status, host
    finally:
        stop(process)


def test_an_announcement_that_fails_is_a_warning_not_a_crash() -> None:
    """An address no interface has: zeroconf cannot bind it; serve must warn and keep serving."""
    code = (
        "from fieldkit.kit.mdns import Plan, Announcer\n"
        "lines = []\n"
        "a = Announcer(Plan('fieldkit', 8080, ('198.51.100.77',)), 'kit-x', lines.append).start()\n"
        "a._thread.join(20)\n"
        "a.stop()\n"
        "print(lines)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING: could not announce fieldkit.local by mDNS" in done.stdout, done.stdout + done.stderr


def test_the_demo_on_a_network_announces_nothing() -> None:
    """A throwaway demo on the same Wi-Fi must never answer for a real kit's fieldkit.local."""
    address = _network_address()
    process, output = start_until_ready("demo", "--host", address, "--port", "0")
    try:
        assert f"phones: http://{address}:" in output, output
        assert ".local" not in output and "mDNS" not in output, output
    finally:
        stop(process)
