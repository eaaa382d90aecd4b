"""Kit to hub over HTTP: enrolment, push with receipts, captive portals and impostors,
revocation, backoff and resumption, and the background worker inside ``fieldkit serve``.

Every server is real and listens on 127.0.0.1: the hub app under waitress in a thread,
``fieldkit hub serve`` and ``fieldkit serve`` as subprocesses."""

from __future__ import annotations

import datetime
import json
import random
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.config import load_config, unlock
from fieldkit.kit.outbox import Outbox, SyncState
from fieldkit.kit.push import HubLinks
from fieldkit.kit.pushworker import PushWorker
from sync.hub.enrolment import create_token
from sync.hub.store import HubStore
from sync.protocol.bundle import BundleReader
from sync.protocol.client import Backoff, HubClient, TransportError
from sync.protocol.receipts import make_receipt
from tests.browser import serve as serve_kit
from tests.http_servers import (
    OPERATOR_PASSWORD,
    ServerThread,
    captive_portal,
    impostor_hub,
    running_hub,
    start_hub_process,
    wait_until,
)
from tests.hub_backend import hub_db
from tests.sync_cli import (
    PASSPHRASE,
    enrol,
    held,
    init_hub_folder,
    new_kit,
    run,
    simulate,
)

FAST = ["--max-wait", "0.05"]


def version_rows(hub: Path) -> int:
    with hub_db(hub) as connection:
        return int(connection.execute("SELECT COUNT(*) FROM versions").fetchone()[0])


def kit_records(kit: Path) -> dict[str, bytes]:
    store = RecordStore(kit)
    return {record_id: store.get(record_id) for record_id in store.ids()}


def acked(kit: Path) -> set[str]:
    return {rid for rid, entry in SyncState(kit).load_outbox()["records"].items() if entry.get("acked_by")}


def http_enrol(hub_url: str, store: HubStore, kit: Path, passphrase_file: Path, expect: int = 0):
    token = create_token(store)
    return run(
        "sync", "enrol", "--data", kit, "--hub", hub_url, "--token", token.display,
        "--passphrase-file", passphrase_file, expect=expect,
    )  # fmt: skip


def push(kit: Path, passphrase_file: Path, *extra: object, expect: int = 0):
    return run("sync", "push", "--data", kit, "--passphrase-file", passphrase_file, *extra, expect=expect)


# --- Enrolment and push -----------------------------------------------------------------


def test_push_over_http_stores_every_record_once_and_a_second_push_does_nothing(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    simulate(kit, passphrase_file, 12, seed=3)
    with running_hub(hub) as server:
        enrolled = http_enrol(server.url, server.store, kit, passphrase_file)
        hub_id = server.store.config.hub_id
        assert f"Enrolled with hub {hub_id} at {server.url}" in enrolled.output
        assert [hub.hub_id for hub in SyncState(kit).hubs()] == [hub_id]
        assert HubLinks(kit).latest().url == server.url  # the URL is kept with the enrolled hub

        first = push(kit, passphrase_file, "--batch", 5)
        assert first.output.count("Sending ") == 3  # 5 + 5 + 2 records
        assert "Done: 12 records marked as synced in 3 bundle(s); 0 wait." in first.output
        digest = server.store.state_digest()
        again = push(kit, passphrase_file)
        assert "Nothing to push" in again.output
        assert server.store.state_digest() == digest
        assert len(server.store.events(("imported",))) == 3

    assert held(hub) == kit_records(kit)
    assert version_rows(hub) == 12  # each record exactly once
    assert acked(kit) == set(kit_records(kit))
    assert Outbox(kit).pending_ids() == []
    link = HubLinks(kit).latest()
    assert link.failures == 0 and link.last_success and link.last_error is None


def test_enrolment_over_http_checks_the_token_file_and_refuses_a_used_token(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    other_hub = init_hub_folder(tmp_path, hub_keys, name="other-hub")
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    second_kit = new_kit(tmp_path, hub_keys, passphrase_file, name="kit2")
    with running_hub(hub) as server, HubStore(other_hub) as other:
        # A token file from another hub: refused before anything is sent.
        wrong = tmp_path / "wrong-token.json"
        wrong.write_bytes(create_token(other).to_file_bytes())
        refused = run(
            "sync", "enrol", "--data", kit, "--hub", server.url, "--token-file", wrong,
            "--passphrase-file", passphrase_file, expect=1,
        )  # fmt: skip
        assert f"is hub {server.store.config.hub_id}, but the token file is for hub" in refused.output
        assert server.store.sources() == []

        token = create_token(server.store)
        token_file = tmp_path / "token.json"
        token_file.write_bytes(token.to_file_bytes())
        run(
            "sync", "enrol", "--data", kit, "--hub", server.url, "--token-file", token_file,
            "--passphrase-file", passphrase_file,
        )  # fmt: skip
        assert [source.source_id for source in server.store.sources()] == [load_config(kit).kit_id]

        used = run(
            "sync", "enrol", "--data", second_kit, "--hub", server.url, "--token", token.display,
            "--passphrase-file", passphrase_file, expect=1,
        )  # fmt: skip
        lines = used.output.strip().splitlines()
        assert lines == [
            "Error: the hub refused it (enrolment-refused, HTTP 403): the enrolment token was already "
            "used by another kit"
        ]
        assert SyncState(second_kit).hubs() == []


def test_a_revoked_kit_is_refused_with_403_and_the_reason_in_one_line(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    with running_hub(hub) as server:
        http_enrol(server.url, server.store, kit, passphrase_file)
        kit_id = load_config(kit).kit_id
        server.store.revoke(kit_id)
        simulate(kit, passphrase_file, 3, seed=4)
        result = push(kit, passphrase_file, expect=1)
        error_lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(error_lines) == 1
        assert "the hub refused it (revoked-source, HTTP 403): kit " + kit_id + " was revoked on" in error_lines[0]
        assert "Waiting" not in result.output  # a refusal is not retried
        assert "3 still wait" in error_lines[0]

        # The API itself: 403 with a JSON reason, and the refusal is in the hub's log.
        bundle = Outbox(kit).prepare_bundle(unlock(kit, PASSPHRASE))
        request = urllib.request.Request(
            server.url + "/api/v1/bundles", data=bundle.data, method="POST",
            headers={"Content-Type": "application/x-tar"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        with refused.value as answer:
            assert answer.code == 403
            document = json.loads(answer.read())
        assert document["error"] == "revoked-source" and kit_id in document["reason"]
        assert server.store.events(("refused",))[-1].code == "revoked-source"
    assert acked(kit) == set()
    assert held(hub) == {}


# --- Captive portals and impostors --------------------------------------------------------


def enrolled_with_files(tmp_path: Path, hub_keys: Path, passphrase_file: Path, records: int) -> tuple[Path, Path]:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    enrol(hub, kit, passphrase_file, tmp_path)
    simulate(kit, passphrase_file, records, seed=5)
    return hub, kit


def test_a_captive_portal_answering_200_marks_nothing_as_synced(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    _hub, kit = enrolled_with_files(tmp_path, hub_keys, passphrase_file, 4)
    before = SyncState(kit).load_outbox()
    portal = ServerThread(captive_portal)
    try:
        result = push(kit, passphrase_file, "--hub", portal.url, "--attempts", 2, *FAST, expect=1)
    finally:
        portal.stop()
    assert "not as a fieldkit hub (a captive portal" in result.output
    assert "Waiting" in result.output and "(attempt 2 of 2)" in result.output
    assert acked(kit) == set()
    assert SyncState(kit).load_outbox() == before  # nothing was even exported
    assert HubLinks(kit).all() == []  # the portal's address is not remembered


def test_a_portal_that_passes_the_hello_but_answers_html_marks_nothing(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_with_files(tmp_path, hub_keys, passphrase_file, 4)
    with HubStore(hub) as store:
        config = store.config
    fake = ServerThread(impostor_hub(config.hub_id, config.receipt_public_key, lambda _body: b"<html>OK</html>"))
    try:
        result = push(kit, passphrase_file, "--hub", fake.url, "--attempts", 2, *FAST, expect=1)
    finally:
        fake.stop()
    assert "answered 200 but not with a fieldkit receipt (a captive portal" in result.output
    assert acked(kit) == set()
    assert len(Outbox(kit).pending_ids()) == 4
    link = HubLinks(kit).get(config.hub_id)
    assert link.failures == 2 and "not with a fieldkit receipt" in link.last_error and link.next_attempt


def test_a_receipt_signed_by_another_key_marks_nothing(tmp_path: Path, hub_keys: Path, passphrase_file: Path) -> None:
    hub, kit = enrolled_with_files(tmp_path, hub_keys, passphrase_file, 4)
    with HubStore(hub) as store:
        config = store.config
    impostor_key = Ed25519PrivateKey.generate()

    def forged_receipt(body: bytes) -> bytes:
        # A well-formed receipt for exactly the records sent, by the right hub id: only
        # the key is wrong.
        with BundleReader.open(body) as reader:
            return make_receipt(impostor_key, config.hub_id, reader.manifest, reader.manifest_sha256)

    fake = ServerThread(impostor_hub(config.hub_id, config.receipt_public_key, forged_receipt))
    try:
        result = push(kit, passphrase_file, "--hub", fake.url, "--once", expect=1)
    finally:
        fake.stop()
    assert f"the receipt's signature does not verify with the key of hub {config.hub_id}" in result.output
    assert "Waiting" not in result.output  # --once tries once
    assert acked(kit) == set()
    assert len(Outbox(kit).pending_ids()) == 4


def test_the_client_refuses_other_schemes_and_reports_redirects(tmp_path: Path) -> None:
    for url in ("file:///etc/passwd", "ftp://example.org", "not a url"):
        with pytest.raises(Exception, match="not a hub address"):
            HubClient(url)

    def redirect(environ, start_response):
        start_response("302 Found", [("Location", "http://login.example/portal"), ("Content-Length", "0")])
        return [b""]

    server = ServerThread(redirect)
    try:
        with pytest.raises(TransportError) as error:
            HubClient(server.url, timeout=5).post_bundle(b"x")
    finally:
        server.stop()
    assert error.value.retryable and error.value.status == 302
    assert "redirect (HTTP 302) to http://login.example/portal" in str(error.value)


def test_an_oversized_answer_is_not_read(tmp_path: Path) -> None:
    def flood(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b" " * 65536 for _ in range(64)]  # 4 MiB

    server = ServerThread(flood)
    try:
        with pytest.raises(TransportError, match="larger than 1048576 bytes"):
            HubClient(server.url, max_response_bytes=1024 * 1024).post_bundle(b"x")
    finally:
        server.stop()


# --- Backoff, attempts and resumption -----------------------------------------------------


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(first=2.0, factor=2.0, cap=60.0)
    rng = random.Random(1)
    for failures, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (50, 60.0), (10_000, 60.0)):
        assert backoff.ceiling(failures) == ceiling
        draws = [backoff.delay(failures, rng) for _ in range(200)]
        assert all(ceiling / 2 <= draw <= ceiling for draw in draws)
        assert len(set(draws)) > 150  # jittered, not one fixed value


def test_failed_attempts_are_kept_and_a_restarted_worker_waits_for_the_next_attempt(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_with_files(tmp_path, hub_keys, passphrase_file, 2)
    with running_hub(hub) as server:
        push(kit, passphrase_file, "--hub", server.url, "--once")  # remembers the URL
        hub_id = server.store.config.hub_id
    simulate(kit, passphrase_file, 2, seed=8)
    # The hub is gone now: the push fails, and says so at every wait.
    result = push(kit, passphrase_file, "--attempts", 3, *FAST, expect=1)
    assert result.output.count("Waiting ") == 2 and "cannot reach the hub at" in result.output
    link = HubLinks(kit).get(hub_id)
    assert link.failures == 3 and "cannot reach the hub" in link.last_error

    # A worker started now (as after a restart of 'fieldkit serve') resumes the backoff:
    # before the stored next attempt it does not try at all.
    worker = PushWorker(unlock(kit, PASSPHRASE), poll_seconds=30.0)
    due = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=20)
    HubLinks(kit).record_failure(hub_id, "still down", 20.0)
    wait = worker.step(now=due - datetime.timedelta(seconds=10))
    assert 0 < wait <= 30.0
    assert HubLinks(kit).get(hub_id).failures == 4  # unchanged: no attempt was made
    # Once due, it tries, fails (nothing listens) and pushes the next attempt further out.
    wait = worker.step(now=due + datetime.timedelta(seconds=1))
    after = HubLinks(kit).get(hub_id)
    assert after.failures == 5 and 0 < wait <= Backoff().cap


@pytest.mark.slow
def test_push_resumes_and_completes_after_the_hub_is_killed_and_restarted(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub, kit = enrolled_with_files(tmp_path, hub_keys, passphrase_file, 30)
    password_file = tmp_path / "operator.txt"
    password_file.write_text(OPERATOR_PASSWORD + "\n")
    # The OS picks the first port; the restarted hub takes the same one (no probe-then-bind
    # race with tests running beside this one).
    first = start_hub_process(hub, 0, password_file)
    port = urllib.parse.urlsplit(first.url).port
    assert port
    pusher = None
    try:
        pusher = subprocess.Popen(
            [sys.executable, "-m", "fieldkit", "sync", "push", "--data", str(kit), "--hub", first.url,
             "--batch", "1", "--attempts", "60", "--max-wait", "0.3", "--passphrase-file", str(passphrase_file)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip

        def merged_bundles() -> int:
            with hub_db(hub) as connection:
                return int(connection.execute("SELECT COUNT(*) FROM bundles").fetchone()[0])

        assert wait_until(lambda: merged_bundles() >= 3, timeout=30, interval=0.01)
        first.kill()
        killed_at = merged_bundles()
        assert killed_at < 30, "the push finished before the hub was killed"
        second = start_hub_process(hub, port, password_file)
        try:
            output, _ = pusher.communicate(timeout=60)
        finally:
            second.stop()
    finally:
        first.stop()
        if pusher is not None and pusher.poll() is None:
            pusher.kill()
            pusher.communicate()
    assert pusher.returncode == 0, output
    assert "Waiting" in output
    assert "cannot reach the hub" in output or "broke off" in output
    assert held(hub) == kit_records(kit)
    assert version_rows(hub) == 30
    assert Outbox(kit).pending_ids() == []


# --- The background worker in fieldkit serve ---------------------------------------------


def test_the_worker_in_fieldkit_serve_pushes_new_records_and_the_operator_page_says_so(
    tmp_path: Path, hub_keys: Path, passphrase_file: Path
) -> None:
    hub = init_hub_folder(tmp_path, hub_keys)
    kit = new_kit(tmp_path, hub_keys, passphrase_file)
    with running_hub(hub) as server:
        http_enrol(server.url, server.store, kit, passphrase_file)
        served = serve_kit(kit, passphrase_file)
        try:
            assert any(f"pushing sealed records to hub {server.store.config.hub_id}" in line for line in served.output)
            # Interviews finalised by another process while the server runs.
            ids = simulate(kit, passphrase_file, 6, seed=11)
            assert wait_until(lambda: server.store.record_count() == 6, timeout=40, interval=0.2)
            assert wait_until(lambda: Outbox(kit).pending_ids() == [], timeout=10, interval=0.1)
            # The worker notes its success just after the receipt: wait for that too.
            assert wait_until(lambda: HubLinks(kit).latest().last_success is not None, timeout=10, interval=0.1)
            port = re.search(r":(\d+)", served.url).group(1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/operator/", timeout=10) as page:
                text = page.read().decode()
        finally:
            served.stop()
    assert set(held(hub)) == set(ids)
    assert "6 sealed records are stored on this kit." in text
    assert "0 records wait for the hub." in text
    assert "Last sent to the hub" in text
