"""Installs as users meet them: a fresh clone's first command, and a read-only installed wheel.

Both install from ``requirements/*.lock`` with pip in hash-checking mode, which
needs the package index (or pip's cache) the first time: CI has both.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.installed_smoke import Results, pages_in_every_language, running, smoke

pytestmark = pytest.mark.slow
NOBODY = 65534


def _readme_first_command() -> list[str]:
    """The README's first command line, as a newcomer would copy it."""
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("    "):
            return line.split("#", 1)[0].split()
    raise AssertionError("the README has no command block")


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A temporary folder another user can read (pytest's tmp_path is private to us)."""
    folder = Path(tempfile.mkdtemp(prefix="fieldkit-install-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path in [folder, *folder.rglob("*")]:  # give write back, or rmtree cannot remove it
            if path.is_dir() and not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(folder, ignore_errors=True)


def _check(command: list, **kwargs) -> subprocess.CompletedProcess[str]:
    command = [str(part) for part in command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_wheel_in_a_read_only_site_packages_serves_every_language(world_readable_dir: Path) -> None:
    wheels = world_readable_dir / "wheels"
    _check([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, ROOT])
    [wheel] = wheels.glob("fieldkit-*.whl")
    venv = world_readable_dir / "venv"
    _check([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    _check([*pip, "--require-hashes", "-r", str(ROOT / "requirements" / "runtime.lock")])
    _check([*pip, "--no-deps", str(wheel)])
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = Path(_check([str(venv / "bin" / "python"), "-c", where]).stdout.strip())
    assert (purelib / "fieldkit" / "_shipped" / "translations").is_dir()
    assert not list(purelib.glob("fieldkit/**/*.mo")), "compiled catalogues are never shipped"

    for path in [purelib, *purelib.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = _snapshot(purelib)
    fieldkit = [str(venv / "bin" / "fieldkit")]
    if os.geteuid() == 0:  # root writes through any mode bits: run as nobody, for whom they hold
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is needed to drop root for this test"
        fieldkit = [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *fieldkit]

    results = smoke(fieldkit)
    assert not results.failed, results.summary + ": " + ", ".join(results.failed)
    assert _snapshot(purelib) == before, "nothing may be written into the installed package"


def test_a_fresh_clone_runs_the_readme_first_command_then_again_with_no_network(tmp_path: Path) -> None:
    command = _readme_first_command()
    assert command == ["bash", "scripts/demo.sh"], command
    clone = tmp_path / "clone"
    _check(["git", "clone", "--quiet", str(ROOT), str(clone)])
    # A free port on loopback instead of 8080 on every interface: the rest is the README's line.
    serving = [*command, "--host", "127.0.0.1", "--port", "0"]
    environment = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}

    for attempt, extra in (("first", {}), ("offline", {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": ""})):
        started = time.monotonic()
        with running(serving, cwd=str(clone), env=environment | extra) as (base, code, output):
            assert re.search(r"phones: http://127\.0\.0\.1:\d+/", output) and code, output
            with urllib.request.urlopen(base + "/pair", timeout=30) as response:
                assert response.status == 200
            results = Results()
            pages_in_every_language(base, code, results.check)
            assert not results.failed, f"{attempt} run: {results.failed}"
        if attempt == "offline":
            assert "Installing" not in output, "a second run must not install anything"
        print(f"{attempt} run of the README's first command: ready in {time.monotonic() - started:.0f} s")
