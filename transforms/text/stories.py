"""Stories: which news event an article reports, decided one article at a time, in stream order.

A story is the set of articles, from any outlet, that report the same event; dedup asks "is this
a copy?", a story asks "what else is about this?". ``StoryIndex`` holds the live stories, each a
capped centroid of its articles' three term vectors (``story_terms``: title, lead, entities), and
decides in ``(fetched_at, input position)`` order (``decide``):

1. Candidates: the stories sharing one of the article's ``rare_terms`` rarest terms, rarity being
   the number of live stories holding the term (an inverted index, never a scan of all stories;
   a term in more than ``max_postings`` stories proposes none). A story that began more than
   ``max_age_hours`` before the article is no candidate: an event's later days start stories of
   their own (see docs/stories.md for why, and what it costs).
2. Score: a weighted sum of the three cosines (TF-IDF, the IDF counting live stories), over the
   features the article has, times ``exp(-idle / time_scale)`` for the time since the story's
   last article.
3. The best candidate at or above ``threshold`` gets the article; none, and a new story starts,
   its id derived from the article's id (a replay makes the same id). Other candidates at or
   above ``merge_threshold`` turn out to be the same story: all of them and the best are folded
   into the oldest of them (which gets the article), and an ``Alias`` (folded id -> survivor's)
   is returned for each: ids already emitted are never changed, and a long-running story keeps
   its id.

A duplicate (``duplicate_of`` set by dedup, which runs first) takes its original's story from a
memory of kept articles' stories (``duplicate_memory_hours``); an original no longer remembered
makes it an ordinary article.

Memory is bounded: stories idle longer than ``idle_hours`` (by the articles' ``fetched_at``) are
forgotten, at most
``max_stories`` are live (the least recently joined go first), a centroid keeps its
``max_terms`` heaviest terms per feature. The state is a sequence of records (``encode_record``):
a story's current centroid, a story folded away, an article's story; replaying the latest record
of each key rebuilds the index (Beam state and the Kafka changelog hold the same records).

Most stories hold one article (every distinct report starts one), so what a story costs is what
the index costs per remembered article: a centroid is packed (``Story``), and the inverted index
holds term hashes and story slots in numpy arrays (``story_postings``).

A term is known in memory by its 64-bit hash: Python's own ``hash`` of the string (SipHash,
keyed per process), free because the dict that counted the term has already computed it. The
hashes never leave the process (records hold the terms' text, and a replay hashes them again),
so they need not be stable across processes. Two distinct live terms with one hash would be
taken for one term; among N distinct live terms the odds of any such pair are about N^2 / 2^65
(one in ~40 million for a million terms), and a crafted pair needs the process's secret key.
Accepted rather than checked: checking needs the strings this representation exists to drop.
Every order that decides anything (a centroid's terms, the rarest terms, which terms a cap
keeps) is still the order of the terms' text, so decisions are the string-keyed index's.
"""

from __future__ import annotations

import hashlib
import io
import math
import sys
import zlib
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import repeat
from operator import mul

import fastavro
import numpy as np

from schemas.errors import StateFormatError
from schemas.state import state_codec
from transforms.text.story_postings import Postings
from transforms.text.story_terms import Terms

if sys.hash_info.width < 64:  # a term's hash stands for the term (the module doc)
    raise ImportError("story terms need 64-bit str hashes; this interpreter's are narrower")

RECORD_SCHEMA = "story_record"
RECORD_FORMAT = 3
# Format 3's ``packed_terms``: the features' sorted terms as Avro binary, zlib-compressed.
_TERMS_SCHEMA = fastavro.parse_schema(
    {"type": "array", "items": {"type": "array", "items": "string"}}
)
FEATURES = ("title", "body", "entities")
HOUR_MS = 3600 * 1000
_TERM_END, _FEATURE_END = "\x1f", "\x1e"  # ASCII's unit and record separators
Vector = dict[str, float]


@dataclass(frozen=True)
class StoryConfig:
    """How stories are linked and how much is remembered (tuned by ``benchmarks/stories.py`` on
    the dev days of the UCI headlines; see docs/stories.md)."""

    threshold: float = 0.15
    merge_threshold: float = 0.4
    title_weight: float = 0.6
    body_weight: float = 0.2
    entity_weight: float = 0.2
    time_scale_hours: float = 6.0
    idle_hours: float = 24.0
    max_age_hours: float = 24.0
    max_stories: int = 200_000
    max_terms: int = 64
    rare_terms: int = 6
    max_postings: int = 2_000
    max_candidates: int = 30
    lead_chars: int = 1_000
    duplicate_memory_hours: float = 24.0 * 7

    @property
    def weights(self) -> tuple[float, float, float]:
        return (self.title_weight, self.body_weight, self.entity_weight)


@dataclass(frozen=True)
class Alias:
    """Story ``story_id`` turned out to be story ``alias_of`` (the past is not rewritten)."""

    story_id: str
    alias_of: str


@dataclass(frozen=True)
class Assignment:
    """The call on one article: its story, how (``new``, ``joined``, ``duplicate``, ``replay``: a
    kept article seen before), the score of the story it joined (0 for a new one) and the aliases
    the call revealed."""

    story_id: str
    kind: str
    score: float
    aliases: tuple[Alias, ...] = ()


class Story:
    """A live story: its centroid, when it began and last grew, how many articles joined it, and
    its slot in the inverted index.

    The centroid (per feature: term -> summed unit-vector weight) is packed: ``hashes``, the
    three features' term hashes in one int64 array (each feature's terms in the order of their
    text), ``weights``, their float32 weights in another, ``ends``, where the first two features
    end, and ``text``, the terms' text, zlib-compressed (``_TERM_END`` after each term,
    ``_FEATURE_END`` after each feature; neither is a word character, so no term holds one), read
    back only to join or to encode a record. The records hold the same float32 weights, so an
    index replayed from them is the live one exactly."""

    __slots__ = (
        "ends",
        "first_seen",
        "hashes",
        "id",
        "last_seen",
        "size",
        "slot",
        "text",
        "weights",
    )

    def __init__(
        self, story_id: str, first_seen: int, last_seen: int, size: int, slot: int, vectors
    ) -> None:
        self.id = story_id
        self.first_seen = first_seen
        self.last_seen = last_seen
        self.size = size
        self.slot = slot
        self.pack(vectors)

    def pack(self, vectors: Iterable[Vector]) -> None:
        """Hold ``vectors`` (title, lead, entities) as the packed centroid."""
        vectors = list(vectors)
        terms = [sorted(vector) for vector in vectors]
        flat = [term for feature in terms for term in feature]
        self.hashes = array("q", map(hash, flat))
        self.weights = array(
            "f", [v[term] for v, feature in zip(vectors, terms, strict=True) for term in feature]
        )
        self.ends = (len(terms[0]), len(terms[0]) + len(terms[1]))
        self.text = zlib.compress(
            "".join(_TERM_END.join(f) + _FEATURE_END for f in terms).encode("utf-8")
        )

    def features(self) -> Iterator[tuple[array, array]]:
        """Each feature's ``(term hashes, weights)``."""
        first, second = self.ends
        for start, end in ((0, first), (first, second), (second, len(self.hashes))):
            yield self.hashes[start:end], self.weights[start:end]

    def terms(self) -> list[list[str]]:
        """Each feature's terms, in order."""
        features = zlib.decompress(self.text).decode("utf-8").split(_FEATURE_END)[:-1]
        return [feature.split(_TERM_END) if feature else [] for feature in features]

    def vectors(self) -> tuple[Vector, Vector, Vector]:
        """The centroid as one dict per feature, by term (for a join; never kept)."""
        weights, start, out = self.weights, 0, []
        for feature in self.terms():
            out.append(dict(zip(feature, weights[start : start + len(feature)], strict=True)))
            start += len(feature)
        return tuple(out)


def story_id_for(article_id: str) -> str:
    """A new story's id, from the article that began it: the same on every replay."""
    return "s-" + hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:24]


class StoryIndex:
    """The live stories of one key, an inverted index of their terms and the stories of recently
    kept articles (for their duplicates)."""

    def __init__(self, cfg: StoryConfig, records: Iterable[bytes] = ()) -> None:
        self._cfg = cfg
        self._stories: OrderedDict[str, Story] = OrderedDict()  # least recently joined first
        self._postings = Postings()  # term hash -> slots of the live stories holding it
        self._slots: list[Story | None] = []  # slot -> its live story
        self._free: list[int] = []  # slots of forgotten stories, handed out again
        self._articles: OrderedDict[str, tuple[str, int]] = OrderedDict()  # id -> (story, at)
        # Keys changed since ``changes``: a story id (encoded then), or an article's record.
        self._dirty: dict[str, str | bytes] = {}
        self.peak = 0
        for record in records:
            self._apply(decode_record(record))
        self._stories = OrderedDict(
            sorted(self._stories.items(), key=lambda item: (item[1].last_seen, item[0]))
        )
        self._dirty = {}

    def __len__(self) -> int:
        return len(self._stories)

    @property
    def remembered_articles(self) -> int:
        return len(self._articles)

    def decide(self, terms: Terms, article_id: str, duplicate_of: str | None) -> Assignment:
        """Assign one article (call in ``(fetched_at, input position)`` order). What has been idle
        too long by the article's time is forgotten first: the index keeps time by its articles'
        ``fetched_at`` (the time decay's clock too), whatever a runner's clock says."""
        self.expire(terms.at)
        if duplicate_of is not None and duplicate_of in self._articles:
            return self._recalled(duplicate_of, terms.at, "duplicate")
        if duplicate_of is None and article_id in self._articles:
            return self._recalled(article_id, terms.at, "replay")
        held = self._held(terms)
        vectors = self._weighted(terms, held)
        query = _query(vectors, self._cfg.weights)
        scored = sorted(
            (
                (self._score(query, terms.at, story), story)
                for story in self._candidates(terms, held)
            ),
            key=lambda pair: (-pair[0], pair[1].id),
        )
        if not scored or scored[0][0] < self._cfg.threshold:
            story = self._start(story_id_for(article_id), terms.at, vectors)
            self._remember(article_id, story.id, terms.at)
            return Assignment(story.id, "new", 0.0)
        same = [scored[0][1]] + [
            story for score, story in scored[1:] if score >= self._cfg.merge_threshold
        ]
        survivor, *folded = sorted(same, key=lambda story: (story.first_seen, story.id))
        self._join(survivor, vectors, terms.at, 1)
        aliases = tuple(self._fold(story, survivor) for story in folded)
        self._remember(article_id, survivor.id, terms.at)
        return Assignment(survivor.id, "joined", scored[0][0], aliases)

    def _recalled(self, article_id: str, at: int, kind: str) -> Assignment:
        """The story ``article_id`` was given, as emitted (a later fold does not change it): for
        its duplicate, or for the article itself read again (a restart re-reads inputs its
        changelog already holds), whose terms must not count twice in the centroid."""
        story_id = self._articles[article_id][0]
        story = self._stories.get(story_id)
        if story is not None:
            self._touch(story, at)
        return Assignment(story_id, kind, 1.0)

    def similarity(self, terms: Terms, story_id: str) -> float:
        """The score an article with ``terms`` would get against live story ``story_id`` (0 if
        no such story): what ``decide`` compares with the thresholds."""
        story = self._stories.get(story_id)
        if story is None:
            return 0.0
        vectors = self._weighted(terms, self._held(terms))
        return self._score(_query(vectors, self._cfg.weights), terms.at, story)

    def expire(self, now_ms: int) -> int:
        """Forget stories idle since before ``now_ms - idle_hours`` or beyond ``max_stories``, and
        articles older than ``duplicate_memory_hours``; returns the stories forgotten."""
        cutoff = now_ms - self._cfg.idle_hours * HOUR_MS
        forgotten = 0
        while self._stories:
            story = next(iter(self._stories.values()))
            if story.last_seen >= cutoff and len(self._stories) <= self._cfg.max_stories:
                break
            self._drop(story)
            forgotten += 1
        article_cutoff = now_ms - self._cfg.duplicate_memory_hours * HOUR_MS
        while self._articles and next(iter(self._articles.values()))[1] < article_cutoff:
            self._articles.popitem(last=False)
        return forgotten

    def changes(self) -> list[tuple[str, bytes]]:
        """``(key, record)`` of every story and article changed since the last call, once each
        (what Beam state and the changelog must add)."""
        changed, self._dirty = self._dirty, {}
        return [(key, self._encoded_change(value)) for key, value in changed.items()]

    def _encoded_change(self, value: str | bytes) -> bytes:
        if isinstance(value, bytes):
            return value
        story = self._stories.get(value)
        return _folded_record(value) if story is None else _story_record(story)

    def records(self) -> Iterator[bytes]:
        """Every live record (a compacted state)."""
        for story in self._stories.values():
            yield _story_record(story)
        for article_id, (story_id, at) in self._articles.items():
            yield _article_record(article_id, story_id, at)

    def _candidates(self, terms: Terms, held: dict[str, int]) -> list[Story]:
        """The stories holding the most of the article's rarest terms (at most
        ``max_candidates``; on a tie, the most recently joined). Stories begun more than
        ``max_age_hours`` before the article are left out before the cap, so they take no place."""
        counted = sorted(
            (count, key) for key, count in held.items() if 0 < count <= self._cfg.max_postings
        )
        born_after = terms.at - self._cfg.max_age_hours * HOUR_MS
        shared: Counter[Story] = Counter()
        rarest = [hash(key) for _, key in counted[: self._cfg.rare_terms]]
        for slots in self._postings.holders(rarest):
            holders = map(self._slots.__getitem__, slots)
            shared.update(story for story in holders if story.first_seen >= born_after)
        best = sorted(shared.items(), key=lambda item: (-item[1], -item[0].last_seen, item[0].id))
        return [story for story, _ in best[: self._cfg.max_candidates]]

    def _held(self, terms: Terms) -> dict[str, int]:
        """How many live stories hold each of the article's terms (one lookup for them all)."""
        keys = list({*terms.title, *terms.body, *terms.entities})
        counts = self._postings.held(np.fromiter(map(hash, keys), np.int64, len(keys)))
        return dict(zip(keys, counts.tolist(), strict=True))

    def _weighted(self, terms: Terms, held: dict[str, int]) -> tuple[Vector, Vector, Vector]:
        """Unit TF-IDF vectors of the three features, IDF over the live stories."""
        total = len(self._stories) + 1
        out = []
        for counts in (terms.title, terms.body, terms.entities):
            vector = {
                key: (1.0 + math.log(count)) * (1.0 + math.log(total / (1 + held[key])))
                for key, count in counts.items()
            }
            norm = _norm(vector)
            out.append({key: w / norm for key, w in vector.items()} if norm else {})
        return tuple(out)

    def _score(
        self, query: tuple[tuple[dict[int, float], ...], float], at: int, story: Story
    ) -> float:
        """The weighted mean of the feature cosines (the centroid's features normalised here,
        not kept normalised), times the time decay."""
        vectors, weight_sum = query
        if not weight_sum:
            return 0.0
        if at - story.first_seen > self._cfg.max_age_hours * HOUR_MS:
            return 0.0
        dot = 0.0
        for vector, (hashes, weights) in zip(vectors, story.features(), strict=True):
            if vector and weights:
                norm = math.sqrt(sum(map(mul, weights, weights)))
                dot += sum(map(mul, map(vector.get, hashes, repeat(0.0)), weights)) / norm
        idle_hours = max(0, at - story.last_seen) / HOUR_MS
        return dot / weight_sum * math.exp(-idle_hours / self._cfg.time_scale_hours)

    def _start(self, story_id: str, at: int, vectors) -> Story:
        story = Story(story_id, at, at, 0, self._slot(), ({}, {}, {}))
        self._slots[story.slot] = story
        self._stories[story_id] = story
        self._join(story, vectors, at, 1)
        self.peak = max(self.peak, len(self._stories))
        return story

    def _join(self, story: Story, vectors, at: int, size: int) -> None:
        """Add vectors to the centroid, keep its heaviest ``max_terms`` per feature, re-index."""
        before = set(story.hashes)
        story.pack(
            _capped(_added(centroid, vector), self._cfg.max_terms)
            for centroid, vector in zip(story.vectors(), vectors, strict=True)
        )
        story.size += size
        self._reindex(story, before, set(story.hashes))
        self._touch(story, at)

    def _touch(self, story: Story, at: int) -> None:
        story.last_seen = max(story.last_seen, at)
        self._stories.move_to_end(story.id)
        self._dirty["s:" + story.id] = story.id

    def _fold(self, other: Story, survivor: Story) -> Alias:
        """``other`` is the same story as ``survivor``: its centroid joins the survivor's."""
        self._drop(other)
        self._dirty["s:" + other.id] = other.id  # no longer live: encoded as folded
        survivor.first_seen = min(survivor.first_seen, other.first_seen)
        self._join(survivor, other.vectors(), other.last_seen, other.size)
        return Alias(other.id, survivor.id)

    def _drop(self, story: Story) -> None:
        del self._stories[story.id]
        self._reindex(story, set(story.hashes), set())
        self._slots[story.slot] = None
        self._free.append(story.slot)

    def _slot(self) -> int:
        if self._free:
            return self._free.pop()
        self._slots.append(None)
        return len(self._slots) - 1

    def _remember(self, article_id: str, story_id: str, at: int) -> None:
        self._articles[article_id] = (story_id, at)
        self._articles.move_to_end(article_id)
        self._dirty["a:" + article_id] = _article_record(article_id, story_id, at)

    def _reindex(self, story: Story, before: set[int], after: set[int]) -> None:
        self._postings.remove(story.slot, before - after)
        self._postings.add(story.slot, after - before)
        if self._postings.stale:
            self._postings.rebuild(
                (live.slot, np.frombuffer(live.hashes, np.int64)) for live in self._stories.values()
            )

    def _apply(self, record: dict) -> None:
        """Replay one state record (restore): the latest record of a key wins."""
        kind = record["k"]
        if kind == "a":
            self._articles[record["id"]] = (record["s"], record["at"])
            self._articles.move_to_end(record["id"])
            return
        old = self._stories.get(record["id"])
        if old is not None:
            self._drop(old)
        if kind == "s":
            slot = self._slot()
            story = Story(record["id"], record["f"], record["l"], record["n"], slot, record["v"])
            self._slots[slot] = story
            self._stories[story.id] = story
            self._reindex(story, set(), set(story.hashes))
            self.peak = max(self.peak, len(self._stories))


def _added(centroid: Vector, vector: Vector) -> Vector:
    out = dict(centroid)
    for key, weight in vector.items():
        out[key] = out.get(key, 0.0) + weight
    return out


def _capped(vector: Vector, limit: int) -> Vector:
    if len(vector) <= limit:
        return vector
    return dict(sorted(vector.items(), key=lambda item: (-item[1], item[0]))[:limit])


def _query(vectors, weights) -> tuple[tuple[dict[int, float], ...], float]:
    """An article's unit feature vectors, each scaled by its feature's weight and keyed by term
    hash (as a story holds its terms), and the sum of the weights of the features it has (the
    score's denominator)."""
    query, weight_sum = [], 0.0
    for vector, weight in zip(vectors, weights, strict=True):
        if vector:
            weight_sum += weight
        query.append({hash(key): weight * w for key, w in vector.items()})
    return tuple(query), weight_sum


def _norm(vector: Vector) -> float:
    return math.sqrt(sum(w * w for w in vector.values()))


def _story_record(story: Story) -> bytes:
    """``encode_record`` of the story's centroid, from its packed terms and weights as held."""
    record = {
        "k": "s",
        "id": story.id,
        "f": story.first_seen,
        "l": story.last_seen,
        "n": story.size,
    }
    return _encoded(record, _packed_terms(story.terms()), _float32_bytes(story.weights))


def _folded_record(story_id: str) -> bytes:
    return encode_record({"k": "x", "id": story_id})


def _article_record(article_id: str, story_id: str, at: int) -> bytes:
    return encode_record({"k": "a", "id": article_id, "s": story_id, "at": at})


# The index's short record keys <-> schemas/state_story_record.v3.avsc.
_KINDS = {"s": "story", "x": "folded", "a": "article"}
_FIELDS = {"f": "first_seen_ms", "l": "last_seen_ms", "n": "size", "s": "story_id", "at": "at_ms"}


def encode_record(record: dict) -> bytes:
    """The record in the versioned Avro format of ``state_story_record`` (shared by Beam state and
    the changelog topic). Format 3: a centroid is each feature's terms, sorted (equal records make
    equal bytes), zlib-compressed in one ``bytes`` (a third of a story's record, and of what Prism
    and the changelog hold per remembered article, saved), and all their weights as float32,
    little-endian, in another."""
    vectors = record.get("v", ())
    terms = [sorted(v) for v in vectors]
    weights = _float32_bytes(
        v[term] for v, sorted_terms in zip(vectors, terms, strict=True) for term in sorted_terms
    )
    return _encoded(record, _packed_terms(terms) if terms else b"", weights)


def _encoded(record: dict, packed_terms: bytes, weights: bytes) -> bytes:
    avro = {"kind": _KINDS[record["k"]], "id": record["id"], "vectors": [], "terms": []}
    avro.update({name: record.get(short) for short, name in _FIELDS.items()})
    avro["packed_terms"], avro["weights"] = packed_terms, weights
    return state_codec(RECORD_SCHEMA, RECORD_FORMAT).encode(avro)


def decode_record(data: bytes) -> dict:
    """Inverse of the record encoders, for formats 3, 2 (terms as strings) and 1 (centroids as
    term-weight pairs of doubles); raises ValueError on bytes they did not write (or a newer
    version wrote), as dedup's index entries do, so a changelog restore skips them."""
    try:
        avro = state_codec(RECORD_SCHEMA, RECORD_FORMAT).decode(data)
    except StateFormatError as exc:
        raise ValueError(f"not a story state record: {exc}") from exc
    kind = {name: short for short, name in _KINDS.items()}[avro["kind"]]
    record = {"k": kind, "id": avro["id"]}
    record.update({short: avro[name] for short, name in _FIELDS.items() if avro[name] is not None})
    if kind != "s":
        return record
    if not avro["terms"] and not avro["packed_terms"]:  # format 1
        record["v"] = [{term["term"]: term["weight"] for term in v} for v in avro["vectors"]]
        return record
    terms = _unpacked_terms(avro["packed_terms"]) if avro["packed_terms"] else avro["terms"]
    weights = _float32_values(avro["weights"])
    if len(terms) != len(FEATURES) or len(weights) != sum(map(len, terms)):
        raise ValueError(f"not a story state record: {len(terms)} features, {len(weights)} weights")
    record["v"], start = [], 0
    for feature in terms:
        record["v"].append(dict(zip(feature, weights[start : start + len(feature)], strict=True)))
        start += len(feature)
    return record


def _packed_terms(terms: list[list[str]]) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _TERMS_SCHEMA, terms)
    return zlib.compress(out.getvalue(), 6)


def _unpacked_terms(data: bytes) -> list[list[str]]:
    try:
        raw = zlib.decompress(data)
        stream = io.BytesIO(raw)
        terms = fastavro.schemaless_reader(stream, _TERMS_SCHEMA, None)
    except (zlib.error, ValueError, EOFError, IndexError, TypeError) as exc:
        raise ValueError(f"not a story state record: packed terms do not decode: {exc}") from exc
    if stream.tell() != len(raw):
        raise ValueError("not a story state record: bytes after the packed terms")
    return terms


def _float32_bytes(values: Iterable[float]) -> bytes:
    packed = array("f", values)
    if sys.byteorder == "big":
        packed.byteswap()
    return packed.tobytes()


def _float32_values(data: bytes) -> array:
    if len(data) % 4:
        raise ValueError(f"not a story state record: weights of {len(data)} bytes")
    values = array("f")
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()
    return values


def record_time(record: dict) -> int | None:
    """When a record last mattered (ms): a story's last article, an article's arrival."""
    return record.get("l", record.get("at"))
