"""Shared fixtures and helpers for the fieldkit test suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"


def require_tool(name: str) -> str:
    """The path of a system tool; skip without it, but fail in CI where it must exist."""
    found = shutil.which(name)
    if found:
        return found
    message = f"'{name}' is not installed (scripts/install-system-packages.sh installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)
    raise AssertionError("unreachable")


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests keep screenshots and other artefacts a person should look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
