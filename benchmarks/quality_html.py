"""HTML articles through newsflow's clean step: snippets, body shingle F1 and publication dates.

Every page goes through ``clean_article`` exactly as a ``text/html`` event would (trafilatura
main text, then the project's chrome and filler pass, then the structure parser); what is scored is
the record's title and body, so chrome the pass removes on purpose counts as removed.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from datetime import UTC, datetime

from corpora import SnippetCase, htmldate_cases, newspaper_pages, trafilatura_cases
from lxml import etree
from lxml import html as lxml_html

from schemas.errors import NewsflowError
from transforms.text.cleaning import clean_article
from transforms.text.extract import extract_html
from transforms.text.fingerprint import normalize
from transforms.text.models import Article, SourceRef

Row = tuple[str, str, str, str]
# Scripts written without spaces between words: shingles are character 4-grams there.
UNSPACED = ("zh", "ja", "th")
_CHARSET = re.compile(r"charset=[\"']?[\w-]+", re.IGNORECASE)


def cleaned_page(html: str, url: str | None) -> Article | None:
    """The clean-step result for an HTML event, or None when it would be dead-lettered."""
    event = Article(
        id="page", raw_body=html, fetched_at=0, ref=SourceRef(), url=url, content_type="text/html"
    )
    try:
        return clean_article(event)
    except NewsflowError:
        return None


def snippet_rows() -> list[Row]:
    """Must-contain / must-not-contain rates on trafilatura 1.0.0's real-world pages.

    trafilatura's tests count reader comments as text; newsflow keeps them out of ``body`` and
    publishes them in ``comments``. A snippet is found in the record when it is in the title,
    the body or the comments; the body-only rate is reported too. Must-not-contain snippets
    are checked in title + body, and in comments as well in the detail column.
    """
    in_record = in_body = total = absent = absent_record = negatives = 0
    for case in trafilatura_cases():
        article = cleaned_page(case.html, case.url)
        text = f"{article.title or ''}\n{article.body}" if article else ""
        record = f"{text}\n{article.comments or ''}" if article else ""
        for snippet in case.present:
            total += 1
            in_body += snippet in text
            in_record += snippet in record
        negatives += len(case.absent)
        absent += sum(snippet not in text for snippet in case.absent)
        absent_record += sum(snippet not in record for snippet in case.absent)
    return [
        (
            "html",
            "must-contain found in record (body or comments)",
            f"{in_record / total:.3f}",
            f"{in_record}/{total}",
        ),
        (
            "html",
            "must-contain found in body",
            f"{in_body / total:.3f}",
            f"{in_body}/{total}; {in_record - in_body} more are reader comments",
        ),
        (
            "html",
            "must-not-contain absent from body",
            f"{absent / negatives:.3f}",
            f"{absent}/{negatives}; from body and comments {absent_record}/{negatives}",
        ),
    ]


def shingle_f1(text: str, expected: str, language: str | None) -> float:
    """F1 of 4-gram shingle sets (words, or characters for unspaced scripts)."""
    got, gold = _grams(text, language), _grams(expected, language)
    if not got or not gold:
        return 0.0
    overlap = len(got & gold)
    precision, recall = overlap / len(got), overlap / len(gold)
    return 2 * precision * recall / (precision + recall) if overlap else 0.0


def _grams(text: str, language: str | None) -> set[tuple[str, ...]]:
    folded = normalize(text)
    if language in UNSPACED:
        tokens = [char for char in folded if not char.isspace()]
    else:
        tokens = re.findall(r"\w+", folded)
    return {tuple(tokens[i : i + 4]) for i in range(max(1, len(tokens) - 3))} if tokens else set()


def newspaper_rows() -> list[Row]:
    """Body shingle F1, title and day accuracy against newspaper4k 0.9.6's expected output."""
    scores, english, titles, days, dated = [], [], 0, 0, 0
    pages = newspaper_pages()
    for page in pages:
        article = cleaned_page(page.html, page.url)
        score = shingle_f1(article.body, page.text, page.language) if article else 0.0
        scores.append(score)
        if page.language == "en":
            english.append(score)
        titles += bool(article) and _same_title(article.title, page.title)
        if page.published:
            dated += 1
            days += bool(article) and _day(article.published_at) == page.published[:10]
    detail = f"median {statistics.median(scores):.3f}, min {min(scores):.3f}"
    return [
        (
            "html",
            f"body shingle-F1, mean of {len(pages)} pages",
            f"{statistics.mean(scores):.3f}",
            detail,
        ),
        (
            "html",
            f"body shingle-F1, mean of {len(english)} English",
            f"{statistics.mean(english):.3f}",
            "",
        ),
        (
            "html",
            "title exact (newspaper4k)",
            f"{titles / len(pages):.3f}",
            f"{titles}/{len(pages)}",
        ),
        ("html", "date exact day (newspaper4k)", f"{days / dated:.3f}", f"{days}/{dated}"),
    ]


def _same_title(found: str | None, expected: str | None) -> bool:
    return bool(found and expected) and normalize(found) == normalize(expected)


def _day(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat() if millis else None


def date_rows() -> list[Row]:
    """Exact-day accuracy of the extracted publication date on htmldate 1.3.2's gold.

    Where htmldate's tests assert one day for a page (with or without ``original_date``, or
    both agreeing) that day is the gold. Where they assert two (the original publication and
    the last update), neither is picked as the gold: the rows say how often the extractor
    returned each, so the figure does not depend on the extractor's own setting.
    """
    single = hits = 0
    split: Counter[str] = Counter()
    for url, html, days in htmldate_cases():
        try:
            found = _day(extract_html(html, url).published_at)
        except NewsflowError:
            found = None
        if len(set(days.values())) == 1:
            single += 1
            hits += found in days.values()
        else:
            split["pages"] += 1
            split[next((kind for kind, day in days.items() if day == found), "neither")] += 1
    return [
        (
            "html",
            "date exact day (htmldate gold, one asserted day)",
            f"{hits / single:.3f}",
            f"{hits}/{single}",
        ),
        (
            "html",
            "  pages with an original and an updated day",
            f"{split['pages']}",
            f"original {split['original']}, updated {split['default']}, neither {split['neither']}",
        ),
    ]


def fragment_rows() -> list[Row]:
    """trafilatura's real-world pages sent as a fragment (the element holding most of the
    page's paragraph text, without ``<html>``/``<body>``; pages with no ``<p>`` text skipped)
    and as the whole page declaring an unknown charset: how many yield text, and the
    must-contain snippets found in their body."""
    counts: Counter[str] = Counter()
    for case in trafilatura_cases():
        fragment = main_fragment(case.html)
        if fragment is None:
            continue
        counts["pages"] += 1
        counts["snippets"] += len(case.present)
        for name, html in (("fragment", fragment), ("charset", _charset(case))):
            article = cleaned_page(html, case.url)
            counts[name] += article is not None
            body = f"{article.title or ''}\n{article.body}" if article else ""
            counts[f"{name} found"] += sum(snippet in body for snippet in case.present)
    pages, snippets = counts["pages"], counts["snippets"]
    return [
        (
            "html",
            "fragments (main element only) with text",
            f"{counts['fragment'] / pages:.3f}",
            f"{counts['fragment']}/{pages}; must-contain in body "
            f"{counts['fragment found']}/{snippets}",
        ),
        (
            "html",
            "pages declaring an unknown charset with text",
            f"{counts['charset'] / pages:.3f}",
            f"{counts['charset']}/{pages}; must-contain in body "
            f"{counts['charset found']}/{snippets}",
        ),
    ]


def main_fragment(html: str) -> str | None:
    """The HTML of the element whose ``<p>`` children hold the most text, as a crawler's
    fragment; None for a page without paragraph text."""
    try:
        tree = lxml_html.fromstring(html.encode("utf-8"))
    except (ValueError, etree.ParserError):
        return None
    parents: Counter[lxml_html.HtmlElement] = Counter()
    for paragraph in tree.iter("p"):
        if paragraph.getparent() is not None:
            parents[paragraph.getparent()] += len(paragraph.text_content().strip())
    if not parents or parents.most_common(1)[0][1] == 0:
        return None
    element = parents.most_common(1)[0][0]
    return lxml_html.tostring(element, encoding="unicode")


def _charset(case: SnippetCase) -> str:
    """The page with every declared charset replaced by one no codec knows."""
    return _CHARSET.sub("charset=x-unknown-9", case.html)
