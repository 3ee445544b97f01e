"""A clean body written as offsets into the raw body it was cut from, for keyed state.

An article waiting in a buffering step's pending bag carries both its raw body (templates'
re-clean and the replayable payload of a later dead letter need it) and its clean body, which for
plain text is mostly the raw body's own paragraphs: twice the same text, in the runner's state
store, for every article of a burst. ``locate`` finds each paragraph of the body in the raw body,
in order, and returns their ``[start, end)`` offsets; ``rebuild`` joins them back. Only an exact
rebuild is accepted, so a state coder can store the offsets and fall back to the text otherwise
(an HTML page's extracted text rarely appears verbatim in its markup).
"""

from __future__ import annotations

PARAGRAPH_SEPARATOR = "\n\n"


def locate(body: str, raw: str) -> tuple[int, ...] | None:
    """Flattened ``(start, end)`` offsets of ``body``'s paragraphs in ``raw``, each found after
    the previous one, or None when ``body`` is empty or not exactly rebuilt from them."""
    if not body:
        return None
    offsets: list[int] = []
    cursor = 0
    for paragraph in body.split(PARAGRAPH_SEPARATOR):
        start = raw.find(paragraph, cursor)
        if start < 0:
            return None
        cursor = start + len(paragraph)
        offsets += (start, cursor)
    ranges = tuple(offsets)
    return ranges if rebuild(ranges, raw) == body else None


def rebuild(ranges: tuple[int, ...] | list[int], raw: str) -> str:
    """The body ``locate`` found: the ranges of ``raw`` joined by a blank line."""
    pairs = zip(ranges[::2], ranges[1::2], strict=True)
    return PARAGRAPH_SEPARATOR.join(raw[start:end] for start, end in pairs)
