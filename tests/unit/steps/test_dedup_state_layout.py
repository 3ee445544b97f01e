"""DecideDuplicatesFn's index state across layouts, its flush called as the runner calls it, with
list-backed bags standing in for the runner's state store (the state is the input here; the
step's own logic runs unchanged): a format-1 index (one bag) is read, its entries judged against
and moved into the time slices; an expired slice's bag is cleared. The articles wait in the bag
``pending``, as state written before the buffering buckets holds them."""

from apache_beam.utils.timestamp import Timestamp

from transforms.state_coders import CARRIED, IndexVersionCoder
from transforms.steps.buffering import BUCKET_NAMES
from transforms.steps.dedup import INDEX_BAGS, LEGACY_INDEX, DecideDuplicatesFn, DedupConfig
from transforms.text.dedup_index import IndexEntry, decode_entry, encode_entry
from transforms.text.fingerprint import exact_key, fingerprint
from transforms.text.index_slices import EMPTY, slice_width_ms
from transforms.text.models import Article, SourceRef

HOUR_MS = 3600 * 1000
CONFIG = DedupConfig(ttl_hours=1.0)
STORY = " ".join(
    f"Paragraph {n} of the report says bridge {n} needs repair work." for n in range(12)
)


class ListBag:
    """A bag state as the SDK hands it to a DoFn: read, add, clear."""

    def __init__(self, items=()) -> None:
        self.items = list(items)

    def read(self):
        return list(self.items)

    def add(self, value) -> None:
        self.items.append(value)

    def clear(self) -> None:
        self.items = []


def article(article_id: str, body: str, fetched_ms: int) -> Article:
    ref = SourceRef(topic="articles.raw", partition=0, offset=fetched_ms)
    return Article(
        id=article_id,
        raw_body=body,
        body=body,
        fetched_at=fetched_ms,
        ref=ref,
        content_hash=exact_key(body),
    )


def flush(fn, pending: ListBag, bags: dict[str, ListBag], at_ms: int) -> list:
    """The flush at ``at_ms``, with empty buckets besides ``bags`` (this state is all in
    ``pending``, as written before the buckets)."""
    buckets = {name: ListBag() for name in BUCKET_NAMES}
    at = Timestamp(micros=at_ms * 1000)
    return list(fn.flush(key="all", fired_at=at, pending=pending, **bags, **buckets))


def pending_with(version, *articles: Article) -> ListBag:
    items = [(CARRIED, version)] if version is not None else []
    items += [(a.fetched_at * 1000, (a, fingerprint(a.body, CONFIG.minhash))) for a in articles]
    return ListBag(items)


def test_a_format_1_index_is_judged_against_and_moved_into_the_slices():
    fn = DecideDuplicatesFn(CONFIG)
    fn.setup()
    fn.start_bundle()
    original = article("original", STORY, 10 * HOUR_MS)
    stored = IndexEntry(
        original.content_hash, original.id, fingerprint(STORY, CONFIG.minhash), 10 * HOUR_MS
    )
    bags = {name: ListBag() for name in INDEX_BAGS}
    bags[LEGACY_INDEX] = ListBag([encode_entry(stored)])
    format_1 = IndexVersionCoder().decode(b"\x01" + bytes([2, 2]))  # token 1, 1 entry
    copy = article("copy", "WIRE - " + STORY + " Updated.", 10 * HOUR_MS + 60_000)
    out = flush(fn, pending_with(format_1, copy), bags, 10 * HOUR_MS + 61_000)
    assert [(o.value.id, o.value.duplicate_of) for o in out] == [("copy", "original")]
    assert bags[LEGACY_INDEX].items == []
    width = slice_width_ms(HOUR_MS)
    bag = INDEX_BAGS[(10 * HOUR_MS // width) % len(INDEX_BAGS)]
    assert [decode_entry(row, CONFIG.minhash).article_id for row in bags[bag].items] == ["original"]
    assert sum(len(b.items) for b in bags.values()) == 1


def test_an_expired_slice_is_cleared_and_the_new_entry_placed():
    fn = DecideDuplicatesFn(CONFIG)
    fn.setup()
    fn.start_bundle()
    bags = {name: ListBag() for name in (*INDEX_BAGS, LEGACY_INDEX)}
    first = article("first", STORY, 1_000)
    pending = pending_with(None, first)
    assert [o.id for o in flush(fn, pending, bags, 2_000)] == ["first"]
    version = next(value for mark, value in pending.items if mark == CARRIED)
    assert sum(s != EMPTY for s in version.slices) == 1
    later = article("later", STORY, 2 * HOUR_MS)
    pending.add((later.fetched_at * 1000, (later, fingerprint(STORY, CONFIG.minhash))))
    assert [o.id for o in flush(fn, pending, bags, 2 * HOUR_MS + 1_000)] == ["later"]
    rows = [decode_entry(r, CONFIG.minhash).article_id for b in bags.values() for r in b.items]
    assert rows == ["later"], "the first article's slice expired and its bag was cleared"
