"""The NER pool is one per SDK worker process: the job-start warm-up and every ExtractEntitiesFn
get the same, already started pool; a pool that breaks for good fails the step, it never turns
articles into dead letters."""

from __future__ import annotations

import importlib
import os
import shutil
import signal
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from schemas.errors import InfrastructureError, NerPoolError
from transforms.steps import enrich
from transforms.steps.enrich import ExtractEntitiesFn, LoadNerModelFn, shared_pool
from transforms.text.models import Article, SourceRef
from transforms.text.ner import DEFAULT_MODEL

GOOD = "Amber Rudd spoke to the BBC in London on Sunday."


def test_the_warm_up_and_the_ner_step_share_one_started_pool() -> None:
    try:
        assert list(LoadNerModelFn(DEFAULT_MODEL, 2).process(b"")) == []
        warmed = enrich._pools[(DEFAULT_MODEL, 2)]
        step = ExtractEntitiesFn(DEFAULT_MODEL, 4, 2)
        step.setup()
        assert shared_pool(DEFAULT_MODEL, 2) is warmed
        assert step._pool is warmed
        assert len(warmed._executor._processes) == 2
    finally:
        enrich._pools.pop((DEFAULT_MODEL, 2)).close()


def test_one_process_means_no_pool() -> None:
    assert list(LoadNerModelFn(DEFAULT_MODEL, 1).process(b"")) == []
    assert (DEFAULT_MODEL, 1) not in enrich._pools


def test_a_pool_that_keeps_breaking_fails_the_step_and_dead_letters_nothing(tmp_path) -> None:
    """The model's files vanish (a volume unmounted) and the workers die: every restart fails to
    load the model, so the batch raises ``NerPoolError`` (an infrastructure error: the runner
    retries the bundle or the job ends with its line) and not one article is dead-lettered."""
    model = copy_of_the_model(tmp_path)
    step = ExtractEntitiesFn(str(model), 4, 2)
    batch = [article(0), article(1)]
    try:
        step.setup()
        assert [type(out) for out in step.annotated(batch)] == [Article, Article]
        shutil.rmtree(model)
        workers = list(enrich._pools[(str(model), 2)]._executor._processes)
        assert workers, "the pool has worker processes to kill"
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        outputs = []
        with pytest.raises(NerPoolError, match="broke 3 times in a row") as raised:
            outputs.extend(step.annotated(batch))
        assert outputs == [], "no dead letter, no article: the bundle fails whole"
        assert isinstance(raised.value, InfrastructureError)
        assert isinstance(raised.value.__cause__, BrokenProcessPool)
    finally:
        enrich._pools.pop((str(model), 2)).close()


def copy_of_the_model(folder: Path) -> Path:
    """The installed model's data directory, copied, so a test can delete it."""
    installed = Path(importlib.import_module(DEFAULT_MODEL).__file__).parent
    (data,) = [p for p in installed.iterdir() if (p / "config.cfg").is_file()]
    return Path(shutil.copytree(data, folder / data.name))


def article(offset: int) -> Article:
    ref = SourceRef(topic="articles.raw", partition=0, offset=offset)
    return Article(id=f"a{offset}", raw_body=GOOD, fetched_at=0, ref=ref, body=GOOD)
