"""Plain-text quality: Latin kept in prose, header structure.

Real prose comes from the Lee corpus (ABC news, one line per article, here cut into paragraphs of
two or three sentences). The harness injects what must stay (English sentences using Latin
phrases) and builds feed texts under real publishers' titles, and knows where everything went.
Placeholder filler is measured in ``quality_filler``, chrome lines in ``quality_chrome``.
"""

from __future__ import annotations

import html as html_lib
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime

from corpora import htmldate_cases, lee_articles, newspaper_pages, trafilatura_cases

from transforms.text.boilerplate import strip_boilerplate
from transforms.text.extract import parse_structure

Row = tuple[str, str, str, str]
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_WORD = re.compile(r"\w+")
LATIN_IN_PROSE = (
    "The minister said the ad hoc committee would report by June.",
    "Lawyers lodged a habeas corpus application on Tuesday.",
    "The court found a prima facie case against the two men.",
    "Critics called the deal a quid pro quo between the parties.",
    "The senator issued a mea culpa after the vote, saying he had been wrong.",
    "Police said the group was not a bona fide charity.",
    'The school\'s motto, "Per ardua ad astra", is carved above the gate.',
    "Officials described the border as de facto closed to trucks.",
    "Smith et al. reported the same effect in an earlier study.",
    "The rule applies inter alia to fishing boats and ferries.",
    "The payment was made pro rata to all shareholders.",
    'He signed off with the words "Semper fidelis" and left the room.',
)


def split_sentences(text: str) -> list[str]:
    """Sentences of real prose (a Lee article or paragraph): split after . ! ? and a capital."""
    return _SENTENCE.split(text)


def paragraphs(article: str, rng: random.Random) -> list[str]:
    """A one-line Lee article cut into paragraphs of two or three sentences."""
    sentences, out = split_sentences(article), []
    while sentences:
        take = rng.choice((2, 3))
        out.append(" ".join(sentences[:take]))
        sentences = sentences[take:]
    return out


def removed_words(raw: str, start: int, end: int) -> tuple[int, int]:
    """(words of raw[start:end] inside removed spans, words of raw[start:end])."""
    cuts = [(span.start, span.end) for span in strip_boilerplate(raw).removed]
    words = list(_WORD.finditer(raw, start, end))
    inside = sum(any(s <= w.start() and w.end() <= e for s, e in cuts) for w in words)
    return inside, len(words)


def latin_rows(seed: int = 14) -> list[Row]:
    """English sentences using Latin phrases, glued into real paragraphs: never removed."""
    kept, total = _latin_kept(random.Random(seed))
    return [("latin", "Latin phrases in prose kept", f"{kept / total:.4f}", f"{kept}/{total}")]


def _latin_kept(rng: random.Random) -> tuple[int, int]:
    """English sentences with Latin phrases, inserted into real paragraphs: never removed."""
    kept = total = 0
    for article in lee_articles()[:100]:
        blocks = paragraphs(article, rng)
        for sentence in LATIN_IN_PROSE:
            index = rng.randrange(len(blocks))
            body = "\n\n".join(
                [*blocks[:index], f"{blocks[index]} {sentence}", *blocks[index + 1 :]]
            )
            start = body.index(sentence)
            lost, _ = removed_words(body, start, start + len(sentence))
            kept, total = kept + (lost == 0), total + 1
    return kept, total


DATE_FORMATS = (
    "%A %d %B %Y",
    "%B %d, %Y %H:%M GMT",
    "%Y-%m-%d",
    "%d %b %Y",
    "Updated: %H:%M GMT, %A %d %B %Y",
    "Published %d %B %Y",
    "%a %d %b %Y %H.%M GMT",
)
BYLINES = ("By {name}", "{name}", "{name}, {role}", "{section} | {name}", "BY {upper}")
ROLES = ("Political Editor", "staff reporter", "Science correspondent", "in Sydney")
SECTIONS = ("World", "Politics", "Sport", "Business", "Science")
ORDERS = (("date", "title", "byline"), ("title", "byline", "date"), ("title", "date", "byline"))
# Headers with less to go on: a title with only a byline or nothing after it, a date with no
# title (its first paragraph must stay body), no header at all.
SPARSE_ORDERS = (("title", "byline"), ("title",), ("date",), ())


def real_titles_and_authors() -> tuple[list[str], list[str]]:
    """Titles and author names the publishers declared (og:title, author meta, newspaper4k)."""
    titles, authors = [], []
    pages = [case.html for case in trafilatura_cases()] + [html for _, html, _ in htmldate_cases()]
    for html in pages:
        titles += _meta(html, r'property=["\']og:title["\']')
        authors += [a for a in _meta(html, r'name=["\']author["\']') if _is_name(a)]
    for page in newspaper_pages():
        titles += [page.title] if page.title and page.language == "en" else []
    authors += ["Joan Biskupic", "Jeremy Herb", "Kara Scannell", "Alejandro de la Garza"]
    authors += ["Eric Bradner", "Tom Watkins", "Dana A. Ford", "Amanda Hoover", "Tom Bennett"]
    titles = [html_lib.unescape(title) for title in titles if len(title.split()) >= 3]
    return sorted(set(titles)), sorted(set(authors))


def _meta(html: str, attribute: str) -> list[str]:
    pattern = rf'<meta[^>]*{attribute}[^>]*content=["\']([^"\'<>]{{3,150}})["\']'
    return [" ".join(value.split()) for value in re.findall(pattern, html, re.IGNORECASE)]


def _is_name(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Z][\w.'-]+(?: [A-Z][\w.'-]+){1,3}", text))


def feed_text(
    fields: dict[str, str], order: tuple[str, ...], body: list[str], rng: random.Random
) -> str:
    """Header lines in ``order`` (blank-line or single-newline separated), then the body."""
    header = [fields[name] for name in order if fields.get(name)]
    joiner = rng.choice(("\n\n", "\n"))
    top = "Share on Facebook | Share on X\n\n" if rng.random() < 0.2 else ""
    return top + joiner.join(header) + "\n\n" + "\n\n".join(body)


def structure_cases(
    rng: random.Random, orders: tuple[tuple[str, ...], ...] = ORDERS
) -> Iterator[tuple[str, dict[str, object]]]:
    """(feed text, truth) for each Lee article with a real title and byline drawn for it, under
    a header in one of ``orders``; truth is None for a field the header does not hold."""
    titles, authors = real_titles_and_authors()
    for article in lee_articles():
        when = datetime(
            rng.randint(2001, 2024),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            tzinfo=UTC,
        )
        name = rng.choice(authors)
        template = rng.choice(BYLINES)
        byline = template.format(
            name=name, upper=name.upper(), role=rng.choice(ROLES), section=rng.choice(SECTIONS)
        )
        fields = {
            "date": when.strftime(rng.choice(DATE_FORMATS)),
            "title": rng.choice(titles),
            "byline": byline if rng.random() < 0.8 else "",
        }
        body = paragraphs(article, rng)
        order = rng.choice(orders)
        truth = {
            "title": fields["title"] if "title" in order else None,
            "day": when.date().isoformat() if "date" in order else None,
            "byline": name if fields["byline"] and "byline" in order else None,
            "first": body[0],
        }
        yield feed_text(fields, order, body, rng), truth


def structure_rows(seed: int = 13) -> list[Row]:
    """Title, date, byline and body-start accuracy of parse_structure on feed-style texts: the
    350 full headers, then 350 sparse ones (and how many texts without a title got one)."""
    rows = []
    for name, orders, offset in (("", ORDERS, 0), ("sparse ", SPARSE_ORDERS, 1)):
        scores = dict.fromkeys(("title", "date", "byline", "body", "false title"), 0)
        cases = list(structure_cases(random.Random(seed + offset), orders))
        untitled = sum(truth["title"] is None for _, truth in cases)
        for text, truth in cases:
            for field, hit in structure_hits(text, truth).items():
                scores[field] += hit
        rows += [
            (
                "structure",
                f"{field} exact ({len(cases)} {name}feed texts)",
                f"{hits / len(cases):.3f}",
                f"{hits}/{len(cases)}",
            )
            for field, hits in scores.items()
            if field != "false title"
        ]
        if untitled:
            rows.append(
                (
                    "structure",
                    f"  titles found where there is none ({name.strip() or 'full'})",
                    str(scores["false title"]),
                    f"of {untitled} texts without a title",
                )
            )
    return rows


def structure_hits(text: str, truth: dict[str, object]) -> dict[str, bool]:
    """Which fields parse_structure got exactly right for one feed text (None must be None)."""
    found = parse_structure([block.text for block in strip_boilerplate(text).blocks])
    day = found.published_at and datetime.fromtimestamp(found.published_at / 1000, UTC)
    byline = found.byline and found.byline.split(",")[0].split(" | ")[-1].strip()
    return {
        "title": found.title == truth["title"],
        "date": (day and day.date().isoformat()) == truth["day"],
        "byline": (byline or "").casefold() == (truth["byline"] or "").casefold(),
        "body": bool(found.paragraphs) and found.paragraphs[0] == truth["first"],
        "false title": truth["title"] is None and found.title is not None,
    }
