"""The NER pool is one per SDK worker process: the job-start warm-up and every ExtractEntitiesFn
get the same, already started pool."""

from __future__ import annotations

from transforms.steps import enrich
from transforms.steps.enrich import ExtractEntitiesFn, LoadNerModelFn, shared_pool
from transforms.text.ner import DEFAULT_MODEL


def test_the_warm_up_and_the_ner_step_share_one_started_pool() -> None:
    try:
        assert list(LoadNerModelFn(DEFAULT_MODEL, 2).process(b"")) == []
        warmed = enrich._pools[(DEFAULT_MODEL, 2)]
        step = ExtractEntitiesFn(DEFAULT_MODEL, 4, 2)
        step.setup()
        assert shared_pool(DEFAULT_MODEL, 2) is warmed
        assert step._annotate.__self__ is warmed
        assert len(warmed._executor._processes) == 2
    finally:
        enrich._pools.pop((DEFAULT_MODEL, 2)).close()


def test_one_process_means_no_pool() -> None:
    assert list(LoadNerModelFn(DEFAULT_MODEL, 1).process(b"")) == []
    assert (DEFAULT_MODEL, 1) not in enrich._pools
