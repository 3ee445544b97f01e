"""DedupIndex and decide(): exact and near matches name the kept copy; the kept input read again is
a replay; expiry; entry round trip."""

from dataclasses import replace
from itertools import count

import numpy as np
import pytest

from transforms.text.dedup_index import (
    MERGE_AT_LEAST,
    WINDOW,
    DedupIndex,
    IndexEntry,
    decide,
    decode_entry,
    encode_entry,
)
from transforms.text.fingerprint import Fingerprint, exact_key, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, SourceRef

CFG = MinHashConfig()
STORY = " ".join(
    f"Paragraph {n} of the council report says the bridge on route {n} needs repair work."
    for n in range(12)
)
OTHER = " ".join(f"Match report {n}: the visitors scored {n} goals in the rain." for n in range(12))


OFFSETS = count()


def article(article_id: str, body: str, offset: int | None = None) -> Article:
    """An article read from its own offset of topic ``t`` (``offset``: a given one)."""
    return Article(
        id=article_id,
        raw_body=body,
        body=body,
        fetched_at=0,
        ref=SourceRef(topic="t", partition=0, offset=next(OFFSETS) if offset is None else offset),
        content_hash=exact_key(body),
    )


def judged(index: DedupIndex, article_id: str, body: str, now_ms: int = 0):
    return decide(article(article_id, body), fingerprint(body, CFG), index, now_ms)


def test_entry_round_trips_through_bytes():
    fp = fingerprint(STORY, CFG)
    for source in ("t/3@17", "events.jsonl:4", ""):
        entry = IndexEntry(exact_key(STORY), "id-é", fp, 1_700_000_000_000, source)
        assert decode_entry(encode_entry(entry), CFG) == entry


def test_the_kept_input_read_again_is_a_replay_and_the_same_article_sent_again_a_copy():
    """A restart after a kill re-reads inputs whose decision the changelog already holds: the kept
    one is kept again (it was a duplicate of itself, never enriched). The same id and text at
    another offset is a feed sending it twice: a duplicate, as before."""
    index, fp = DedupIndex(CFG), fingerprint(STORY, CFG)
    first = article("first", STORY, offset=7)
    assert decide(first, fp, index, 0).kind == "kept"

    again = decide(first, fp, index, 5)
    resent = decide(article("first", STORY, offset=9), fp, index, 5)

    assert (again.kind, again.duplicate_of, again.entry) == ("replay", None, None)
    assert (resent.kind, resent.duplicate_of) == ("exact", "first")
    assert len(index) == 1


def test_a_replay_is_known_from_restored_entries_but_not_from_entries_without_a_source():
    index, fp = DedupIndex(CFG), fingerprint(STORY, CFG)
    first = article("first", STORY, offset=7)
    decide(first, fp, index, 0)
    entries = [decode_entry(encode_entry(entry), CFG) for entry in index.entries()]

    restored = DedupIndex(CFG, entries)
    format_2 = DedupIndex(CFG, [replace(entry, source="") for entry in entries])

    assert decide(first, fp, restored, 5).kind == "replay"
    assert decide(first, fp, format_2, 5).duplicate_of == "first"


@pytest.mark.parametrize(
    "data", [b"", b"\x07rest", encode_entry(IndexEntry("h", "i", fingerprint(STORY, CFG), 1))[:-1]]
)
def test_decode_rejects_bytes_it_did_not_write(data):
    with pytest.raises(ValueError):
        decode_entry(data, CFG)


def test_first_copy_kept_exact_and_near_copies_name_it():
    index = DedupIndex(CFG)
    assert judged(index, "first", STORY).kind == "kept"
    assert judged(index, "other", OTHER).kind == "kept"
    exact = judged(index, "exact", STORY)
    near = judged(index, "near", STORY.replace("bridge", "viaduct", 2))
    assert (exact.kind, exact.duplicate_of) == ("exact", "first")
    assert (near.kind, near.duplicate_of) == ("near", "first")
    assert len(index) == 2


def test_duplicates_are_never_remembered_so_copies_of_copies_name_the_original():
    index = DedupIndex(CFG)
    judged(index, "original", STORY)
    copy = STORY + " Update: the council meets on Friday to vote on the repair budget."
    assert judged(index, "copy", copy).duplicate_of == "original"
    assert judged(index, "copy-of-copy", copy).duplicate_of == "original"
    assert [entry.article_id for entry in index.entries()] == ["original"]


def test_expired_entries_are_forgotten_in_storage_order():
    index = DedupIndex(CFG)
    judged(index, "old", STORY, now_ms=1_000)
    judged(index, "new", OTHER, now_ms=5_000)
    assert index.expire_before(2_000) == 1
    assert [entry.article_id for entry in index.entries()] == ["new"]
    assert judged(index, "again", STORY, now_ms=6_000).kind == "kept"
    assert judged(index, "other-copy", OTHER, now_ms=6_000).duplicate_of == "new"


def test_lookups_survive_merging_keys_into_the_sorted_arrays():
    """More entries than MERGE_AT_LEAST band keys: earlier keys live in the sorted arrays."""
    index = DedupIndex(CFG)
    bodies = [f"{OTHER} Distinct closing line number {n} of many." for n in range(MERGE_AT_LEAST)]
    for n, body in enumerate(bodies[: MERGE_AT_LEAST // CFG.bands + 2]):
        index.add(IndexEntry(exact_key(body), f"a{n}", fingerprint(body, CFG), n))
    first_body = bodies[0]
    found = index.match("no-such-hash", fingerprint(first_body + " More.", CFG))
    assert found is not None and found.kind == "near"
    assert index.match(exact_key(first_body), fingerprint(first_body, CFG)).duplicate_of == "a0"
    rebuilt = DedupIndex(CFG, index.entries())
    assert list(rebuilt.entries()) == list(index.entries())


SLOTS = CFG.num_perm


def hand_made(signature: np.ndarray, bands: list[int], shingles: int = 100) -> Fingerprint:
    """A fingerprint with chosen band keys, so a test decides which entries LSH proposes."""
    return Fingerprint(signature.astype("<u4").tobytes(), tuple(bands), shingles)


def remember(index: DedupIndex, article_id: str, fp: Fingerprint) -> None:
    index.add(IndexEntry(f"hash-{article_id}", article_id, fp, len(index)))


def test_the_cap_judges_the_candidates_sharing_most_band_keys():
    """A copy sharing many band keys is found among many weak candidates with a cap of 1; one
    sharing a single key loses to stronger non-copies: what the cap can cost."""
    rng = np.random.default_rng(3)
    query_sig = rng.integers(0, 2**32, SLOTS, dtype=np.uint64)
    query = hand_made(query_sig, list(range(1000, 1000 + CFG.bands)))
    strong, weak_copy = (
        DedupIndex(replace(CFG, max_candidates=1)),
        DedupIndex(replace(CFG, max_candidates=5)),
    )
    uncapped = DedupIndex(CFG)
    for index in (strong, weak_copy, uncapped):
        for n in range(5):  # not copies (other signatures), two shared band keys each
            other = rng.integers(0, 2**32, SLOTS, dtype=np.uint64)
            remember(index, f"weak{n}", hand_made(other, [1000 + 2 * n, 1000 + 2 * n + 1]))
    remember(strong, "copy", hand_made(query_sig, list(range(1000, 1010))))
    for index in (weak_copy, uncapped):
        remember(index, "loose-copy", hand_made(query_sig, [1050]))

    found = strong.lookup("hash-new", query)
    assert (found.kind, found.duplicate_of, found.candidates) == ("near", "copy", 6)
    assert weak_copy.lookup("hash-new", query).kind == "kept"
    assert uncapped.lookup("hash-new", query).duplicate_of == "loose-copy"


def test_a_kept_decision_counts_the_candidates_it_was_judged_against():
    index = DedupIndex(CFG)
    judged(index, "first", STORY)
    decision = judged(index, "other", OTHER)
    assert (decision.kind, decision.candidates) == ("kept", 0)
    assert judged(index, "near", STORY.replace("bridge", "viaduct", 2)).candidates == 1


def test_expiry_after_merges_forgets_old_keys_and_keeps_the_rest():
    index = DedupIndex(CFG)
    bodies = [f"{STORY} Closing line number {n} differs." for n in range(3 * MERGE_AT_LEAST // 64)]
    for n, body in enumerate(bodies):
        index.add(IndexEntry(exact_key(body), f"a{n}", fingerprint(body, CFG), n))
    half = len(bodies) // 2
    assert index.expire_before(half) == half
    index.add(IndexEntry("late", "late", fingerprint(OTHER, CFG), len(bodies)))
    found = index.match("no-such-hash", fingerprint(bodies[0], CFG))
    assert found is not None and int(found.duplicate_of[1:]) >= half
    assert index.match(exact_key(bodies[0]), fingerprint(OTHER + " x", CFG)).duplicate_of == "late"


def test_candidates_are_found_through_the_directory_and_on_a_hot_key():
    """Merged keys are found through the directory; a key shared by more entries than its slot's
    window (a stock sentence's band) is searched, every sharer a candidate."""
    rng = np.random.default_rng(5)
    index = DedupIndex(CFG)
    sharers = 2 * WINDOW
    for n in range(sharers):
        bands = [5000] + [10_000 + n * CFG.bands + band for band in range(1, CFG.bands)]
        remember(index, f"s{n}", hand_made(rng.integers(0, 2**32, SLOTS, dtype=np.uint64), bands))
    assert len(index._recent) < sharers * CFG.bands, "most keys are merged"
    query = hand_made(rng.integers(0, 2**32, SLOTS, dtype=np.uint64), [5000, 10_000 + 7 * 64 + 3])
    assert index.lookup("hash-new", query).candidates == sharers
    lone = hand_made(rng.integers(0, 2**32, SLOTS, dtype=np.uint64), [10_000 + 9 * 64 + 1])
    assert index.lookup("hash-new", lone).candidates == 1
