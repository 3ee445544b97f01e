"""From a decoded event to a clean, structured article: the decisions of the clean step.

HTML bodies go through the main-text extractor first; their boilerplate offsets then point into the
extracted text, since markup offsets would mean nothing to a reader of ``body``. Plain-text offsets
point into the raw body exactly as received.
"""

from __future__ import annotations

from dataclasses import replace

from schemas.errors import RejectedArticleError
from transforms.text.boilerplate import strip_boilerplate
from transforms.text.extract import extract_html, parse_structure
from transforms.text.fingerprint import exact_key
from transforms.text.models import Article

FILLER_KIND = "lorem_ipsum"


def clean_article(article: Article) -> Article:
    """Strip boilerplate and parse title/date/byline/body; raise RejectedArticleError when no
    article text is left (a body that is all filler or chrome). Reader comments of an HTML page
    go to ``comments`` as extracted, never into ``body``."""
    text, meta_title, meta_author, meta_date = article.raw_body, None, None, None
    comments = None
    if article.content_type == "text/html":
        page = extract_html(article.raw_body, article.url)
        text, meta_title, meta_author, meta_date = (
            page.text,
            page.title,
            page.author,
            page.published_at,
        )
        comments = page.comments
    cleaned = strip_boilerplate(text)
    blocks, removed = [block.text for block in cleaned.blocks], cleaned.removed
    headline = _headline(article)
    if headline is not None and (blocks or FILLER_KIND not in {s.kind for s in removed}):
        blocks, removed = [headline], ()
    structure = parse_structure(blocks)
    paragraphs = list(structure.paragraphs)
    if headline is None and _repeats_title(paragraphs, article.title_hint):
        paragraphs.pop(0)
    if not paragraphs:
        kinds = {span.kind for span in removed}
        code = "all_filler" if FILLER_KIND in kinds else "no_text"
        raise RejectedArticleError(
            f"no article text left after removing {sorted(kinds) or 'nothing'}", code=code
        )
    body = "\n\n".join(paragraphs)
    return replace(
        article,
        title=structure.title or meta_title or article.title_hint,
        byline=structure.byline or meta_author or article.author_hint,
        published_at=structure.published_at or meta_date or article.published_hint,
        body=body,
        comments=comments,
        boilerplate=removed,
        content_hash=exact_key(body),
    )


def _repeats_title(paragraphs: list[str], title_hint: str | None) -> bool:
    """The first paragraph is the crawler's title again (dropped: the title has its field)."""
    return bool(paragraphs and title_hint and paragraphs[0].strip() == title_hint.strip())


def _headline(article: Article) -> str | None:
    """The headline of a headline feed's event (a plain-text body that is one line, the title
    itself), else None. That line is the article text there is: it stays whole as the body (so
    dedup, stories and search see it), untouched by the chrome-line rules, which would read a
    "VIDEO: ..." title as a credit line; only a line that is all filler is still rejected."""
    if article.content_type != "text/plain" or not article.title_hint:
        return None
    line = article.raw_body.strip()
    return line if line == article.title_hint.strip() and "\n" not in line else None


def word_count(body: str) -> int:
    """Whitespace-separated tokens: the count readers and editors mean by 'words'."""
    return len(body.split())
