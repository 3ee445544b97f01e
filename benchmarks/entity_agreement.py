"""Do raw spaCy and newsflow find the same entities in the same texts, and if not, why?

The share of articles whose entity set (text, label, start, end) is identical between raw
``nlp.pipe`` over the clean body and newsflow's record; each other article is put down to the
first of newsflow's deliberate differences that, recomputed here with the same model outside Beam
and applied cumulatively, gives exactly newsflow's set:

1. entity rules (``ner.entities_from_doc``): edge punctuation, quotes and spaces trimmed;
   entities without a letter or digit, bare clitics and entities across a paragraph break dropped;
2. one doc per paragraph (``ner.annotate``): the model sees one paragraph at a time, so context
   at a paragraph's edges differs from the whole body's;
3. mention resolution (``entities.resolve_entities``): a mention takes its cluster's label
   ("Rudd" after "Amber Rudd" is a PERSON whatever the model said of it alone).

An article none accounts for is "unexplained" (the pipeline itself changed entities: batching,
the NER pool, Beam); its ids are printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

EntitySet = frozenset[tuple[str, str, int, int]]


def entity_set(entities: Iterable) -> EntitySet:
    """Entities as a set of (text, label, start, end), from dicts, raw lists or ``Entity``s."""
    return frozenset(
        (e["text"], e["label"], e["start"], e["end"])
        if isinstance(e, dict)
        else tuple(e)
        if isinstance(e, list | tuple)
        else (e.text, e.label, e.start, e.end)
        for e in entities
    )


def newsflow_stages(bodies: Mapping[str, str]) -> list[tuple[str, dict[str, EntitySet]]]:
    """Per stage (cumulative), each id's entity set, with newsflow's model and code."""
    from transforms.text.entities import resolve_entities
    from transforms.text.ner import annotate, entities_from_doc, load_ner_model

    nlp = load_ner_model()
    ids, texts = list(bodies), list(bodies.values())
    docs = nlp.pipe(texts, batch_size=32)
    ruled = [entities_from_doc(doc) for doc in docs]
    per_line = annotate(nlp, texts)
    resolved = [resolve_entities(entities) for entities in per_line]
    return [
        (name, {i: entity_set(e) for i, e in zip(ids, found, strict=True)})
        for name, found in (
            ("entity rules (trim, drop)", ruled),
            ("+ one doc per paragraph", per_line),
            ("+ mention resolution (labels)", resolved),
        )
    ]


def agreement_report(enriched: Mapping[str, dict], raw: Mapping[str, list], texts: Path) -> str:
    """Markdown: identical share, why the other articles differ, and entity counts."""
    bodies = {r["id"]: r["body"] for r in map(json.loads, texts.read_text().splitlines())}
    ours = {i: entity_set(enriched[i]["entities"]) for i in bodies}
    theirs = {i: entity_set(raw[i]) for i in bodies}
    left = [i for i in bodies if ours[i] != theirs[i]]
    rows = [("identical entity set", len(bodies) - len(left))]
    for name, found in newsflow_stages(bodies):
        rows.append((f"differ: {name}", sum(found[i] == ours[i] for i in left)))
        left = [i for i in left if found[i] != ours[i]]
    rows.append(("unexplained", len(left)))
    lines = ["| entities: raw nlp.pipe vs newsflow, same clean bodies | articles | share |"]
    lines.append("|---|---|---|")
    lines += [f"| {name} | {count} | {count / len(bodies):.3f} |" for name, count in rows]
    lines.append(
        f"entities: raw {sum(map(len, theirs.values()))}, newsflow "
        f"{sum(map(len, ours.values()))}; only in raw "
        f"{sum(len(theirs[i] - ours[i]) for i in bodies)}, only in newsflow "
        f"{sum(len(ours[i] - theirs[i]) for i in bodies)}"
        + (f"; unexplained ids: {sorted(left)[:10]}" if left else "")
    )
    return "\n".join(lines)
