"""Article structure and metadata: header lines, dates, HTML main text, language.

Everything here is conservative: a header line is taken as title, date or byline only when it looks
like nothing else, so a body that starts with a normal paragraph loses nothing; a date is read only
from a line that is essentially a date, never from a sentence that happens to hold a number.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import trafilatura
from dateutil import parser as date_parser
from py3langid.langid import MODEL_FILE, LanguageIdentifier
from trafilatura.utils import load_html

from schemas.errors import ExtractionError
from transforms.text.html_comments import comment_containers
from transforms.text.html_links import drop_link_runs, link_texts
from transforms.text.html_namespaces import drop_namespace_declarations


@dataclass(frozen=True)
class Structure:
    """Header fields found at the top of a plain-text body, and the body paragraphs after them."""

    title: str | None
    byline: str | None
    published_at: int | None
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class HtmlPage:
    """Main text of an HTML page (paragraphs blank-line separated), its reader comments (kept
    apart from the text) and its metadata."""

    text: str
    title: str | None
    author: str | None
    published_at: int | None
    comments: str | None = None


MAX_HEADER_BLOCKS = 4
# A title placed like one (before the date or byline, or after a date) may be this long.
MAX_TITLE_WORDS = 30
MAX_TITLE_CHARS = 250
MIN_LANGUAGE_CHARS = 20
MIN_LANGUAGE_CONFIDENCE = 0.5
# The identifier walks its input a byte at a time in Python; the first 2,000 characters name the
# same language as the first 20,000 for all 1,000 throughput-benchmark articles, at a third of the
# cost.
MAX_LANGUAGE_CHARS = 2_000

_MONTHS = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_WEEKDAYS = (
    "monday tuesday wednesday thursday friday saturday sunday mon tue tues wed thu thur fri sat sun"
)
_DATE_FILLERS = "am pm a.m. p.m. at on of the updated published posted last modified"
_ZONES = {"utc": 0, "gmt": 0, "z": 0, "bst": 1, "cet": 1, "cest": 2, "eet": 2, "eest": 3}
_ZONES |= {"est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}
_MONTH_WORDS = frozenset(_MONTHS.split())
_DATE_WORDS = _MONTH_WORDS | frozenset(_WEEKDAYS.split()) | frozenset(_ZONES)
_DATE_WORDS |= frozenset(_DATE_FILLERS.split())
_DATE_TOKEN = re.compile(r"[^\W\d_]+\.?(?:[^\W\d_]\.)*|\d+")
_DATE_CHARS = re.compile(r"[\w\s.,:/+\-–|()]+")
_YEAR = re.compile(r"(?<!\d)(?:19|20)\d\d(?!\d)")
_ISO_START = re.compile(r"\d{4}-\d\d")
_EPOCH_MILLIS = re.compile(r"\d{11,13}")
_TZINFOS = {name.upper(): hours * 3600 for name, hours in _ZONES.items()}

# Sentence and clause ends, also in CJK (full stop, full-width and ideographic comma), Arabic
# and Devanagari scripts: a line ending so is a sentence, never a title.
_TERMINAL = (".", ",", ";", ":", "。", "．", "，", "、", "；", "：", "،", "؛", "।")
_NAME_WORD = r"(?:[A-Z][\w'’.-]*|de|van|von|der|da|bin|al|el|la|le)"
_NAME = re.compile(
    rf"{_NAME_WORD}(?: {_NAME_WORD}){{1,4}}(?: and {_NAME_WORD}(?: {_NAME_WORD}){{1,4}})?"
)
_BY_PREFIX = re.compile(r"by\s+", re.IGNORECASE)
# A section kicker before the author: "Space | Ruth Okonkwo, science editor".
_KICKER = re.compile(r"[\w&' -]{1,30}?\s*[|•·]\s*")
# A dotted clock time ("04.29 GMT", "9.30am"), never part of a dotted date ("09.07.2016").
_DOTTED_TIME = re.compile(r"(?<![\d.])([01]?\d|2[0-3])\.([0-5]\d)(?![\d.])")
_WORD = re.compile(r"\w+")


def parse_structure(blocks: Sequence[str]) -> Structure:
    """Take an optional date, a title and an optional byline from the first lines; the rest is body.

    A title must be short and followed by body text; it is either headline-like on its own
    (unpunctuated at the end, very short or mostly Title Case) or placed like one (see
    ``_placed_like_title``). Otherwise the whole input is body and only a leading date line (if
    any) is taken out.
    """
    fields: dict[str, Any] = {"date": None, "title": None, "byline": None}
    lines = [
        (index, number, line)
        for index, block in enumerate(blocks[:MAX_HEADER_BLOCKS])
        for number, line in enumerate(_stripped_lines(block))
    ]
    for position, (index, number, line) in enumerate(lines):
        following = lines[position + 1][2] if position + 1 < len(lines) else None
        more_follows = following is not None or index + 1 < len(blocks)
        role = _header_role(line, fields, more_follows, following)
        if role is None:
            rest = ("\n".join(_stripped_lines(blocks[index])[number:]),) if number else ()
            return _structure(fields, (*rest, *blocks[index + (1 if number else 0) :]))
        fields[role] = line if role != "date" else parse_date(line)
    return _structure(fields, tuple(blocks[MAX_HEADER_BLOCKS:]))


def _stripped_lines(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip()]


def _header_role(
    line: str, fields: dict[str, Any], more_follows: bool, following: str | None
) -> str | None:
    """Which header field ``line`` fills given those already found and the next header line,
    or None if it is body."""
    if fields["date"] is None and parse_date(line) is not None:
        return "date"
    if (
        fields["title"] is None
        and more_follows
        and (_looks_like_title(line) or _placed_like_title(line, fields, following))
    ):
        return "title"
    if fields["title"] is not None and fields["byline"] is None and _looks_like_byline(line):
        return "byline"
    return None


def _placed_like_title(line: str, fields: dict[str, Any], following: str | None) -> bool:
    """A headline that reads like a sentence ("Steve Forbes: Trump is indeed a billionaire.",
    a long sentence-case line, one ending in "!" or "…"), told apart from a lede by its place.

    It is a title when the next line is the header's date or byline; or when a date line came
    first and it does not end like a sentence ("." but not "...", or a clause mark), since a
    lede under a date ends with a full stop.
    """
    words = line.split()
    if not 2 <= len(words) <= MAX_TITLE_WORDS or len(line) > MAX_TITLE_CHARS:
        return False
    if line.endswith((",", ";", ":", "，", "、", "；", "：", "،", "؛")):
        return False
    if following is not None and (
        (fields["date"] is None and parse_date(following) is not None)
        or _looks_like_byline(following)
    ):
        return True
    sentence_end = line.endswith(_TERMINAL) and not line.endswith(("...", "…"))
    return fields["date"] is not None and not sentence_end


def _structure(fields: dict[str, Any], body: tuple[str, ...]) -> Structure:
    """Build the result; with no body after the header, title and byline lines become body."""
    if body or fields["title"] is None:
        byline = fields["byline"] and _author(fields["byline"])
        return Structure(fields["title"], byline, fields["date"], body)
    header = tuple(fields[name] for name in ("title", "byline") if fields[name])
    return Structure(None, None, fields["date"], header)


def _looks_like_title(line: str) -> bool:
    """Short, ends without sentence punctuation, and either very short or mostly Title Case."""
    words = line.split()
    if not 2 <= len(words) <= 25 or len(line) > 200 or line.endswith(_TERMINAL):
        return False
    long_words = [word for word in words if len(word) > 3 and word[0].isalpha()]
    capitalized = sum(word[0].isupper() for word in long_words)
    return len(words) <= 14 or capitalized >= 0.6 * len(long_words)


def _looks_like_byline(line: str) -> bool:
    """An author line: "By Jane Smith", "Jane Smith, Political Editor", "World | Jane Smith",
    or just a name."""
    if len(line.split()) > 10 or len(line) > 80 or line.endswith((*_TERMINAL, "?", "!")):
        return False
    name = _author(line).split(",", 1)[0].strip()
    return _NAME.fullmatch(name) is not None


def _author(line: str) -> str:
    """The byline without a section kicker and a "By" prefix."""
    return _BY_PREFIX.sub("", _KICKER.sub("", line, count=1), count=1)


def parse_date(text: str) -> int | None:
    """Epoch millis (UTC) of a line that is essentially a date, else None.

    Accepts ISO-8601 (naive means UTC), epoch millis as 11-13 digits, and news formats such as
    "Sunday 26 March 2017" or "March 26, 2017 10:15 GMT". A numeric d/m/y date is read month
    first unless the first number cannot be a month (python-dateutil's rule).
    """
    text = text.strip()
    if not text or len(text) > 60:
        return None
    if _EPOCH_MILLIS.fullmatch(text):
        return int(text)
    if _ISO_START.match(text):
        iso = _parse_iso(text)
        if iso is not None:
            return iso
    text = _DOTTED_TIME.sub(r"\1:\2", text)
    if not _is_date_words(text):
        return None
    try:
        parsed = date_parser.parse(text, fuzzy=True, tzinfos=_TZINFOS)
    except (ValueError, OverflowError):
        return None
    return _epoch_millis(parsed)


def _parse_iso(text: str) -> int | None:
    """ISO-8601 date or datetime (``Z`` allowed), or None."""
    try:
        return _epoch_millis(datetime.fromisoformat(text))
    except ValueError:
        return None


def _is_date_words(text: str) -> bool:
    """Only date vocabulary and numbers, with a year and a day: a month name or a d/m/y triple."""
    if not _DATE_CHARS.fullmatch(text) or not _YEAR.search(text):
        return False
    tokens = _DATE_TOKEN.findall(text.casefold())
    words = [token for token in tokens if not token.isdigit()]
    if any(word.rstrip(".") not in _DATE_WORDS and word not in _DATE_WORDS for word in words):
        return False
    has_month = any(word.rstrip(".") in _MONTH_WORDS for word in words)
    numbers = sum(token.isdigit() for token in tokens)
    return numbers >= 3 or (has_month and numbers >= 2)


def _epoch_millis(moment: datetime) -> int | None:
    """UTC epoch millis; naive times are UTC; implausible years are rejected."""
    if not 1900 <= moment.year <= 2100:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def extract_html(html: str, url: str | None = None) -> HtmlPage:
    """Main text, reader comments and metadata of an HTML page: no images or links; tables kept.

    Settings measured by ``benchmarks/quality.py`` on trafilatura's real-world pages and
    htmldate's gold: ``favor_precision`` lost 6% of must-contain snippets for no gain in
    must-not-contain ones, and tables hold article text (results, figures); the date is the
    original publication date with htmldate's extensive search (0.95 exact day vs 0.75
    without; namespace declarations, whose URLs look dated, are dropped first:
    ``html_namespaces``). Reader comments are not the article: trafilatura sets apart the ones it
    recognizes (returned in ``comments``, never in ``text``), and comment containers it does
    not recognize are removed from the page first (``html_comments.comment_containers``).
    Runs of link-only paragraphs (related stories, navigation) are dropped from the text
    (``html_links.drop_link_runs``).
    A fragment (``<div><p>...</p></div>`` without ``<html>``/``<body>``) is read as the body
    of a page: trafilatura's loader takes a string with one top-level element and no "html"
    in its first 50 characters for something other than HTML. The body is already text, so a
    charset it declares (meta tag, XML declaration, known or not) is ignored.
    Raises ExtractionError (code ``no_main_text``) when trafilatura finds no main text.
    """
    tree = load_html(html)
    if tree is None:
        tree = load_html(f"<html><body>{html}</body></html>")
    if tree is None:
        raise ExtractionError("page is not parsable HTML", code="no_main_text")
    for container in comment_containers(tree):
        container.drop_tree()
    drop_namespace_declarations(tree)
    links = link_texts(tree)
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=True,
        include_tables=True,
        include_images=False,
        include_links=False,
        date_extraction_params={"original_date": True, "extensive_search": True},
    )
    text = "\n\n".join(drop_link_runs(_lines(getattr(document, "text", None)), links))
    if not text:
        raise ExtractionError("trafilatura found no main text", code="no_main_text")
    date = getattr(document, "date", None)
    return HtmlPage(
        text=text,
        title=getattr(document, "title", None) or None,
        author=getattr(document, "author", None) or None,
        published_at=parse_date(date) if date else None,
        comments="\n\n".join(_lines(getattr(document, "comments", None))) or None,
    )


def _lines(text: str | None) -> list[str]:
    """The non-blank lines of trafilatura's text output: one block (paragraph) per line."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of ``text``, or None when it is too short or the identifier is unsure."""
    if len(text.strip()) < MIN_LANGUAGE_CHARS or _has_fewer_words(text, 3):
        return None
    language, confidence = _identifier().classify(text[:MAX_LANGUAGE_CHARS])
    if len(language) != 2 or confidence < MIN_LANGUAGE_CONFIDENCE:
        return None
    return language


def _has_fewer_words(text: str, count: int) -> bool:
    """Whether ``text`` has fewer than ``count`` words, reading no further than the count-th
    (a whole body's words were listed here only to be counted, per article)."""
    return sum(1 for _ in itertools.islice(_WORD.finditer(text), count)) < count


def language_probabilities(text: str, languages: Sequence[str]) -> tuple[str, dict[str, float]]:
    """The likeliest language of ``text`` and the probability of each of ``languages``: what the
    identifier's ``rank`` gives as its first entry and as those languages' entries, without
    building and sorting the ranking of all its 142 classes, which cost more than scoring a
    sentence (the clean step asks this of about 7 sentences per article). Uses py3langid's
    ``_decide`` (the scores ``rank`` and ``classify`` are made of; the version is pinned), so
    ``test_language_probabilities_are_ranks`` holds the two to the same values."""
    identifier = _identifier()
    scores = identifier._decide(text[:MAX_LANGUAGE_CHARS])
    columns = _first_columns()
    likeliest = identifier.nb_classes[int(scores.argmax())]
    return likeliest, {language: float(scores[columns[language]]) for language in languages}


@functools.cache
def _first_columns() -> dict[str, int]:
    """Each language's score column: the first of its columns (py3langid folds a language's
    script variants into it, as ``rank`` reads it)."""
    columns: dict[str, int] = {}
    for index, language in enumerate(_identifier().nb_classes):
        columns.setdefault(language, index)
    return columns


@functools.cache
def _identifier() -> LanguageIdentifier:
    """The py3langid model (shipped in its wheel), loaded on first use and shared after."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
