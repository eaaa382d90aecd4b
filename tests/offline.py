"""The x86_64 offline bundle, made once per test session by scripts/offline-bundle.sh.

Shared by the bundle's own test and the Raspberry Pi install script's test, which
installs from it rather than from the network. The pip of every install from it runs
with no index reachable: no configuration file, no find-links, and an index URL on a
closed port of 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.conftest import ROOT


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def no_index_environment() -> dict[str, str]:
    """This environment, with pip cut off from every index and every folder of wheels but ours."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    environment.pop("VIRTUAL_ENV", None)
    return environment | {
        "PIP_CONFIG_FILE": os.devnull,  # no pip.conf: its extra indexes and find-links
        "PIP_INDEX_URL": f"http://127.0.0.1:{closed_port()}/simple/",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def make_bundle(out: Path, *platform: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "offline-bundle.sh"), str(out), *platform],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
