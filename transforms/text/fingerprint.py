"""Fingerprints of a clean body: an exact-match key and MinHash/LSH near-duplicate signatures.

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
from collections.abc import Sequence

import numpy as np
from datasketch import MinHash

from transforms.text.near_dup import MinHashConfig

_CHARACTER_MAP = str.maketrans(
    {
        **dict.fromkeys("‘’‚‛′`´", "'"),
        **dict.fromkeys("“”„‟″«»", '"'),
        **dict.fromkeys("‐‑‒–—―−", "-"),
    }
)
SCHEME = "affine32"
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


def minhash(shingle_set: set[str], cfg: MinHashConfig) -> tuple[int, ...]:
    """MinHash signature (``cfg.num_perm`` values) of a shingle set.

    datasketch's "affine32" scheme (named, so a library default cannot change stored signatures)
    with the configured seed, so every worker computes the same signature. An empty
    set gives the all-maximum signature, which matches only other empty texts.
    """
    sketch = MinHash(
        num_perm=cfg.num_perm, seed=cfg.seed, permutations=_permutations(cfg), scheme=SCHEME
    )
    sketch.update_batch([shingle.encode("utf-8") for shingle in sorted(shingle_set)])
    return tuple(int(value) for value in sketch.hashvalues)


@functools.cache
def _permutations(cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """The seeded hash permutations for ``cfg`` (static configuration, built once per worker)."""
    return MinHash(num_perm=cfg.num_perm, seed=cfg.seed, scheme=SCHEME).permutations


def lsh_bands(signature: Sequence[int], cfg: MinHashConfig) -> list[tuple[int, str]]:
    """(band index, stable hex hash of the band's rows) for each of ``cfg.bands`` bands."""
    if len(signature) < cfg.bands * cfg.rows:
        raise ValueError(
            f"signature has {len(signature)} values, bands need {cfg.bands * cfg.rows}"
        )
    bands = []
    for band in range(cfg.bands):
        rows = signature[band * cfg.rows : (band + 1) * cfg.rows]
        data = b"".join(int(value).to_bytes(8, "big") for value in rows)
        bands.append((band, hashlib.blake2b(data, digest_size=8).hexdigest()))
    return bands
