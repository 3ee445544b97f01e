"""The dedup index: what a dedup shard remembers of the articles it kept, and the batch decision.

Only first-seen kept copies are remembered, so a duplicate's ``duplicate_of`` always names an
article that went on to be enriched, never another duplicate (a copy of a copy is judged against
the original it shares text with, or kept if it no longer resembles it).

Memory is what bounds a 7-day TTL, so an entry is kept compact (measured by
``benchmarks/dedup_state.py``, docs/performance.md): one row tuple (hash, id, time), its MinHash
signature and shingle count as a row of two numpy arrays (a lookup gathers its candidates' rows
in one step instead of a Python object each), and the band keys as (low 32 bits of the key, row)
pairs in two sorted numpy uint32 arrays, 8 bytes a band, rather than a Python dict per band (~80
bytes a band and article, 5 KB at 64 bands). A stored entry's band keys are recomputed from its
signature when needed. New keys wait in a small dict (and two flat arrays a merge reads) until
they are merged into the sorted arrays; entries expire in the order they were stored, so
forgetting is dropping a prefix, and row numbers are kept modulo 2**32 (unambiguous while fewer
than 2**31 entries are remembered).
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from transforms.text.fingerprint import Fingerprint, lsh_bands
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article
from transforms.text.near_dup import judge_many

ENTRY_FORMAT = 3
# Format 2 had no source; an entry read from it never matches a replay (``decide``).
_HEADERS = {2: struct.Struct("<BqIHHH"), 3: struct.Struct("<BqIHHHH")}
# Merge the recent keys into the sorted arrays at this many, or at 1/MERGE_SHARE of the merged
# ones: the dict costs ~100 bytes a key, the merge a sort, so it is kept to a few percent.
MERGE_AT_LEAST = 1024
MERGE_SHARE = 32
KEY_MASK = 0xFFFFFFFF
# Sorted keys are found through a directory of their top bits, about DIRECTORY_LOAD keys a slot:
# a binary search over the arrays (256 MB at a million entries) misses the cache at almost every
# step, a slot is one or two cache lines. A slot wider than WINDOW (a hot key) is searched.
DIRECTORY_LOAD = 16
WINDOW = 64
# The signature arrays grow by this factor when full (a copy; amortised, and little slack).
GROWTH = 1.25


@dataclass(frozen=True)
class IndexEntry:
    """One remembered kept article: its exact key, id, fingerprint, when it was stored (ms) and
    the input it was read from (``str(SourceRef)``; empty when unknown)."""

    content_hash: str
    article_id: str
    fingerprint: Fingerprint
    stored_at: int
    source: str = ""


@dataclass(frozen=True)
class Decision:
    """The call on one article: ``duplicate_of`` is the kept copy's id (None: kept), ``kind`` is
    ``exact``, ``near``, ``kept`` or ``replay`` (the kept input itself, read again), ``entry``
    what a kept article adds to the index, ``candidates`` how many remembered articles LSH
    proposed (at most ``max_candidates`` of them were judged) and ``source`` the input the
    remembered copy was read from."""

    duplicate_of: str | None
    kind: str
    similarity: float
    entry: IndexEntry | None
    candidates: int = 0
    source: str = ""


def encode_entry(entry: IndexEntry) -> bytes:
    """Versioned little-endian bytes of an entry, for Beam state and the Kafka changelog alike.

    Band keys are left out (half the bytes at 64 bands): ``decode_entry`` recomputes them from the
    signature under the running configuration, so a changelog written before a change of bands x
    rows still proposes candidates correctly."""
    fp = entry.fingerprint
    hash_bytes, id_bytes = entry.content_hash.encode(), entry.article_id.encode()
    source_bytes = entry.source.encode()
    header = _HEADERS[ENTRY_FORMAT].pack(
        ENTRY_FORMAT,
        entry.stored_at,
        fp.shingle_count,
        len(hash_bytes),
        len(id_bytes),
        len(fp.signature),
        len(source_bytes),
    )
    return b"".join((header, hash_bytes, id_bytes, fp.signature, source_bytes))


def decode_entry(data: bytes, cfg: MinHashConfig) -> IndexEntry:
    """Inverse of ``encode_entry``; raises ValueError on bytes it did not write."""
    if data and data[0] > ENTRY_FORMAT:
        raise ValueError(
            f"dedup index entry of format {data[0]}, written by a newer newsflow; this one reads "
            f"format {ENTRY_FORMAT}: restore it with that version (or start without this state)"
        )
    header = _HEADERS.get(data[0]) if data else None
    if header is None or len(data) < header.size:
        raise ValueError(f"not a dedup index entry (format byte {data[:1]!r})")
    _, stored_at, shingles, hash_len, id_len, sig_len, *rest = header.unpack_from(data)
    source_len = rest[0] if rest else 0
    if header.size + hash_len + id_len + sig_len + source_len != len(data):
        raise ValueError(f"dedup index entry of {len(data)} bytes does not match its header")
    start = header.size
    content_hash = data[start : start + hash_len].decode()
    start += hash_len
    article_id = data[start : start + id_len].decode()
    start += id_len
    signature = data[start : start + sig_len]
    source = data[start + sig_len :].decode()
    fp = Fingerprint(signature, lsh_bands(signature, cfg), shingles)
    return IndexEntry(content_hash, article_id, fp, stored_at, source)


class DedupIndex:
    """First-seen kept articles of one shard: exact lookup by content hash, near lookup by LSH band
    keys (candidates) then ``judge`` on the full fingerprints."""

    def __init__(self, cfg: MinHashConfig, entries: Iterable[IndexEntry] = ()) -> None:
        self._cfg = cfg
        # Candidates judged per lookup at most (0: all); may be changed between lookups.
        self.max_candidates = cfg.max_candidates
        self._rows: list[tuple] = []  # (content_hash, article_id, stored_at, source)
        self._base = 0  # sequence number of self._rows[0]; rows before it have expired
        # Row n's signature slots and shingle count are at self._first + n of these arrays.
        self._signatures = np.empty((0, cfg.num_perm), dtype=np.uint32)
        self._shingles = np.empty(0, dtype=np.int64)
        self._first = 0
        self._exact: dict[str, int] = {}
        self._keys = np.empty(0, dtype=np.uint32)  # sorted band keys, low 32 bits
        self._seqs = np.empty(0, dtype=np.uint32)  # the row of each key, sequence number mod 2**32
        # Band keys not yet merged into self._keys: a row, or a list of rows on a shared key;
        # the same (key, row) pairs in arrival order, which a merge reads without a Python loop.
        self._recent: dict[int, int | list[int]] = {}
        self._recent_keys = array("I")
        self._recent_seqs = array("q")
        self._expired_unmerged = 0  # rows expired whose keys are still in self._keys
        self._index_keys()
        for entry in entries:
            self.add(entry)

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, entry: IndexEntry) -> None:
        """Remember a kept article (entries must arrive in the order they were stored)."""
        fp = entry.fingerprint
        seq = self._base + len(self._rows)
        at = self._reserve_row()
        self._signatures[at] = np.frombuffer(fp.signature, dtype="<u4")
        self._shingles[at] = fp.shingle_count
        self._rows.append((entry.content_hash, entry.article_id, entry.stored_at, entry.source))
        self._exact.setdefault(entry.content_hash, seq)
        keys = [key & KEY_MASK for key in fp.bands]
        self._recent_keys.extend(keys)
        self._recent_seqs.extend([seq] * len(keys))
        for key in keys:
            present = self._recent.get(key)
            if present is None:
                self._recent[key] = seq
            elif isinstance(present, list):
                present.append(seq)
            else:
                self._recent[key] = [present, seq]
        if len(self._recent) >= max(MERGE_AT_LEAST, len(self._keys) // MERGE_SHARE):
            self._merge()

    def expire_before(self, cutoff_ms: int) -> int:
        """Forget entries stored before ``cutoff_ms``; returns how many were forgotten."""
        expired = 0
        while expired < len(self._rows) and self._rows[expired][2] < cutoff_ms:
            row = self._rows[expired]
            if self._exact.get(row[0]) == self._base + expired:
                del self._exact[row[0]]
            expired += 1
        if expired:
            del self._rows[:expired]
            self._base += expired
            self._first += expired
            self._expired_unmerged += expired
            if self._expired_unmerged > len(self._rows):
                self._merge()
        return expired

    def entries(self) -> Iterator[IndexEntry]:
        """Every remembered entry, oldest first (what Beam state and the changelog hold)."""
        for seq in range(self._base, self._base + len(self._rows)):
            yield self._entry(seq)

    def lookup(self, content_hash: str, fp: Fingerprint) -> Decision:
        """What ``fp`` duplicates: exact first, then the most similar near copy (the earliest
        stored on a tie); kind ``kept`` (no entry yet) when nothing, with candidates counted."""
        seq = self._exact.get(content_hash)
        if seq is not None:
            _, article_id, _, source = self._rows[seq - self._base]
            return Decision(article_id, "exact", 1.0, None, source=source)
        return self._near(fp)

    def match(self, content_hash: str, fp: Fingerprint) -> Decision | None:
        """The remembered article ``fp`` duplicates, or None."""
        found = self.lookup(content_hash, fp)
        return None if found.kind == "kept" else found

    def _near(self, fp: Fingerprint) -> Decision:
        """The best near copy among the candidates, judged in one pass; kind ``kept`` if none."""
        offsets, proposed = self._candidates(fp.bands)
        if not len(offsets):
            return Decision(None, "kept", 0.0, None, proposed)
        at = offsets + self._first
        duplicate, similarity, _ = judge_many(
            fp, self._signatures[at], self._shingles[at], self._cfg
        )
        if not duplicate.any():
            return Decision(None, "kept", 0.0, None, proposed)
        # argmax takes the first of equal maxima: offsets are sorted, so the earliest stored.
        best = int(np.argmax(np.where(duplicate, similarity, -1.0)))
        _, article_id, _, source = self._rows[int(offsets[best])]
        return Decision(article_id, "near", float(similarity[best]), None, proposed, source)

    def _candidates(self, bands: tuple[int, ...]) -> tuple[np.ndarray, int]:
        """Sorted row offsets of the remembered articles sharing a band key's low 32 bits (a rare
        false candidate costs one comparison) and how many there were before the cap: beyond
        ``max_candidates``, those sharing the most band keys with ``bands`` are kept."""
        query = (np.asarray(bands, dtype=np.uint64) & KEY_MASK).astype(np.uint32)
        stored = self._seqs[self._positions(query)]
        offsets = stored - np.uint32(self._base & KEY_MASK)  # wraps, as sequence numbers do
        recent = [self._recent[key] for key in query.tolist() if key in self._recent]
        found = np.concatenate(
            [
                offsets[offsets < len(self._rows)].astype(np.int64),
                np.fromiter(_flat(recent), np.int64) - self._base,
            ]
        )
        found = found[found >= 0]
        rows, shared = np.unique(found, return_counts=True)
        cap = self.max_candidates
        if cap and len(rows) > cap:
            return np.sort(rows[np.argsort(-shared, kind="stable")[:cap]]), len(rows)
        return rows, len(rows)

    def _positions(self, query: np.ndarray) -> np.ndarray:
        """Every position in the sorted arrays holding one of the query keys (once per query
        key): each key's directory slot read at once and matched in place, a slot wider than
        WINDOW binary-searched."""
        slot = (query >> self._shift).astype(np.int64)
        first = self._directory[slot].astype(np.int64)
        last = self._directory[slot + 1].astype(np.int64)
        width = min(WINDOW, int((last - first).max()))
        positions = first[:, None] + np.arange(width)
        window = self._keys[np.minimum(positions, max(len(self._keys) - 1, 0))]
        hits = (window == query[:, None]) & (positions < last[:, None])
        wide = (last - first) > WINDOW
        if not wide.any():
            return positions[hits]
        low = np.searchsorted(self._keys, query[wide], side="left")
        high = np.searchsorted(self._keys, query[wide], side="right")
        runs = [np.arange(start, end) for start, end in zip(low, high, strict=True)]
        return np.concatenate([positions[hits & ~wide[:, None]], *runs])

    def _index_keys(self) -> None:
        """Rebuild the directory: for each value of the keys' top bits, where its keys start."""
        bits = int(np.clip(np.log2(max(len(self._keys), 1) / DIRECTORY_LOAD), 1, 24))
        self._shift = 32 - bits
        counts = np.bincount(self._keys >> self._shift, minlength=1 << bits)
        self._directory = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint32)

    def _entry(self, seq: int) -> IndexEntry:
        """A remembered entry; band keys are recomputed from the signature rather than kept."""
        offset = seq - self._base
        content_hash, article_id, stored_at, source = self._rows[offset]
        signature = self._signatures[self._first + offset].astype("<u4").tobytes()
        shingles = int(self._shingles[self._first + offset])
        fp = Fingerprint(signature, lsh_bands(signature, self._cfg), shingles)
        return IndexEntry(content_hash, article_id, fp, stored_at, source)

    def _reserve_row(self) -> int:
        """Where the next row's signature goes: at the arrays' end, once the live rows are moved
        to the front (the expired ones dropped), into larger arrays when they fill half."""
        live = len(self._rows)
        capacity = len(self._shingles)
        if self._first + live < capacity:
            return self._first + live
        size = capacity if live < capacity // 2 else max(MERGE_AT_LEAST, int(capacity * GROWTH))
        signatures = np.empty((size, self._cfg.num_perm), dtype=np.uint32)
        shingles = np.empty(size, dtype=np.int64)
        signatures[:live] = self._signatures[self._first : self._first + live]
        shingles[:live] = self._shingles[self._first : self._first + live]
        self._signatures, self._shingles, self._first = signatures, shingles, 0
        return live

    def _merge(self) -> None:
        """Fold the recent keys into the sorted arrays, dropping keys of expired rows: the few
        new keys are sorted and inserted, so a merge costs a copy of the arrays, not a sort."""
        recent_seqs = np.frombuffer(self._recent_seqs, dtype=np.int64)
        fresh = recent_seqs >= self._base
        new_keys = np.frombuffer(self._recent_keys, dtype=np.uint32)[fresh]
        new_seqs = (recent_seqs[fresh] & KEY_MASK).astype(np.uint32)
        keys, seqs = self._keys, self._seqs
        if self._expired_unmerged:
            alive = (seqs - np.uint32(self._base & KEY_MASK)) < len(self._rows)
            keys, seqs = keys[alive], seqs[alive]
        order = np.argsort(new_keys, kind="stable")
        at = np.searchsorted(keys, new_keys[order], side="right")
        self._keys = np.insert(keys, at, new_keys[order])
        self._seqs = np.insert(seqs, at, new_seqs[order])
        self._recent = {}
        self._recent_keys = array("I")
        self._recent_seqs = array("q")
        self._expired_unmerged = 0
        self._index_keys()


def _as_list(present: int | list[int]) -> list[int]:
    """The rows a recent band key maps to (one row is stored bare, to save a list a key)."""
    return present if isinstance(present, list) else [present]


def _flat(present: list[int | list[int]]) -> Iterator[int]:
    for rows in present:
        yield from _as_list(rows)


def decide(article: Article, fp: Fingerprint, index: DedupIndex, now_ms: int) -> Decision:
    """Judge one article against the index; a kept article is added to it at once, so the next
    article of the same batch is judged against it too. Call in arrival order: earliest
    ``fetched_at`` first, then input position (DESIGN.md's rule for which copy is kept).

    The kept input itself, read again (a restart after a kill, with the index restored from the
    changelog; a fresh Flink job resuming a group), matches its own entry: that is a ``replay``,
    kept as it was decided, not a copy of itself. The same id and text from another input (a
    feed sending an article twice) stays a duplicate."""
    found = index.lookup(article.content_hash, fp)
    source = input_source(article)
    if found.kind != "kept":
        if source and found.source == source:
            return Decision(None, "replay", 1.0, None, found.candidates, source)
        return found
    entry = IndexEntry(article.content_hash, article.id, fp, now_ms, source)
    index.add(entry)
    return replace(found, entry=entry)


def input_source(article: Article) -> str:
    """The input an article was read from, as its index entry records it (empty: unknown)."""
    return str(article.ref) if article.ref.topic or article.ref.file else ""
