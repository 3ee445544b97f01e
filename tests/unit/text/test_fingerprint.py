"""normalize / exact_key / shingles / fingerprint / lsh_bands: what counts as the same text."""

from __future__ import annotations

import pickle
import re
import struct

import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.text.fingerprint import (
    exact_key,
    fingerprint,
    lsh_bands,
    minhash,
    normalize,
    shingles,
)
from transforms.text.minhash_config import MinHashConfig

CFG = MinHashConfig()
TEXT = "The home secretary said on Sunday that it was “completely unacceptable” — again."


@pytest.mark.parametrize(
    "variant",
    [
        TEXT,
        TEXT.upper(),
        '  The home  secretary said on Sunday\nthat it was "completely unacceptable" - again .',
        "The home secretary said on Sunday that it was “completely unacceptable” – again.",
        "The home secretary said on Sunday that it was ＂completely unacceptable＂ — again.",
    ],
)
def test_same_text_same_key(variant: str) -> None:
    assert normalize(variant) == normalize(TEXT)
    assert exact_key(variant) == exact_key(TEXT)


@pytest.mark.parametrize(
    "variant",
    [
        TEXT.replace("Sunday", "Monday"),
        TEXT.replace(" again", ""),
        TEXT.replace("—", ","),
    ],
)
def test_different_text_different_key(variant: str) -> None:
    assert exact_key(variant) != exact_key(TEXT)


def test_exact_key_is_sha256_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", exact_key(TEXT))


@pytest.mark.parametrize(
    ("text", "size", "expected"),
    [
        ("A b, C d!", 2, {"a b", "b c", "c d"}),
        ("Don’t stop", 3, {"don't stop"}),
        ("one", 5, {"one"}),
        ("  ... ", 5, set()),
        ("a b c", 3, {"a b c"}),
    ],
)
def test_shingles(text: str, size: int, expected: set[str]) -> None:
    assert shingles(text, size) == expected


def shingles_of_normalized(text: str, size: int) -> set[str]:
    """The definition ``shingles`` shortcuts: word n-grams of ``normalize(text)``."""
    words = re.findall(r"\w+(?:'\w+)*", normalize(text))
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("ab’'`-‐—_. \n\t,!ßİﬁ１²Ⅻ\u0301\u0307中"), max_size=80)
    | st.text(max_size=80),
    st.integers(min_value=1, max_value=5),
)
def test_shingles_are_those_of_the_normalized_text(text: str, size: int) -> None:
    """``shingles`` reads words from the folded text, without joining its tokens first: the same
    words, quotes, compatibility forms and combining marks included."""
    assert shingles(text, size) == shingles_of_normalized(text, size)


def test_fingerprint_is_deterministic_and_sized() -> None:
    fp = fingerprint(TEXT, CFG)
    assert len(fp.signature) == 4 * CFG.num_perm
    assert len(fp.bands) == CFG.bands
    assert all(0 <= key < 2**63 for key in fp.bands)
    assert fp.shingle_count == len(shingles(TEXT, CFG.shingle_size))
    assert fp == fingerprint(TEXT, MinHashConfig())
    assert fp.signature != fingerprint(TEXT, MinHashConfig(seed=2)).signature


def test_fingerprint_fits_dedup_state_budget() -> None:
    """dedup-state remembers one fingerprint per article in at most 2 KB."""
    fp = fingerprint(TEXT * 50, CFG)
    assert len(pickle.dumps(fp)) <= 2048


def test_signature_golden_values() -> None:
    """Signatures live in Beam state across workers and restarts; a drift here breaks dedup."""
    cfg = MinHashConfig(num_perm=4, bands=2, rows=2, shingle_size=5)
    signature = fingerprint("The home secretary said on", cfg).signature
    assert struct.unpack("<4I", signature) == (1306145296, 3974783486, 1982314022, 278026696)


@settings(max_examples=200, deadline=None)
@given(
    st.sets(st.text(min_size=0, max_size=30), max_size=60),
    st.sampled_from([MinHashConfig(), MinHashConfig(num_perm=16, bands=8, seed=7)]),
)
def test_minhash_is_datasketch_affine32(shingle_set: set[str], cfg: MinHashConfig) -> None:
    """newsflow computes MinHash itself (no datasketch import in the pipeline); its values must be
    datasketch's "affine32" ones with the same seed, those of the signatures already stored."""
    sketch = MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme="affine32")
    sketch.update_batch([shingle.encode("utf-8") for shingle in shingle_set])
    assert minhash(shingle_set, cfg).tolist() == sketch.hashvalues.tolist()


def test_empty_body_has_no_shingles() -> None:
    fp = fingerprint("  ...  ", CFG)
    assert fp.shingle_count == 0
    assert set(struct.unpack(f"<{CFG.num_perm}I", fp.signature)) == {2**32 - 1}


def test_lsh_bands_mix_in_band_index() -> None:
    """Two bands with equal rows still get different keys, so one key space serves all bands."""
    cfg = MinHashConfig(num_perm=8, bands=2, rows=4)
    signature = struct.pack("<8I", *([7] * 8))
    first, second = lsh_bands(signature, cfg)
    assert first != second


def test_lsh_bands_share_unchanged_bands() -> None:
    signature = bytearray(fingerprint(TEXT, CFG).signature)
    changed = bytearray(signature)
    changed[0] ^= 1
    first, second = lsh_bands(bytes(signature), CFG), lsh_bands(bytes(changed), CFG)
    assert first[0] != second[0]
    assert first[1:] == second[1:]


def test_lsh_bands_rejects_short_signature() -> None:
    with pytest.raises(ValueError):
        lsh_bands(b"\x00" * 12, CFG)
