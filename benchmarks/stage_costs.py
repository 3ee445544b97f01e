"""CPU seconds of each of newsflow's own steps over an events file, in one process.

Issue 19's profile of the SDK worker: the pure functions the pipeline's DoFns call, in the
pipeline's order, each timed with ``time.process_time()`` over every article, so a change to one
step shows its saving without Beam, Prism or NER around it (the whole job's CPU is
``profile_pipeline.py``'s figure). NER itself is not timed: it runs once, untimed, and its raw
entities feed the steps after it (``--ner-cache`` keeps them between runs). No assertion: figures
for docs/performance.md.
"""

from __future__ import annotations

import argparse
import io
import pickle
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class Stages:
    """Accumulated CPU seconds per stage name, in first-seen order."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def timed(self, name: str, fn: Callable, *args):
        started = time.process_time()
        result = fn(*args)
        self.seconds[name] = self.seconds.get(name, 0.0) + time.process_time() - started
        return result


def raw_entities(bodies: list[str], cache: Path | None) -> list:
    """NER's raw entities of each body (``ner.annotate``), from ``cache`` when it has them."""
    if cache is not None and cache.exists():
        return pickle.loads(cache.read_bytes())
    from transforms.text.ner import annotate, load_ner_model

    found = annotate(load_ner_model(), bodies)
    if cache is not None:
        cache.write_bytes(pickle.dumps(found))
    return found


def write_avro(datums: list[bytes]) -> None:
    """The enriched records' container file as file mode's sink writes it, in memory."""
    from schemas.codec import ENRICHED
    from transforms.io.avro_files import AvroRecordSink

    sink = AvroRecordSink(ENRICHED)
    sink.open(io.BytesIO())
    for datum in datums:
        sink.write(datum)
    sink.flush()


def run(events: Path, cache: Path | None) -> Stages:
    stages = Stages()
    started = time.process_time()
    from transforms.steps.encode import file_outputs
    from transforms.text.cleaning import clean_article
    from transforms.text.dedup_index import DedupIndex, decide
    from transforms.text.entities import resolve_entities
    from transforms.text.event import decode_event
    from transforms.text.extract import detect_language
    from transforms.text.fingerprint import fingerprint
    from transforms.text.minhash_config import MinHashConfig
    from transforms.text.models import RawEvent, SourceRef
    from transforms.text.stories import StoryConfig, StoryIndex
    from transforms.text.story_terms import article_terms
    from transforms.text.templates import TemplateConfig, TemplateMemory, learn_and_strip

    stages.seconds["imports"] = time.process_time() - started
    lines = events.read_bytes().splitlines()
    raws = [
        RawEvent(payload=line, ref=SourceRef(file=str(events), line=n))
        for n, line in enumerate(lines, 1)
    ]
    now = int(time.time() * 1000)
    articles = [stages.timed("decode", decode_event, raw, now) for raw in raws]
    articles = [stages.timed("clean", clean_article, a) for a in articles]
    memories: dict[str | None, TemplateMemory] = {}
    template_cfg = TemplateConfig()
    articles = [
        stages.timed(
            "templates",
            learn_and_strip,
            a,
            memories.setdefault(a.source, TemplateMemory()),
            template_cfg,
        )
        for a in articles
    ]
    minhash = MinHashConfig()
    prints = [stages.timed("fingerprint", fingerprint, a.body, minhash) for a in articles]
    index = DedupIndex(minhash)
    for article, fp in zip(articles, prints, strict=True):
        decision = stages.timed("dedup decide", decide, article, fp, index, now)
        if decision.duplicate_of is None:
            stages.timed("dedup add", index.add, decision.entry)
    stages.timed("language model load", detect_language, "warm up the identifier, once")
    entities = raw_entities([a.body for a in articles], cache)
    enriched = [
        replace(
            a,
            entities=stages.timed("resolve entities", resolve_entities, found),
            language=stages.timed("body language", detect_language, a.body) or a.language_hint,
        )
        for a, found in zip(articles, entities, strict=True)
    ]
    story_cfg = StoryConfig()
    terms = [stages.timed("story terms", article_terms, a, story_cfg.lead_chars) for a in enriched]
    stories = StoryIndex(story_cfg)
    for article, t in zip(enriched, terms, strict=True):
        stages.timed("story decide", stories.decide, t, article.id, None)
    outputs = [stages.timed("encode (file_outputs)", file_outputs, a, "0") for a in enriched]
    stages.timed("write avro", write_avro, [datum for _, datum in outputs])
    stages.timed("write json", lambda: "\n".join(line for line, _ in outputs).encode("utf-8"))
    return stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("events", type=Path, help="JSON lines of events (throughput.py's corpus)")
    parser.add_argument("--ner-cache", type=Path, help="pickle of NER's raw entities (reused)")
    parser.add_argument("--repeat", type=int, default=1, help="runs in this process (1)")
    args = parser.parse_args()
    for index in range(args.repeat):
        stages = run(args.events, args.ner_cache)
        total = sum(stages.seconds.values())
        print(f"| stage (run {index + 1}) | CPU s |\n|---|---|")
        for name, seconds in stages.seconds.items():
            print(f"| {name} | {seconds:.3f} |")
        print(f"| total | {total:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
