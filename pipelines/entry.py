"""The ``newsflow`` console script's entry point, which imports the CLI only when called.

multiprocessing re-runs the parent's main script in every process it starts, the NER pool's
workers included, and the console script's only import is this module: with ``pipelines.cli``
as the entry, each worker imported Beam, gRPC, trafilatura and the whole pipeline for nothing
(1.8 s of CPU per 2-process pool start, measured; see docs/performance.md).
"""

from __future__ import annotations


def console() -> int:
    """``pipelines.cli.console``: structured logs on stderr, then the command."""
    from pipelines.cli import console as run

    return run()
