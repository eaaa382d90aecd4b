"""The proof suite: kill the serving kit at random instants, load it with 30 phones,
then follow every confirmed interview to the hub and scan every file for canaries.

Nothing a phone saw confirmed may be lost; no answer may be readable anywhere but
in the hub's deliberate export.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import random
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from benchmarks.phones import RECEIPT, Phone, PhoneError, operator_code_source, run_phones
from fieldkit.core.crypto import age
from fieldkit.core.storage.records import RecordStore
from fieldkit.kit.sealing import receipt_code
from sync.hub.store import HubStore
from tests.browser import serve
from tests.conftest import scan_for
from tests.crash_trials import PROGRESS_TIMEOUT, TrialBudget, required_interrupted, seconds_budget, sleep_shortly_after
from tests.sync_cli import enrolled_pair, make_hub_keys, run, write_passphrase_file
from tests.webclient import csrf_token

CANARY = "proof-canary-3e7d"
TRIALS = int(os.environ.get("FIELDKIT_PROOF_TRIALS", "200"))
SECONDS = 360  # the kill loop's wall-time bound (FIELDKIT_CRASH_SECONDS overrides it)
# Long enough for a request on a machine running the whole suite; a killed kit answers
# its phones at once (the connection is refused or reset), so this never slows a trial.
PHONE_TIMEOUT = 60


def _sync_to_hub(kit: Path, hub: Path, passphrase: Path, workdir: Path) -> None:
    bundle = workdir / "bundle.tar"
    run("sync", "export", "--data", kit, "--out", bundle, "--passphrase-file", passphrase)
    run("hub", "import", "--data", hub, bundle, "--receipt-out", workdir)


def _hub_payloads(hub: Path, identities) -> dict[str, dict]:
    store = HubStore(hub)
    try:
        return {r.record_id: json.loads(age.decrypt(r.ciphertext, identities)) for r in store.iter_records()}
    finally:
        store.close()


def _short_interview(phone: Phone) -> str:
    """Consent, one free-text answer, straight to review and finalise: finalising is what the kills hit."""
    home = phone.get("home", "/home")
    start = [("csrf_token", csrf_token(home)), ("form", "peer-interview"), ("lang", "en")]
    consent_page = phone.post_redirect("start", "/start", start)
    page = phone.get("section_get", consent_page)
    answered = [("csrf_token", csrf_token(page)), ("action", "next"), ("consent", "given")]
    phone.post_redirect("section_post", consent_page, answered)
    closing = consent_page.rsplit("/", 1)[0] + "/closing"
    page = phone.get("section_get", closing)
    review = phone.post_redirect(
        "section_post", closing, [("csrf_token", csrf_token(page)), ("action", "next"), ("what_to_change", CANARY)]
    )
    token = csrf_token(phone.get("review", review))
    done = phone.post_redirect(
        "finalise", review.replace("/review", "/finalise"), [("csrf_token", token), ("confirm_missing", "yes")]
    )
    receipt = RECEIPT.search(done)
    if receipt is None:
        raise PhoneError(f"finishing led to {done!r}")
    return receipt.group(1)


def _no_torn_records(kit: Path) -> None:
    store = RecordStore(kit)
    for record_id in store.ids():
        assert store.metadata(record_id)["size"] == len(store.get(record_id)), record_id


@pytest.fixture
def field(tmp_path: Path):
    keys = make_hub_keys(tmp_path)
    passphrase = write_passphrase_file(tmp_path)
    hub, kit = enrolled_pair(tmp_path, keys, passphrase)
    from fieldkit.core.crypto.hubkeys import load_hub_identities

    return kit, hub, passphrase, load_hub_identities(keys / "hub-identity.txt", None)


class _Watch:
    """What the phones of one trial saw: receipts as they came, and requests the kill cut off."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.receipts: queue.Queue[tuple[str, float]] = queue.Queue()  # receipt, how long its interview took
        self.killed_at: float | None = None
        self.cut_off: list[str] = []  # kinds of requests sent before the kill and never answered
        self.errors: list[str] = []  # anything that went wrong before the kill


class _WatchedPhone(Phone):
    """A phone that notes which of its requests the kill cut off (sent, never answered)."""

    def __init__(self, url: str, interviewer: str, watch: _Watch) -> None:
        super().__init__(url, interviewer, timeout=PHONE_TIMEOUT)
        self.watch = watch

    def request(self, kind, method, path, data=None):
        sent = time.monotonic()
        try:
            return super().request(kind, method, path, data)
        except (OSError, http.client.HTTPException):
            with self.watch.lock:
                if self.watch.killed_at is not None and sent < self.watch.killed_at:
                    self.watch.cut_off.append(kind)
            raise


@pytest.mark.slow
def test_sigkill_while_phones_submit_never_loses_a_confirmed_interview(field, tmp_path: Path) -> None:
    kit, hub, passphrase, identities = field
    rng = random.Random(2026)
    confirmed: list[str] = []
    lock = threading.Lock()
    interrupted = finalise_cut = 0
    budget = TrialBudget(TRIALS, seconds_budget(SECONDS))
    for trial in budget:
        served = serve(kit, passphrase)  # also proves the kit restarts cleanly after every kill
        watch = _Watch()
        next_code = operator_code_source(served.url)
        pairing = threading.Lock()

        def phone_loop(
            number: int, url: str = served.url, watch: _Watch = watch, code=next_code, pairing=pairing
        ) -> None:
            phone = _WatchedPhone(url, f"P{number + 1:02d}", watch)
            try:
                phone.pair(code, pairing)
                while watch.killed_at is None:
                    began = time.monotonic()
                    receipt = _short_interview(phone)
                    with lock:
                        confirmed.append(receipt)
                    watch.receipts.put((receipt, time.monotonic() - began))
            except (PhoneError, OSError, http.client.HTTPException) as error:
                with watch.lock:
                    if watch.killed_at is None:
                        watch.errors.append(f"phone {number + 1}: {error!r}")
                # after the kill: the kit was killed under this phone, as intended
            finally:
                phone.close()

        phones = [threading.Thread(target=phone_loop, args=(n,)) for n in range(3)]
        for thread in phones:
            thread.start()
        progressed = False
        try:
            # Kill only after a phone got a receipt in this run, a random part of an
            # interview's length later, so kills land at every step, finalising included,
            # however fast or slow the machine is.
            _receipt, took = watch.receipts.get(timeout=PROGRESS_TIMEOUT)
            progressed = True
            sleep_shortly_after(rng, took, spread=1.0)
        except queue.Empty:
            pass  # reported below, with whatever the phones saw
        finally:
            with watch.lock:
                watch.killed_at = time.monotonic()
            served.process.send_signal(signal.SIGKILL)
            served.process.wait()
            if served.process.stdout is not None:
                served.process.stdout.close()
            for thread in phones:
                thread.join(timeout=PHONE_TIMEOUT + 30)
        assert not watch.errors, f"trial {trial}: phones failed before the kill: {watch.errors}"
        assert progressed, f"trial {trial}: no interview finished within {PROGRESS_TIMEOUT:.0f} s"
        interrupted += bool(watch.cut_off)
        finalise_cut += "finalise" in watch.cut_off
        _no_torn_records(kit)
    observed = f"{budget.summary(interrupted)} ({finalise_cut} cut off a finalise); {len(confirmed)} confirmed"
    print(observed)
    needed = required_interrupted(budget.run)
    assert interrupted >= needed, f"only {observed}, need {needed}: the kills missed the phones' requests"
    _sync_to_hub(kit, hub, passphrase, tmp_path)
    payloads = _hub_payloads(hub, identities)
    by_receipt = {receipt_code(record_id): payload for record_id, payload in payloads.items()}
    missing = [receipt for receipt in confirmed if receipt not in by_receipt]
    assert not missing, f"{len(missing)} of {len(confirmed)} confirmed interviews never reached the hub"
    assert all(by_receipt[r]["answers"]["what_to_change"] == CANARY for r in confirmed)
    assert scan_for(CANARY, kit, hub) == []


@pytest.mark.slow
def test_thirty_phones_at_once_then_no_canary_anywhere(field, shipped_forms, tmp_path: Path) -> None:
    kit, hub, passphrase, identities = field
    form = shipped_forms["peer-interview"]
    scratch = Path(tempfile.mkdtemp(prefix="fieldkit-proof-"))
    served = serve(kit, passphrase)
    try:
        code = operator_code_source(served.url)
        result = run_phones(served.url, code, 30, form, seed=7, text_answer=CANARY, timeout=60)
    finally:
        served.process.send_signal(signal.SIGTERM)
        log, _ = served.process.communicate(timeout=30)
    assert result.errors == []
    assert result.completed == 30
    latencies = sorted(result.all_times())
    p95 = latencies[int(len(latencies) * 0.95)] * 1000
    print(f"30 phones: {result.requests} requests in {result.seconds:.1f} s, p95 {p95:.0f} ms")
    assert RecordStore(kit).count() == 30

    _sync_to_hub(kit, hub, passphrase, tmp_path)
    payloads = _hub_payloads(hub, identities)
    by_receipt = {receipt_code(record_id): payload for record_id, payload in payloads.items()}
    assert sorted(result.receipts) == sorted(by_receipt)
    assert sum(CANARY in json.dumps(p["answers"]) for p in payloads.values()) > 0

    export_dir = tmp_path / "export"
    run("hub", "export", "--data", hub, "--identity", tmp_path / "hub-keys" / "hub-identity.txt",
        "--format", "csv", "--out", export_dir)  # fmt: skip
    assert scan_for(CANARY, export_dir), "the deliberate export holds the answers"
    # Everything else the kit and hub wrote, the temporary folders and the server's log: nothing.
    assert CANARY not in log
    others = [p for p in (kit, hub, scratch, Path(tempfile.gettempdir()) / "fieldkit-demo") if p.exists()]
    assert scan_for(CANARY, *others) == []
    leftovers = [
        p for p in Path(tempfile.gettempdir()).glob("*")
        if p.is_file() and p.stat().st_mtime >= time.time() - 600 and os.access(p, os.R_OK)
        and CANARY.encode() in p.read_bytes()
    ]  # fmt: skip
    assert leftovers == []
