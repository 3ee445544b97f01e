"""annotate(): one spaCy doc per line (long lines in chunks), entity offsets into the whole body."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import spacy

from transforms.text.models import Entity
from transforms.text.ner import (
    DEFAULT_MODEL,
    MemoryZones,
    annotate,
    chunk_spans,
    load_ner_model,
    preload_ner_model,
)

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "articles.jsonl"


@pytest.fixture(scope="module")
def ruler_nlp() -> spacy.language.Language:
    """A blank pipeline whose entity ruler would join "Park" and "Exeter" across a break."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns(
        [
            {"label": "FAC", "pattern": "Sandy Park"},
            {"label": "ORG", "pattern": "Exeter Chiefs"},
            {"label": "BAD", "pattern": [{"ORTH": "Park"}, {"IS_SPACE": True}, {"ORTH": "Exeter"}]},
        ]
    )
    return nlp


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "They played at Sandy Park\n\nExeter Chiefs won.",
            [("Sandy Park", "FAC"), ("Exeter Chiefs", "ORG")],
        ),
        ("Sandy Park\nExeter Chiefs", [("Sandy Park", "FAC"), ("Exeter Chiefs", "ORG")]),
        ("\n\n  \n", []),
        ("", []),
    ],
)
def test_annotate_lines_separately(
    ruler_nlp: spacy.language.Language, body: str, expected: list[tuple[str, str]]
) -> None:
    (entities,) = annotate(ruler_nlp, [body])
    assert [(entity.text, entity.label) for entity in entities] == expected
    for entity in entities:
        assert body[entity.start : entity.end] == entity.text


def test_annotate_keeps_body_order(ruler_nlp: spacy.language.Language) -> None:
    bodies = ["Nothing here.", "At Sandy Park.", ""]
    assert annotate(ruler_nlp, bodies, batch_size=1) == [
        (),
        (Entity("Sandy Park", "FAC", 3, 13),),
        (),
    ]


@pytest.mark.parametrize(
    ("text", "limit"),
    [("One. Two three. Four five six. " * 40, 100), ("word " * 500, 64), ("x" * 1000, 50)],
)
def test_chunks_tile_the_text_within_the_limit(text: str, limit: int) -> None:
    chunks = chunk_spans(text, limit)
    assert chunks[0].own_start == 0 and chunks[-1].own_end == len(text)
    for chunk, following in itertools.pairwise(chunks):
        assert chunk.own_end == following.own_start
    for chunk in chunks:
        assert chunk.end - chunk.start <= limit
        assert chunk.start <= chunk.own_start < chunk.own_end <= chunk.end


def test_chunks_end_at_sentences_when_there_are_some() -> None:
    text = "Amber Rudd spoke in London. " * 20
    assert all(text[c.own_end - 2 : c.own_end] == ". " for c in chunk_spans(text, 200)[:-1])


@pytest.fixture(scope="module")
def model() -> spacy.language.Language:
    return load_ner_model(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def seed_line() -> str:
    """The seed article's paragraphs as one line of about 6,000 characters."""
    line = next(line for line in EXAMPLES.open() if '"seed-rudd-2017"' in line)
    return " ".join(json.loads(line)["body"].split())


@pytest.mark.parametrize("strip_periods", [False, True])
def test_long_line_in_chunks_finds_what_the_whole_line_has(
    model: spacy.language.Language, seed_line: str, strip_periods: bool
) -> None:
    """With max_length lowered on the real model, the line is cut into about a dozen chunks (at
    sentence ends, or at spaces when there are none) and yields the same entities, none lost or
    doubled at a seam, with offsets into the whole body."""
    body = "Before.\n\n" + (seed_line.replace(".", "") if strip_periods else seed_line)
    (whole,) = annotate(model, [body])
    default_length = model.max_length
    model.max_length = 600
    try:
        (chunked,) = annotate(model, [body])
    finally:
        model.max_length = default_length
    assert len(chunk_spans(body.split("\n\n")[1], 600)) >= 10
    assert len(whole) >= 20
    assert chunked == whole
    assert all(body[e.start : e.end] == e.text for e in chunked)


def test_blank_model_is_a_tokenizer_without_entities() -> None:
    """``--spacy-model blank:en``: the job runs without NER, every body with no entities."""
    nlp = load_ner_model("blank:en")
    assert nlp.pipe_names == []
    assert annotate(nlp, ["Amber Rudd met Angela Merkel in Berlin.", ""]) == [(), ()]


def test_a_preloaded_model_goes_to_the_first_caller_only():
    """A ready SDK worker preloads the model; the first NER step takes it, later ones load their
    own, so no two steps share one model."""
    preload_ner_model("blank:en")
    first, second = load_ner_model("blank:en"), load_ner_model("blank:en")
    assert first is not second
    assert annotate(first, ["Ada Lovelace met Charles Babbage in London."], 1) == [()]


def test_new_words_leave_the_vocabulary_as_it_was_and_the_entities_the_same(
    model: spacy.language.Language,
) -> None:
    """A long-running job meets new words without end: annotating them must not grow the model's
    vocabulary (it did by ~3 KB per distinct article; a word the model knows gets its lexeme once,
    bounded by the model's strings), and a body annotated again, after its new words were
    forgotten, gets the same entities."""
    body = "Zorblax Quintaro met Vellamira Oshkent of Drunvale Holdings in Pentrassia on Tuesday."
    strings = len(model.vocab.strings)
    first = annotate(model, [body])
    lexemes = sum(1 for _ in model.vocab)  # len() counts every lexeme ever made, kept or not
    assert len(model.vocab.strings) == strings
    assert "Zorblax" not in model.vocab.strings
    assert annotate(model, [body]) == first
    assert (len(model.vocab.strings), sum(1 for _ in model.vocab)) == (strings, lexemes)
    assert any(entity.text == "Drunvale Holdings" for entity in first[0])


def test_a_zone_over_many_calls_keeps_its_new_words_until_it_made_enough_lexemes(
    model: spacy.language.Language,
) -> None:
    """``MemoryZones`` builds a new word once per zone, not once per call (a zone per batch cost
    NER ~12% more CPU), and still forgets a zone's words once it has made ``max_lexemes``
    lexemes: the vocabulary never holds more than one zone's words beyond the model's own, and
    the entities are those of a zone per call."""
    syllables = ["zor", "vel", "qui", "dru"]
    names = ["".join(parts).title() for parts in itertools.product(syllables, repeat=3)]
    bodies = [
        f"{names[i]} {names[i + 1]} met {names[i + 2]} of {names[i + 3]} Ltd in {names[i + 4]}."
        for i in range(0, 60, 5)
    ]
    expected = [annotate(model, [body]) for body in bodies]
    strings, lexemes = len(model.vocab.strings), sum(1 for _ in model.vocab)
    zones = MemoryZones(model, max_lexemes=30)
    held, back = [], 0
    for body, entities in zip(bodies, expected, strict=True):
        assert zones.annotate([body]) == entities
        held.append(sum(1 for _ in model.vocab) - lexemes)
        if len(model.vocab.strings) == strings:
            back += 1
            assert body.split()[0] not in model.vocab.strings
    assert held[0] > 0, "the first call's words are kept for the next calls"
    assert back >= 2, "zones were left as their lexemes reached the bound"
    assert max(held) < 30 + 15, "never more than a zone's bound and one call's words"
    zones.close()
    assert (len(model.vocab.strings), sum(1 for _ in model.vocab)) == (strings, lexemes)


def test_ner_multiplies_with_numpy_blas_on_one_thread(model: spacy.language.Language) -> None:
    """thinc's blis runs its generic reference kernel on CPUs its wheel does not know (AMD family
    25 here, a third of NER's time); the model's encoder computes with numpy's BLAS instead, and
    that BLAS keeps to one thread, since NER already runs a process per core."""
    from threadpoolctl import threadpool_info

    encoder = model.get_pipe("ner").model.get_ref("tok2vec")
    assert all(not layer.ops.use_blis for layer in encoder.walk())
    blas = [lib for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert blas
    assert {lib["num_threads"] for lib in blas} == {1}


def test_entities_are_those_of_the_model_on_blis(
    model: spacy.language.Language, example_bodies: list[str]
) -> None:
    """The same entities as spaCy's default loading (thinc on blis) gives, on every example body:
    the two libraries sum in different orders, so this is checked, not assumed."""
    bodies = example_bodies
    components = spacy.info(DEFAULT_MODEL)["components"]
    on_blis = spacy.load(DEFAULT_MODEL, exclude=[c for c in components if c != "ner"])
    assert len(bodies) >= 20
    found = annotate(model, bodies)
    assert sum(map(len, found)) >= 300
    assert found == annotate(on_blis, bodies)
