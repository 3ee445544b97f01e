"""The ``newsflow`` console script's entry point, which imports the CLI only when called.

multiprocessing re-runs the parent's main script in every process it starts, the NER pool's
workers included, and the console script's only import is this module: with ``pipelines.cli``
as the entry, each worker imported Beam, gRPC, trafilatura and the whole pipeline for nothing
(1.8 s of CPU per 2-process pool start, measured; see docs/performance.md).
"""

from __future__ import annotations

import gc


def console() -> int:
    """``pipelines.cli.console``: structured logs on stderr, then the command.

    The collector is off while the CLI is imported: imports allocate a few hundred thousand
    objects that live as long as the process, among which its full passes find nothing to free
    (three of them, measured; a job then freezes them: ``cli._started``)."""
    gc.disable()
    try:
        from pipelines.cli import console as run
    finally:
        gc.enable()
    return run()
