"""The README's "In the field" lines, run as they are written and in their order.

The test reads the code blocks of that section of README.md and runs every line as a
real ``fieldkit`` subprocess, so the README cannot drift from the commands. What it
changes, all of it here:

- Placeholders (words in capitals) become folders under ``tmp_path`` (``FOLDERS``), or
  values earlier commands printed (``PRINTED``): ``URL`` from ``hub serve``, ``T`` from
  ``hub enrol``, ``RECEIPT`` from ``hub import``. A capital word it does not know fails.
- A command that takes ``--passphrase-file`` gets one: a test has no terminal, and the
  README says every such command reads it.
- ``serve`` and ``hub serve`` listen on 127.0.0.1 with port 0 (any ``--host`` the README
  gives is replaced), run in the background, and stop with Ctrl+C (SIGINT) when their
  block ends.
- The kit block (``fieldkit init``) runs again before each route block (HTTP, USB), each
  time with a kit folder of its own, as a newcomer follows one route per kit.
- ``CENTRES`` is a CSV file of three centres in two regions (``CENTRES_CSV``).
- Right after ``fieldkit serve`` the test makes interviews with ``fieldkit simulate``,
  standing in for the phones.

At the end every interview made on either kit is at the hub, marked synced on its kit
and pruned there, each kit follows the hub's form pack (pulled or applied from the stick),
and the export and the report were written.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest

from fieldkit.cli import cli
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.outbox import Outbox
from fieldkit.kit.packs import serving_summary
from tests.processes import start_until_ready, stop
from tests.sync_cli import held, write_passphrase_file

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## In the field"
FOLDERS = {"HUBKEYS": "hub-keys", "HUB": "hub", "STICK": "usb-stick", "EXPORT": "export", "REPORT": "report"}
# The registry the README's CENTRES file stands for: two regions, two kinds of centre.
CENTRES_CSV = """code,name,region,kind,location,active
C01,Hope House,NORTH,residential,Lyon,yes
C02,Harbour Clinic,NORTH,specialised_outpatient,Lyon,yes
C03,Hill Centre,SOUTH,closed_centre,,yes
"""
PRINTED = {
    "URL": re.compile(r"kits push to: (\S+)"),
    "T": re.compile(r"Enrolment token: (\S+)"),
    "RECEIPT": re.compile(r"receipt: (\S+)"),
}
INTERVIEWS_PER_KIT = 3
CAPITALS = re.compile(r"[A-Z][A-Z0-9_]*")


def readme_blocks() -> list[list[str]]:
    """The command lines of each code block in the section, comments removed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION + "\n") + len(SECTION)
    following = text.find("\n## ", start)
    blocks: list[list[str]] = []
    previous_was_code = False
    for line in text[start : following if following != -1 else None].splitlines():
        if not line.strip():
            continue  # a blank line neither ends nor starts a block
        is_code = line.startswith("    ") and line.strip().startswith("fieldkit ")
        if is_code:
            if not previous_was_code:
                blocks.append([])
            blocks[-1].append(line.split(" # ", 1)[0].strip())
        previous_was_code = is_code
    return blocks


def kind(block: list[str]) -> str:
    words = [shlex.split(line)[1:3] for line in block]
    if ["init", "--data"] in words:
        return "kit"
    if any(line.startswith("fieldkit sync enrol") and " --hub " in line for line in block):
        return "http"
    if ["sync", "export"] in words:
        return "usb"
    return "hub"


def command_for(args: list[str]) -> click.Command:
    command: click.Command = cli
    for word in args:
        found = command.get_command(click.Context(command), word) if isinstance(command, click.Group) else None
        if found is None:
            break
        command = found
    return command


def takes_passphrase_file(args: list[str]) -> bool:
    return any("--passphrase-file" in parameter.opts for parameter in command_for(args).params)


def fieldkit_executable() -> list[str]:
    script = Path(sys.executable).parent / "fieldkit"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "fieldkit"]


class Walkthrough:
    """Runs README lines with the placeholders of one place (folders, printed values)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.passphrase_file = write_passphrase_file(tmp_path)
        self.values: dict[str, str] = {name: str(tmp_path / folder) for name, folder in FOLDERS.items()}
        (tmp_path / FOLDERS["STICK"]).mkdir()
        self.values["CENTRES"] = str(tmp_path / "centres.csv")
        Path(self.values["CENTRES"]).write_text(CENTRES_CSV, encoding="utf-8")
        self.background: list[tuple[str, subprocess.Popen]] = []
        self.made: dict[Path, list[str]] = {}
        self.kit: Path | None = None

    def use_kit(self, name: str) -> None:
        self.kit = self.tmp_path / name
        self.values["KIT"] = str(self.kit)

    def substitute(self, line: str) -> list[str]:
        args = []
        for word in shlex.split(line)[1:]:
            head, _, rest = word.partition("/")
            if CAPITALS.fullmatch(head):
                assert head in self.values, f"README line {line!r}: no value for placeholder {head} (yet)"
                head = self.values[head]
                word = f"{head}/{rest}" if rest else head
            args.append(word)
        if takes_passphrase_file(args) and "--passphrase-file" not in args:
            args += ["--passphrase-file", str(self.passphrase_file)]
        return args

    def run_line(self, line: str) -> None:
        args = self.substitute(line)
        if args[:1] == ["serve"] or args[:2] == ["hub", "serve"]:
            self.start_serving(line, args)
            return
        done = subprocess.run(
            [*fieldkit_executable(), *args], cwd=self.tmp_path, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"README line {line!r} failed ({done.returncode}):\n{output}"
        assert "Traceback" not in output, output
        self.remember(output)

    def start_serving(self, line: str, args: list[str]) -> None:
        if "--host" in args:
            index = args.index("--host")
            del args[index : index + 2]
        process, output = start_until_ready(*args, "--host", "127.0.0.1", "--port", "0")
        self.background.append((line, process))
        self.remember(output)
        if args[0] == "serve":
            self.interviews()

    def interviews(self) -> None:
        """Sealed records made through the real finalise path, as phones would while serve runs."""
        assert self.kit is not None
        done = subprocess.run(
            [*fieldkit_executable(), "simulate", "--data", str(self.kit), "--responses", str(INTERVIEWS_PER_KIT),
             "--seed", str(len(self.made)), "--passphrase-file", str(self.passphrase_file)],
            cwd=self.tmp_path, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        self.made.setdefault(self.kit, []).extend(done.stdout.split())

    def remember(self, output: str) -> None:
        for name, pattern in PRINTED.items():
            found = pattern.findall(output)
            if found:
                self.values[name] = found[-1]

    def run_block(self, block: list[str]) -> None:
        try:
            for line in block:
                self.run_line(line)
        finally:
            self.stop_serving()

    def stop_serving(self) -> None:
        while self.background:
            line, process = self.background.pop()
            process.send_signal(signal.SIGINT)  # Ctrl+C, as a person stops them
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(15)
            stop(process)  # closes the pipe; kills only what Ctrl+C did not stop
            assert process.returncode == 0, f"README line {line!r} did not stop cleanly ({process.returncode})"


def test_the_readme_blocks_are_the_route_a_newcomer_follows() -> None:
    kinds = [kind(block) for block in readme_blocks()]
    assert kinds == ["hub", "hub", "kit", "http", "usb", "hub"], kinds


@pytest.mark.slow
def test_the_readme_field_walkthrough_runs_as_written(tmp_path: Path) -> None:
    walk = Walkthrough(tmp_path)
    blocks = readme_blocks()
    kit_block = next(block for block in blocks if kind(block) == "kit")
    routes = 0
    for block in blocks:
        route = kind(block)
        if route == "kit":
            continue  # runs before each route, for a kit of that route
        if route in ("http", "usb"):
            routes += 1
            walk.use_kit(f"kit-{route}")
            walk.run_block(kit_block)
        walk.run_block(block)
    assert routes == 2

    hub = Path(walk.values["HUB"])
    at_hub = held(hub)
    assert set(walk.made) == {tmp_path / "kit-http", tmp_path / "kit-usb"}
    for kit, record_ids in walk.made.items():
        assert len(record_ids) == INTERVIEWS_PER_KIT
        assert set(record_ids) <= set(at_hub), kit.name
        state = Outbox(kit).status()
        assert (state.pending, state.records) == (0, 0), (kit.name, state)
        assert Outbox(kit).held_and_waiting() == (0, 0), kit.name  # the kept counts agree after prune
        assert RecordStore(kit).counts() == {}, kit.name
        assert list(RecordStore(kit).ids()) == [], kit.name
        pack = serving_summary(kit)  # pulled by HTTP, or applied from the stick
        assert pack is not None and (pack.version, pack.cycle) == (1, "First quarter 2027"), kit.name
    assert any(Path(walk.values["EXPORT"]).glob("*.csv"))
    assert (Path(walk.values["REPORT"]) / "report.html").is_file()
