"""MinHashConfig validation and judge(): copies, excerpts included, are duplicates; other
articles, and articles quoting a paragraph or reprinting a much shorter one, are not."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from transforms.text.boilerplate import strip_boilerplate
from transforms.text.fingerprint import Fingerprint, fingerprint
from transforms.text.minhash_config import MinHashConfig
from transforms.text.near_dup import (
    Verdict,
    candidate_probability,
    estimated_containment,
    judge,
    judge_many,
    shares_band,
)

CFG = MinHashConfig()
# The seed article is the first event of the bundled examples (never a path outside the repo).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"
# Line breaks inside paragraphs do not matter to shingles.
OTHER_STORY = """
The home secretary has said it is "completely unacceptable" that the security services cannot
read messages sent on encrypted apps such as WhatsApp.

Amber Rudd told the BBC that there should be "no place for terrorists to hide" after it emerged
that the Westminster attacker, Khalid Masood, sent a WhatsApp message minutes before his
attack.

Ms Rudd will meet technology firms later this week. She said she would prefer a voluntary
agreement but did not rule out new laws, and civil liberties groups warned that weakening
encryption would put millions of users at risk.
"""


@pytest.fixture(scope="module")
def body() -> str:
    blocks = strip_boilerplate(seed_text()).blocks
    return "\n\n".join(block.text for block in blocks[3:])


def packed(*values: int, bands: tuple[int, ...] = (0,), count: int = 10) -> Fingerprint:
    return Fingerprint(struct.pack(f"<{len(values)}I", *values), bands, shingle_count=count)


def edit_every(text: str, step: int) -> str:
    words = text.split(" ")
    return " ".join("edited" if index % step == 0 else word for index, word in enumerate(words))


def first_share(text: str, share: float) -> str:
    """The leading paragraphs holding ``share`` of the words: a syndicated excerpt."""
    paragraphs, kept = text.split("\n\n"), []
    while len(" ".join(kept).split()) < share * len(text.split()):
        kept.append(paragraphs[len(kept)])
    return "\n\n".join(kept)


def reversed_paragraphs(text: str) -> str:
    return "\n\n".join(reversed(text.split("\n\n")))


def new_lede(text: str) -> str:
    return "\n\n".join([OTHER_STORY.split("\n\n")[1], *text.split("\n\n")[1:]])


@pytest.mark.parametrize(
    ("perturb", "duplicate"),
    [
        pytest.param(lambda text: text, True, id="exact"),
        pytest.param(
            lambda text: "  " + text.replace(", ", " ,  ").upper(), True, id="whitespace-punct"
        ),
        pytest.param(
            lambda text: f"LONDON (Reuters) - {text}\n\nPhotograph: Dan Kitwood/Getty Images",
            True,
            id="dateline-credit",
        ),
        pytest.param(lambda text: edit_every(text, 10), True, id="10pct-edited"),
        pytest.param(lambda text: first_share(text, 0.5), True, id="half-excerpt"),
        pytest.param(lambda text: reversed_paragraphs(text), True, id="reordered"),
        pytest.param(new_lede, True, id="new-lede"),
        pytest.param(
            lambda text: edit_every(new_lede(first_share(text, 0.6)), 20), True, id="syndicated"
        ),
        pytest.param(
            lambda text: text + "\n\n" + " ".join(OTHER_STORY.split()[: len(text.split()) // 10]),
            True,
            id="appended-update",
        ),
        pytest.param(lambda text: OTHER_STORY, False, id="same-story-other-article"),
        pytest.param(
            lambda text: OTHER_STORY + "\n\n" + text.split("\n\n")[2],
            False,
            id="other-article-quoting-a-paragraph",
        ),
    ],
)
def test_judge_calibrated_defaults(body: str, perturb, duplicate: bool) -> None:
    new, stored = fingerprint(perturb(body), CFG), fingerprint(body, CFG)
    verdict = judge(new, stored, CFG)
    assert verdict.duplicate is duplicate
    if duplicate:
        assert shares_band(new, stored), "LSH must propose the copy as a candidate"
    assert 0.0 <= verdict.similarity <= verdict.containment <= 1.0


@pytest.mark.parametrize(
    ("equal_slots", "new_count", "stored_count", "expected"),
    [
        pytest.param(2, 100, 100, Verdict(True, 0.5, 2 / 3), id="half-the-slots"),
        pytest.param(1, 50, 100, Verdict(True, 0.25, 0.6), id="excerpt-of-half"),
        pytest.param(1, 100, 50, Verdict(True, 0.25, 0.6), id="the-whole-after-its-excerpt"),
        pytest.param(1, 20, 100, Verdict(False, 0.25, 1.0), id="much-smaller-not-a-copy"),
        pytest.param(0, 100, 100, Verdict(False, 0.0, 0.0), id="nothing-shared"),
        pytest.param(4, 0, 0, Verdict(True, 1.0, 1.0), id="both-empty"),
    ],
)
def test_judge_containment_and_size_ratio(
    equal_slots: int, new_count: int, stored_count: int, expected: Verdict
) -> None:
    cfg = MinHashConfig(num_perm=4, bands=2, rows=2, threshold=0.35, min_size_ratio=0.4)
    stored = packed(1, 2, 3, 4, count=stored_count)
    new = packed(*range(1, equal_slots + 1), *range(10, 14 - equal_slots), count=new_count)
    verdict = judge(new, stored, cfg)
    assert verdict.duplicate is expected.duplicate
    assert verdict.similarity == pytest.approx(expected.similarity)
    assert verdict.containment == pytest.approx(expected.containment)


@pytest.mark.parametrize(
    ("similarity", "small", "large", "expected"),
    [(1.0, 10, 10, 1.0), (0.5, 10, 20, 1.0), (1 / 3, 30, 30, 0.5), (0.0, 10, 10, 0.0)],
)
def test_estimated_containment(similarity: float, small: int, large: int, expected: float) -> None:
    assert estimated_containment(similarity, small, large) == pytest.approx(expected)


def test_judge_many_makes_the_calls_judge_makes() -> None:
    """One pass over many stored fingerprints (what a lookup does) equals one judge each."""
    cfg = MinHashConfig(num_perm=4, bands=2, rows=2)
    new = packed(1, 2, 3, 4, count=40)
    stored = [
        packed(*values, count=count)
        for values, count in [((1, 2, 3, 4), 40), ((1, 2, 9, 9), 30), ((9, 9, 9, 9), 40),
                              ((1, 2, 3, 9), 10), ((1, 9, 9, 9), 0), ((1, 2, 3, 4), 400)]
    ]  # fmt: skip
    rows = np.stack([np.frombuffer(fp.signature, "<u4") for fp in stored])
    duplicate, similarity, containment = judge_many(
        new, rows, [fp.shingle_count for fp in stored], cfg
    )
    expected = [judge(new, fp, cfg) for fp in stored]
    assert duplicate.tolist() == [v.duplicate for v in expected]
    assert similarity.tolist() == [v.similarity for v in expected]
    assert containment.tolist() == [v.containment for v in expected]
    assert duplicate.tolist() == [True, True, False, False, False, False]


def test_judge_rejects_wrong_length() -> None:
    with pytest.raises(ValueError):
        judge(packed(1, 2), packed(1, 2), CFG)


def test_shares_band_needs_one_equal_key() -> None:
    assert shares_band(packed(1, bands=(5, 6, 7)), packed(1, bands=(4, 6, 8)))
    assert not shares_band(packed(1, bands=(5, 6, 7)), packed(1, bands=(4, 5, 6)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bands": 33, "rows": 4},
        {"num_perm": 0},
        {"rows": 0},
        {"shingle_size": 0},
        {"threshold": 0.0},
        {"threshold": 1.5},
        {"min_size_ratio": -0.1},
        {"min_size_ratio": 1.1},
        {"max_candidates": -1},
    ],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MinHashConfig(**kwargs)


@pytest.mark.parametrize(
    ("similarity", "shown"),
    # The S-curve values README prints (three decimals), plus two of the "1.000 from 0.35".
    [(0.05, "0.148"), (0.2, "0.927"), (0.25, "0.984"), (0.35, "1.000"), (0.5, "1.000")],
)
def test_candidate_probability_is_what_the_readme_prints(similarity: float, shown: str) -> None:
    assert f"{candidate_probability(similarity, CFG):.3f}" == shown


def test_candidate_probability_is_small_far_below_the_threshold() -> None:
    assert candidate_probability(0.02, CFG) < 0.03


def seed_text() -> str:
    """Body of the seed article, the first line of ``examples/articles.jsonl``."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[0])["body"]
