"""The form pack format: signed by the hub's receipt key, every field checked before use."""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core import paths
from fieldkit.core.formengine.catalogue import load_directory
from sync.protocol.pack import (
    MAX_PACK_BYTES,
    PackCentre,
    PackContents,
    PackCycle,
    PackError,
    PackForm,
    make_pack,
    read_pack,
)
from sync.protocol.receipts import sign_document

HUB = "hub-0000000000a1"


def _contents(**changes) -> PackContents:
    forms = load_directory(paths.forms_dir())
    form = forms["peer-interview"]
    assert form.path is not None
    values = {
        "hub_id": HUB,
        "version": 3,
        "forms": (PackForm(form.id, form.version, form.content_hash, form.path.read_text(encoding="utf-8")),),
        "centres": (PackCentre("C01", "NORTH", "residential"), PackCentre("C02", "SOUTH", "outpatient")),
        "cycle": PackCycle(
            "2027-q1", "First quarter", datetime.date(2027, 1, 1), datetime.date(2027, 3, 31), (form.id,)
        ),
        "translations": {"fr": 'msgid ""\nmsgstr ""\n'},
        "settings": {"idle_minutes": 20},
    }
    values.update(changes)
    return PackContents(**values)


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _resigned(payload: dict, key: Ed25519PrivateKey) -> bytes:
    return sign_document(payload, key)


def test_a_pack_made_by_the_hub_reads_back_the_same(key) -> None:
    contents = _contents()
    data = make_pack(contents, key)
    verified = read_pack(data, {HUB: key.public_key()})
    assert verified.contents.version == 3 and verified.contents.hub_id == HUB
    assert verified.contents.centres == contents.centres
    assert verified.contents.cycle == contents.cycle
    assert verified.contents.forms == contents.forms
    assert verified.contents.settings == {"idle_minutes": 20}
    assert verified.data == data and len(verified.sha256) == 64


def test_a_pack_from_another_hub_or_signed_by_another_key_is_refused(key) -> None:
    data = make_pack(_contents(), key)
    with pytest.raises(PackError, match="not enrolled with"):
        read_pack(data, {"hub-0000000000b2": key.public_key()})
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(PackError, match="does not verify"):
        read_pack(make_pack(_contents(), impostor), {HUB: key.public_key()})


def test_a_pack_edited_after_signing_is_refused(key) -> None:
    envelope = json.loads(make_pack(_contents(), key))
    payload = json.loads(base64.b64decode(envelope["payload"]))
    payload["centres"].append({"code": "C99", "region": "NORTH", "kind": "residential"})
    envelope["payload"] = base64.b64encode(json.dumps(payload).encode()).decode()
    with pytest.raises(PackError, match="does not verify"):
        read_pack(json.dumps(envelope).encode(), {HUB: key.public_key()})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["forms"][0].update(id="../../etc"), "unsafe id"),
        (lambda p: p["translations"].update({"../x": {"forms": ""}}), "unsafe code"),
        (lambda p: p["centres"].append(dict(p["centres"][0])), "twice"),
        (lambda p: p["centres"][0].update(code="C\u200b01"), "not a well-formed code"),
        (lambda p: p["cycle"].update(end="2026-01-01"), "ends before it starts"),
        (lambda p: p["cycle"].update(forms=["no-such-form"]), "does not hold"),
        (lambda p: p["cycle"].update(centres=["C77"]), "does not list"),
        (lambda p: p["settings"].update(csrf=False), "not a kit setting"),
        (lambda p: p["settings"].update(idle_minutes=100000), "from 5 to 240"),
        (lambda p: p.update(version=0), "version"),
        (lambda p: p.update(version=True), "version"),
        (lambda p: p.update(extra=1), "does not know"),
        (lambda p: p.update(forms=[]), "holds no form"),
        (lambda p: p["forms"].append(dict(p["forms"][0])), "twice"),
    ],
)
def test_every_malformed_field_is_refused_with_its_reason(key, change, message) -> None:
    payload = _contents().to_payload()
    change(payload)
    with pytest.raises(PackError, match=message):
        read_pack(_resigned(payload, key), {HUB: key.public_key()})


def test_a_hub_cannot_sign_a_pack_its_kits_would_refuse(key) -> None:
    with pytest.raises(PackError, match="twice"):
        twins = (PackCentre("C01", "N", "residential"), PackCentre("c01", "N", "residential"))
        make_pack(_contents(centres=twins), key)


def test_files_that_are_not_packs_are_refused_without_reading_them_whole(key) -> None:
    trusted = {HUB: key.public_key()}
    with pytest.raises(PackError, match="too large"):
        read_pack(b" " * (MAX_PACK_BYTES + 1), trusted)
    with pytest.raises(PackError, match="not JSON"):
        read_pack(b"[" * 100_000, trusted)  # a nesting bomb
    with pytest.raises(PackError, match="not a fieldkit signed file"):
        read_pack(b"PK\x03\x04 a zip", trusted)
    receipt_like = sign_document({"format": "fieldkit-receipt/1"}, key)
    with pytest.raises(PackError, match="not a form pack"):
        read_pack(receipt_like, trusted)
