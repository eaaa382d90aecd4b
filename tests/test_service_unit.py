"""``fieldkit service install``: the unit systemd accepts, the dry run, and options refused.

The unit is checked by the real ``systemd-analyze verify``, which also checks that
ExecStart's program exists: the unit points at this virtual environment's ``fieldkit``.
No test installs for real (that makes an account and needs a running systemd).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fieldkit.cli import cli
from fieldkit.kit.service_unit import UNIT_NAME, plan_install, venv_fieldkit
from tests.conftest import require_tool
from tests.sync_cli import new_kit


def _verify(unit: Path) -> subprocess.CompletedProcess[str]:
    tool = require_tool("systemd-analyze")
    return subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False)


def _settings(unit: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    plan = plan_install(tmp_path / "kit", unit_dir=tmp_path / "units")
    plan.unit_path.parent.mkdir()
    plan.unit_path.write_text(plan.unit)
    done = _verify(plan.unit_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout + done.stderr == "", done.stdout + done.stderr  # not even a warning
    settings = _settings(plan.unit)
    assert settings["ExecStart"] == [f"{venv_fieldkit()} serve --data {tmp_path / 'kit'} --wait-for-unlock"]
    assert settings["User"] == ["fieldkit"]
    assert settings["ReadWritePaths"] == [str(tmp_path / "kit")]
    for key, value in {
        "ProtectSystem": "strict", "NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectHome": "yes",
        "MemoryMax": "256M", "Restart": "on-failure", "LimitCORE": "0", "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK", "PrivateDevices": "yes",
        "SystemCallArchitectures": "native", "LockPersonality": "yes", "RestrictRealtime": "yes",
    }.items():  # fmt: skip
        assert settings[key] == [value], key
    assert "MemoryDenyWriteExecute" not in settings


def test_systemd_analyze_security_rates_the_unit_at_most_2(tmp_path: Path) -> None:
    """Exposure 1.3 today (0 most confined, 10 not at all); --threshold counts tenths."""
    plan = plan_install(tmp_path / "kit", unit_dir=tmp_path)
    plan.unit_path.write_text(plan.unit)
    tool = require_tool("systemd-analyze")
    command = [tool, "security", "--offline=yes", "--no-pager"]
    rated = subprocess.run([*command, "--threshold=20", str(plan.unit_path)], capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert rated.returncode == 0, rated.stdout[-2000:] + rated.stderr
    bare = tmp_path / "bare.service"  # the check can fail: a unit with no hardening is far above
    bare.write_text(f"[Service]\nExecStart={venv_fieldkit()} serve\n")
    refused = subprocess.run([*command, "--threshold=20", str(bare)], capture_output=True, text=True,
                             timeout=60, check=False)  # fmt: skip
    assert refused.returncode != 0


def test_systemd_analyze_verify_refuses_a_unit_whose_program_is_missing(tmp_path: Path) -> None:
    """The check above can fail: the same unit pointing at no program is refused."""
    plan = plan_install(tmp_path / "kit", unit_dir=tmp_path)
    missing = tmp_path / "gone" / "fieldkit"
    plan.unit_path.write_text(plan.unit.replace(str(venv_fieldkit()), str(missing)))
    done = _verify(plan.unit_path)
    assert done.returncode != 0
    assert str(missing) in done.stderr


def test_the_dry_run_prints_the_unit_and_every_command_and_changes_nothing(tmp_path: Path) -> None:
    data, units = tmp_path / "kit", tmp_path / "units"
    units.mkdir()
    result = CliRunner().invoke(cli, ["service", "install", "--data", str(data), "--unit-dir", str(units), "--dry-run"])
    assert result.exit_code == 0, result.output
    plan = plan_install(data, unit_dir=units)
    assert f"would write {units / UNIT_NAME}:\n{plan.unit}would run, as root:\n" in result.output
    commands = re.findall(r"^  (\S+) (.*)$", result.output, flags=re.MULTILINE)
    programs = [program for program, _ in commands]
    assert programs[-4:] == ["install", "chown", "systemctl", "systemctl"]
    assert ("systemctl", "daemon-reload") in commands
    assert ("systemctl", f"enable {UNIT_NAME}") in commands  # no kit yet: enabled, not started
    assert "holds no kit yet" in result.output
    assert result.output.rstrip().endswith("nothing was changed (--dry-run)")
    assert not data.exists() and list(units.iterdir()) == []


def test_a_folder_holding_a_kit_is_started_at_once(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    plan = plan_install(kit, unit_dir=tmp_path, account_exists=lambda name: True)
    assert plan.commands[-1] == ("systemctl", "enable", "--now", UNIT_NAME)
    assert not any(command[0] == "useradd" for command in plan.commands)
    assert any("exists already" in note for note in plan.notes)


def test_a_kit_in_a_home_folder_gets_home_folders_read_only_and_is_told(tmp_path: Path) -> None:
    plan = plan_install(Path("/home/pi/kit"), unit_dir=tmp_path)
    assert _settings(plan.unit)["ProtectHome"] == ["read-only"]
    assert _settings(plan.unit)["ReadWritePaths"] == ["/home/pi/kit"]
    assert any("under a home folder" in note for note in plan.notes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "/"], "a folder of the system itself"),
        (["--data", "/etc/fieldkit"], "a folder of the system itself"),
        (["--data", "/usr/local/kit"], "a folder of the system itself"),
        (["--data", "/var/lib/my kit"], "has a space"),
        (["--data", "/var/lib/kit%i"], "has a space, quote, '%'"),
        (["--data", "/var/lib/fieldkit", "--account", "root"], "never as root"),
        (["--data", "/var/lib/fieldkit", "--account", "Field Kit"], "not a valid account name"),
        (["--data", "/var/lib/fieldkit", "--unit-dir", "units"], "--unit-dir must be an absolute path"),
    ],
)
def test_bad_options_are_refused_clearly_and_change_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    before = sorted(tmp_path.rglob("*"))
    for dry_run in ([], ["--dry-run"]):
        result = CliRunner().invoke(cli, ["service", "install", *args, *dry_run])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "Traceback" not in result.output and "would write" not in result.output
    assert sorted(tmp_path.rglob("*")) == before


def test_without_root_it_refuses_before_changing_anything(tmp_path: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    tmp_path.chmod(0o755)
    command = [sys.executable, "-m", "fieldkit", "service", "install", "--data", str(tmp_path / "kit"),
               "--unit-dir", str(units)]  # fmt: skip
    if os.geteuid() == 0:  # as the account "nobody" (65534), which cannot be root
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "installing a service needs root: run it with sudo" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(units.iterdir()) == [] and not (tmp_path / "kit").exists()
