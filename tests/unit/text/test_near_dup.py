"""MinHashConfig validation and judge(): copies are duplicates, other articles are not."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from transforms.text.boilerplate import strip_boilerplate
from transforms.text.fingerprint import Fingerprint, fingerprint
from transforms.text.near_dup import (
    MinHashConfig,
    Verdict,
    candidate_probability,
    judge,
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


def packed(*values: int, bands: tuple[int, ...] = (0,)) -> Fingerprint:
    return Fingerprint(struct.pack(f"<{len(values)}I", *values), bands, shingle_count=10)


def edit_every(text: str, step: int) -> str:
    words = text.split(" ")
    return " ".join("edited" if index % step == 0 else word for index, word in enumerate(words))


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
        pytest.param(lambda text: edit_every(text, 25), True, id="4pct-edited"),
        pytest.param(
            lambda text: text + "\n\n" + " ".join(OTHER_STORY.split()[: len(text.split()) // 10]),
            True,
            id="appended-update",
        ),
        pytest.param(
            lambda text: text + "\n\nCurabitur pretium tincidunt lacus, nulla gravida orci a odio.",
            True,
            id="trailing-filler",
        ),
        pytest.param(lambda text: OTHER_STORY, False, id="same-story-other-article"),
    ],
)
def test_judge_calibrated_defaults(body: str, perturb, duplicate: bool) -> None:
    verdict = judge(fingerprint(perturb(body), CFG), fingerprint(body, CFG), CFG)
    assert verdict.duplicate is duplicate
    assert 0.0 <= verdict.similarity <= 1.0


def test_judge_counts_equal_slots() -> None:
    cfg = MinHashConfig(num_perm=4, bands=2, rows=2, threshold=0.75)
    new = packed(1, 2, 3, 4)
    assert judge(new, packed(1, 2, 3, 9), cfg) == Verdict(duplicate=True, similarity=0.75)
    assert judge(new, packed(1, 2, 8, 9), cfg) == Verdict(duplicate=False, similarity=0.5)


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
    ],
)
def test_config_validation(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        MinHashConfig(**kwargs)


def test_default_config_fits() -> None:
    assert CFG.bands * CFG.rows <= CFG.num_perm


@pytest.mark.parametrize(
    ("similarity", "low", "high"), [(0.2, 0.0, 0.06), (0.5, 0.85, 0.9), (0.8, 0.999, 1.0)]
)
def test_candidate_probability(similarity: float, low: float, high: float) -> None:
    assert low <= candidate_probability(similarity, CFG) <= high


def seed_text() -> str:
    """Body of the seed article, the first line of ``examples/articles.jsonl``."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[0])["body"]
