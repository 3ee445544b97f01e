"""normalize / exact_key / shingles / minhash / lsh_bands: what counts as the same text."""

from __future__ import annotations

import re

import pytest

from transforms.text.fingerprint import exact_key, lsh_bands, minhash, normalize, shingles
from transforms.text.near_dup import MinHashConfig

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


def test_minhash_is_deterministic_and_sized() -> None:
    shingle_set = shingles(TEXT, CFG.shingle_size)
    signature = minhash(shingle_set, CFG)
    assert len(signature) == CFG.num_perm
    assert signature == minhash(set(shingle_set), MinHashConfig())
    assert all(isinstance(value, int) for value in signature)
    assert signature != minhash(shingle_set, MinHashConfig(seed=2))


def test_minhash_golden_values() -> None:
    """Signatures live in Beam state across workers and restarts; a drift here breaks dedup."""
    cfg = MinHashConfig(num_perm=4, bands=2, rows=2)
    assert minhash({"the home secretary said on"}, cfg) == (
        1306145296,
        3974783486,
        1982314022,
        278026696,
    )


def test_lsh_bands_shape_and_stability() -> None:
    signature = minhash(shingles(TEXT, CFG.shingle_size), CFG)
    bands = lsh_bands(signature, CFG)
    assert [index for index, _ in bands] == list(range(CFG.bands))
    assert all(re.fullmatch(r"[0-9a-f]{16}", digest) for _, digest in bands)
    assert bands == lsh_bands(list(signature), CFG)


def test_lsh_bands_share_unchanged_bands() -> None:
    signature = list(minhash(shingles(TEXT, CFG.shingle_size), CFG))
    changed = signature.copy()
    changed[0] += 1
    first, second = lsh_bands(signature, CFG), lsh_bands(changed, CFG)
    assert first[0] != second[0]
    assert first[1:] == second[1:]


def test_lsh_bands_rejects_short_signature() -> None:
    with pytest.raises(ValueError):
        lsh_bands((1, 2, 3), CFG)
