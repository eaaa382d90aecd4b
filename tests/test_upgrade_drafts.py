"""A kit upgraded in the middle of an interview finishes it with the form version it started with.

An interviewer starts a peer interview on a kit that serves version 2 of the form (as
fieldkit did before the centre picker), answers the first pages, and the kit stops.
fieldkit is upgraded: version 3 ships and version 2 moves to ``forms/archive/``. The
restarted ``fieldkit serve`` (a real process each time) gives the phone its draft,
which opens and finishes under version 2: its questions, its typed centre code, and a
sealed record that names version 2. Before the archive existed such a draft answered
404 after an upgrade.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import threading
from pathlib import Path

from benchmarks.phones import Phone
from fieldkit.core import paths
from fieldkit.core.crypto import age
from fieldkit.core.formengine.model import CONSENT_GIVEN
from fieldkit.core.storage.records import RecordStore
from tests.browser import serve
from tests.conftest import PASSPHRASE, KitFixture
from tests.processes import stop
from tests.webclient import SHOWN_ITEM, csrf_token

OLD_VERSION = 2
HAND_OVER = re.compile(r'action="/operator/hand-over">.*?name="session" value="([^"]+)"', re.S)


def stop_gently(served, *phones: Phone) -> None:
    for phone in phones:
        phone.close()
    served.process.send_signal(signal.SIGINT)
    served.process.wait(30)
    stop(served.process)


def paired(url: str, code: str, opened: list[Phone]) -> Phone:
    phone = Phone(url, "P01")
    opened.append(phone)
    phone.pair(lambda: code, threading.Lock())
    return phone


def test_a_draft_started_before_an_upgrade_finishes_under_its_own_version(kit: KitFixture, tmp_path: Path) -> None:
    passphrase_file = tmp_path / "kit-passphrase.txt"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    # Before the upgrade: the kit serves version 2, the form as it was published.
    before = tmp_path / "forms-before"
    before.mkdir()
    shutil.copyfile(
        paths.forms_dir() / "archive" / f"peer-interview.v{OLD_VERSION}.yaml", before / "peer-interview.yaml"
    )
    opened: list[Phone] = []
    served = serve(kit.data_dir, passphrase_file, "--forms", str(before))
    try:
        phone = paired(served.url, served.code, opened)
        home = phone.get("home", "/home")
        first = phone.post_redirect(
            "start", "/start", [("csrf_token", csrf_token(home)), ("form", "peer-interview"), ("lang", "en")]
        )
        page = phone.get("section_get", first)
        second = phone.post_redirect(
            "section_post", first, [("csrf_token", csrf_token(page)), ("action", "next"), ("consent", CONSENT_GIVEN)]
        )
        page = phone.get("section_get", second)
        assert "centre_code" in SHOWN_ITEM.findall(page), "version 2 still asks for the typed code"
        phone.post_redirect(
            "section_post", second, [("csrf_token", csrf_token(page)), ("action", "next"), ("centre_code", "C07")]
        )
    finally:
        stop_gently(served, *opened)

    # An upgrade that forgot the archive: the kit still serves, and says which drafts it cannot finish.
    without_archive = tmp_path / "forms-without-archive"
    without_archive.mkdir()
    shutil.copyfile(paths.forms_dir() / "peer-interview.yaml", without_archive / "peer-interview.yaml")
    served = serve(kit.data_dir, passphrase_file, "--forms", str(without_archive))
    stop_gently(served)
    assert any(
        line.startswith(f"  NOT AVAILABLE: form peer-interview version {OLD_VERSION}, which unfinished drafts")
        for line in served.output
    ), served.output

    # After the upgrade: the shipped forms (version 3 current, version 2 archived).
    served = serve(kit.data_dir, passphrase_file)
    try:
        output = "\n".join(served.output)
        assert "NOT AVAILABLE" not in output, output
        assert "is serving 2 forms" in output, output
        phone = paired(served.url, served.code, opened)
        operator = Phone(served.url, "operator")  # the kit's own screen, on 127.0.0.1
        opened.append(operator)
        overview = operator.get("home", "/operator/")
        (session,) = HAND_OVER.findall(overview)
        operator.post_redirect(
            "home", "/operator/hand-over", [("csrf_token", csrf_token(overview)), ("session", session)]
        )
        draft_id = re.search(r"/d/([0-9a-f]{32})", phone.get("home", "/home"))
        assert draft_id, "the home page lists the draft"
        path = f"/d/{draft_id.group(1)}/s/{second.rsplit('/s/', 1)[1]}"
        page = phone.get("section_get", path)
        assert "centre_code" in SHOWN_ITEM.findall(page), "the draft goes on with version 2's questions"
        review = phone.get("review", f"/d/{draft_id.group(1)}/review")
        done = phone.post_redirect(
            "finalise",
            f"/d/{draft_id.group(1)}/finalise",
            [("csrf_token", csrf_token(review)), ("confirm_missing", "yes")],
        )
        assert done.startswith("/done/"), done
    finally:
        stop_gently(served, *opened)

    (record_id,) = RecordStore(kit.data_dir).ids()
    payload = json.loads(age.decrypt(RecordStore(kit.data_dir).get(record_id), kit.identities()))
    assert payload["form"]["id"] == "peer-interview" and payload["form"]["version"] == OLD_VERSION
    assert payload["answers"]["centre_code"] == "C07" and payload["answers"]["consent"] == CONSENT_GIVEN
