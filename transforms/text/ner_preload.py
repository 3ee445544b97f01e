"""Imported only by the NER pool's fork server, as multiprocessing's preload (never elsewhere):
loads the model named in ``$NEWSFLOW_NER_PRELOAD_MODEL`` once, so every pool process forked from
the server starts with it (copy-on-write) instead of loading its own.

Then the server's objects (spaCy, the model) are frozen out of the garbage collector, as Python's
``gc.freeze`` documents for a process that forks workers: a worker's full collections no longer
walk the model's objects again (about 40 ms each, several per 1,000 articles) nor write to their
headers, which would copy the pages they share with the server."""

from __future__ import annotations

import gc
import os

from transforms.text.ner_pool import PRELOAD_MODEL_ENV, preload

preload(os.environ.get(PRELOAD_MODEL_ENV))
gc.collect()
gc.freeze()
