"""A corpus of broken and malicious bundles: each is refused (or, for a conflict,
quarantined) with the right reason, and nothing else at the hub changes."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sync.hub.store import HubStore, init_hub
from sync.protocol.bundle import REFUSAL_CODES, BundleError, BundleReader, Limits
from tests.bundle_corpus import (
    CORPUS,
    HUB_RECIPIENT,
    Case,
    CorpusEnv,
    digest_of,
    enrol_key,
    gzip_bomb,
    make_bundle,
    sealed_records,
)
from tests.hub_backend import copy_hub
from tests.sync_cli import run


@pytest.fixture(scope="module")
def corpus_hub(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CorpusEnv]:
    """A hub that merged one bundle of kit-a and one of kit-r, then revoked kit-r."""
    template = tmp_path_factory.mktemp("corpus") / "hub"
    init_hub(template, HUB_RECIPIENT, hub_id="hub-corpus")
    kit_key, revoked_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    merged = sealed_records("kit-a", 3, seed=1)
    revoked_old = make_bundle(revoked_key, "kit-r", sealed_records("kit-r", 2, seed=2))
    with HubStore(template) as store:
        enrol_key(store, kit_key, "kit-a")
        enrol_key(store, revoked_key, "kit-r")
        for bundle in (make_bundle(kit_key, "kit-a", merged), revoked_old):
            assert store.import_bundle(bundle).status == "accepted"
        store.revoke("kit-r", keep_up_to=0)  # nothing kept: the corpus checks refusals
        assert store.record_count() == 5
    env = CorpusEnv(
        kit_id="kit-a",
        kit_key=kit_key,
        revoked_id="kit-r",
        revoked_key=revoked_key,
        revoked_old_bundle=revoked_old,
        merged_records=merged,
    )
    return template, env


@pytest.fixture
def hub(corpus_hub: tuple[Path, CorpusEnv], tmp_path: Path) -> Path:
    copy = tmp_path / "hub"
    copy_hub(corpus_hub[0], copy)
    return copy


def test_the_corpus_is_large_and_distinct(corpus_hub: tuple[Path, CorpusEnv]) -> None:
    _template, env = corpus_hub
    assert len(CORPUS) >= 20
    assert len({case.name for case in CORPUS}) == len(CORPUS)
    assert len({digest_of(case.build(env)) for case in CORPUS}) == len(CORPUS)
    assert {case.code for case in CORPUS if case.code} <= set(REFUSAL_CODES)


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_broken_bundle_is_refused_and_changes_nothing(
    case: Case, corpus_hub: tuple[Path, CorpusEnv], hub: Path
) -> None:
    _template, env = corpus_hub
    path = hub.parent / f"{case.name}.tar"
    path.write_bytes(case.build(env))
    with HubStore(hub) as store:
        before = store.state_digest()
        held_before = {r.record_id: r.ciphertext for r in store.iter_records()}
        result = store.import_bundle(path, label=path.name)
        if case.code is None:
            # A validly signed bundle reusing a held record id with other bytes.
            assert result.status == "accepted" and result.quarantined == 1, result.summary()
            (item,) = store.quarantine()
            assert len(item.versions) == 2
            assert {v.ciphertext for v in item.versions} >= {held_before[item.record_id]}
            assert case.says in item.reasons[0]
            others = {rid: data for rid, data in held_before.items() if rid != item.record_id}
            assert {r.record_id: r.ciphertext for r in store.iter_records()} == others
            return
        assert result.refused, result.summary()
        assert result.code == case.code, result.summary()
        assert case.says in (result.reason or ""), result.reason
        assert result.receipt is None
        assert store.state_digest() == before
        (event,) = store.events(("refused",), limit=1)
        assert event.code == case.code and path.name in event.message
    listing = run("hub", "status", "--data", hub).output
    assert f"[{case.code}]" in listing


def test_gzip_bomb_is_refused_quickly_without_inflating(hub: Path, tmp_path: Path) -> None:
    path = tmp_path / "bomb.tar"
    path.write_bytes(gzip_bomb(1 << 30))
    assert path.stat().st_size < 2 << 20  # about 1 MiB on disk, 1 GiB inflated
    tracemalloc.start()
    started = time.perf_counter()
    with HubStore(hub) as store:
        result = store.import_bundle(path)
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert result.code == "compressed"
    assert elapsed < 1.0
    assert peak < 8 << 20


def test_cli_reports_each_refusal_and_fails(hub: Path, corpus_hub: tuple[Path, CorpusEnv], tmp_path: Path) -> None:
    _template, env = corpus_hub
    by_name = {case.name: case for case in CORPUS}
    good = tmp_path / "good.tar"
    good.write_bytes(env.valid(2))
    bad = tmp_path / "traversal.tar"
    bad.write_bytes(by_name["dot-dot-traversal"].build(env))
    receipts = tmp_path / "receipts"
    result = run("hub", "import", "--data", hub, "--receipt-out", receipts, good, bad, expect=1)
    assert "good.tar: accepted from kit kit-a (key epoch 1): 2 new" in result.output
    assert "traversal.tar: refused (unsafe-member)" in result.output
    assert "1 of 2 bundles were refused" in result.output
    assert len(list(receipts.iterdir())) == 1


def test_reader_refuses_before_reading_records(corpus_hub: tuple[Path, CorpusEnv]) -> None:
    _template, env = corpus_hub
    by_name = {case.name: case for case in CORPUS}
    with pytest.raises(BundleError) as refused:
        BundleReader.open(by_name["gzip-tar"].build(env))
    assert refused.value.code == "compressed"
    with pytest.raises(BundleError) as too_big:
        BundleReader.open(b"\0" * 1024, limits=Limits(max_bundle_bytes=512))
    assert too_big.value.code == "too-large"
