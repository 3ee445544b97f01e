"""DedupIndex and decide(): exact and near matches name the kept copy; expiry; entry round trip."""

import pytest

from transforms.text.dedup_index import (
    MERGE_AT_LEAST,
    DedupIndex,
    IndexEntry,
    decide,
    decode_entry,
    encode_entry,
)
from transforms.text.fingerprint import exact_key, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, SourceRef

CFG = MinHashConfig()
STORY = " ".join(
    f"Paragraph {n} of the council report says the bridge on route {n} needs repair work."
    for n in range(12)
)
OTHER = " ".join(f"Match report {n}: the visitors scored {n} goals in the rain." for n in range(12))


def article(article_id: str, body: str) -> Article:
    return Article(
        id=article_id,
        raw_body=body,
        body=body,
        fetched_at=0,
        ref=SourceRef(topic="t", partition=0, offset=0),
        content_hash=exact_key(body),
    )


def judged(index: DedupIndex, article_id: str, body: str, now_ms: int = 0):
    return decide(article(article_id, body), fingerprint(body, CFG), index, now_ms)


def test_entry_round_trips_through_bytes():
    entry = IndexEntry(exact_key(STORY), "id-é", fingerprint(STORY, CFG), 1_700_000_000_000)
    assert decode_entry(encode_entry(entry), CFG) == entry


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
