"""Disk faults during bundle export and hub import: a clear error, nothing changed, retry succeeds.

A failing fsync is injected into the real command with strace's fault injection,
so the code under test runs unmodified; a full disk is a real, tiny tmpfs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from fieldkit.kit.outbox import Outbox
from sync.hub.store import HubStore
from tests.conftest import require_tool
from tests.sync_cli import enrolled_pair, make_hub_keys, simulate, write_passphrase_file


def fieldkit(*args: object, fail_fsync: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fieldkit", *map(str, args)]
    if fail_fsync:
        strace = require_tool("strace")
        command = [strace, "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync,fdatasync",
                   "-e", "inject=fsync,fdatasync:error=EIO", *command]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def _one_line_error(result: subprocess.CompletedProcess, words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], lines


@pytest.fixture
def setup(tmp_path: Path):
    keys = make_hub_keys(tmp_path)
    passphrase = write_passphrase_file(tmp_path)
    hub, kit = enrolled_pair(tmp_path, keys, passphrase)
    simulate(kit, passphrase, 4, seed=1)
    return hub, kit, passphrase


def test_failing_fsync_during_bundle_export(setup, tmp_path: Path) -> None:
    _, kit, passphrase = setup
    before = Outbox(kit).pending_ids()
    out = tmp_path / "bundle.tar"
    _one_line_error(
        fieldkit("sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase, fail_fsync=True),
        "write error",
    )
    assert not out.exists()
    assert Outbox(kit).pending_ids() == before
    retried = fieldkit("sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase)
    assert retried.returncode == 0, retried.stderr
    assert out.stat().st_size > 0


def test_failing_fsync_during_hub_import(setup, tmp_path: Path) -> None:
    hub, kit, passphrase = setup
    out = tmp_path / "bundle.tar"
    assert fieldkit("sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase).returncode == 0
    before = HubStore(hub).state_digest()
    _one_line_error(fieldkit("hub", "import", "--data", hub, out, fail_fsync=True), "disk")
    assert HubStore(hub).state_digest() == before
    assert HubStore(hub).record_count() == 0
    retried = fieldkit("hub", "import", "--data", hub, out)
    assert retried.returncode == 0, retried.stderr
    assert HubStore(hub).record_count() == len(Outbox(kit).pending_ids())


def _mount_small_tmpfs(path: Path, size: str) -> None:
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        reason = f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


def _fill(path: Path) -> Path:
    ballast = path / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass  # the disk is full: that is the point
    finally:
        os.close(fd)
    return ballast


def test_full_disk_during_bundle_export_and_hub_import(setup, tmp_path: Path) -> None:
    hub, kit, passphrase = setup
    small = tmp_path / "small"
    _mount_small_tmpfs(small, "2m")
    try:
        ballast = _fill(small)
        out = small / "bundle.tar"
        _one_line_error(
            fieldkit("sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase), "full"
        )
        assert not out.exists()
        ballast.unlink()
        assert fieldkit("sync", "export", "--data", kit, "--out", out, "--passphrase-file", passphrase).returncode == 0

        # The hub's own folder fills up during the import.
        moved_hub = small / "hub"
        subprocess.run(["cp", "-a", str(hub), str(moved_hub)], check=True)
        before = HubStore(moved_hub).state_digest()
        ballast = _fill(small)
        _one_line_error(fieldkit("hub", "import", "--data", moved_hub, out), "disk")
        assert HubStore(moved_hub).state_digest() == before
        ballast.unlink()
        retried = fieldkit("hub", "import", "--data", moved_hub, out)
        assert retried.returncode == 0, retried.stderr
        assert HubStore(moved_hub).record_count() == 4
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
