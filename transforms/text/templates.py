"""Per-source learned boilerplate: lines a site repeats on many of its pages (kind ``template``).

Sites wrap every story in the same header and footer lines ("The Riverside Courier - news for the
valley since 1894", "Got a story? Call the newsdesk on ..."), worded their own way, so no fixed
list of chrome catches them. They are learned instead: a line is a template of its ``source`` once
its normalised text (``fingerprint.normalize``: case, spacing, quote styles do not count) has been
seen on at least ``min_pages`` distinct pages (URL, else id) of that source, the current one
included, each sighting within ``window_hours`` of the one before. Distinct pages, not articles,
so a story republished or updated under the same URL never teaches its own lines.

A plain-text title equal to a template line (a site header the structure parser took for the
title) is learned and removed too, and the article is cleaned again without it. Only the edges of
a body are learned and stripped: the leading and trailing runs of template lines
within the first and last ``edge_lines`` lines. Site chrome wraps a story; a sentence that recurs
mid-story (a recycled background paragraph) is the story's own, and is never removed. A body made
only of template lines is left whole rather than emptied.

Learning is online, so the first ``min_pages - 1`` pages of a source keep the lines that later
turn out to be its template: they have already gone downstream when the line qualifies, and they
are not revisited. Removed lines are recorded as ``Span``s with offsets into the raw body (for
HTML, into the extracted main text, like every other span); a line that cannot be found there
verbatim is kept, so every removal has an exact record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from schemas.errors import RejectedArticleError
from transforms.text.cleaning import clean_article
from transforms.text.extract import extract_html
from transforms.text.fingerprint import exact_key, normalize
from transforms.text.models import Article, Span
from transforms.text.template_memory import KEY_BYTES, TemplateMemory

TEMPLATE_KIND = "template"


@dataclass(frozen=True)
class TemplateConfig:
    """How often a line must recur, how long it is remembered and where templates are sought."""

    min_pages: int = 4
    window_hours: float = 72.0
    edge_lines: int = 6

    @property
    def window_ms(self) -> int:
        return int(self.window_hours * 3_600_000)


@dataclass(frozen=True)
class Line:
    """One non-blank line of a body: its paragraph, its text and its learning key."""

    paragraph: int
    text: str
    key: bytes | None


def line_key(text: str) -> bytes | None:
    """Short hash of the normalised line (8 bytes); ``None`` for a line with no word (nothing to
    learn)."""
    folded = normalize(text)
    if not any(ch.isalnum() for ch in folded):
        return None
    return hashlib.blake2b(folded.encode("utf-8"), digest_size=KEY_BYTES).digest()


def is_template(memory: TemplateMemory, key: bytes | None, cfg: TemplateConfig) -> bool:
    """Whether the line was seen on ``min_pages`` distinct pages of the source."""
    return memory.pages(key) >= cfg.min_pages


def body_lines(body: str) -> list[Line]:
    """Lines of a clean body (paragraphs are blank-line separated, lines newline separated)."""
    return [
        Line(index, text, line_key(text))
        for index, paragraph in enumerate(body.split("\n\n"))
        for text in paragraph.split("\n")
        if text.strip()
    ]


def edges(count: int, cfg: TemplateConfig) -> list[int]:
    """Positions of the first and last ``edge_lines`` lines (each once)."""
    return sorted(
        set(range(min(count, cfg.edge_lines))) | set(range(max(0, count - cfg.edge_lines), count))
    )


def template_runs(
    lines: Sequence[Line], memory: TemplateMemory, cfg: TemplateConfig
) -> tuple[int, int]:
    """``(head, tail)``: how many leading and trailing lines are templates, within the edges;
    ``(0, 0)`` when every line is, so an article is never emptied."""
    limit = min(len(lines), cfg.edge_lines)
    head = next((i for i in range(limit) if not is_template(memory, lines[i].key, cfg)), limit)
    tail = next((i for i in range(limit) if not is_template(memory, lines[-1 - i].key, cfg)), limit)
    if head + tail >= len(lines):
        return 0, 0
    return head, tail


def learn_and_strip(article: Article, memory: TemplateMemory, cfg: TemplateConfig) -> Article:
    """Count the article's title and edge lines into ``memory`` (updated in place), then remove
    its leading and trailing template lines from ``body``, recording each as a ``template`` span.

    A plain-text title that is a template line (a site header the structure parser took for the
    title, pushing the real title into the byline or body) is removed too, and the article is
    cleaned again from its raw body with the template lines blanked out, so title, byline and
    date are parsed as if the site had never added them."""
    lines = body_lines(article.body)
    title_key = line_key(article.title) if article.title else None
    keys = {lines[i].key for i in edges(len(lines), cfg)} | {title_key}
    memory.observe(
        article.url or article.id, keys - {None}, article.fetched_at, cfg.min_pages, cfg.window_ms
    )
    head, tail = template_runs(lines, memory, cfg)
    source = source_text(article) if head or tail or is_template(memory, title_key, cfg) else ""
    spans = _located(source, lines, head, tail)
    title_start = source.find(article.title) if is_template(memory, title_key, cfg) else -1
    if title_start >= 0 and article.content_type == "text/plain":
        title = Span(TEMPLATE_KIND, title_start, title_start + len(article.title), article.title)
        return _cleaned_again(article, (*spans.values(), title))
    if not spans:
        return article
    body = "\n\n".join(_rebuild(lines, set(spans)))
    return replace(
        article,
        body=body,
        boilerplate=_merged(article.boilerplate, spans.values()),
        content_hash=exact_key(body),
    )


def _cleaned_again(article: Article, spans: Sequence[Span]) -> Article:
    """The clean step's result for the raw body with ``spans`` blanked (same offsets)."""
    raw = list(article.raw_body)
    for span in spans:
        raw[span.start : span.end] = " " * (span.end - span.start)
    try:
        cleaned = clean_article(replace(article, raw_body="".join(raw)))
    except RejectedArticleError:
        return article
    boilerplate = _merged(cleaned.boilerplate, spans)
    return replace(cleaned, raw_body=article.raw_body, boilerplate=boilerplate)


def _merged(kept: Iterable[Span], added: Iterable[Span]) -> tuple[Span, ...]:
    return tuple(sorted((*kept, *added), key=lambda span: span.start))


def source_text(article: Article) -> str:
    """The text removed spans point into: the raw body, or an HTML page's extracted main text."""
    if article.content_type == "text/html":
        return extract_html(article.raw_body, article.url).text
    return article.raw_body


def _located(source: str, lines: Sequence[Line], head: int, tail: int) -> dict[int, Span]:
    """Spans of the head lines searched forward from the start of ``source`` and of the tail
    lines backward from its end; a line not found verbatim gets no span (and is kept)."""
    spans, cursor = {}, 0
    for position in range(head):
        start = source.find(lines[position].text, cursor)
        if start >= 0:
            cursor = start + len(lines[position].text)
            spans[position] = Span(TEMPLATE_KIND, start, cursor, lines[position].text)
    cursor = len(source)
    for position in range(len(lines) - 1, len(lines) - 1 - tail, -1):
        start = source.rfind(lines[position].text, 0, cursor)
        if start >= 0:
            spans[position] = Span(
                TEMPLATE_KIND, start, start + len(lines[position].text), lines[position].text
            )
            cursor = start
    return spans


def _rebuild(lines: Sequence[Line], removed: set[int]) -> list[str]:
    """The body's paragraphs without the removed lines."""
    paragraphs: dict[int, list[str]] = {}
    for position, line in enumerate(lines):
        if position not in removed:
            paragraphs.setdefault(line.paragraph, []).append(line.text)
    return ["\n".join(texts) for texts in paragraphs.values()]
