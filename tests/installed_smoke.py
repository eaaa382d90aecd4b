"""A smoke test of an installed fieldkit, from outside: the checks pass and the demo serves.

It uses nothing but the standard library and the ``fieldkit`` executable it is
given, so it can judge any installation: the newest versions the ranges allow
(``scripts/smoke-newest.sh``), a wheel in a read-only ``site-packages``
(``tests/test_install.py``), or a fresh clone's ``.venv``. Run it as
``python3 -m tests.installed_smoke PATH/TO/fieldkit``; it ends with a line
``smoke: N passed, M failed`` and exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tests.processes import read_until_ready, stop

READY_SECONDS = 120  # a cold start on a slow machine compiles every catalogue first
_URL = re.compile(r"phones: (http://127\.0\.0\.1:\d+)/")
_CODE = re.compile(r"pairing code: (\S+)")
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_LANGUAGES = re.compile(r'<option value="([a-zA-Z_]+)"[^>]*>')


@dataclass
class Results:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        (self.passed if ok else self.failed).append(name)
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""), flush=True)
        return ok

    @property
    def summary(self) -> str:
        return f"smoke: {len(self.passed)} passed, {len(self.failed)} failed"


# The command that runs fieldkit: its executable, maybe behind ``setpriv`` to run as another user.
Command = Sequence[str]


def _run(fieldkit: Command, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*fieldkit, *args], capture_output=True, text=True, timeout=300, check=False
    )


@contextlib.contextmanager
def running(
    command: Command, *, cwd: str | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[str, str, str]]:
    """Start a serving command until it prints "ready"; yield (base URL, pairing code, output)."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        ready = read_until_ready(process, READY_SECONDS, lines)
        output = "\n".join(lines)
        url, code = _URL.search(output), _CODE.search(output)
        if not (ready and url and code):
            raise RuntimeError(f"{' '.join(command)} did not become ready:\n" + output)
        yield url.group(1), code.group(1), output
    finally:
        stop(process)


class Phone:
    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def request(self, path: str, fields: dict[str, str] | None = None) -> str:
        data = urllib.parse.urlencode(fields).encode("ascii") if fields is not None else None
        with self.opener.open(self.base + path, data=data, timeout=30) as response:
            return response.read().decode("utf-8")


def _token(page: str) -> str:
    found = _TOKEN.search(page)
    return found.group(1) if found else ""


def pages_in_every_language(base: str, code: str, check: Callable[[str, bool, str], bool]) -> None:
    """The pairing page in each language it offers, then pairing and the home page."""
    phone = Phone(base)
    page = phone.request("/pair")
    languages = _LANGUAGES.findall(page.split('id="ui-lang"', 1)[-1].split("</select>", 1)[0])
    check("the pairing page offers the shipped languages", len(languages) >= 6, f"offered: {languages}")
    for language in languages:
        page = phone.request("/lang", {"csrf_token": _token(page), "lang": language, "next": "/pair"})
        check(f"a page in {language}", f'<html lang="{language}"' in page, page[:200])
    home = phone.request("/pair", {"csrf_token": _token(page), "code": code, "interviewer": "P01"})
    check("pairing leads to the forms", 'value="peer-interview"' in home and 'value="centre-assessment"' in home)


def smoke(fieldkit: Command) -> Results:
    """Every check against the installation that ``fieldkit`` runs."""
    results = Results()
    for args in (("--version",), ("forms", "check"), ("translations", "check")):
        done = _run(fieldkit, *args)
        results.check(f"fieldkit {' '.join(args)}", done.returncode == 0, done.stdout + done.stderr)
    try:
        with running([*fieldkit, "demo", "--host", "127.0.0.1", "--port", "0"]) as (base, code, output):
            results.check("fieldkit demo starts", True)
            results.check("the demo offers every form in every language", "NOT AVAILABLE" not in output, output)
            pages_in_every_language(base, code, results.check)
    except (RuntimeError, OSError) as error:
        results.check("fieldkit demo starts", False, str(error))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fieldkit", help="the fieldkit executable of the installation to judge")
    results = smoke([parser.parse_args(argv).fieldkit])
    print(results.summary)
    return 0 if not results.failed else 1


if __name__ == "__main__":
    sys.exit(main())
