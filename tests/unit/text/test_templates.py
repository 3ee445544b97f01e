"""learn_and_strip(): per-source template lines learned online and stripped from the edges."""

from __future__ import annotations

from dataclasses import replace

import pytest

from transforms.text.cleaning import clean_article
from transforms.text.models import Article, SourceRef, Span
from transforms.text.templates import (
    TEMPLATE_KIND,
    TemplateConfig,
    TemplateMemory,
    learn_and_strip,
    line_key,
)

HEADER = "The Riverside Courier - news for the valley since 1894"
FOOTER = "Got a story? Call the Courier newsdesk on 01632 960 000."
HOUR_MS = 3_600_000
CFG = TemplateConfig(min_pages=3, window_hours=24, edge_lines=3)


def story(n: int, header: str = HEADER, footer: str = FOOTER) -> str:
    middle = f"Story {n} opens here with its own facts.\n\nStory {n} goes on with a quote."
    return "\n\n".join(part for part in (header, middle, footer) if part)


def page(n: int, body: str | None = None, url: str | None = None, hour: int = 0) -> Article:
    text = story(n) if body is None else body
    return Article(
        id=f"a{n}",
        raw_body=text,
        body=text,
        url=url or f"https://courier.example/{n}",
        fetched_at=hour * HOUR_MS,
        ref=SourceRef(),
    )


def run(articles: list[Article], cfg: TemplateConfig = CFG) -> list[Article]:
    memory = TemplateMemory()
    return [learn_and_strip(article, memory, cfg) for article in articles]


def removed(article: Article) -> list[str]:
    return [span.text for span in article.boilerplate if span.kind == TEMPLATE_KIND]


@pytest.mark.parametrize(
    ("articles", "expected"),
    [
        pytest.param(
            [page(n) for n in range(5)],
            [[], [], [HEADER, FOOTER], [HEADER, FOOTER], [HEADER, FOOTER]],
            id="stripped-from-the-nth-page-on",
        ),
        pytest.param(
            [page(n, url="https://courier.example/live") for n in range(5)],
            [[]] * 5,
            id="one-page-republished-never-teaches",
        ),
        pytest.param(
            [page(0, hour=0), page(1, hour=30), page(2, hour=60)],
            [[]] * 3,
            id="sightings-further-apart-than-the-window",
        ),
        pytest.param(
            [page(n, story(n, header=HEADER.upper())) for n in range(2)] + [page(2)],
            [[], [], [HEADER, FOOTER]],
            id="case-does-not-count",
        ),
        pytest.param(
            [page(n, f"{story(n)}\n\nStory {n} ends.") for n in range(3)],
            [[], [], [HEADER]],
            id="only-edge-runs",
        ),
        pytest.param(
            [page(n, f"{HEADER}\n\n{FOOTER}") for n in range(4)],
            [[]] * 4,
            id="never-empties-a-body",
        ),
    ],
)
def test_learn_and_strip(articles: list[Article], expected: list[list[str]]) -> None:
    assert [removed(article) for article in run(articles)] == expected


def test_stripped_body_and_spans_point_into_the_raw_body() -> None:
    raw = f"Thursday 4 May\n\n{HEADER}\n\nThe story.\nSecond line.\n\n{FOOTER}\n"
    articles = [page(n) for n in range(2)]
    articles.append(page(9, "\n\n".join([HEADER, "The story.\nSecond line.", FOOTER])))
    last = replace_raw(articles[-1], raw)
    *_, stripped = run([*articles[:-1], last])
    assert stripped.body == "The story.\nSecond line."
    for span in stripped.boilerplate:
        assert raw[span.start : span.end] == span.text
    assert stripped.content_hash


def replace_raw(article: Article, raw: str) -> Article:
    """The article as the clean step leaves it: raw body kept, a dateline already removed."""
    return replace(article, raw_body=raw, boilerplate=(Span("credit", 0, 14, "Thursday 4 May"),))


def test_memory_forgets_lines_outside_the_window() -> None:
    memory = TemplateMemory()
    learn_and_strip(page(0, hour=0), memory, CFG)
    learn_and_strip(page(1, hour=30), memory, CFG)
    memory.forget_before(20 * HOUR_MS)
    assert memory.lines.keys() == {
        line_key(text) for text in (HEADER, FOOTER, "Story 1 opens here with its own facts.")
    } | {line_key("Story 1 goes on with a quote.")}


@pytest.mark.parametrize(
    ("text", "same_as"),
    [(" the  RIVERSIDE courier ", "The Riverside Courier"), ("“Quoted”", '"quoted"')],
)
def test_line_key_normalises(text: str, same_as: str) -> None:
    assert line_key(text) == line_key(same_as)


def test_line_without_words_has_no_key() -> None:
    assert line_key("* * * —") is None


def test_a_site_header_taken_for_the_title_is_removed_and_the_title_parsed_again() -> None:
    raw = "\n\n".join(
        ["Valley Radio News", "Bridge Reopens After Repairs", "The bridge reopened today."]
    )
    pages = [
        clean_article(replace(page(n), raw_body=raw.replace("today", f"on day {n}")))
        for n in range(3)
    ]
    assert {p.title for p in pages} == {"Valley Radio News"}
    *_, last = run(pages)
    assert last.title == "Bridge Reopens After Repairs"
    assert last.body == "The bridge reopened on day 2."
    assert removed(last) == ["Valley Radio News"]
