"""Imported only by the NER pool's fork server, as multiprocessing's preload (never elsewhere):
loads the model named in ``$NEWSFLOW_NER_PRELOAD_MODEL`` once, so every pool process forked from
the server starts with it (copy-on-write) instead of loading its own."""

from __future__ import annotations

import os

from transforms.text.ner_pool import PRELOAD_MODEL_ENV, preload

preload(os.environ.get(PRELOAD_MODEL_ENV))
