"""The story index's inverted index against a dict of sets, through adds, removals, slot reuse,
run merges and rebuilds."""

import random

import numpy as np
import pytest

from transforms.text.story_postings import Postings


def check(postings: Postings, stories: dict[int, set[int]], keys: list[int]) -> None:
    truth: dict[int, set[int]] = {}
    for slot, terms in stories.items():
        for term in terms:
            truth.setdefault(term, set()).add(slot)
    held = postings.held(np.array(keys, np.int64)).tolist()
    assert held == [len(truth.get(key, ())) for key in keys]
    for key, holders in zip(keys, postings.holders(keys), strict=True):
        assert sorted(holders) == sorted(truth.get(key, ()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_and_holders_are_those_of_a_dict_of_sets(seed):
    """Stories come and go and change terms as the index's do: a story's slot is reused once it
    is forgotten, a term leaves a story and comes back; the owner rebuilds when told to."""
    rng = random.Random(seed)
    vocabulary = [rng.getrandbits(64) - 2**63 for _ in range(3_000)]
    postings = Postings()
    stories: dict[int, set[int]] = {}
    free: list[int] = []
    rebuilds = 0
    for step in range(2_500):
        roll = rng.random()
        if roll < 0.45 or not stories:  # a new story
            slot = free.pop() if free else len(stories) + len(free)
            terms = set(rng.sample(vocabulary, rng.randint(0, 40)))
            stories[slot] = terms
            postings.add(slot, terms)
        elif roll < 0.75:  # a join: some terms out, some in
            slot = rng.choice(sorted(stories))
            out = set(rng.sample(sorted(stories[slot]), len(stories[slot]) // 3))
            new = set(rng.sample(vocabulary, 10)) - stories[slot]
            stories[slot] = (stories[slot] - out) | new
            postings.remove(slot, out)
            postings.add(slot, new)
        else:  # forgotten
            slot = rng.choice(sorted(stories))
            postings.remove(slot, stories.pop(slot))
            free.append(slot)
        if postings.stale:
            postings.rebuild((slot, np.array([*t, *t], np.int64)) for slot, t in stories.items())
            rebuilds += 1
        if step % 250 == 0:
            check(postings, stories, rng.sample(vocabulary, 200))
    check(postings, stories, vocabulary)
    assert rebuilds  # the removed runs grew past a quarter of the added at least once


def test_an_empty_index_holds_nothing():
    postings = Postings()
    check(postings, {}, [0, -1, 2**63 - 1])
    postings.rebuild([])
    check(postings, {}, [0])
