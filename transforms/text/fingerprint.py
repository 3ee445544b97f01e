"""Fingerprints of a clean body: an exact-match key and a MinHash/LSH near-duplicate fingerprint.

``normalize`` decides what "the same text" means for exact dedup: Unicode compatibility forms,
case, quote and dash styles, whitespace and the spacing around punctuation do not matter; the
words and punctuation marks themselves do. Shingles go one step further and ignore punctuation,
so punctuation noise does not lower near-duplicate similarity.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

from transforms.text.minhash_config import MinHashConfig

_CHARACTER_MAP = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`´", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
    }
)
_MAX_UINT32 = (1 << 32) - 1
# Bytes per packed signature slot: affine32 MinHash values are unsigned 32-bit.
SLOT_BYTES = 4
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_WORD = re.compile(r"\w+(?:'\w+)*")


def normalize(text: str) -> str:
    """Canonical ``text``: NFKC, casefolded, one quote and dash style, tokens joined by a space."""
    return " ".join(_TOKEN.findall(_folded(text)))


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_CHARACTER_MAP)


def exact_key(body: str) -> str:
    """SHA-256 hex digest of the normalized body: equal keys mean the same article text."""
    return hashlib.sha256(normalize(body).encode("utf-8")).hexdigest()


def shingles(text: str, size: int) -> set[str]:
    """Word ``size``-grams of the normalized text, punctuation ignored.

    A text shorter than ``size`` words yields one shingle of all its words; an empty text none.
    The words are read from the folded text directly: they are the word tokens ``normalize``
    would join (the same pattern, matched at the same places), without joining and splitting
    every token again.
    """
    words = _WORD.findall(_folded(text))
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


@dataclass(frozen=True)
class Fingerprint:
    """What dedup remembers of a body: compact, picklable, and the same on every worker.

    ``signature`` holds ``num_perm`` unsigned 32-bit MinHash values packed little-endian (512 bytes
    at 128 permutations); ``bands`` one non-negative int < 2**63 per LSH band with the band index
    mixed in, so equal ints mean the same band with the same rows: ``dedup_index`` looks them up
    in its in-memory index to find candidates (they are not state keys: dedup has one shard key);
    ``shingle_count`` is the number of distinct shingles, from which containment is estimated.
    """

    signature: bytes
    bands: tuple[int, ...]
    shingle_count: int


def fingerprint(body: str, cfg: MinHashConfig) -> Fingerprint:
    """The MinHash signature, LSH band keys and shingle count of ``body`` under ``cfg``."""
    shingle_set = shingles(body, cfg.shingle_size)
    signature = minhash(shingle_set, cfg).astype("<u4").tobytes()
    return Fingerprint(signature, lsh_bands(signature, cfg), len(shingle_set))


def minhash(shingle_set: set[str], cfg: MinHashConfig) -> np.ndarray:
    """MinHash signature (``cfg.num_perm`` uint32 values) of a shingle set.

    datasketch's "affine32" scheme, value for value (``test_minhash_is_datasketch_affine32``
    checks it against datasketch, so stored signatures stay valid): each shingle's SHA-1 (first 4
    bytes, little-endian) is pre-mixed with the MurmurHash3 finalizer, then ``a * h + b`` (mod
    2**32) under every seeded permutation, and the least value per permutation kept. Done here
    in one numpy expression over all shingles, without datasketch: importing it pulls in SciPy
    (half a second of CPU in every process that fingerprints) and its per-shingle hash calls
    cost more than the hashing. An empty set gives the all-maximum signature, which matches only
    other empty texts.
    """
    if not shingle_set:
        return np.full(cfg.num_perm, _MAX_UINT32, dtype=np.uint32)
    sha1 = hashlib.sha1
    digests = b"".join([sha1(s.encode("utf-8")).digest() for s in shingle_set])
    # Each 20-byte digest is 5 little-endian uint32 words; the hash is its first 4 bytes.
    first = np.frombuffer(digests, dtype="<u4").reshape(-1, 5)[:, 0]
    hashes = _fmix32(first.astype(np.uint32).reshape(-1, 1))
    a, b = _permutations(cfg)
    return (hashes * a + b).min(axis=0)


def _fmix32(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, element-wise (uint32 products wrap, as intended)."""
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


@functools.cache
def _permutations(cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """The seeded permutations ``(a, b)`` for ``cfg``, drawn as datasketch draws them (``a`` odd,
    so each is a bijection); static configuration, built once per worker."""
    generator = np.random.RandomState(cfg.seed)
    a = generator.randint(0, 1 << 31, cfg.num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, cfg.num_perm, dtype=np.uint32)
    return a, b


def lsh_bands(signature: bytes, cfg: MinHashConfig) -> tuple[int, ...]:
    """One key per band: a stable 63-bit hash of the band index and the band's packed rows."""
    width = cfg.rows * SLOT_BYTES
    if len(signature) < cfg.bands * width:
        raise ValueError(f"signature has {len(signature)} bytes, bands need {cfg.bands * width}")
    return tuple(
        int.from_bytes(
            hashlib.blake2b(
                band.to_bytes(4, "little") + signature[band * width : (band + 1) * width],
                digest_size=8,
            ).digest(),
            "little",
        )
        >> 1
        for band in range(cfg.bands)
    )
