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
from datasketch import MinHash

from transforms.text.minhash_config import MinHashConfig

_CHARACTER_MAP = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`´", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
    }
)
SCHEME = "affine32"
# Bytes per packed signature slot: affine32 MinHash values are unsigned 32-bit.
SLOT_BYTES = 4
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")
_WORD = re.compile(r"\w+(?:'\w+)*")


def normalize(text: str) -> str:
    """Canonical ``text``: NFKC, casefolded, one quote and dash style, tokens joined by a space."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_CHARACTER_MAP)
    return " ".join(_TOKEN.findall(folded))


def exact_key(body: str) -> str:
    """SHA-256 hex digest of the normalized body: equal keys mean the same article text."""
    return hashlib.sha256(normalize(body).encode("utf-8")).hexdigest()


def shingles(text: str, size: int) -> set[str]:
    """Word ``size``-grams of the normalized text, punctuation ignored.

    A text shorter than ``size`` words yields one shingle of all its words; an empty text none.
    """
    words = _WORD.findall(normalize(text))
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

    datasketch's "affine32" scheme (named, so a library default cannot change stored signatures)
    with the configured seed, so every worker computes the same signature. An empty
    set gives the all-maximum signature, which matches only other empty texts.
    """
    sketch = MinHash(
        num_perm=cfg.num_perm, seed=cfg.seed, permutations=_permutations(cfg), scheme=SCHEME
    )
    sketch.update_batch([shingle.encode("utf-8") for shingle in sorted(shingle_set)])
    return sketch.hashvalues


@functools.cache
def _permutations(cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """The seeded hash permutations for ``cfg`` (static configuration, built once per worker)."""
    return MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme=SCHEME).permutations


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
