"""Dedup state: bytes per remembered article, state requests per article, changelog restore time.

Articles are distinct, built from real text fetched at run time (the Lee corpus, through PyPI):
each is a random pick of ``SENTENCES`` of the corpus's ~3,700 sentences. Fingerprinting 100,000
bodies would take an hour on a loaded 2-core machine, so the index part computes each sentence's
MinHash once and takes an article's signature as the element-wise minimum over its sentences,
which is exactly MinHash of the union of their shingle sets (shingles across a sentence boundary
are left out); band keys come from ``fingerprint.lsh_bands`` as in the pipeline.

1. memory: ``--entries`` (default 100,000) entries decoded into a ``DedupIndex`` (what a restore
   or a rebuild from Beam state does), measured with ``tracemalloc`` (Python objects and numpy
   arrays alike): bytes per entry; then the time to judge new articles, half of them copies.
   The synthetic articles share sentences heavily (8 of ~3,700), so most fresh picks have
   thousands of band-key candidates and are near-duplicates of some entry: the lookup time is a
   worst case of many shared stock sentences, not a typical one.
2. step: ``--step-articles`` (default 1,000) articles through ``DeduplicateArticles`` on Prism in
   batch (the real fingerprint step, every 10th article a copy): state requests per article,
   counted where the SDK sends them (``pipelines.state_channel``; the step's own model, counter
   ``newsflow.dedup/state_requests``, printed beside it) and the duplicates found.
3. restore (with ``--bootstrap-servers``): the entries written to a fresh changelog topic, then
   ``changelog.restore`` timed, reported per 100,000 entries.

No assertion: the figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import random
import re
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import TimestampedValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpora import lee_articles

from pipelines.runners import use_local_runner
from pipelines.state_channel import counting_state_requests
from transforms.io.changelog import ChangelogConfig, ChangelogWriter, ensure_topic, restore
from transforms.io.kafka_clients import KafkaConnection
from transforms.steps.dedup import NAMESPACE, DedupConfig, DeduplicateArticles
from transforms.steps.shared import ARTICLES, DUPLICATES
from transforms.text.dedup_index import DedupIndex, IndexEntry, decide, decode_entry, encode_entry
from transforms.text.fingerprint import Fingerprint, exact_key, lsh_bands, minhash, shingles
from transforms.text.minhash_config import MinHashConfig
from transforms.text.models import Article, SourceRef

SENTENCES = 8
SLOT = np.dtype("<u4")


def corpus_sentences() -> list[str]:
    """Distinct sentences of at least 8 words from the Lee articles."""
    found = {
        s.strip()
        for text in lee_articles()
        for s in re.split(r"(?<=[.!?])\s+", text)
        if len(s.split()) >= 8
    }
    return sorted(found)


@functools.cache
def sentence_signatures(cfg: MinHashConfig) -> tuple[np.ndarray, list[int]]:
    """Each corpus sentence's MinHash signature and shingle count."""
    sets = [shingles(s, cfg.shingle_size) for s in corpus_sentences()]
    return np.stack([minhash(s, cfg) for s in sets]), [len(s) for s in sets]


def synthetic_fingerprints(count: int, cfg: MinHashConfig, seed: int):
    """``count`` distinct (content key, Fingerprint) pairs from random sentence picks."""
    sigs, sizes = sentence_signatures(cfg)
    rng = np.random.default_rng(seed)
    seen: set[tuple[int, ...]] = set()
    while len(seen) < count:
        pick = tuple(sorted(rng.choice(len(sizes), SENTENCES, replace=False).tolist()))
        if pick in seen:
            continue
        seen.add(pick)
        signature = sigs[list(pick)].min(axis=0).astype(SLOT).tobytes()
        fp = Fingerprint(signature, lsh_bands(signature, cfg), sum(sizes[i] for i in pick))
        yield exact_key(" ".join(map(str, pick))), fp


def measure_memory(blobs: list[bytes], cfg: MinHashConfig) -> tuple[float, DedupIndex, float]:
    """Bytes per entry of an index decoded from ``blobs``, and seconds taken."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    index = DedupIndex(cfg, (decode_entry(blob, cfg) for blob in blobs))
    elapsed = time.perf_counter() - started
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(blobs), index, elapsed


def measure_lookups(index: DedupIndex, cfg: MinHashConfig, count: int, seed: int) -> dict:
    """Judge ``count`` new articles (half copies of remembered entries): time per article."""
    entries = list(index.entries())
    rng = random.Random(seed)
    queries = [(e.content_hash + "-copy", e.fingerprint) for e in rng.sample(entries, count // 2)]
    queries += list(synthetic_fingerprints(count // 2, cfg, seed + 1))
    started = time.perf_counter()
    kinds = {"kept": 0, "exact": 0, "near": 0}
    for n, (key, fp) in enumerate(queries):
        probe = Article(id=f"q{n}", raw_body="", fetched_at=0, ref=SourceRef(), content_hash=key)
        kinds[decide(probe, fp, index, 0).kind] += 1
    return {"us_per_article": (time.perf_counter() - started) / len(queries) * 1e6, **kinds}


def step_articles(count: int, seed: int) -> list[Article]:
    """Real-sentence articles; every 10th repeats an earlier one with one sentence added."""
    sentences = corpus_sentences()
    rng = random.Random(seed)
    bodies: list[str] = []
    for n in range(count):
        if n % 10 == 9:
            bodies.append(f"{bodies[n - 5]} {rng.choice(sentences)}")
        else:
            bodies.append(" ".join(rng.sample(sentences, SENTENCES)))
    return [
        Article(
            id=f"a{n}",
            raw_body=body,
            body=body,
            fetched_at=n,
            ref=SourceRef(file="bench", line=n + 1),
            content_hash=exact_key(body),
        )
        for n, body in enumerate(bodies)
    ]


def measure_step(count: int, seed: int) -> dict:
    """Run DeduplicateArticles on Prism in batch; state requests per article."""
    options = PipelineOptions([])
    use_local_runner(options, "DirectRunner")
    pipeline = beam.Pipeline(options=options)
    out = (
        pipeline
        | beam.Create(step_articles(count, seed))
        | beam.Map(lambda a: TimestampedValue(a, 0))
        | DeduplicateArticles(DedupConfig())
    )
    _ = out[ARTICLES] | "Kept" >> beam.Map(lambda a: a)
    _ = out[DUPLICATES] | "Dups" >> beam.Map(lambda a: a)
    started = time.perf_counter()
    with counting_state_requests() as channel:
        result = pipeline.run()
        result.wait_until_finish()
    elapsed = time.perf_counter() - started
    counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]
    totals: dict[str, int] = {}
    for counter in counters:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    sent = channel.of("DeduplicateArticles")
    return {
        "seconds": elapsed,
        "per_article": sent / count,
        "sent_at_state_channel": sent,
        **totals,
    }


def measure_restore(blobs: list[bytes], servers: str, cfg: MinHashConfig) -> dict:
    """Write the entries to a fresh changelog topic, then time a full restore."""
    config = ChangelogConfig(
        KafkaConnection.of(servers), f"bench-{uuid.uuid4().hex[:8]}-dedup-changelog", 10**12
    )
    ensure_topic(config)
    writer = ChangelogWriter(config)
    started = time.perf_counter()
    for start in range(0, len(blobs), 5000):
        writer.write(decode_entry(blob, cfg) for blob in blobs[start : start + 5000])
    written = time.perf_counter() - started
    writer.close()
    started = time.perf_counter()
    restored = sum(1 for _ in restore(config, 0, cfg))
    elapsed = time.perf_counter() - started
    return {
        "topic": config.topic,
        "restored": restored,
        "write_seconds": written,
        "restore_seconds": elapsed,
        "restore_seconds_per_100k": elapsed / restored * 100_000,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000, help="index entries (memory)")
    parser.add_argument("--lookups", type=int, default=2_000, help="articles judged (timing)")
    parser.add_argument("--step-articles", type=int, default=1_000, help="articles on Prism")
    parser.add_argument("--bootstrap-servers", help="Kafka HOST:PORT: also time a restore")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    cfg = MinHashConfig()

    started = time.perf_counter()
    blobs = [
        encode_entry(IndexEntry(key, f"article-{n:08d}", fp, n))
        for n, (key, fp) in enumerate(synthetic_fingerprints(args.entries, cfg, args.seed))
    ]
    print(f"{len(blobs)} distinct fingerprints in {time.perf_counter() - started:.1f} s")
    per_entry, index, built = measure_memory(blobs, cfg)
    print(
        f"memory: {per_entry:.0f} bytes per remembered article ({len(index)} entries, "
        f"index built in {built:.1f} s)"
    )
    if args.lookups:
        print(f"lookups: {measure_lookups(index, cfg, args.lookups, args.seed)}")
    del index
    if args.step_articles:
        print(f"step (Prism, batch): {measure_step(args.step_articles, args.seed)}")
    if args.bootstrap_servers:
        print(f"restore: {measure_restore(blobs, args.bootstrap_servers, cfg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
