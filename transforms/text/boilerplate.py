"""Remove page chrome and placeholder filler from a raw article body.

The body is cut into blocks (blank-line separated paragraphs). Inside a block, whole lines that are
page chrome (share prompts, newsletter pitches, navigation, photo credits, cookie notices) are
dropped, as is a wire dateline ("LONDON (Reuters) - ") opening a block (kind ``credit``), then
runs of placeholder sentences are dropped. Everything removed is reported as a
``Span`` with offsets into the raw body, so the enriched record can say what went and why; nothing
else is touched, so a clean article keeps every word.

Filler is recognised by what it is, not by the words "lorem ipsum": a sentence is filler when its
English stop-word density is low (jusText's signal and list: the seed's paragraphs run at 0.47-0.82,
its sentences at 0.25 or more, its filler at 0.08) *and* py3langid's character n-gram model says it
is Latin, which keeps French, Italian or Spanish text and lists of names out of it. A Latin
phrase inside an English sentence ("ad hoc", "et al.") leaves that sentence English; a short or
quoted Latin sentence ("Veni, vidi, vici.", a quoted motto) is never removed.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import justext

from transforms.text.extract import language_probabilities
from transforms.text.models import Span


@dataclass(frozen=True)
class Block:
    """A paragraph of the raw body: its raw offsets and the text kept from it."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Cleaned:
    """Kept paragraphs in order, and every removed piece with its reason."""

    blocks: tuple[Block, ...]
    removed: tuple[Span, ...]


@dataclass(frozen=True)
class FillerRules:
    """Thresholds for telling placeholder Latin from prose (see the module docstring)."""

    max_stop_density: float = 0.2
    min_latin_probability: float = 0.6
    # A sentence with few stop words ("Defense Secretary Donald Rumsfeld's statement that ...")
    # is still prose when the identifier is this sure it is English.
    min_english_probability: float = 0.6
    min_sentence_words: int = 4
    min_run_words: int = 4


DEFAULT_RULES = FillerRules()


class Label(enum.Enum):
    """What one sentence reads as, for grouping sentences into filler runs."""

    PROSE = "prose"
    FILLER = "filler"
    LATIN_LEAN = "latin_lean"
    UNSURE = "unsure"


# English stop words that are everyday Latin words too, so they are no evidence of English.
_LATIN_HOMOGRAPHS = frozenset({"a", "at", "de", "do", "in", "me", "per"})

_PARAGRAPH_BREAK = re.compile(r"[ \t]*\r?\n(?:[ \t]*\r?\n)+[ \t\r\n]*")
_LINE = re.compile(r"[^\r\n]+")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_QUOTES = frozenset('"“”„«»')
# A sentence ends at . ! ? or … (plus closing quotes/brackets) followed by space and a capital.
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")

_AGENCY = r"(getty images|reuters|ap|afp|aap|pa|epa|dpa|bloomberg|shutterstock|alamy)"
_SHARE_WORDS = r"share|post|send|email|e-mail|tweet|pin"
_CHROME: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        (
            "cookie_notice",
            r"(we|we and our partners|this (web)?site) uses? cookies\b.*"
            r"|by (continuing|using) (to (use|browse) )?(this|our) (web)?site\b.*"
            r"|(accept|reject|decline|refuse|allow) (all )?cookies\b.*"
            r"|(accept|reject|decline|refuse|allow) all[.!]?"
            r"|(manage )?cookie (settings|preferences|policy|notice|statement)\b.*"
            r"|manage (my |your )?(preferences|consent|cookies|privacy settings)"
            r"|(your |our )?privacy (choices|settings|preferences)",
        ),
        (
            "share_prompt",
            rf"({_SHARE_WORDS})( this| (this|the) (article|story|page|post|link))?"
            r"( (on|to|via|with) [\w ,&+@]+)?( \(opens? in (a )?new (window|tab)\))?[:!.]?"
            r"|(share|follow us|follow @\w+|like us|find us) on [\w ,&+@]+[:!.]?"
            r"|follow (the )?[\w.&' -]{1,40} on (facebook|twitter|x|instagram|tiktok|youtube"
            r"|linkedin|threads|bluesky)( and [\w]+)?[:!.]?"
            r"|follow us[:!.]?|click (here )?to share\b.*"
            r"|copy (the )?(article |story |page )?link( to (the )?clipboard)?"
            r"|print( this)?( (article|story|page))?",
        ),
        (
            "newsletter",
            r"(.{0,60}[?:.!] )?"
            r"(sign[ -]?up|subscribe|join|get|don['’]t miss( out)?|enter your email|register)\b"
            r".{0,100}\b(newsletters?|inbox|(news |email )?alerts?|briefing|subscription"
            r"|subscribe|email)\b.{0,100}"
            r"|(daily |weekly |free )?newsletters?[:!.]?"
            r"|subscribe( now| today| here)?[:!.]?|.{0,100}\bsign up (here|now|today)[:!.]?"
            r"|enter your email( address)?[:!.]?|(already|become) a (subscriber|member)\b.{0,80}"
            r"|register (for free )?to (keep|continue) reading\b.{0,40}",
        ),
        (
            "navigation",
            r"read more( (here|now|stories|news))?[:!.…]?|read more ?[:|›>»-] ?.{1,120}"
            r"|advertisement\b.{0,60}|advert|sponsored( content)?"
            r"|(the )?(story|article) continues (below|after)( (the|this))?( advert(isement)?)?"
            r"|skip to (main )?(content|navigation)"
            r"|related( articles| stories| content| links| topics)?(:.{0,160})?"
            r"|more on this (story|topic)|see also:.{0,160}|continue reading\b.{0,80}"
            r"|(most|top) (read|popular|viewed|shared|commented|stories)( (stories|articles))?"
            r"|trending( now| stories)?|you (may|might) (also )?like|recommended( for you)?"
            r"|(next|previous) (article|story|post)|more from [\w' &-]{1,40}"
            r"|listen to this (article|story)|(show|hide|view) comments|load more( stories)?"
            r"|back to top|(home|news)( ?[›>»|/] ?[\w' &-]{1,40}){1,6}"
            r"|[\w' &-]{1,40}( ?[›>»] ?[\w' &-]{1,40}){2,6}",
        ),
        (
            "credit",
            r"(file )?(photograph|photo|picture|image|illustration|video|composite|source"
            r"|credit)s?( credit)?: ?.{1,120}|image copyright .{1,80}"
            rf"|.{{1,80}}/{_AGENCY}|\({_AGENCY}\)|©.{{1,120}}|{_AGENCY}( photo)?"
            r"|\([^()]{0,80}\b(photo|picture|image)s?\b[^()]{0,80}\)"
            r"|copyright (©|\(c\) )?(19|20)\d\d\b.{0,100}"
            r"|((additional )?(reporting|writing|editing) by"
            r" (?-i:[A-Z][\w'.-]*(?:,? (?:and |in |de |van )?[A-Z][\w'.-]*){0,6})[;.]? ?)+",
        ),
    )
)
_BAR_SEPARATOR = re.compile(r"\s*[|•·]\s*")
_SHARE_TARGET = re.compile(
    r"(facebook|twitter|x|whatsapp|linkedin|e-?mail|print|reddit|pinterest|telegram|messenger"
    r"|flipboard|bluesky|threads|copy( the)? link|comments?|share|tweet|pin|save)",
    re.IGNORECASE,
)
# A word of placeholder text: letters, then at most clause or sentence punctuation.
_PLAIN_WORD = re.compile(r"([^\W\d_]+)[,;:.!?…]*")
_WIRE_DATELINE = re.compile(r"[A-Z][A-Z .,'-]{1,40}\((?:Reuters|AP|AFP|PA|Bloomberg)\)\s*[-–—]+\s*")


def strip_boilerplate(raw: str, rules: FillerRules = DEFAULT_RULES) -> Cleaned:
    """Split ``raw`` into blocks, dropping chrome lines and filler runs; report each as a Span.

    Blocks left with no text are dropped (their content is all in ``removed``); the caller
    decides whether an article with no blocks is a rejection.
    """
    blocks: list[Block] = []
    removed: list[Span] = []
    for start, end in _paragraphs(raw):
        cuts = _block_cuts(raw, start, end, rules)
        removed.extend(Span(kind, s, e, raw[s:e]) for kind, s, e in cuts)
        text = _kept_text(raw, start, end, cuts)
        if text:
            blocks.append(Block(start, end, text))
    return Cleaned(tuple(blocks), tuple(removed))


def is_filler(text: str, rules: FillerRules = DEFAULT_RULES) -> bool:
    """True when ``text`` (a sentence or a paragraph) is placeholder Latin through and through."""
    labels = [_sentence_label(text[s:e], rules) for s, e in _sentences(text, 0, len(text))]
    return (
        Label.PROSE not in labels
        and Label.FILLER in labels
        and len(_WORD.findall(text)) >= rules.min_run_words
    )


def _paragraphs(raw: str) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each non-blank paragraph, surrounding whitespace excluded."""
    position = 0
    for match in _PARAGRAPH_BREAK.finditer(raw):
        yield from _trimmed(raw, position, match.start())
        position = match.end()
    yield from _trimmed(raw, position, len(raw))


def _trimmed(raw: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield the range narrowed to its non-whitespace content, if it has any."""
    while start < end and raw[start].isspace():
        start += 1
    while end > start and raw[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end


def _block_cuts(raw: str, start: int, end: int, rules: FillerRules) -> list[tuple[str, int, int]]:
    """Removed (kind, start, end) ranges of one block: chrome lines, then filler in the rest."""
    cuts: list[tuple[str, int, int]] = []
    segment_start = start
    for line in _LINE.finditer(raw, start, end):
        for line_start, line_end in _trimmed(raw, line.start(), line.end()):
            kind = chrome_kind(raw[line_start:line_end])
            if kind is None:
                continue
            cuts.extend(_filler_cuts(raw, segment_start, line_start, rules))
            cuts.append((kind, line_start, line_end))
            segment_start = line_end
    cuts.extend(_filler_cuts(raw, segment_start, end, rules))
    dateline = _WIRE_DATELINE.match(raw, start, end)
    if dateline and not any(s <= start < e for _, s, e in cuts):
        cuts.insert(0, ("credit", start, dateline.end()))
    return cuts


def chrome_kind(line: str) -> str | None:
    """The boilerplate kind of a whole line of page chrome, or None for content.

    A bar of items ("Share on Facebook | Share on X | Email this article", or without
    separators "WhatsApp Facebook Twitter Email") is chrome when every item is; it takes the
    kind of its first item. Bare network names count only inside a bar. So is a line of
    sentences that are each chrome ("Share this article on Facebook. Email this story.").
    """
    if len(line) > 300:
        return None
    kind = _item_kind(line)
    if kind is not None:
        return kind
    items = _bar_items(line) if _BAR_SEPARATOR.search(line) else line.split()
    kinds = [_item_kind(item) or _share_target(item) for item in items]
    if len(kinds) > 1 and None not in kinds:
        return kinds[0]
    kinds = [_item_kind(sentence) for sentence in _SENTENCE_END.split(line)]
    return kinds[0] if len(kinds) > 1 and None not in kinds else None


def _item_kind(text: str) -> str | None:
    """The kind of the first chrome pattern matching all of ``text``, or None."""
    for kind, pattern in _CHROME:
        if pattern.fullmatch(text):
            return kind
    return None


def _share_target(item: str) -> str | None:
    """``share_prompt`` for a bare share target in a bar ("Facebook", "X", "Copy link")."""
    return "share_prompt" if _SHARE_TARGET.fullmatch(item) else None


def _bar_items(line: str) -> list[str]:
    """The non-empty items of a separator bar, trimmed."""
    return [item.strip() for item in _BAR_SEPARATOR.split(line) if item.strip()]


def _filler_cuts(raw: str, start: int, end: int, rules: FillerRules) -> list[tuple[str, int, int]]:
    """Runs of filler sentences in raw[start:end] long enough to remove, as lorem_ipsum cuts."""
    labelled = list(_labelled_sentences(raw, start, end, rules))
    sentences = [(s, e) for s, e, _ in labelled]
    labels = [label for _, _, label in labelled]
    cuts = []
    for first, last in _runs(labels):
        words = sum(len(_WORD.findall(raw[s:e])) for s, e in sentences[first : last + 1])
        if words >= rules.min_run_words:
            cuts.append(("lorem_ipsum", sentences[first][0], sentences[last][1]))
    return cuts


def _runs(labels: list[Label]) -> Iterator[tuple[int, int]]:
    """Yield (first, last) of each filler run: non-prose sentences with at least one filler.

    Where a run borders prose, undecided sentences at its edge stay with the prose (a short real
    sentence next to filler is kept); those leaning Latin ("Sed nisi.") go with the filler.
    """
    index = 0
    while index < len(labels):
        if labels[index] is Label.PROSE:
            index += 1
            continue
        end = index
        while end + 1 < len(labels) and labels[end + 1] is not Label.PROSE:
            end += 1
        first, last = index, end
        while first > 0 and first <= last and labels[first] is Label.UNSURE:
            first += 1
        while last < len(labels) - 1 and last >= first and labels[last] is Label.UNSURE:
            last -= 1
        if Label.FILLER in labels[first : last + 1]:
            yield first, last
        index = end + 1


def _labelled_sentences(
    raw: str, start: int, end: int, rules: FillerRules
) -> Iterator[tuple[int, int, Label]]:
    """(start, end, label) of each sentence; filler glued to a sentence is a sentence of its own.

    Text before placeholder Latin does not always end cleanly ("out of work.- Tincidunt ...",
    "(AFP, Reuters) Nisl ...", "SMS to 61124 Curabitur ...", 'for them."?,-1" Sed ...'), so the
    sentence splitter sees one sentence. When a sentence ends in a tail that reads as filler or
    leans Latin (or a filler sentence starts with something else), the two are labelled apart;
    the text before the tail ("(AFP, Reuters)") counts as prose unless it reads as filler.
    """
    for sentence_start, sentence_end in _sentences(raw, start, end):
        label = _sentence_label(raw[sentence_start:sentence_end], rules)
        tail = _glued_tail(raw, sentence_start, sentence_end)
        tail_label = _tail_label(raw[tail:sentence_end], label, rules) if tail else None
        if tail is None or tail_label is None:
            yield sentence_start, sentence_end, label
            continue
        head_end = sentence_start + len(raw[sentence_start:tail].rstrip())
        head_label = _sentence_label(raw[sentence_start:head_end], rules)
        yield sentence_start, head_end, Label.FILLER if head_label is Label.FILLER else Label.PROSE
        yield tail, sentence_end, tail_label


def _tail_label(tail: str, sentence_label: Label, rules: FillerRules) -> Label | None:
    """The label of a placeholder-looking tail worth setting apart, else None.

    A filler tail is; so is a tail of ``min_sentence_words`` or more leaning Latin ("Eveniet
    eius a iste."), which is then removed only as part of a run with filler next to it.
    """
    if sentence_label is Label.FILLER:
        return Label.FILLER
    label = _sentence_label(tail, rules)
    if label is Label.FILLER:
        return label
    long_enough = len(_WORD.findall(tail)) >= rules.min_sentence_words
    return label if label is Label.LATIN_LEAN and long_enough else None


def _glued_tail(raw: str, start: int, end: int) -> int | None:
    """Start of the sentence's tail written like a placeholder sentence, or None.

    Such a tail is a capitalized word followed only by lowercase words (placeholder text is
    capitalized like a sentence and has no names, figures or quotes); the sentence's first word
    never starts one (that would be the whole sentence, judged already).
    """
    tokens = raw[start:end].split()  # whitespace-separated, as a regex ``\S+`` finds them
    for index in range(len(tokens) - 1, 0, -1):
        letters = _PLAIN_WORD.fullmatch(tokens[index])
        if letters is None:
            return None
        text = letters.group(1)
        if not text.islower():
            capitalized = text[0].isupper() and (len(text) == 1 or text[1:].islower())
            return _token_start(raw, start, end, tokens[index:]) if capitalized else None
    return None


def _token_start(raw: str, start: int, end: int, last: list[str]) -> int:
    """Where the first of ``last``, the final tokens of ``raw[start:end]``, starts: each found
    from the right before the one after it (a token holds no space, so the rightmost match
    before the next token is that token)."""
    position = end
    for token in reversed(last):
        position = raw.rfind(token, start, position)
    return position


def _sentences(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each sentence of text[start:end], whitespace excluded."""
    position = start
    for match in _SENTENCE_END.finditer(text, start, end):
        yield from _trimmed(text, position, match.start() + len(match.group().rstrip()))
        position = match.end()
    yield from _trimmed(text, position, end)


def _sentence_label(sentence: str, rules: FillerRules) -> Label:
    """How a sentence reads: prose, filler, or (short or ambiguous) unsure or leaning Latin.

    English stop words that are also Latin words ("in", "at", "a") do not count as English:
    "In scelerisque sem at dolor." has none of the little words English cannot do without.
    A "sentence" without words (a list's "2.", a "***" rule) says nothing either way: inside a
    filler run it goes with the run, at its edge with the prose.
    """
    if _QUOTES.intersection(sentence):
        return Label.PROSE
    words = _WORD.findall(sentence)
    if not words:
        return Label.UNSURE
    # casefold maps character by character, so the joined words fold as each word would
    folded = " ".join(words).casefold().replace("’", "'").split(" ")
    english = sum(map(_english_only().__contains__, folded))
    judged = len(words) >= rules.min_sentence_words
    if judged and english / len(words) >= rules.max_stop_density:
        return Label.PROSE
    likeliest, probability = language_probabilities(sentence, ("la", "en"))
    if judged and probability["la"] >= rules.min_latin_probability:
        return Label.FILLER
    if judged and probability["en"] >= rules.min_english_probability:
        return Label.PROSE
    return Label.LATIN_LEAN if likeliest == "la" and not english else Label.UNSURE


@functools.cache
def _english_only() -> frozenset[str]:
    """English stop words that are not also Latin words: what counts as English in a sentence."""
    return _english_stopwords() - _LATIN_HOMOGRAPHS


@functools.cache
def _english_stopwords() -> frozenset[str]:
    """jusText's English stop-word list (static configuration, loaded once)."""
    return frozenset(justext.get_stoplist("English"))


def _kept_text(raw: str, start: int, end: int, cuts: list[tuple[str, int, int]]) -> str:
    """The block without its cuts: one space closes a cut, empty lines vanish, CRLF becomes LF."""
    pieces, position = [], start
    for _, cut_start, cut_end in sorted(cuts, key=lambda cut: cut[1]):
        pieces.append(raw[position:cut_start])
        position = cut_end
    pieces.append(raw[position:end])
    text = " ".join(piece.strip(" \t") for piece in pieces)
    lines = (line.strip() for line in re.split(r"\r\n|\r|\n", text))
    return "\n".join(line for line in lines if line)
