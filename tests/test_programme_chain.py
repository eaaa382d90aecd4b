"""The monitoring programme end to end, with real processes: registry, pack, phone, hub, report.

A regional network's round, as its coordinator and an interviewer live it: the hub's
registry gets three centres in two regions and a quarterly cycle, and signs a form pack;
a kit enrols with the running hub over HTTP and pulls the pack; on a phone (plain HTTP
with its own cookies, as a browser with scripts off) the interviewer picks a centre from
the pack's list, makes three interviews and meets three people who decline; the kit
pushes its records and its sealed count of declines; the hub's report for the cycle
places the interviews at that centre and in its region, with a response rate. Then the
hub retires a centre, signs a second pack that goes to the kit by USB stick, and the
phone no longer offers that centre.

Every ``fieldkit`` command here is its own process (``python -m fieldkit``); ``hub serve``
and ``serve`` run in the background as they would at the hub and on the kit.
"""

from __future__ import annotations

import csv
import random
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmarks.phones import Phone
from fieldkit.core.formengine.catalogue import load_serving_forms
from fieldkit.core.formengine.model import CONSENT_DECLINED
from fieldkit.core.paths import forms_dir
from fieldkit.kit.simulate import random_answers
from tests.browser import serve
from tests.http_servers import start_hub_process
from tests.processes import stop
from tests.sync_cli import CHEAP_KDF, write_passphrase_file
from tests.webclient import CENTRE_CHOICE, SHOWN_ITEM, csrf_token, form_values

CYCLE = "2027-q1"
CENTRES_CSV = """code,name,region,kind,location,active
C01,Hope House,NORTH,residential,Lyon,yes
C02,Harbour Clinic,NORTH,specialised_outpatient,Lyon,yes
C03,Hill Centre,SOUTH,closed_centre,,yes
"""
COMPLETED = 3
DECLINED = 3
THRESHOLD = 3  # the lowest the report allows: three people are enough to show a figure


def fieldkit(*args: object, cwd: Path) -> str:
    """One ``fieldkit`` command as its own process; it must succeed without a traceback."""
    done = subprocess.run(
        [sys.executable, "-m", "fieldkit", *map(str, args)],
        cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"fieldkit {' '.join(map(str, args[:3]))} failed ({done.returncode}):\n{output}"
    assert "Traceback" not in output, output
    return output


def offered_centres(phone: Phone, form_id: str) -> list[str]:
    """The codes the centre picker offers for a new interview of ``form_id``."""
    home = phone.get("home", "/home")
    path = phone.post_redirect("start", "/start", [("csrf_token", csrf_token(home)), ("form", form_id), ("lang", "en")])
    assert path.startswith("/centre"), path
    return CENTRE_CHOICE.findall(phone.get("centre_get", path))


def start_about(phone: Phone, form_id: str, centre: str) -> str:
    """Start an interview about ``centre``; the path of its first page."""
    home = phone.get("home", "/home")
    chosen = [("form", form_id), ("lang", "en")]
    path = phone.post_redirect("start", "/start", [("csrf_token", csrf_token(home)), *chosen])
    picker = phone.get("centre_get", path)
    assert centre in CENTRE_CHOICE.findall(picker), picker
    return phone.post_redirect(
        "centre_post", "/centre", [("csrf_token", csrf_token(picker)), *chosen, ("centre", centre)]
    )


def interview(phone: Phone, form, answers: dict, centre: str) -> None:
    """A whole interview about ``centre``, page by page, sealed at the end."""
    path = start_about(phone, form.id, centre)
    for _ in range(100):
        if path.endswith("/review"):
            break
        page = phone.get("section_get", path)
        pairs = form_values(answers, SHOWN_ITEM.findall(page))
        path = phone.post_redirect("section_post", path, [("csrf_token", csrf_token(page)), ("action", "next"), *pairs])
    review = phone.get("review", path)
    done = phone.post_redirect(
        "finalise",
        path.replace("/review", "/finalise"),
        [("csrf_token", csrf_token(review)), ("confirm_missing", "yes")],
    )
    assert done.startswith("/done/"), done


def decline(phone: Phone, form, centre: str) -> None:
    """The person does not agree: the first page's consent is answered "declined"."""
    path = start_about(phone, form.id, centre)
    page = phone.get("section_get", path)
    consent = next(item.id for item in form.sections[0].items if item.type == "consent")
    status, text, _location = phone.request(
        "section_post",
        "POST",
        path,
        [("csrf_token", csrf_token(page)), ("action", "next"), (consent, CONSENT_DECLINED)],
    )
    assert status == 200, status
    assert "Nothing from this conversation was recorded." in text, text[:400]


def paired_phone(url: str, code: str, opened: list[Phone]) -> Phone:
    phone = Phone(url, "P01")
    opened.append(phone)
    phone.pair(lambda: code, threading.Lock())
    return phone


def stop_serving(served, opened: list[Phone]) -> None:
    """Close the phone's connections, then Ctrl+C, as the person at the kit stops it."""
    for phone in opened:
        phone.close()
    served.process.send_signal(signal.SIGINT)
    served.process.wait(30)
    stop(served.process)


def figures(report_dir: Path) -> list[dict[str, str]]:
    with (report_dir / "figures.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_registry_pack_phone_hub_and_the_report_for_the_cycle(tmp_path: Path) -> None:
    passphrase = write_passphrase_file(tmp_path)
    hub, kit, keys = tmp_path / "hub", tmp_path / "kit", tmp_path / "hub-keys"
    (tmp_path / "centres.csv").write_text(CENTRES_CSV, encoding="utf-8")

    # At the hub: keys, the registry, the cycle and the first pack.
    fieldkit("hub", "keygen", "--out", keys, "--no-passphrase", cwd=tmp_path)
    fieldkit("hub", "init", "--data", hub, "--recipient-file", keys / "hub-recipient.txt", cwd=tmp_path)
    fieldkit("hub", "centres", "import", "--data", hub, tmp_path / "centres.csv", cwd=tmp_path)
    fieldkit(
        "hub", "cycles", "add", "--data", hub, CYCLE, "--name", "First quarter 2027", "--start", "2027-01-01",
        "--end", "2027-03-31", "--forms", "peer-interview,centre-assessment", cwd=tmp_path,
    )  # fmt: skip
    fieldkit("hub", "pack", "--data", hub, "--cycle", CYCLE, "--out", tmp_path / "pack-1.json", cwd=tmp_path)

    # The kit enrols with the running hub and pulls the pack by HTTP.
    fieldkit(
        "init", "--data", kit, "--hub-recipient-file", keys / "hub-recipient.txt",
        "--passphrase-file", passphrase, *CHEAP_KDF, cwd=tmp_path,
    )  # fmt: skip
    hub_process = start_hub_process(hub, 0, passphrase)
    try:
        token = re.search(r"Enrolment token: (\S+)", fieldkit("hub", "enrol", "--data", hub, cwd=tmp_path))
        assert token
        fieldkit(
            "sync", "enrol", "--data", kit, "--hub", hub_process.url, "--token", token.group(1),
            "--passphrase-file", passphrase, cwd=tmp_path,
        )  # fmt: skip
        assert "pack 1" in fieldkit("sync", "pull", "--data", kit, "--passphrase-file", passphrase, cwd=tmp_path)

        # On the phone: the pack's centres; interviews about C02, and people who decline there.
        form = load_serving_forms(forms_dir())[0]["peer-interview"]
        served, opened = serve(kit, passphrase), []
        try:
            phone = paired_phone(served.url, served.code, opened)
            assert offered_centres(phone, form.id) == ["C01", "C02", "C03", "_prefers_not"]
            rng = random.Random(7)
            for _ in range(COMPLETED):
                interview(phone, form, random_answers(form, rng), "C02")
            for _ in range(DECLINED):
                decline(phone, form, "C02")
        finally:
            stop_serving(served, opened)

        # The records and the sealed count of declines reach the hub.
        fieldkit("sync", "push", "--data", kit, "--passphrase-file", passphrase, cwd=tmp_path)
    finally:
        hub_process.stop()

    report = tmp_path / "report"
    fieldkit(
        "hub", "report", "--data", hub, "--identity", keys / "hub-identity.txt", "--out", report,
        "--cycle", CYCLE, "--threshold", THRESHOLD, cwd=tmp_path,
    )  # fmt: skip
    by_figure = {(row["figure"], row["centre"]): row for row in figures(report)}
    assert by_figure[("hub|cycle", "")]["value"] == "First quarter 2027 (2027-01-01 to 2027-03-31)"
    records = by_figure[("c1|peer-interview|records", "C02")]
    assert (records["region"], records["value"]) == ("NORTH", str(COMPLETED)), "placed at C02, in its region"
    response = {row["measure"].split(":")[0]: row["value"] for row in figures(report) if "|response" in row["figure"]}
    assert response == {
        "interviews_completed": str(COMPLETED), "interviews_declined": str(DECLINED), "response_rate": "50%",
    }  # fmt: skip
    assert not any(row["centre"] in ("C01", "C03") for row in figures(report)), "no interview, no figure"

    # A centre retired at the hub leaves the kits with the next pack, here by USB stick.
    fieldkit("hub", "centres", "retire", "--data", hub, "C03", cwd=tmp_path)
    fieldkit("hub", "pack", "--data", hub, "--cycle", CYCLE, "--out", tmp_path / "pack-2.json", cwd=tmp_path)
    fieldkit("pack", "apply", "--data", kit, tmp_path / "pack-2.json", cwd=tmp_path)
    served, opened = serve(kit, passphrase), []
    try:
        phone = paired_phone(served.url, served.code, opened)
        assert offered_centres(phone, form.id) == ["C01", "C02", "_prefers_not"]
    finally:
        stop_serving(served, opened)
