"""TemplateMemory: packed lines, and line records that replay to the same memory."""

from __future__ import annotations

import random

import pytest

from transforms.text.template_memory import (
    TemplateMemory,
    decode_line,
    encode_line,
    pack,
    page_id,
)

WINDOW = 1_000
KEYS = [bytes([n]) * 8 for n in range(12)]


def flushes(seed: int, count: int = 60):
    """Random flushes of a source: each decides a few pages (a few out of order, some far
    behind: late or oddly dated articles) seeing random lines, then forgets before its cutoff."""
    rng = random.Random(seed)
    now = 0
    for _ in range(count):
        now += rng.randrange(50, 400)
        pages = [
            (f"https://s/{rng.randrange(40)}", now - rng.choice((0, 10, 300, 1_500)))
            for _ in range(rng.randrange(1, 4))
        ]
        yield [(url, at, rng.sample(KEYS, rng.randrange(1, 5))) for url, at in pages], now - WINDOW


@pytest.mark.parametrize("seed", range(8))
def test_the_records_of_every_flush_replay_to_the_live_memory(seed: int) -> None:
    live, bag = TemplateMemory(), []
    for pages, cutoff in flushes(seed):
        for url, at, keys in pages:
            live.observe(url, keys, at, min_pages=3, window_ms=WINDOW)
        live.forget_before(cutoff)
        bag.extend(live.take_changes())
        replayed = TemplateMemory.from_records(bag, live.forgot_before_ms)
        assert replayed == live
        assert TemplateMemory.from_records(live.records(), live.forgot_before_ms) == live


def test_a_flush_records_only_the_lines_it_changed() -> None:
    memory = TemplateMemory()
    memory.observe("https://s/1", KEYS[:3], 100, min_pages=3, window_ms=WINDOW)
    assert len(memory.take_changes()) == 3
    memory.observe("https://s/1", KEYS[:3], 50, min_pages=3, window_ms=WINDOW)
    assert memory.take_changes() == []
    memory.observe("https://s/2", KEYS[:1] + KEYS[5:6], 120, min_pages=3, window_ms=WINDOW)
    assert [decode_line(row)[0] for row in memory.take_changes()] == [KEYS[0], KEYS[5]]


def test_lines_seen_once_on_a_page_share_one_value_and_cost_25_bytes_in_state() -> None:
    memory = TemplateMemory()
    memory.observe("https://s/1", KEYS, 100, min_pages=3, window_ms=WINDOW)
    assert len({id(value) for value in memory.lines.values()}) == 1
    assert {len(row) for row in memory.take_changes()} == {25}
    replayed = TemplateMemory.from_records(memory.records(), None)
    assert len({id(value) for value in replayed.lines.values()}) == 1


def test_a_line_counts_distinct_pages_up_to_min_pages_and_starts_again_after_the_window() -> None:
    memory = TemplateMemory()
    for n, at in enumerate((0, 10, 10, 20, 30)):
        memory.observe(f"https://s/{n % 4}", KEYS[:1], at, min_pages=3, window_ms=WINDOW)
    assert memory.lines[KEYS[0]] == pack(30, tuple(page_id(f"https://s/{n}") for n in range(3)))
    memory.observe("https://s/9", KEYS[:1], 30 + WINDOW + 1, min_pages=3, window_ms=WINDOW)
    assert memory.pages(KEYS[0]) == 1


def test_a_record_it_did_not_write_is_refused() -> None:
    row = encode_line(KEYS[0], pack(5, (page_id("https://s/1"),)))
    with pytest.raises(ValueError, match="not a template line record"):
        decode_line(row[:-3])
    with pytest.raises(ValueError, match="not a template line record"):
        decode_line(b"")
