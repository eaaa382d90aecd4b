"""scripts/install-pi.sh in a dry run: the real virtual environment, every system change printed.

Run against a temporary prefix with the offline bundle (made once per session,
tests/offline.py) and no package index reachable: the venv is really made and its
fieldkit really runs (it prints the unit it would install), while apt-get, useradd,
systemctl, nmcli and swap are only printed. The test checks nothing of the system
changed: no account, no unit file.
"""

from __future__ import annotations

import pwd
import re
import subprocess
from pathlib import Path

import pytest

from fieldkit.kit.service_unit import DEFAULT_UNIT_DIR, UNIT_NAME
from tests.conftest import ROOT, require_tool
from tests.offline import no_index_environment

pytestmark = pytest.mark.slow
SCRIPT = ROOT / "scripts" / "install-pi.sh"
ACCOUNT = "fieldkit-pi-test"  # never made: a dry run


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600, check=False,
        env=no_index_environment(),
    )  # fmt: skip


def _has_account(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_the_dry_run_makes_the_venv_and_only_prints_system_changes(x86_64_bundle: Path, tmp_path: Path) -> None:
    prefix, data = tmp_path / "opt", tmp_path / "data"
    password = tmp_path / "wifi.txt"
    password.write_text("a long Wi-Fi password\n")
    unit_before = (DEFAULT_UNIT_DIR / UNIT_NAME).exists()
    done = _install(
        "--prefix", str(prefix), "--data", str(data), "--account", ACCOUNT, "--bundle", str(x86_64_bundle.parent),
        "--wifi-ssid", "kit one", "--wifi-password-file", str(password), "--dry-run",
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert (prefix / "venv" / "bin" / "fieldkit").is_file()
    assert "fieldkit, version" in done.stdout
    printed = re.findall(r"^(?:would run: |  )(\S+)", done.stdout, re.MULTILINE)
    for program in ("apt-get", "dphys-swapfile", "systemctl", "swapoff", "nmcli", "useradd", "install", "chown"):
        assert program in printed, (program, done.stdout)
    assert "running:" not in done.stdout  # nothing was run for real
    assert "python3-venv age" in done.stdout
    assert "ssid kit\\ one mode ap" in done.stdout and "ipv4.method shared" in done.stdout
    assert "a long Wi-Fi password" not in output, "the Wi-Fi password is never printed"
    assert f"ExecStart={prefix}/venv/bin/fieldkit serve --data {data} --wait-for-unlock" in done.stdout
    assert f"User={ACCOUNT}" in done.stdout
    assert not _has_account(ACCOUNT) and not data.exists()
    assert (DEFAULT_UNIT_DIR / UNIT_NAME).exists() == unit_before

    # The unit it printed is one systemd accepts, naming the venv's real fieldkit.
    unit = done.stdout.split(":\n", 1)[1].split("would run, as root:")[0]
    unit = unit[unit.index("# Written by") :]
    (tmp_path / UNIT_NAME).write_text(unit)
    verified = subprocess.run(
        [require_tool("systemd-analyze"), "verify", str(tmp_path / UNIT_NAME)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert verified.returncode == 0 and verified.stderr == "", verified.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--prefix", "opt"], "--prefix must be an absolute path"),
        (["--data", "/srv/kit", "--prefix", "/srv/kit/opt"], "must not be inside --data"),
        (["--wifi-ssid", "kit"], "--wifi-ssid and --wifi-password-file go together"),
        (["--bundle", "/nonexistent/bundle"], "is not a folder"),
        (["--frobnicate"], "unknown argument --frobnicate"),
    ],
)
def test_bad_options_are_refused_before_anything(tmp_path: Path, args: list[str], message: str) -> None:
    done = _install(*args, "--dry-run")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_a_short_wifi_password_is_refused(tmp_path: Path) -> None:
    password = tmp_path / "wifi.txt"
    password.write_text("short\n")
    done = _install("--wifi-ssid", "kit", "--wifi-password-file", str(password), "--dry-run")
    assert done.returncode == 2 and "8 to 63 characters" in done.stderr, done.stderr
