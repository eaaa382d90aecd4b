"""Options that contradict each other are an error that changes nothing (issue 17, point 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sync_cli import init_hub_folder, new_kit, run


def test_keygen_refuses_no_passphrase_with_a_passphrase_file(tmp_path: Path, passphrase_file: Path) -> None:
    out = tmp_path / "keys"
    refused = run("hub", "keygen", "--out", out, "--no-passphrase", "--passphrase-file", passphrase_file, expect=1)
    assert "give --no-passphrase or --passphrase-file, not both" in refused.output
    assert not out.exists()  # no identity, protected or not, was written
    made = run("hub", "keygen", "--out", out, "--passphrase-file", passphrase_file)
    assert (out / "hub-identity.age").exists() and not (out / "hub-identity.txt").exists(), made.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "push", "--data", "{kit}", "--once", "--forever"], "give --once or --forever, not both"),
        (["sync", "push", "--data", "{kit}", "--once", "--attempts", "3"], "give --once or --attempts, not both"),
        (
            ["sync", "push", "--data", "{kit}", "--once", "--forever", "--attempts", "3"],
            "give only one of --once, --forever, --attempts",
        ),
        (["hub", "forward", "--data", "{hub}", "--forever", "--attempts", "2"], "give --attempts or --forever"),
        (
            ["hub", "enrol", "--data", "{hub}", "--accept", "{kit}/kit.json", "--valid-days", "3"],
            "give --accept or --valid-days, not both",
        ),
    ],
)
def test_other_contradictory_options_are_refused(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path, args: list[str], message: str
) -> None:
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    hub = init_hub_folder(tmp_path, hub_keys)
    before = sorted(path.name for path in hub.rglob("*")), sorted(path.name for path in kit.rglob("*"))
    refused = run(*(arg.format(kit=kit, hub=hub) for arg in args), expect=1)
    assert message in refused.output and "nothing was done" in refused.output
    assert (sorted(path.name for path in hub.rglob("*")), sorted(path.name for path in kit.rglob("*"))) == before
