"""Story decisions: who joins whom, what is forgotten, what an alias is, and state replay."""

import io
import zlib
from dataclasses import replace

import fastavro
import pytest

from schemas.state import state_codec
from transforms.text.models import Article, Entity, SourceRef
from transforms.text.stories import (
    HOUR_MS,
    StoryConfig,
    StoryIndex,
    decode_record,
    encode_record,
    story_id_for,
)
from transforms.text.story_terms import article_terms, words

T0 = 1_394_409_600_000  # 2014-03-10
CFG = StoryConfig()
STORY = {"k": "s", "id": "s-0123456789abcdef01234567", "f": T0, "l": T0, "n": 1}


def article(article_id: str, title: str, at: int = T0, entities=(), body: str | None = None):
    body = title if body is None else body
    return Article(
        id=article_id,
        raw_body=body,
        fetched_at=at,
        ref=SourceRef(file="feed", line=1),
        title=title,
        body=body,
        entities=tuple(entities),
    )


def terms(a: Article, cfg: StoryConfig = CFG):
    return article_terms(a, cfg.lead_chars)


def feed(index: StoryIndex, articles, cfg: StoryConfig = CFG) -> list[str]:
    return [index.decide(terms(a, cfg), a.id, a.duplicate_of).story_id for a in articles]


PLANE = [
    "Malaysia Airlines flight MH370 search widens to Indian Ocean",
    "Search for missing Malaysia Airlines MH370 moves to Indian Ocean",
    "MH370: Malaysia Airlines jet search shifts to Indian Ocean",
]
APPLE = "Apple releases iOS 7.1 with CarPlay and Siri fixes"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Fed's tapers are news", ["fed", "taper", "news"]),
        ("U.S. stocks fall as Fed hints", ["u.s", "stock", "fall", "fed", "hint"]),
        ("Apple’s iPhone 6: a concept", ["apple", "iphone", "concept"]),
        ("Says it will, says who?", []),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


def test_terms_take_names_by_canonical_and_skip_values():
    ents = [
        Entity("Rudd", "PERSON", 0, 4, canonical="Amber Rudd"),
        Entity("Tuesday", "DATE", 10, 17),
        Entity("BBC", "ORG", 20, 23),
    ]
    got = terms(article("a", "Rudd on Tuesday", entities=ents, body="x" * 10 + " lead words"))
    assert got.entities == {"e:amber rudd": 1, "e:bbc": 1}
    assert got.title == {"rudd": 1, "tuesday": 1}


def test_lead_is_cut_at_lead_chars():
    a = article("a", "Title", body="first words " + "later " * 1000)
    assert "later" not in article_terms(a, 12).body


@pytest.mark.parametrize(
    "titles, same",
    [
        (PLANE, [True, True]),
        ([PLANE[0], APPLE], [False]),
        ([APPLE, "Apple iOS 7.1 arrives with CarPlay"], [True]),
    ],
)
def test_reports_of_one_event_share_a_story(titles, same):
    ids = feed(StoryIndex(CFG), [article(f"a{i}", t, T0 + i) for i, t in enumerate(titles)])
    assert [ids[i + 1] == ids[0] for i in range(len(same))] == same


def test_a_new_story_is_named_after_its_first_article():
    assert feed(StoryIndex(CFG), [article("a1", APPLE)]) == [story_id_for("a1")]


def test_a_story_sharing_no_term_is_never_a_candidate():
    cfg = replace(CFG, threshold=0.0)  # a scan would join anything at all
    ids = feed(StoryIndex(cfg), [article("a1", APPLE), article("a2", PLANE[0])], cfg)
    assert ids[0] != ids[1]


def test_a_duplicate_takes_its_originals_story_even_if_unlike_it():
    index = StoryIndex(CFG)
    first = feed(index, [article("a1", APPLE), article("a2", PLANE[0])])
    dup = replace(article("a3", "unrelated words entirely"), duplicate_of="a2")
    assignment = index.decide(terms(dup), dup.id, dup.duplicate_of)
    assert (assignment.story_id, assignment.kind) == (first[1], "duplicate")


@pytest.mark.parametrize("restored", [False, True])
def test_a_kept_article_read_again_keeps_its_story_and_counts_once(restored):
    """A restart re-reads inputs whose records the changelog already restored: the article gets
    the story it was given, and its terms are not added to the centroid a second time."""
    index = StoryIndex(CFG)
    first = [article("a1", PLANE[0]), article("a2", PLANE[1]), article("a3", APPLE)]
    ids = feed(index, first)
    if restored:
        index = StoryIndex(CFG, [record for _, record in index.changes()])
    before = sorted(index.records())
    again = index.decide(terms(first[1]), "a2", None)
    assert (again.story_id, again.kind) == (ids[1], "replay")
    assert sorted(index.records()) == before


def test_a_duplicate_of_a_forgotten_original_is_decided_on_its_own():
    index = StoryIndex(CFG)
    dup = replace(article("a3", APPLE), duplicate_of="never-seen")
    assert index.decide(terms(dup), dup.id, dup.duplicate_of).kind == "new"


@pytest.mark.parametrize(
    "gap_hours, joined",
    [(1, True), (CFG.idle_hours + 1, False)],
)
def test_an_idle_story_is_forgotten(gap_hours, joined):
    index = StoryIndex(CFG)
    later = T0 + int(gap_hours * HOUR_MS)
    first = feed(index, [article("a1", PLANE[0])])[0]
    index.expire(later)
    assert (feed(index, [article("a2", PLANE[1], later)])[0] == first) == joined


@pytest.mark.parametrize(
    "max_age_hours, joined",
    [(CFG.max_age_hours, False), (float("inf"), True)],
)
def test_a_story_older_than_max_age_takes_no_new_article(max_age_hours, joined):
    # Joined every 4 hours, so never idle: only its age (from its first article) can stop it.
    cfg = replace(CFG, max_age_hours=max_age_hours)
    index = StoryIndex(cfg)
    hours = range(0, int(CFG.max_age_hours) + 8, 4)
    reports = [article(f"a{h}", PLANE[h % 3], T0 + h * HOUR_MS) for h in hours]
    ids = feed(index, reports, cfg)
    in_age = [i for i, h in enumerate(hours) if h <= CFG.max_age_hours]
    assert {ids[i] for i in in_age} == {ids[0]}
    assert (ids[-1] == ids[0]) == joined
    # The old story is still remembered: a copy of one of its articles still takes its story.
    dup = replace(article("d", APPLE, T0 + hours[-1] * HOUR_MS), duplicate_of="a0")
    assert index.decide(terms(dup, cfg), dup.id, dup.duplicate_of).story_id == ids[0]


def test_a_story_too_old_to_join_takes_no_candidate_place():
    # One candidate place; the old story shares more of the article's terms than the young one.
    cfg = replace(CFG, max_candidates=1, time_scale_hours=1e9, idle_hours=1e6)
    index = StoryIndex(cfg)
    later = T0 + int((CFG.max_age_hours + 1) * HOUR_MS)
    old = feed(index, [article("a1", PLANE[0])], cfg)[0]
    young = feed(index, [article("a2", "Indian Ocean search", later)], cfg)[0]
    assert young != old
    assert feed(index, [article("a3", PLANE[0], later + 1)], cfg)[0] == young


def test_live_stories_are_capped_least_recently_joined_first():
    cfg = replace(CFG, max_stories=2)
    index = StoryIndex(cfg)
    ids = feed(index, [article("a1", PLANE[0]), article("a2", APPLE, T0 + 1)], cfg)
    feed(index, [article("a3", PLANE[1], T0 + 2)], cfg)  # the plane story is now the freshest
    feed(index, [article("a4", "Crimea referendum vote count begins", T0 + 3)], cfg)
    index.expire(T0 + 3)
    assert len(index) == 2
    assert feed(index, [article("a5", PLANE[2], T0 + 4)], cfg)[0] == ids[0]
    assert feed(index, [article("a6", APPLE, T0 + 5)], cfg)[0] != ids[1]


def test_terms_per_story_are_capped():
    cfg = replace(CFG, max_terms=5)
    index = StoryIndex(cfg)
    feed(index, [article(f"a{i}", PLANE[i % 3] + f" update{i}", T0 + i) for i in range(6)], cfg)
    record = decode_record(next(index.records()))
    assert all(len(vector) <= 5 for vector in record["v"])


def test_two_stories_found_to_be_one_become_an_alias_and_keep_their_ids():
    cfg = replace(CFG, threshold=0.3, merge_threshold=0.35, time_scale_hours=1e9)
    index = StoryIndex(cfg)
    left = "Crimea votes in referendum on joining Russia"
    right = "Putin signs treaty annexing Crimea to Russia"
    ids = feed(index, [article("a1", left), article("a2", right, T0 + 1)], cfg)
    assert ids[0] != ids[1]
    both = article("a3", "Crimea referendum: Putin signs Russia treaty after votes", T0 + 2)
    assignment = index.decide(terms(both, cfg), "a3", None)
    # The older story survives; the other becomes its alias.
    assert assignment.story_id == ids[0]
    assert [(a.story_id, a.alias_of) for a in assignment.aliases] == [(ids[1], ids[0])]
    assert feed(index, [article("a4", right, T0 + 3)], cfg)[0] == assignment.story_id


def test_replaying_the_records_restores_every_decision():
    history = [article(f"a{i}", t, T0 + i) for i, t in enumerate([*PLANE[:2], APPLE])]
    live = StoryIndex(CFG)
    feed(live, history)
    changes = [record for _, record in live.changes()]
    later = [article("b1", PLANE[2], T0 + 10), article("b2", APPLE, T0 + 11)]
    dup = replace(article("b3", "x"), duplicate_of="a2")
    for restored in (StoryIndex(CFG, live.records()), StoryIndex(CFG, changes)):
        assert feed(restored, [*later, dup]) == feed(StoryIndex(CFG, live.records()), [*later, dup])
    assert feed(StoryIndex(CFG, changes), [*later, dup])[2] == feed(live, [*later, dup])[2]


def test_a_replayed_index_is_the_live_one_exactly():
    """The records hold the centroids' float32 weights as the index does: an index replayed from
    them (compacted, or as appended) makes every later decision with the same scores."""
    cfg = replace(CFG, threshold=0.1, merge_threshold=0.3)
    names = [Entity("Malaysia Airlines", "ORG", 0, 17), Entity("Indian Ocean", "LOC", 0, 12)]
    history = [
        article(f"a{i}", t, T0 + i * 60_000, names, body=f"{t}. {APPLE} lead {i}")
        for i, t in enumerate([*PLANE, APPLE, "Crimea votes in referendum"])
    ]
    live = StoryIndex(cfg)
    feed(live, history, cfg)
    appended = [record for _, record in live.changes()]
    later = [replace(a, id=f"b{n}", fetched_at=T0 + HOUR_MS + n) for n, a in enumerate(history)]
    for restored in (StoryIndex(cfg, live.records()), StoryIndex(cfg, appended)):
        assert sorted(restored.records()) == sorted(live.records())
    decide = lambda index: [index.decide(terms(a, cfg), a.id, None) for a in later]  # noqa: E731
    expected = decide(StoryIndex(cfg, live.records()))
    assert decide(StoryIndex(cfg, appended)) == expected == decide(live)


def test_decisions_are_deterministic():
    history = [article(f"a{i}", t, T0 + i) for i, t in enumerate([*PLANE, APPLE, *PLANE])]
    assert feed(StoryIndex(CFG), history) == feed(StoryIndex(CFG), history)


@pytest.mark.parametrize("data", [b"", b"\x00{}", b'\x01{"k": "z"}', b"\x01[]"])
def test_foreign_state_records_are_refused(data):
    with pytest.raises(ValueError):
        decode_record(data)


def packed(terms: list[list[str]], tail: bytes = b"") -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(
        out, {"type": "array", "items": {"type": "array", "items": "string"}}, terms
    )
    return zlib.compress(out.getvalue() + tail)


V2_STORY = {
    "kind": "story", "id": STORY["id"], "first_seen_ms": T0, "last_seen_ms": T0, "size": 1,
    "terms": [["storm"], ["power"], []], "weights": b"\x00\x00\x80?\x00\x00\x00?",
}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"weights": b"\x00\x00\x80?"},  # one weight for two terms
        {"weights": b"\x00\x00\x80?\x00"},  # not float32s
        {"terms": [["storm"], ["power"]], "weights": b"\x00\x00\x80?" * 2},  # two features
    ],
)
def test_story_records_of_format_2_that_do_not_add_up_are_refused(change):
    codec = state_codec("story_record", 2)
    with pytest.raises(ValueError, match="not a story state record"):
        decode_record(codec.encode({**V2_STORY, **change}))
    assert decode_record(codec.encode(V2_STORY))["v"] == [{"storm": 1.0}, {"power": 0.5}, {}]


@pytest.mark.parametrize(
    "change",
    [
        {"weights": b"\x00\x00\x80?"},  # one weight for two terms
        {"packed_terms": b"x\x9c not zlib"},  # corrupt
        {"packed_terms": packed([["storm"], ["power"]])},  # two features
        {"packed_terms": packed([["storm"], ["power"], []], tail=b"\x00")},  # bytes after them
    ],
)
def test_story_records_of_format_3_that_do_not_add_up_are_refused(change):
    codec = state_codec("story_record", 3)
    record = codec.decode(encode_record({**STORY, "v": [{"storm": 1.0}, {"power": 0.5}, {}]}))
    assert record["packed_terms"] and not record["terms"]
    with pytest.raises(ValueError, match="not a story state record"):
        decode_record(codec.encode({**record, **change}))
    assert decode_record(codec.encode(record))["v"] == [{"storm": 1.0}, {"power": 0.5}, {}]
