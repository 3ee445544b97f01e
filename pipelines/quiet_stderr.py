"""Keep the tracebacks Beam's SDK worker prints off the operator's terminal by default.

A failed bundle's worker prints its whole traceback to ``sys.stderr`` itself (``sdk_worker``'s
``_execute``), once per attempt, besides logging it; with the LOOPBACK environment that worker
runs in the ``newsflow`` process. The command already ends with one line naming the error
(``cli.failure_line``), so by default those prints are dropped; ``-v`` shows them again.
"""

from __future__ import annotations

import io
import sys
from typing import TextIO

TRACEBACK = "Traceback (most recent call last):"


class WithoutTracebacks(io.TextIOBase):
    """A text stream that drops writes holding a whole traceback (and the newline ``print`` adds
    after one); everything else, an uncaught exception's line-by-line traceback included, passes."""

    def __init__(self, wrapped: TextIO) -> None:
        super().__init__()
        self.wrapped = wrapped
        self._drop_newline = False

    def write(self, text: str) -> int:
        dropped = text.startswith(TRACEBACK) and text.count("\n") > 1
        if dropped or (self._drop_newline and text == "\n"):
            self._drop_newline = dropped
            return len(text)
        self._drop_newline = False
        return self.wrapped.write(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()


def show_worker_tracebacks(shown: bool) -> None:
    """Wrap (or unwrap) ``sys.stderr`` so whole-traceback prints are dropped unless ``shown``."""
    current = sys.stderr
    if isinstance(current, WithoutTracebacks):
        current = current.wrapped
    sys.stderr = current if shown else WithoutTracebacks(current)
