"""Hostile events, generated deterministically from a seed: the fuzz classes of
tests/unit/fuzz/test_hostile_events.py (lone surrogates, raw surrogates and other non-UTF-8 bytes,
NaN/Infinity and huge numbers, huge fields and bodies, deep nesting, wrong types, HTML oddities and
bombs, filler-only bodies, random, Confluent-framed and corrupted bytes, Avro events and corrupt
Avro) plus what only a running pipeline meets: exact and near copies of earlier articles (dedup
state) and sources that repeat header and footer lines (templates memory across articles).

Each event says which outcomes it may end in (``enriched``, ``duplicates`` or ``dead:<code>``;
``dead:*`` is any reason code) and, when it can become an article, the id its record carries, so
a test can account every input exactly once. Written at run time, never committed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from schemas.codec import ARTICLE_EVENT, HEADER_LEN, encode
from transforms.text.event import MAX_FIELD_BYTES, derive_id

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples" / "articles.jsonl"
BASE_MS = 1_700_000_000_000
MINUTE_MS = 60_000
ANY = ("enriched", "duplicates", "dead:*")
ARTICLE = ("enriched",)
SOURCES = ("riverside", "valley-post", "north-gazette")
HTML_BITS = (
    "<html>", "</html>", "<head><title>T</title></head>", "<body>", "<p>", "</p>", "<div>",
    "<script>var x = '</p>';</script>", "<style>p{}</style>", "<!--", "-->", "<![CDATA[x]]>",
    "&#xD800;", "&#0;", "&#x110000;", "&amp;", "&nbsp;", "<br/>", "<table><tr><td>", "\x00",
    "\r\n", "\u202e", "\ufeff", "<meta charset='utf-16'>", "<a href='javascript:x'>", "<p/>",
    "<svg><foreignObject>", "<article>", "<nav>Home | News</nav>", "<!DOCTYPE html>", "<",
)  # fmt: skip
FILLER = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt.",
    "Nemo enim ipsam voluptatem quia voluptas sit aspernatur aut odit aut fugit.",
    "Share this article on Facebook. Share on Twitter. Email this story.",
    "Sign up for our newsletter to get the latest news delivered to your inbox.",
)


@dataclass(frozen=True)
class Hostile:
    """One input: its class, its bytes, the outcomes it may end in, its record's id if any."""

    name: str
    payload: bytes
    outcomes: tuple[str, ...]
    article_id: str | None = None
    duplicate_of: str | None = None


class Corpus:
    """Builds the events of one seeded run; ``one_line`` keeps every payload a single non-blank
    line without CR or LF (file mode reads lines)."""

    def __init__(self, seed: int, one_line: bool, max_body_bytes: int) -> None:
        self.rng = random.Random(seed)
        self.one_line = one_line
        self.max_body_bytes = max_body_bytes
        self.words = _vocabulary()
        self.plain: list[tuple[str, str]] = []  # (id, body) of plain articles, for copies
        self.n = 0

    def next_id(self) -> str:
        self.n += 1
        return f"h{self.n:05d}"

    def prose(self, paragraphs: int = 3) -> str:
        """Short paragraphs of real words: English to the filler detector, NER kept cheap."""
        return "\n\n".join(
            " ".join(self.rng.choices(self.words, k=self.rng.randint(12, 25))) + "."
            for _ in range(paragraphs)
        )

    def event(self, name, outcomes, fields: dict, *, ascii_only=True, article=True) -> Hostile:
        """A JSON event with ``id`` first and an increasing ``fetched_at`` unless given."""
        event_id = fields.pop("id", self.next_id())
        event = {"id": event_id, "fetched_at": BASE_MS + self.n * MINUTE_MS, **fields}
        text = json.dumps(event, ensure_ascii=ascii_only, allow_nan=True)
        payload = text.encode("utf-8", "surrogatepass")
        return Hostile(name, payload, outcomes, event_id if article else None)

    def payload(self, name: str, data: bytes, outcomes=ANY) -> Hostile:
        return Hostile(name, data, outcomes)


# --- the classes: each returns one Hostile -----------------------------------------------------


def plain_article(c: Corpus) -> Hostile:
    body = c.prose()
    hostile = c.event("plain article", ARTICLE, {"body": body})
    c.plain.append((hostile.article_id, body))
    return hostile


def templated_article(c: Corpus) -> Hostile:
    """A source's header and footer lines around a new story: learned after a few pages."""
    source = c.rng.choice(SOURCES)
    header = f"The {source.title()} Courier - news for the valley since 1894"
    footer = f"Got a story? Call the {source} newsdesk on 0100 555 0199"
    body = f"{header}\n\n{c.prose()}\n\n{footer}"
    url = f"https://{source}.example/{c.n + 1}"
    return c.event("templated article", ARTICLE, {"body": body, "source": source, "url": url})


def exact_copy(c: Corpus) -> Hostile:
    """An earlier plain article again, its spacing changed: an exact duplicate."""
    if not c.plain:
        return plain_article(c)
    original, body = c.rng.choice(c.plain)
    copy = "  " + body.replace(" ", "   ") + "\n"
    hostile = c.event("exact copy", ("duplicates",), {"body": copy})
    return Hostile(hostile.name, hostile.payload, hostile.outcomes, hostile.article_id, original)


def near_copy(c: Corpus) -> Hostile:
    """A wire dateline and a few edited words: a near-duplicate of an earlier article."""
    if not c.plain:
        return plain_article(c)
    _, body = c.rng.choice(c.plain)
    words = body.split(" ")
    for _ in range(3):
        words[c.rng.randrange(len(words))] = c.rng.choice(c.words)
    copy = "LONDON (Reuters) - " + " ".join(words)
    return c.event("near copy", ("duplicates", "enriched"), {"body": copy})


def html_page(c: Corpus) -> Hostile:
    parts = [c.rng.choice(HTML_BITS) if c.rng.random() < 0.6 else c.prose(1) for _ in range(30)]
    return c.event("html soup", ANY, {"body": "".join(parts), "content_type": "text/html"})


def html_bomb(c: Corpus) -> Hostile:
    """Deep, wide or hollow pages: nesting, thousands of tags or links, huge attributes, an
    entity-expansion DTD, unclosed tags (little text in each, so they test the HTML path, not
    the NER's cost per word)."""
    text = c.prose(2)
    kind = c.rng.randrange(6)
    if kind == 0:
        depth = c.rng.randint(200, 5000)
        page = "<div>" * depth + text + "</div>" * depth
    elif kind == 1:
        page = "<p></p>" * c.rng.randint(2000, 20000) + f"<p>{text}</p>"
    elif kind == 2:
        page = "".join(f"<a href='/{i}'>·</a>" for i in range(5000)) + f"<p>{text}</p>"
    elif kind == 3:
        page = f"<p title='{'x' * 200_000}'>{text}</p>"
    elif kind == 4:
        laughs = "".join(f'<!ENTITY l{i} "&l{i - 1};&l{i - 1};">' for i in range(1, 10))
        page = f'<!DOCTYPE html [<!ENTITY l0 "lol">{laughs}]><p>&l9; {text}</p>'
    else:
        page = "<b><i><u>" * 3000 + text
    return c.event("html bomb", ANY, {"body": page, "content_type": "text/html"})


def odd_characters(c: Corpus) -> Hostile:
    """NUL and control characters, bidi overrides, BOMs, zero-width and combining marks, emoji."""
    oddities = ("\x00", "\x07", "\u202e", "\ufeff", "\u200b", "e\u0301\u0302", "🙂", "\x1b[31m")
    words = c.prose().split(" ")
    body = " ".join(w + c.rng.choice(oddities) if c.rng.random() < 0.3 else w for w in words)
    return c.event("odd characters", ANY, {"body": body}, ascii_only=c.rng.random() < 0.5)


def long_lines(c: Corpus) -> Hostile:
    kind = c.rng.randrange(3)
    if kind == 0:
        body = c.prose(1) + " " + "a" * c.rng.randint(10_000, 120_000)
    elif kind == 1:
        body = "\n".join(c.rng.choices(c.words, k=400))
    else:
        body = c.prose(1) + "\n\n" + "\n\n".join(["."] * 400)
    return c.event("long lines", ANY, {"body": body})


def avro_event(c: Corpus) -> Hostile:
    """A single-object Avro ArticleEvent (in one-line mode, one paragraph and no CR/LF byte)."""
    event_id, body = c.next_id(), c.prose(1 if c.one_line else 4)
    while True:
        record = {"id": event_id, "body": body, "content_type": "text/plain", "fetched_at": None}
        payload = encode(record, ARTICLE_EVENT)
        if not c.one_line or not (b"\n" in payload or b"\r" in payload):
            return Hostile("avro event", payload, ARTICLE, event_id)
        body += " ."


def odd_hints(c: Corpus) -> Hostile:
    hints = {
        "title": c.rng.choice(["", " ", "🙂" * 300, "Title\nwith\nlines", "<b>T</b>"]),
        "author": c.rng.choice(["", "By", "a" * 1000, "\u202eevil"]),
        "published_at": c.rng.choice(
            ["March 32, 2017", "31/02/2017", "2017-03-26T25:61:00Z", "", "0001-01-01", "-1"]
        ),
        "language": c.rng.choice(["", "xx", "en-GB", "🙂"]),
        "content_type": c.rng.choice(["text/plain; charset=latin-1", "TEXT/HTML", "text/plain"]),
    }
    return c.event("odd hints", ANY, {"body": c.prose(), **hints})


def missing_id(c: Corpus) -> Hostile:
    url, body = f"https://no-id.example/{c.n}-{c.rng.getrandbits(32)}", c.prose()
    event = {"url": url, "body": body, "fetched_at": BASE_MS + c.n * MINUTE_MS}
    return Hostile("missing id", json.dumps(event).encode(), ARTICLE, derive_id(url, body))


def nested_extra(c: Corpus) -> Hostile:
    depth = c.rng.randint(10, 900)
    return c.event("nested extra field", ANY, {"body": c.prose(), "x": _nest(depth)})


def lone_surrogate(c: Corpus) -> Hostile:
    field = c.rng.choice(["body", "title", "url", "source", "author", "id"])
    fields = {"body": c.prose(1), field: f"lone {chr(c.rng.randint(0xD800, 0xDFFF))} surrogate"}
    return c.event("lone surrogate", ("dead:bad_unicode",), fields, article=False)


def raw_surrogates(c: Corpus) -> Hostile:
    fields = {"body": f"raw {chr(c.rng.randint(0xD800, 0xDFFF))} bytes " + c.prose(1)}
    return c.event("raw surrogates", ("dead:not_utf8",), fields, ascii_only=False, article=False)


def not_utf8(c: Corpus) -> Hostile:
    text = json.dumps({"body": "café au lait " + c.prose(1)}, ensure_ascii=False)
    data = c.rng.choice(
        [
            text.encode("latin-1"),
            text.encode("utf-8").replace(b"caf\xc3\xa9", b"caf\xc0\xa9"),  # overlong
            text.encode("utf-8").replace(b"caf", b"\xed\xa0\x80"),  # CESU-8 surrogate
            b"\xff\xfe" + text.encode("utf-16-le"),
            b"\x80\x81\x82" + text.encode("utf-8"),
        ]
    )
    return c.payload("not UTF-8", data, ("dead:not_utf8",))


def non_finite(c: Corpus) -> Hostile:
    value = c.rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e300"])
    field = c.rng.choice(["fetched_at", "published_at"])
    text = json.dumps({"id": c.next_id(), "body": c.prose(1)})[:-1] + f', "{field}": {value}}}'
    # fetched_at may be a number (epoch millis); published_at must be a string
    code = "dead:date_out_of_range" if field == "fetched_at" else "dead:bad_field_type"
    return c.payload("NaN/Infinity", text.encode(), (code,))


def huge_number(c: Corpus) -> Hostile:
    digits = "7" * c.rng.randint(4400, 20000)
    text = json.dumps({"body": c.prose(1)})[:-1] + f', "fetched_at": {digits}}}'
    return c.payload("huge number", text.encode(), ("dead:bad_number",))


def huge_field(c: Corpus) -> Hostile:
    field = c.rng.choice(sorted(MAX_FIELD_BYTES))
    value = "é" * (MAX_FIELD_BYTES[field] // 2 + c.rng.randint(1, 5000))
    fields = {"body": c.prose(1), field: value}
    return c.event("huge field", ("dead:field_too_large",), fields, article=False)


def huge_body(c: Corpus) -> Hostile:
    body = "word " * (c.max_body_bytes // 5 + 1)
    return c.event("huge body", ("dead:body_too_large",), {"body": body}, article=False)


def wrong_type(c: Corpus) -> Hostile:
    cases = [
        ({"body": 7}, "dead:bad_body_type"),
        ({"body": ["a", "list"]}, "dead:bad_body_type"),
        ({"body": {"text": "x"}}, "dead:bad_body_type"),
        ({"body": True}, "dead:bad_body_type"),
        ({"body": None}, "dead:missing_body"),
        ({"text": c.prose(1)}, "dead:missing_body"),
        ({"body": c.prose(1), "id": 12345}, "dead:bad_field_type"),
        ({"body": c.prose(1), "url": ["https://x.example"]}, "dead:bad_field_type"),
        ({"body": c.prose(1), "fetched_at": True}, "dead:bad_date"),
        ({"body": c.prose(1), "fetched_at": {"ms": 1}}, "dead:bad_date"),
        ({"body": c.prose(1), "fetched_at": "yesterday-ish"}, "dead:bad_date"),
        ({"body": c.prose(1), "content_type": "application/pdf"}, "dead:bad_content_type"),
    ]
    fields, code = c.rng.choice(cases)
    return c.event("wrong type", (code,), fields, article=False)


def empty_body(c: Corpus) -> Hostile:
    body = c.rng.choice(["", " ", "\t \u3000 ", "\n\n"])
    return c.event("empty body", ("dead:empty_body",), {"body": body}, article=False)


def filler_only(c: Corpus) -> Hostile:
    body = "\n\n".join(c.rng.choices(FILLER, k=c.rng.randint(1, 6)))
    return c.event("filler only", ("dead:all_filler", "dead:no_text"), {"body": body})


def deep_nesting(c: Corpus) -> Hostile:
    depth = c.rng.randint(50_000, 200_000)
    text = json.dumps({"body": c.prose(1)})[:-1] + f', "x": {_nest(depth)}}}'
    return c.payload("deep nesting", text.encode(), ("dead:too_deep",))


def not_an_object(c: Corpus) -> Hostile:
    text = c.rng.choice(["[1, 2, 3]", '"a string"', "42", "null", "true", "NaN", "[{}]"])
    return c.payload("not an object", text.encode(), ("dead:not_object",))


def not_json(c: Corpus) -> Hostile:
    text = json.dumps({"body": c.prose(1)})
    data = c.rng.choice(
        [b"{", b"{'body': 'x'}", (text + " trailing").encode(), b"\xef\xbb\xbf" + text.encode()]
    )
    return c.payload("not JSON", data, ("dead:not_json",))


def random_bytes(c: Corpus) -> Hostile:
    return c.payload("random bytes", c.rng.randbytes(c.rng.randint(1, 300)), ("dead:*",))


def confluent_framed(c: Corpus) -> Hostile:
    return c.payload("Confluent-framed bytes", b"\x00" + c.rng.randbytes(c.rng.randint(0, 60)))


def corrupted_event(c: Corpus) -> Hostile:
    """A plain event with random bytes written over it after its id (so, if it still parses,
    its record carries that id)."""
    hostile = c.event("corrupted JSON event", ANY, {"body": c.prose(2)})
    start = hostile.payload.index(b'"fetched_at"')
    at = c.rng.randint(start, len(hostile.payload))
    noise = c.rng.randbytes(c.rng.randint(1, 8))
    data = hostile.payload[:at] + noise + hostile.payload[at + len(noise) :]
    return Hostile(hostile.name, data, ANY, hostile.article_id)


def corrupted_avro(c: Corpus) -> Hostile:
    header = encode({"body": "x"}, ARTICLE_EVENT)[:HEADER_LEN]
    return c.payload("corrupted Avro", header + c.rng.randbytes(c.rng.randint(0, 60)))


# class -> weight; about a quarter of the inputs can become articles (they cost the NER), the
# rest are dead letters from decode on; huge bodies are few (each is max_body_bytes) and on top.
CLASSES: dict[Callable[[Corpus], Hostile], int] = {
    plain_article: 4, templated_article: 5, exact_copy: 2, near_copy: 2, html_page: 2,
    html_bomb: 2, odd_characters: 2, long_lines: 1, avro_event: 2, odd_hints: 2, missing_id: 1,
    nested_extra: 1, corrupted_event: 4, lone_surrogate: 6, raw_surrogates: 4, not_utf8: 6,
    non_finite: 6, huge_number: 3, huge_field: 6, wrong_type: 8, empty_body: 3, filler_only: 4,
    deep_nesting: 2, not_an_object: 4, not_json: 4, random_bytes: 6, confluent_framed: 3,
    corrupted_avro: 3,
}  # fmt: skip
HUGE_BODIES = 2


def generate(
    count: int, seed: int, one_line: bool, max_body_bytes: int = 2_000_000
) -> list[Hostile]:
    """``count`` hostile events (every class at least once), in a seeded random order; copies
    come after what they copy (and carry a later ``fetched_at``)."""
    corpus = Corpus(seed, one_line, max_body_bytes)
    total = sum(CLASSES.values())
    plan = [make for make, w in CLASSES.items() for _ in range(max(1, count * w // total))]
    plan += [plain_article] * (count - HUGE_BODIES - len(plan)) + [huge_body] * HUGE_BODIES
    corpus.rng.shuffle(plan)
    events = [make(corpus) for make in plan]
    return [_one_line(e) for e in events] if one_line else events


def _one_line(hostile: Hostile) -> Hostile:
    """What file mode can read as one input: no CR or LF, not blank."""
    data = hostile.payload.replace(b"\r", b"\\r").replace(b"\n", b"\\n")
    if not data.strip():
        data = b"x" + data
    return Hostile(hostile.name, data, hostile.outcomes, hostile.article_id, hostile.duplicate_of)


def _nest(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def _vocabulary() -> list[str]:
    words = []
    for line in EXAMPLES.read_text().splitlines():
        body = json.loads(line).get("body") if line.startswith("{") else None
        if isinstance(body, str) and "<" not in body:
            words.extend(w.strip(".,;:!?\"'()") for w in body.split())
    return sorted({w for w in words if w.isalpha()})


@pytest.fixture
def hostile_events() -> Callable[..., list[Hostile]]:
    """``hostile_events(count, seed, one_line, max_body_bytes=2_000_000)``: see ``generate``."""
    return generate
