"""strip_boilerplate / is_filler: filler found by what it is, chrome by kind, prose untouched."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from transforms.text.boilerplate import Cleaned, chrome_kind, is_filler, strip_boilerplate

# The seed article is the first event of the bundled examples (never a path outside the repo).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"
LAST_REAL_SENTENCE = (
    "Rudd also confirmed that police believed Masood was as a lone attacker. But she would not say"
    " what exactly MI5 knew about him before the attack, and refused to confirm that he was shot by"
    " a personal protection officer for the defence secretary, Michael Fallon, not a regular armed"
    " officer guarding the Commons."
)
# Placeholder Latin without the words "lorem ipsum", in varied vocabulary.
FILLER_A = (
    "Curabitur pretium tincidunt lacus, nulla gravida orci a odio. Morbi fringilla convallis"
    " sapien, id pulvinar odio volutpat nec."
)
FILLER_B = "Maecenas tempus, tellus eget condimentum rhoncus, sem quam semper libero."
FILLER_C = "Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit."
# Short sentences and Latin words that are English stop words ("in", "at", "a").
FILLER_SHORT = "Nullam dictum felis eu pede mollis pretium. Integer tincidunt. Sed nisi."
FILLER_HOMOGRAPHS = (
    "Curabitur sodales ligula in libero. In scelerisque sem at dolor. Sed convallis tristique"
    " sem. Mauris massa."
)
# A numbered list of filler: its numbers and its short item go with it.
NUMBERED_FILLER = f"1. {FILLER_B}\n2. Consectetur adipiscing elit.\n3. {FILLER_C}"
PROSE_1 = (
    "The council approved the new budget on Tuesday after a long debate about library funding."
)
PROSE_2 = (
    "Opposition members said the cuts would fall hardest on families in the north of the city."
)
PROSE_3 = "The mayor promised to review the plan in the spring if tax receipts improve."


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def kept_text(cleaned: Cleaned) -> str:
    return "\n\n".join(block.text for block in cleaned.blocks)


def assert_spans_match(raw: str, cleaned: Cleaned) -> None:
    for span in cleaned.removed:
        assert raw[span.start : span.end] == span.text


@pytest.fixture(scope="module")
def seed() -> str:
    return seed_text()


def test_seed_filler_removed_with_raw_offsets(seed: str) -> None:
    cleaned = strip_boilerplate(seed)
    assert [span.kind for span in cleaned.removed] == ["lorem_ipsum"]
    span = cleaned.removed[0]
    assert seed[span.start : span.end] == span.text
    assert span.text.startswith("Etiam at libero") and span.text.endswith("condimentum sem.")
    assert span.end == len(seed.rstrip())


def test_seed_keeps_every_real_word(seed: str) -> None:
    cleaned = strip_boilerplate(seed)
    assert cleaned.blocks[-1].text == LAST_REAL_SENTENCE
    assert words(kept_text(cleaned)) == words(seed[: cleaned.removed[0].start])
    for block in cleaned.blocks:
        assert seed[block.start : block.end] == block.text


def test_crlf_body_offsets_point_into_raw(seed: str) -> None:
    raw = seed.replace("\n", "\r\n")
    cleaned = strip_boilerplate(raw)
    assert_spans_match(raw, cleaned)
    assert [span.kind for span in cleaned.removed] == ["lorem_ipsum"]
    assert "\r" not in kept_text(cleaned)
    assert cleaned.blocks[-1].text == LAST_REAL_SENTENCE


@pytest.mark.parametrize(
    ("raw", "kept", "removed"),
    [
        pytest.param(
            f"{FILLER_A}\n\n{PROSE_1}\n\n{PROSE_2}", [PROSE_1, PROSE_2], [FILLER_A], id="start"
        ),
        pytest.param(
            f"{PROSE_1}\n\n{FILLER_B}\n\n{PROSE_2}", [PROSE_1, PROSE_2], [FILLER_B], id="middle"
        ),
        pytest.param(
            f"{PROSE_1}\n\n{PROSE_2}\n\n{FILLER_C}", [PROSE_1, PROSE_2], [FILLER_C], id="end"
        ),
        pytest.param(
            f"{PROSE_1} {FILLER_B}\n\n{PROSE_2}", [PROSE_1, PROSE_2], [FILLER_B], id="glued-end"
        ),
        pytest.param(
            f"{PROSE_1}\n\n{FILLER_C} {PROSE_2} {PROSE_3}",
            [PROSE_1, f"{PROSE_2} {PROSE_3}"],
            [FILLER_C],
            id="glued-start",
        ),
        pytest.param(
            f"{PROSE_1}\n{FILLER_A}\n\n{PROSE_2}",
            [PROSE_1, PROSE_2],
            [FILLER_A],
            id="glued-next-line",
        ),
        pytest.param(
            f"{PROSE_1} {FILLER_SHORT}\n\n{PROSE_2}",
            [PROSE_1, PROSE_2],
            [FILLER_SHORT],
            id="glued-end-short-latin-sentences",
        ),
        pytest.param(
            f"{PROSE_1}\n\n{FILLER_HOMOGRAPHS}\n\n{PROSE_2}",
            [PROSE_1, PROSE_2],
            [FILLER_HOMOGRAPHS],
            id="latin-words-that-are-english-stop-words",
        ),
        pytest.param(
            f"{PROSE_1} Police arrived. {FILLER_B}\n\n{PROSE_2}",
            [f"{PROSE_1} Police arrived.", PROSE_2],
            [FILLER_B],
            id="short-english-sentence-next-to-filler-kept",
        ),
        pytest.param(
            f"{PROSE_1} {FILLER_A} {FILLER_B} {PROSE_2}",
            [f"{PROSE_1} {PROSE_2}"],
            [f"{FILLER_A} {FILLER_B}"],
            id="glued-interior-run",
        ),
        pytest.param(
            f"Unemployment is high, with 44% of youth out of work.- {FILLER_C}\n\n{PROSE_2}",
            ["Unemployment is high, with 44% of youth out of work.-", PROSE_2],
            [FILLER_C],
            id="glued-after-a-dash",
        ),
        pytest.param(
            f"{PROSE_1} (AFP, Reuters, DW) {FILLER_B}",
            [f"{PROSE_1} (AFP, Reuters, DW)"],
            [FILLER_B],
            id="glued-after-agency-credits",
        ),
        pytest.param(
            f"To donate, send an SMS or MMS to 61124 {FILLER_A} {PROSE_2}",
            [f"To donate, send an SMS or MMS to 61124 {PROSE_2}"],
            [FILLER_A],
            id="glued-after-a-number-mid-sentence",
        ),
        pytest.param(
            f'The bishop said: "Let us pray for them."?,-1" {FILLER_C}',
            ['The bishop said: "Let us pray for them."?,-1"'],
            [FILLER_C],
            id="glued-after-quote-junk",
        ),
        pytest.param(
            f"{PROSE_1} The mayor said she would {FILLER_B}",
            [f"{PROSE_1} The mayor said she would"],
            [FILLER_B],
            id="glued-to-a-cut-sentence",
        ),
        pytest.param(
            f"{PROSE_1} Officials said there were 88618 A dignissimos rerum tempora, corrupti"
            " nulla placeat.",
            [f"{PROSE_1} Officials said there were 88618"],
            ["A dignissimos rerum tempora, corrupti nulla placeat."],
            id="filler-opening-with-a-one-letter-word",
        ),
        pytest.param(
            f"{PROSE_1} Three of 41663 Eveniet eius a iste. {FILLER_A}",
            [f"{PROSE_1} Three of 41663"],
            [f"Eveniet eius a iste. {FILLER_A}"],
            id="short-latin-tail-glued-before-filler",
        ),
        pytest.param(
            f"{PROSE_1} (Xinhua) Expedita asperiores fuga laboriosam. {FILLER_B}",
            [f"{PROSE_1} (Xinhua)"],
            [f"Expedita asperiores fuga laboriosam. {FILLER_B}"],
            id="credit-before-a-short-latin-sentence-kept",
        ),
        pytest.param(
            "Defense Secretary Donald Rumsfeld's statement that Moscow's economic relationships"
            f" with such countries sends a negative signal. {FILLER_A}",
            [
                "Defense Secretary Donald Rumsfeld's statement that Moscow's economic relationships"
                " with such countries sends a negative signal."
            ],
            [FILLER_A],
            id="english-with-few-stop-words-before-filler-kept",
        ),
        pytest.param(
            f"{PROSE_1}\n\n{NUMBERED_FILLER}\n\n{PROSE_2}",
            [PROSE_1, PROSE_2],
            [NUMBERED_FILLER],
            id="numbered-list-with-its-numbers",
        ),
        pytest.param(
            f"{PROSE_1} 2. {FILLER_B}",
            [f"{PROSE_1} 2."],
            [FILLER_B],
            id="number-between-prose-and-filler-kept",
        ),
    ],
)
def test_filler_removed_wherever_it_sits(raw: str, kept: list[str], removed: list[str]) -> None:
    cleaned = strip_boilerplate(raw)
    assert [block.text for block in cleaned.blocks] == kept
    assert [span.text for span in cleaned.removed] == removed
    assert {span.kind for span in cleaned.removed} == {"lorem_ipsum"}
    assert_spans_match(raw, cleaned)


@pytest.mark.parametrize(
    "paragraph",
    [
        "The judge said the ad hoc committee had no power to hear a habeas corpus application.",
        "Earlier work by Smith et al. found the same effect in a much larger sample of patients.",
        "Veni, vidi, vici.",
        "He left the stage. Veni, vidi, vici.",
        "The school's motto, “Dominus illuminatio mea”, is carved above the gate.",
        "The regiment marched past. “Semper fidelis, semper paratus, fortis et liber.”",
        "Caesar wrote that Gallia est omnis divisa in partes tres, and so, it seems, is Britain.",
        "The arrangement was legal de facto but not de jure, the court found in its ruling.",
        "Le gouvernement a annoncé mardi une nouvelle loi sur la sécurité intérieure du pays.",
        "Il governo ha approvato la legge sulla sicurezza nazionale con un voto unanime.",
        "Ministers, MPs, peers, police chiefs, unions, businesses: everyone agrees.",
        "The visit was the first by Pope Francis to the region.",
        "Rome hosted Caesar Augustus Festival.",
    ],
)
def test_latin_in_prose_and_other_languages_kept(paragraph: str) -> None:
    raw = f"{PROSE_1}\n\n{paragraph}\n\n{PROSE_2}"
    cleaned = strip_boilerplate(raw)
    assert cleaned.removed == ()
    assert [block.text for block in cleaned.blocks] == [PROSE_1, paragraph, PROSE_2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (FILLER_A, True),
        (FILLER_B, True),
        (FILLER_C, True),
        ("Phasellus viverra nulla ut metus varius laoreet.", True),
        ("Quisque rutrum aenean imperdiet etiam ultricies nisi vel augue.", True),
        (PROSE_1, False),
        ("Habeas corpus.", False),
        ("Et al.", False),
        ("", False),
        ("Nullam dictum.", False),
        (FILLER_HOMOGRAPHS, True),
        ("In scelerisque sem at dolor.", True),
    ],
)
def test_is_filler(text: str, expected: bool) -> None:
    assert is_filler(text) is expected


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("Share this article", "share_prompt"),
        ("Share on Facebook", "share_prompt"),
        ("Tweet this", "share_prompt"),
        ("Follow us on Twitter", "share_prompt"),
        ("Sign up to our daily newsletter", "newsletter"),
        ("Subscribe to our newsletter for the latest updates", "newsletter"),
        ("Get the best stories delivered to your inbox", "newsletter"),
        ("Read more", "navigation"),
        ("Read more: Rudd defends WhatsApp plan", "navigation"),
        ("Advertisement", "navigation"),
        ("Skip to main content", "navigation"),
        ("Related: Home secretary to meet tech firms", "navigation"),
        ("Home › UK › Politics", "navigation"),
        ("Share on Facebook | Share on X | Email this article", "share_prompt"),
        ("Facebook | Twitter | WhatsApp | Copy link", "share_prompt"),
        ("Share · Tweet · Email", "share_prompt"),
        ("Space | Ruth Okonkwo, science editor", None),
        ("Facebook", None),
        ("Labour | Conservatives | Liberal Democrats", None),
        ("Photograph: Dan Kitwood/Getty Images", "credit"),
        ("Dan Kitwood/Getty Images", "credit"),
        ("(Reuters)", "credit"),
        ("Reporting by Kylie MacLellan; Editing by Alison Williams", "credit"),
        ("We use cookies to improve your experience on our site.", "cookie_notice"),
        ("Accept all cookies", "cookie_notice"),
        ("Reporting by the BBC found that ministers misled parliament.", None),
        ("Related to this, the ministry said it would act.", None),
        ("Get ready for a cold winter, forecasters warned on Sunday.", None),
        ("Share prices fell sharply on Monday after the announcement.", None),
        ("Subscribers to the service rose 10% after it cut prices.", None),
        ("Amber Rudd", None),
        ("WhatsApp Facebook Twitter Email", "share_prompt"),
        ("Share on Facebook (opens in a new tab)", "share_prompt"),
        ("Follow The Courier on Instagram", "share_prompt"),
        ("Want more stories like this? Subscribe to our weekly email.", "newsletter"),
        ("Already a subscriber? Log in", "newsletter"),
        ("Story continues below advertisement", "navigation"),
        ("You may also like", "navigation"),
        ("(Photo by Mark Baker/AFP via Getty Images)", "credit"),
        ("Copyright 2019 Nine Entertainment Co.", "credit"),
        ("Reject all", "cookie_notice"),
        ("Read more closely, the figures tell a different story.", None),
        ("Follow-up tests showed no trace of the virus, the hospital said.", None),
        ("Print runs of the newspaper have fallen by half since 2001.", None),
        ("Sign-ups for the program doubled in March, officials said.", None),
        ("Copyright lawyers say the ruling will be appealed to the High Court.", None),
        # found by the hostile corpus (tests/integration/pipelines): sentences each chrome
        ("Share this article on Facebook. Share on Twitter. Email this story.", "share_prompt"),
        ("Email this story. Read more", "share_prompt"),
        ("Share this article. Ministers said the plan would be published in May.", None),
        ("Ministers met on Monday. Share this article.", None),
    ],
)
def test_chrome_kind(line: str, kind: str | None) -> None:
    assert chrome_kind(line) == kind


def test_chrome_lines_removed_with_kinds() -> None:
    raw = (
        "Skip to main content\n\nLONDON (Reuters) - "
        + PROSE_1
        + "\r\n\r\nAdvertisement\r\n"
        + PROSE_2
        + "\r\nShare this article\r\n\r\nSign up to our daily newsletter\n\n"
        + PROSE_3
        + "\nPhotograph: Dan Kitwood/Getty Images\n\nAccept all cookies"
    )
    cleaned = strip_boilerplate(raw)
    assert [span.kind for span in cleaned.removed] == [
        "navigation",
        "credit",
        "navigation",
        "share_prompt",
        "newsletter",
        "credit",
        "cookie_notice",
    ]
    assert [block.text for block in cleaned.blocks] == [PROSE_1, PROSE_2, PROSE_3]
    assert_spans_match(raw, cleaned)


def test_clean_article_loses_nothing() -> None:
    raw = f"{PROSE_1}\n{PROSE_2}\n\n  {PROSE_3}  \n\n\n"
    cleaned = strip_boilerplate(raw)
    assert cleaned.removed == ()
    assert [block.text for block in cleaned.blocks] == [f"{PROSE_1}\n{PROSE_2}", PROSE_3]
    assert [(block.start, block.end) for block in cleaned.blocks] == [
        (0, len(PROSE_1) + 1 + len(PROSE_2)),
        (raw.index(PROSE_3), raw.index(PROSE_3) + len(PROSE_3)),
    ]


def test_all_filler_leaves_no_blocks() -> None:
    cleaned = strip_boilerplate(f"{FILLER_A}\n\n{FILLER_B}")
    assert cleaned.blocks == ()
    assert [span.kind for span in cleaned.removed] == ["lorem_ipsum", "lorem_ipsum"]


def seed_text() -> str:
    """Body of the seed article, the first line of ``examples/articles.jsonl``."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[0])["body"]
