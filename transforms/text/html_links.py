"""Runs of link-only paragraphs in HTML main text: related-story lists and navigation.

trafilatura keeps a list when it sits inside the article container, so "More Must-Reads From
TIME" and its eight story links, or a "Related" heading and its links, end up as body text.
A paragraph that is nothing but the text of one link of the page is a pointer elsewhere, not
article prose; a run of them (``MIN_RUN`` or more) is dropped together with the short heading
that introduces it. A single linked line, or links inside a sentence, are kept.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from lxml.html import HtmlElement

MIN_RUN = 2
MAX_LINK_WORDS = 5
MAX_LINK_CHARS = 30
# A heading above a link run: a short line without sentence-ending punctuation.
MAX_HEADING_WORDS = 8
MAX_HEADING_CHARS = 60
_BULLET = re.compile(r"^(?:[-*•·>＞]\s*)+")
_SPACES = re.compile(r"\s+")
_SENTENCE_END = (".", "!", "?", "。", "！", "？")


def link_texts(tree: HtmlElement) -> frozenset[str]:
    """Whitespace-normalized texts of the page's links (``<a href>``), at least 2 characters."""
    texts = (_SPACES.sub(" ", anchor.text_content()).strip() for anchor in tree.iter("a"))
    return frozenset(text for text in texts if len(text) >= 2)


def drop_link_runs(paragraphs: Sequence[str], links: frozenset[str]) -> list[str]:
    """``paragraphs`` without runs of ``MIN_RUN``+ link-only paragraphs and their heading.

    Never drops everything: when every paragraph would go, the input is returned unchanged.
    """
    only_link = [_is_link(paragraph, links) for paragraph in paragraphs]
    drop = [False] * len(paragraphs)
    start = 0
    while start < len(paragraphs):
        end = start
        while end < len(paragraphs) and only_link[end]:
            end += 1
        if end - start >= MIN_RUN:
            drop[start:end] = [True] * (end - start)
            if start > 0 and _is_heading(paragraphs[start - 1]):
                drop[start - 1] = True
        start = end + 1
    kept = [paragraph for paragraph, dropped in zip(paragraphs, drop, strict=True) if not dropped]
    return kept or list(paragraphs)


def _is_link(paragraph: str, links: frozenset[str]) -> bool:
    text = _SPACES.sub(" ", _BULLET.sub("", paragraph.strip())).strip()
    return text in links and len(text.split()) <= MAX_LINK_WORDS and len(text) <= MAX_LINK_CHARS


def _is_heading(paragraph: str) -> bool:
    text = paragraph.strip()
    short = 0 < len(text.split()) <= MAX_HEADING_WORDS and len(text) <= MAX_HEADING_CHARS
    return short and not text.endswith(_SENTENCE_END)
