"""A non-editable install into a fresh virtual environment still finds the shipped data."""

from __future__ import annotations

import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from sync.hub.store import HEAD_REVISION

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_in_fresh_venv_finds_forms_and_translations(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(wheels),
            str(ROOT),
        ],
        check=True,
    )
    (wheel,) = wheels.glob("fieldkit-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        top_level = {name.split("/", 1)[0] for name in names}
    # The hub's Alembic migrations travel as files beside the code (found without alembic.ini).
    migrations = {"env.py", "script.py.mako", *(f"versions/schema{n}.py" for n in range(1, 6))}
    assert {f"sync/hub/migrations/{name}" for name in migrations} <= names
    # Two packages and the metadata: no tests, benchmarks or scripts land in site-packages
    # (why ``sync`` stays a top-level name: docs/architecture.md).
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"fieldkit", "sync"}, top_level

    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)], check=True)
    # Dependencies come from the test environment (no network needed); the
    # fieldkit package itself must come from the wheel just installed.
    fresh_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dependency_dirs = [sysconfig.get_paths()["purelib"], *site.getsitepackages()]
    Path(fresh_site, "zz_test_dependencies.pth").write_text("\n".join(dependency_dirs) + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import fieldkit.core.paths as p; print(p.__file__); print(p.forms_dir()); print(p.translations_dir())",
        ],
        cwd=outside,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert all(line.startswith(str(venv)) for line in where), where
    assert (Path(where[1]) / "centre-assessment.yaml").is_file()
    # Older form versions travel too, in their own folder that is not served as current.
    assert (Path(where[1]) / "archive" / "centre-assessment.v1.yaml").is_file()
    assert (Path(where[1]) / "archive" / "peer-interview.v2.yaml").is_file()
    assert Path(where[2]).is_dir()

    check = subprocess.run(
        [str(venv / "bin" / "fieldkit"), "forms", "check"], cwd=outside, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    assert "ok  peer-interview@" in check.stdout

    migrations = subprocess.run(
        [str(python), "-c", "from sync.hub import migrate; print(migrate.MIGRATIONS_DIR, migrate.head_revision())"],
        cwd=outside,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert migrations[0].startswith(str(venv)) and migrations[1] == HEAD_REVISION, migrations
