"""The template step's memory per remembered article: in the worker, and in Beam state.

The articles ``memory_soak.py`` feeds the job (recombined real NewsArticles sentences, one source
per outlet, every line distinct), decoded and cleaned as the job does, go one at a time through
``learn_and_strip`` with one ``TemplateMemory`` per source, one second apart; the memory forgets
before the window and hands its changed line records to a bag at every flush of ``--flush-articles``
articles, as the step does. Printed per shape (``--sentences`` / ``--paragraph-sentences``):

- ``built``: tracemalloc bytes of the memories as the worker holds them after the run (the
  bags' records held here for the replay left out);
- ``replayed``: the same, for memories rebuilt from their records (after a restore, or when
  another worker changed the state);
- ``live records``: bytes of every live line record (the bag after a rewrite);
- ``appended``: bytes appended to the bags over the run (the bag before a rewrite: at most twice
  the live records);

each over the articles remembered (all of them: the window is longer than the run). No assertion:
figures for docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_soak import recombined_events

from transforms.text.cleaning import clean_article
from transforms.text.event import decode_event
from transforms.text.models import RawEvent, SourceRef
from transforms.text.template_memory import TemplateMemory
from transforms.text.templates import TemplateConfig, learn_and_strip

START_MS = 1_700_000_000_000


def articles(count: int, sentences: int, per_paragraph: int) -> list:
    """The job's cleaned articles for ``count`` soak events, fetched one second apart."""
    return [
        clean_article(decode_event(RawEvent(payload, SourceRef()), START_MS + 1000 * n))
        for n, payload in enumerate(recombined_events(count, sentences, per_paragraph))
    ]


def measure(batch: list, flush: int, cfg: TemplateConfig) -> dict[str, float]:
    """Bytes per article of the memories built, replayed, and in state (see the module doc)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    memories: dict[str, TemplateMemory] = {}
    bags: dict[str, list[bytes]] = {}
    for start in range(0, len(batch), flush):
        due = batch[start : start + flush]
        for article in due:
            learn_and_strip(article, memories.setdefault(article.source, TemplateMemory()), cfg)
        for source in {article.source for article in due}:
            memory = memories[source]
            memory.forget_before(due[-1].fetched_at - cfg.window_ms)
            bags.setdefault(source, []).extend(memory.take_changes())
    held = sum(sys.getsizeof(rows) + sum(map(sys.getsizeof, rows)) for rows in bags.values())
    built = tracemalloc.get_traced_memory()[0] - base - held
    appended = sum(len(row) for rows in bags.values() for row in rows)
    live = sum(len(row) for memory in memories.values() for row in memory.records())
    cutoffs = {source: memory.forgot_before_ms for source, memory in memories.items()}
    del memories
    base = tracemalloc.get_traced_memory()[0]
    replayed = {s: TemplateMemory.from_records(rows, cutoffs[s]) for s, rows in bags.items()}
    rebuilt = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    lines = sum(len(memory.lines) for memory in replayed.values())
    count = len(batch)
    return {
        "lines": lines / count,
        "built": built / count,
        "replayed": rebuilt / count,
        "live records": live / count,
        "appended": appended / count,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=6000, help="per shape (6000)")
    parser.add_argument("--flush-articles", type=int, default=6, help="decided per flush (6)")
    parser.add_argument(
        "--shapes", nargs="+", default=["10/10", "16/2"],
        help="SENTENCES/PARAGRAPH_SENTENCES per shape (10/10: 1 paragraph; 16/2: 8 paragraphs)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    cfg = TemplateConfig()
    print("| shape | lines per article | built | replayed | live records | appended |")
    print("|---|---|---|---|---|---|")
    for shape in args.shapes:
        sentences, per_paragraph = (int(part) for part in shape.split("/"))
        row = measure(articles(args.articles, sentences, per_paragraph), args.flush_articles, cfg)
        cells = " | ".join(f"{value:,.0f}" for value in row.values())
        print(f"| {sentences} sentences, {per_paragraph} per paragraph | {row['lines']:.1f} | "
              f"{cells.split(' | ', 1)[1]} |")  # fmt: skip


if __name__ == "__main__":
    main()
