"""A form pack changes what the phone offers: applied from a USB stick, or pulled from a real hub over HTTP.

Real processes throughout: ``fieldkit pack apply``, ``fieldkit sync pull`` and ``fieldkit
serve`` as subprocesses, ``fieldkit hub serve`` on 127.0.0.1, and a phone that is an HTTP
client keeping its cookies.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.store import HubStore
from sync.hub.web.auth import OperatorPassword
from sync.protocol.pull import make_pull_request
from tests.flaky_link import FlakyLink
from tests.http_servers import OPERATOR_PASSWORD, start_hub_process
from tests.packs import PEER, make_test_pack, pack_form, publish, retitled, served_pages, write_pack
from tests.processes import start_until_ready, stop
from tests.sync_cli import enrolled_pair
from tests.test_degradation import Browser


def fieldkit(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fieldkit", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_a_packs_wording_and_settings_are_what_the_kit_serves(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    from fieldkit.core import paths

    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    french = (paths.translations_dir() / "fr" / "LC_MESSAGES" / "forms.po").read_text(encoding="utf-8")
    reworded = french.replace('msgid "Peer interview"\nmsgstr "Entretien entre pairs"',
                              'msgid "Peer interview"\nmsgstr "Entretien entre pairs (paquet)"', 1)  # fmt: skip
    assert reworded != french
    data = make_test_pack(hub, 1, translations={"fr": reworded}, settings={"idle_minutes": 45})
    applied = fieldkit("pack", "apply", "--data", kit, write_pack(tmp_path, data))
    assert applied.returncode == 0 and "languages: fr" in applied.stdout, applied.stdout + applied.stderr
    output, home, _operator = served_pages(kit, passphrase_file, language="fr")
    assert "Entretien entre pairs (paquet)" in home
    assert "settings from the form pack: idle_minutes 45" in output
    output, _home, _operator = served_pages(kit, passphrase_file, "--idle-minutes", "20", language="fr")
    assert "settings from the form pack" not in output  # the command line wins


def test_the_hub_refuses_a_pull_whose_clock_is_far_off(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    import datetime

    from fieldkit.kit.config import load_config, unlock
    from tests.http_servers import running_hub
    from tests.sync_cli import PASSPHRASE

    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    config = load_config(kit)
    long_ago = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=3)
    with running_hub(hub) as server:
        body = make_pull_request(
            config.kit_id, config.epoch, server.store.config.hub_id, 0, unlock(kit, PASSPHRASE).signing_key,
            now=long_ago,
        )  # fmt: skip
        request = urllib.request.Request(
            server.url + "/api/v1/pack", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            urllib.request.urlopen(request, timeout=30)
            raise AssertionError("a request three days old was answered")
        except urllib.error.HTTPError as error:
            assert error.code == 403
            answer = json.loads(error.read())
        assert answer["error"] == "clock" and "set the kit's clock" in answer["reason"]
        fresh = make_pull_request(config.kit_id, config.epoch, server.store.config.hub_id, 0,
                                  unlock(kit, PASSPHRASE).signing_key)  # fmt: skip
        request = urllib.request.Request(
            server.url + "/api/v1/pack", data=fresh, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 204  # enrolled, but the hub has no pack yet


def _pack_with_title(hub: Path, version: int, title: str) -> bytes:
    return make_test_pack(hub, version, forms=(pack_form(retitled("peer-interview", title, version + PEER)),))


def test_a_pack_from_a_usb_stick_changes_what_the_phone_offers(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    _output, before, operator = served_pages(kit, passphrase_file)
    assert "Peer interview" in before and "Peer interview on the stick" not in before
    assert "No form pack applied" in operator

    stick = write_pack(tmp_path, _pack_with_title(hub, 1, "Peer interview on the stick"))
    applied = fieldkit("pack", "apply", "--data", kit, stick)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "pack 1 from hub" in applied.stdout and f"peer-interview v{PEER + 1}" in applied.stdout

    _output, after, operator = served_pages(kit, passphrase_file)
    assert "Peer interview on the stick" in after
    assert 'value="centre-assessment"' not in after  # the pack holds only the peer interview
    assert "Form pack 1" in operator


def _hub_serving(tmp_path: Path, hub: Path):
    OperatorPassword.for_hub(hub).set(OPERATOR_PASSWORD, work_factor=10)
    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    return start_hub_process(hub, 0, password_file)


def test_sync_pull_gets_the_hubs_newest_pack_over_http(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    publish(hub, _pack_with_title(hub, 1, "Peer interview one"), 1)
    publish(hub, _pack_with_title(hub, 2, "Peer interview over the air"), 2)
    server = _hub_serving(tmp_path, hub)
    try:
        pulled = fieldkit("sync", "pull", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert pulled.returncode == 0, pulled.stdout + pulled.stderr
        assert "Applied pack 2 from hub" in pulled.stdout
        again = fieldkit("sync", "pull", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert again.returncode == 0 and "Nothing newer" in again.stdout, again.stdout + again.stderr
    finally:
        server.stop()
    _output, home, _operator = served_pages(kit, passphrase_file)
    assert "Peer interview over the air" in home


def test_the_hub_answers_an_unknown_or_revoked_kit_with_403_and_nothing_more(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    publish(hub, make_test_pack(hub, 1), 1)
    with HubStore(hub) as store:
        hub_id = store.config.hub_id
        kit_id = next(s.source_id for s in store.sources() if s.kind == "kit")
    server = _hub_serving(tmp_path, hub)
    try:
        stranger = make_pull_request(kit_id, 1, hub_id, 0, Ed25519PrivateKey.generate())
        unknown = make_pull_request("no-such-kit", 1, hub_id, 0, Ed25519PrivateKey.generate())
        answers = []
        for body in (stranger, unknown, b"{}"):
            request = urllib.request.Request(
                server.url + "/api/v1/pack", data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                urllib.request.urlopen(request, timeout=30)
            except urllib.error.HTTPError as error:
                answers.append((error.code, json.loads(error.read())))
        assert (
            answers
            == [(403, {"error": "not-allowed", "reason": "this hub gives form packs only to kits enrolled with it"})]
            * 3
        )
        with HubStore(hub) as store:
            store.revoke(kit_id)
        pulled = fieldkit("sync", "pull", "--data", kit, "--hub", server.url, "--passphrase-file", passphrase_file)
        assert pulled.returncode == 1
        assert "not-allowed, HTTP 403" in pulled.stderr and "nothing changed" in pulled.stderr, pulled.stderr
        assert "Traceback" not in pulled.stderr
    finally:
        server.stop()
    assert not (kit / "packs").exists()


def test_a_stalled_hub_ends_a_pull_with_a_clear_message_in_bounded_time(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    publish(hub, make_test_pack(hub, 1), 1)
    server = _hub_serving(tmp_path, hub)
    link = FlakyLink(int(server.url.rsplit(":", 1)[1]))
    try:
        link.stalled = True
        started = time.monotonic()
        pulled = fieldkit(
            "sync", "pull", "--data", kit, "--hub", f"http://127.0.0.1:{link.port}", "--timeout", "1",
            "--attempts", "2", "--max-wait", "0.2", "--passphrase-file", passphrase_file, timeout=60,
        )  # fmt: skip
        took = time.monotonic() - started
        assert pulled.returncode == 1, pulled.stdout + pulled.stderr
        assert "did not answer within 1 seconds" in pulled.stderr and "nothing changed" in pulled.stderr
        assert "attempt 2 of 2" in pulled.stdout
        assert took < 45
    finally:
        link.close()
        server.stop()
    assert not (kit / "packs").exists()


def test_a_pull_request_copied_from_a_kit_is_signed_and_names_the_hub() -> None:
    key = Ed25519PrivateKey.generate()
    envelope = json.loads(make_pull_request("kit-a", 1, "hub-b", 3, key))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    assert payload["format"] == "fieldkit-pack-request/1" and payload["hub_id"] == "hub-b" and payload["have"] == 3


def test_the_push_worker_pulls_a_newer_pack_when_the_hub_answers(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    from fieldkit.kit.config import unlock
    from fieldkit.kit.packs import kept_packs
    from fieldkit.kit.push import HubLinks
    from fieldkit.kit.pushworker import PushWorker
    from tests.http_servers import running_hub
    from tests.sync_cli import PASSPHRASE

    hub, kit = enrolled_pair(tmp_path, hub_keys, passphrase_file)
    publish(hub, _pack_with_title(hub, 1, "Peer interview from the worker"), 1)
    arrived = []
    with running_hub(hub) as server:
        HubLinks(kit).set_url(server.store.config.hub_id, server.url)
        worker = PushWorker(unlock(kit, PASSPHRASE), poll_seconds=30.0, on_pack=arrived.append)
        assert worker.step() == 30.0  # nothing to push: it asks for a pack instead
        assert [applied.version for applied in arrived] == [1]
        assert [p.version for p in kept_packs(kit)] == [1]
        worker.step()  # the next pull is not due yet: nothing asked, nothing applied
        assert len(arrived) == 1


def test_the_demo_serves_its_demo_pack_with_centres(tmp_path: Path) -> None:
    started = time.monotonic()
    process, output = start_until_ready("demo", "--host", "127.0.0.1", "--port", "0")
    took = time.monotonic() - started
    try:
        assert "DEMO hub demo-hub: pack 1 with 4 DEMO centres in 2 regions" in output
        port = re.search(r"http://127\.0\.0\.1:(\d+)/operator/", output)
        assert port, output
        operator = Browser(f"http://127.0.0.1:{port.group(1)}").get("/operator/")
        assert 'Form pack 1 from hub <bdi dir="ltr">demo-hub</bdi>' in operator and "DEMO cycle" in operator
        assert "NOT AVAILABLE" not in output
    finally:
        stop(process)
    assert took < 30, took
