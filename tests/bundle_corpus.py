"""Helpers for the bundle and hub tests, and a corpus of broken and malicious bundles.

Every corpus case builds the bytes of one bundle from a :class:`CorpusEnv` (a hub with
an enrolled kit, a revoked kit and a bundle already merged) and names the refusal code
the hub must give, or ``None`` when the bundle must be accepted with a quarantine.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import random
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fieldkit.core.crypto import age
from sync.hub.enrolment import create_token
from sync.hub.store import HubStore
from sync.protocol.bundle import OutgoingRecord, SourceRef, build_bundle, canonical_json
from sync.protocol.enrolment import token_keys
from sync.protocol.receipts import public_key_text

HUB_IDENTITY = age.X25519Identity.generate()
HUB_RECIPIENT = HUB_IDENTITY.recipient().to_string()


def enrol_key(
    store: HubStore, key: Ed25519PrivateKey, kit_id: str, epoch: int = 1, *, recipients: list[str] | None = None
) -> None:
    """Enrol a kit key through the hub's own token path (saying the keys it seals to, if given)."""
    token = create_token(store)
    store.enrol_with_token(
        token_keys(token.token).token_id,
        SourceRef("kit", kit_id, epoch),
        public_key_text(key.public_key()),
        recipients=recipients,
    )


def sealed_records(
    kit_id: str, count: int, *, first_seq: int = 1, seed: int = 0, size: int = 200
) -> list[OutgoingRecord]:
    """Records whose ciphertext is real age output to the test hub's recipient."""
    rng = random.Random(seed)
    recipient = age.parse_recipient(HUB_RECIPIENT)
    records = []
    for index in range(count):
        record_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        plaintext = json.dumps({"record_id": record_id, "n": index}).encode().ljust(size, b" ")
        records.append(
            OutgoingRecord(
                record_id=record_id,
                kit_id=kit_id,
                seq=first_seq + index,
                form_id="peer-interview",
                form_version=1,
                day="2025-03-0" + str(1 + index % 9),
                ciphertext=age.encrypt(plaintext, [recipient]),
            )
        )
    return records


def make_bundle(key: Ed25519PrivateKey, kit_id: str, records: list[OutgoingRecord], *, epoch: int = 1) -> bytes:
    return build_bundle(key, SourceRef("kit", kit_id, epoch), records, created="2025-03-10")


# --- raw tar surgery -----------------------------------------------------------------


def members_of(data: bytes) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The members of a (trusted, test-made) tar with their data."""
    result = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for member in tar:
            content = tar.extractfile(member).read() if member.isreg() else None  # type: ignore[union-attr]
            result.append((member, content))
    return result


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def raw_tar(members: list[tuple[tarfile.TarInfo, bytes | None]], *, fmt: int = tarfile.GNU_FORMAT) -> bytes:
    """A tar with exactly these members, in this order, duplicates and oddities included."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        for info, data in members:
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def header_with_false_size(name: str, claimed: int, actual: bytes) -> bytes:
    """A tar member header claiming ``claimed`` bytes, followed by only ``actual``."""
    info = tarfile.TarInfo(name)
    info.size = claimed
    info.mode = 0o600
    return info.tobuf(format=tarfile.GNU_FORMAT) + actual


def archive_end(data: bytes) -> int:
    """Where the last member's data ends (padded to a block): the end-of-archive zeros
    and the padding tarfile adds come after it."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        last = tar.getmembers()[-1]
    return last.offset_data + -(-last.size // 512) * 512


def flip_bit(data: bytes, offset: int, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[offset] ^= 1 << bit
    return bytes(changed)


def member_offset(data: bytes, name: str) -> tuple[int, int]:
    """Where a member's data starts in the tar, and its size."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        member = tar.getmember(name)
        return member.offset_data, member.size


def gzip_bomb(inflated_bytes: int = 1 << 30) -> bytes:
    """A gzip file of about 1 MiB that inflates to ``inflated_bytes``, starting like a tar."""
    chunk = 8 << 20
    header = tarfile.TarInfo(name="manifest.json")
    header.size = inflated_bytes
    first = gzip.compress(header.tobuf(format=tarfile.GNU_FORMAT) + bytes(chunk - 512), 9)
    rest = gzip.compress(bytes(chunk), 9)
    return first + rest * (inflated_bytes // chunk - 1)


# --- the corpus ----------------------------------------------------------------------


@dataclass
class CorpusEnv:
    """Keys and bundles the cases are built from."""

    kit_id: str
    kit_key: Ed25519PrivateKey
    revoked_id: str
    revoked_key: Ed25519PrivateKey
    revoked_old_bundle: bytes
    merged_records: list[OutgoingRecord]
    stranger_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    def fresh(self, count: int = 3, seed: int = 99, first_seq: int = 100) -> list[OutgoingRecord]:
        return sealed_records(self.kit_id, count, first_seq=first_seq, seed=seed)

    def valid(self, count: int = 3, seed: int = 99) -> bytes:
        return make_bundle(self.kit_key, self.kit_id, self.fresh(count, seed))

    def signed_manifest(self, manifest: bytes, key: Ed25519PrivateKey | None = None) -> list:
        """Manifest and signature members for arbitrary manifest bytes."""
        signature = (key or self.kit_key).sign(manifest)
        return [regular("manifest.json", manifest), regular("manifest.sig", signature)]

    def manifest_document(self, records: list[OutgoingRecord]) -> dict:
        return json.loads(members_of(make_bundle(self.kit_key, self.kit_id, records))[0][1])

    def record_members(self, records: list[OutgoingRecord]) -> list:
        return [regular(f"records/{r.record_id}.age", r.ciphertext) for r in records]


def _with_members(env: CorpusEnv, extra: list, *, count: int = 2) -> bytes:
    """A validly signed bundle of ``count`` fresh records plus ``extra`` members."""
    return raw_tar(members_of(env.valid(count)) + extra)


def _bitflip_record(env: CorpusEnv) -> bytes:
    data = env.valid()
    name = f"records/{env.fresh()[1].record_id}.age"
    offset, size = member_offset(data, name)
    return flip_bit(data, offset + size // 2, 3)


def _bitflip_manifest(env: CorpusEnv) -> bytes:
    data = env.valid()
    offset, _size = member_offset(data, "manifest.json")
    manifest = members_of(data)[0][1]
    assert manifest is not None
    # Change one hex digit of a sha256 so the manifest still parses: only the signature
    # can notice.
    position = manifest.index(b'"sha256":"') + len(b'"sha256":"')
    changed = bytearray(data)
    changed[offset + position] = ord("0") if manifest[position] != ord("0") else ord("1")
    return bytes(changed)


def _bitflip_signature(env: CorpusEnv) -> bytes:
    data = env.valid()
    offset, _size = member_offset(data, "manifest.sig")
    return flip_bit(data, offset + 10)


def _truncated_mid_record(env: CorpusEnv) -> bytes:
    data = env.valid()
    last = env.fresh()[-1]
    offset, size = member_offset(data, f"records/{last.record_id}.age")
    return data[: offset + size // 2]


def _truncated_at_member(env: CorpusEnv) -> bytes:
    data = env.valid()
    last = env.fresh()[-1]
    offset, _size = member_offset(data, f"records/{last.record_id}.age")
    return data[: offset - 512]


def _forged_signature(env: CorpusEnv) -> bytes:
    members = members_of(env.valid())
    manifest = members[0][1]
    assert manifest is not None
    return raw_tar(env.signed_manifest(manifest, env.stranger_key) + members[2:])


def _unknown_kit(env: CorpusEnv) -> bytes:
    records = sealed_records("kit-stranger", 2, seed=5)
    return make_bundle(env.stranger_key, "kit-stranger", records)


def _unknown_epoch(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    return make_bundle(env.kit_key, env.kit_id, records, epoch=2)


def _revoked_kit(env: CorpusEnv) -> bytes:
    records = sealed_records(env.revoked_id, 2, seed=6, first_seq=50)
    return make_bundle(env.revoked_key, env.revoked_id, records)


def _revoked_replay(env: CorpusEnv) -> bytes:
    return env.revoked_old_bundle


def _record_moved(env: CorpusEnv) -> bytes:
    # Bundle A's manifest and signature; one of its records replaced by a record of
    # bundle B (same size) under A's record name.
    a_records = env.fresh(3, seed=11)
    b_records = env.fresh(3, seed=12)
    members = members_of(make_bundle(env.kit_key, env.kit_id, a_records))
    target = f"records/{a_records[0].record_id}.age"
    moved = b_records[0].ciphertext
    assert len(moved) == len(a_records[0].ciphertext)
    swapped = [(info, moved if info.name == target else data) for info, data in members]
    return raw_tar(swapped)


def _extra_member(env: CorpusEnv) -> bytes:
    stray = sealed_records(env.kit_id, 1, seed=13)[0]
    return _with_members(env, [regular(f"records/{stray.record_id}.age", stray.ciphertext)])


def _missing_member(env: CorpusEnv) -> bytes:
    members = members_of(env.valid())
    return raw_tar(members[:-1])


def _duplicate_member(env: CorpusEnv) -> bytes:
    members = members_of(env.valid())
    return raw_tar([*members, members[-1]])


def _traversal(env: CorpusEnv) -> bytes:
    return _with_members(env, [regular("records/../../etc/cron.d/evil", b"* * * * * root sh\n")])


def _absolute(env: CorpusEnv) -> bytes:
    return _with_members(env, [regular("/etc/passwd", b"root::0:0::/:/bin/sh\n")])


def _pax_traversal(env: CorpusEnv) -> bytes:
    # A long name forces a pax header that carries the real (hostile) path.
    long_name = "records/" + "a/" * 60 + "../" * 70 + "home/user/.bashrc"
    return raw_tar([*members_of(env.valid(2)), regular(long_name, b"echo owned\n")], fmt=tarfile.PAX_FORMAT)


def _symlink(env: CorpusEnv) -> bytes:
    record = env.fresh(1, seed=14)[0]
    return _with_members(env, [special(f"records/{record.record_id}.age", tarfile.SYMTYPE, "/etc/shadow")])


def _hardlink(env: CorpusEnv) -> bytes:
    record = env.fresh(1, seed=15)[0]
    return _with_members(env, [special(f"records/{record.record_id}.age", tarfile.LNKTYPE, "manifest.json")])


def _device(env: CorpusEnv) -> bytes:
    info, _ = special("records/00000000-0000-4000-8000-000000000000.age", tarfile.CHRTYPE)
    info.devmajor, info.devminor = 1, 3
    return _with_members(env, [(info, None)])


def _fifo(env: CorpusEnv) -> bytes:
    return _with_members(env, [special("records/00000000-0000-4000-8000-000000000001.age", tarfile.FIFOTYPE)])


def _directory(env: CorpusEnv) -> bytes:
    return _with_members(env, [special("records/ \u202e.age", tarfile.DIRTYPE)])


def _oversized_record(env: CorpusEnv) -> bytes:
    valid = env.valid(2)
    end = archive_end(valid)  # drop the end-of-archive blocks, then append the false header
    claimed = (1 << 33) - 1  # 8 GiB, the most a plain header can say
    fake = header_with_false_size("records/00000000-0000-4000-8000-000000000002.age", claimed, bytes(512))
    return valid[:end] + fake + bytes(1024)


def _false_size_in_limit(env: CorpusEnv) -> bytes:
    valid = env.valid(2)
    end = archive_end(valid)
    fake = header_with_false_size("records/00000000-0000-4000-8000-000000000003.age", 100_000, bytes(512))
    return valid[:end] + fake


def _too_many_members(env: CorpusEnv) -> bytes:
    rng = random.Random(7)
    extra = [regular(f"records/{uuid.UUID(int=rng.getrandbits(128), version=4)}.age", b"x") for _ in range(10_001)]
    return _with_members(env, extra, count=1)


def _gzip_tar(env: CorpusEnv) -> bytes:
    return gzip.compress(env.valid())


def _zip_file(env: CorpusEnv) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("manifest.json", b"{}")
    return buffer.getvalue()


def _not_a_tar(env: CorpusEnv) -> bytes:
    return random.Random(3).randbytes(4096)


def _empty_file(env: CorpusEnv) -> bytes:
    return b""


def _manifest_not_first(env: CorpusEnv) -> bytes:
    members = members_of(env.valid())
    return raw_tar([members[2], *members[:2], *members[3:]])


def _manifest_not_json(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    return raw_tar(env.signed_manifest(b"records: [oops") + env.record_members(records))


def _manifest_wrong_version(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    document = env.manifest_document(records)
    document["format"] = "fieldkit-bundle/2"
    return raw_tar(env.signed_manifest(canonical_json(document)) + env.record_members(records))


def _manifest_duplicate_keys(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    manifest = canonical_json(env.manifest_document(records))
    # A second "source" key naming another kit: which one wins depends on the parser.
    tampered = manifest[:-1] + b',"source":{"epoch":1,"id":"kit-other","kind":"kit"}}'
    return raw_tar(env.signed_manifest(tampered) + env.record_members(records))


def _same_id_twice(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    document = env.manifest_document(records)
    twin = dict(document["records"][0], seq=document["records"][1]["seq"])
    document["records"][1] = twin
    return raw_tar(env.signed_manifest(canonical_json(document)) + env.record_members(records[:1]))


def _id_not_uuid(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    document = env.manifest_document(records)
    document["records"][0]["record_id"] = "../../../etc/passwd"
    return raw_tar(env.signed_manifest(canonical_json(document)) + env.record_members(records))


def _other_kit_named(env: CorpusEnv) -> bytes:
    records = env.fresh(2)
    document = env.manifest_document(records)
    document["records"][0]["kit_id"] = env.revoked_id
    return raw_tar(env.signed_manifest(canonical_json(document)) + env.record_members(records))


def _conflict(env: CorpusEnv) -> bytes:
    held = env.merged_records[0]
    other = sealed_records(env.kit_id, 1, seed=77, first_seq=held.seq)[0]
    changed = dataclasses.replace(other, record_id=held.record_id)
    return make_bundle(env.kit_key, env.kit_id, [changed])


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[CorpusEnv], bytes]
    code: str | None  # None: accepted, with the conflict in quarantine
    says: str  # words the reason must contain


CORPUS: tuple[Case, ...] = (
    Case("bit-flip-in-record", _bitflip_record, "hash-mismatch", "SHA-256"),
    Case("bit-flip-in-manifest", _bitflip_manifest, "bad-signature", "signature"),
    Case("bit-flip-in-signature", _bitflip_signature, "bad-signature", "signature"),
    Case("truncated-mid-record", _truncated_mid_record, "damaged", "truncated"),
    Case("truncated-at-member", _truncated_at_member, "missing-record", "not in the bundle"),
    Case("forged-signature", _forged_signature, "bad-signature", "another key"),
    Case("unknown-kit", _unknown_kit, "unknown-source", "not enrolled"),
    Case("unknown-key-epoch", _unknown_epoch, "unknown-source", "epoch 2"),
    Case("revoked-kit", _revoked_kit, "revoked-source", "revoked"),
    Case("replay-from-revoked-kit", _revoked_replay, "revoked-source", "revoked"),
    Case("record-moved-between-bundles", _record_moved, "hash-mismatch", "SHA-256"),
    Case("extra-member", _extra_member, "extra-record", "not in its signed manifest"),
    Case("missing-member", _missing_member, "missing-record", "not in the bundle"),
    Case("duplicate-member", _duplicate_member, "duplicate-member", "more than once"),
    Case("dot-dot-traversal", _traversal, "unsafe-member", "leave the bundle"),
    Case("absolute-path", _absolute, "unsafe-member", "leave the bundle"),
    Case("pax-header-traversal", _pax_traversal, "unsafe-member", "leave the bundle"),
    Case("symlink-member", _symlink, "unsafe-member", "symbolic link"),
    Case("hardlink-member", _hardlink, "unsafe-member", "hard link"),
    Case("device-member", _device, "unsafe-member", "character device"),
    Case("fifo-member", _fifo, "unsafe-member", "FIFO"),
    Case("directory-member", _directory, "unsafe-member", "folder"),
    Case("oversized-member", _oversized_record, "oversized-member", "limit"),
    Case("false-size-header", _false_size_in_limit, "damaged", "past the end"),
    Case("too-many-members", _too_many_members, "too-many-members", "members"),
    Case("gzip-tar", _gzip_tar, "compressed", "gzip"),
    Case("gzip-bomb", lambda env: gzip_bomb(), "compressed", "gzip"),
    Case("zip-file", _zip_file, "compressed", "zip"),
    Case("not-a-tar", _not_a_tar, "not-a-tar", "not a tar"),
    Case("empty-file", _empty_file, "not-a-tar", "not a tar"),
    Case("manifest-not-first", _manifest_not_first, "bad-layout", "first member"),
    Case("manifest-not-json", _manifest_not_json, "bad-manifest", "not JSON"),
    Case("manifest-wrong-version", _manifest_wrong_version, "unsupported-format", "bundle/2"),
    Case("manifest-duplicate-keys", _manifest_duplicate_keys, "bad-manifest", "appears twice"),
    Case("same-id-twice", _same_id_twice, "bad-manifest", "more than once"),
    Case("id-not-uuid", _id_not_uuid, "bad-manifest", "not a lowercase UUID"),
    Case("record-of-another-kit", _other_kit_named, "bad-manifest", "names kit"),
    Case("conflict-same-id-other-content", _conflict, None, "quarantine"),
)


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def add_clash_and_stranger(store: HubStore) -> None:
    """Kit ``kit-a`` enrolled with 3 records, one record id also sent as another version (quarantined),
    and a bundle from a kit the hub does not know (refused): what an overview shows of both."""
    key = Ed25519PrivateKey.generate()
    enrol_key(store, key, "kit-a")
    records = sealed_records("kit-a", 3, seed=1)
    assert store.import_bundle(make_bundle(key, "kit-a", records)).status == "accepted"
    other = sealed_records("kit-a", 1, seed=2, first_seq=10)[0]
    clash = make_bundle(key, "kit-a", [type(other)(**{**other.__dict__, "record_id": records[0].record_id})])
    assert store.import_bundle(clash, label="clash.tar").quarantined == 1
    stranger = make_bundle(Ed25519PrivateKey.generate(), "kit-x", sealed_records("kit-x", 1, seed=3))
    assert store.import_bundle(stranger, label="stranger.tar").code == "unknown-source"
