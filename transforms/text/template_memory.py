"""What one source has learned about its lines, packed small, and its records in keyed state.

``templates.learn_and_strip`` asks one question of a line: on how many distinct pages of its
source was it seen, each sighting within the window of the one before? Pages are only ever
compared with each other, so a page is remembered as an 8-byte hash of its URL (``page_id``; two
of a source's pages collide with odds of 2**-64), a line by the 8 raw bytes of its key, and what
is known of a line as one packed ``bytes`` value: the last sighting in epoch millis (8 bytes,
little-endian, signed), then the distinct pages' ids, up to ``min_pages``. Most lines (a story's
own first and last lines) are seen once, on the page that published them: every such line of a
page shares that page's one value object, so a remembered line costs its key and a dict slot.

The memory is kept in Beam state as line records, one per line whose value changed, appended at
every flush (``take_changes``); a later record of a line replaces an earlier one, and lines not
seen since the cutoff the memory last forgot before are dropped on replay (``from_records``), so
replaying the records gives the memory back. A line record is ``LINE_FORMAT``, the key, then the
packed value: 25 bytes for a line seen once. Format 1 of the keyed state (the whole memory as one
value, keys as hex, pages as URLs) is read by ``from_legacy``.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

LINE_FORMAT = 1
KEY_BYTES = 8
_LAST = struct.Struct("<q")
_HEADER = 1 + KEY_BYTES + _LAST.size


def page_id(page: str) -> bytes:
    """A page's identity as the memory keeps it: 8 bytes of BLAKE2b of its URL (else id)."""
    return hashlib.blake2b(page.encode("utf-8"), digest_size=KEY_BYTES).digest()


def pack(last_ms: int, pages: tuple[bytes, ...]) -> bytes:
    """A line's packed value: its last sighting, then its distinct pages."""
    return _LAST.pack(last_ms) + b"".join(pages)


def unpack(value: bytes) -> tuple[int, tuple[bytes, ...]]:
    """``(last sighting ms, distinct pages)`` of a packed value."""
    pages = tuple(value[at : at + KEY_BYTES] for at in range(_LAST.size, len(value), KEY_BYTES))
    return last_seen(value), pages


def last_seen(value: bytes) -> int:
    return _LAST.unpack_from(value)[0]


def page_count(value: bytes) -> int:
    return (len(value) - _LAST.size) // KEY_BYTES


@dataclass
class TemplateMemory:
    """One source's learned lines: line key (8 bytes) -> packed value (``pack``). ``changed``:
    the keys whose value changed since the last ``take_changes``; ``forgot_before_ms``: the
    latest cutoff ``forget_before`` applied (replay applies it again)."""

    lines: dict[bytes, bytes] = field(default_factory=dict)
    changed: set[bytes] = field(default_factory=set, compare=False)
    forgot_before_ms: int | None = None

    def observe(
        self, page: str, keys: Iterable[bytes], at_ms: int, min_pages: int, window_ms: int
    ) -> None:
        """Count ``page`` for each line key; a line not seen for more than ``window_ms`` starts
        its count again."""
        pid = page_id(page)
        fresh = pack(at_ms, (pid,))
        for key in keys:
            seen = self.lines.get(key)
            value = fresh if seen is None else _seen_again(seen, pid, at_ms, min_pages, window_ms)
            if value != seen:
                self.lines[key] = fresh if value == fresh else value
                self.changed.add(key)

    def forget_before(self, cutoff_ms: int) -> None:
        """Drop lines last seen before ``cutoff_ms`` (or an earlier call's later cutoff)."""
        if self.forgot_before_ms is not None:
            cutoff_ms = max(cutoff_ms, self.forgot_before_ms)
        self.forgot_before_ms = cutoff_ms
        stale = [key for key, value in self.lines.items() if last_seen(value) < cutoff_ms]
        for key in stale:
            del self.lines[key]
            self.changed.discard(key)

    def pages(self, key: bytes | None) -> int:
        """On how many distinct pages the line was seen (0: unknown line)."""
        value = self.lines.get(key) if key is not None else None
        return 0 if value is None else page_count(value)

    def take_changes(self) -> list[bytes]:
        """The line records of every line changed since the last call (in key order)."""
        records = [encode_line(key, self.lines[key]) for key in sorted(self.changed)]
        self.changed = set()
        return records

    def records(self) -> Iterator[bytes]:
        """Every live line as a record: the whole memory, for a rewrite of its state."""
        return (encode_line(key, value) for key, value in self.lines.items())

    @classmethod
    def from_records(cls, rows: Iterable[bytes], forgot_before_ms: int | None) -> TemplateMemory:
        """The memory the records were taken from (later records replace earlier ones), forgotten
        before ``forgot_before_ms`` as it was; values equal across lines share one object."""
        lines: dict[bytes, bytes] = {}
        shared: dict[bytes, bytes] = {}
        for row in rows:
            key, value = decode_line(row)
            lines[key] = shared.setdefault(value, value)
        memory = cls(lines)
        if forgot_before_ms is not None:
            memory.forget_before(forgot_before_ms)
        return memory

    @classmethod
    def from_legacy(cls, lines: Iterable[tuple[str, Iterable[str], int]]) -> TemplateMemory:
        """Format 1's ``(hex key, page URLs, last sighting)`` lines, every one marked changed (the
        step writes them all as records). A key that is not 16 hex digits was never written by
        ``line_key`` and can match no line: it is left out, as is a line with no page."""
        memory = cls()
        for hex_key, urls, last in lines:
            pages = tuple(dict.fromkeys(page_id(url) for url in urls))
            key = _hex_key(hex_key)
            if key is not None and pages:
                memory.lines[key] = pack(last, pages)
        memory.changed = set(memory.lines)
        return memory


def _seen_again(seen: bytes, pid: bytes, at_ms: int, min_pages: int, window_ms: int) -> bytes:
    last, pages = unpack(seen)
    if at_ms - last > window_ms:
        pages = ()
    if pid not in pages and len(pages) < min_pages:
        pages = (*pages, pid)
    return pack(max(last, at_ms), pages)


def _hex_key(text: str) -> bytes | None:
    if len(text) != 2 * KEY_BYTES:
        return None
    try:
        return bytes.fromhex(text)
    except ValueError:
        return None


def encode_line(key: bytes, value: bytes) -> bytes:
    """A line record: the format byte, the key, the packed value."""
    return bytes((LINE_FORMAT,)) + key + value


def decode_line(data: bytes) -> tuple[bytes, bytes]:
    """``(key, packed value)`` of a line record; ValueError on bytes it did not write."""
    if data and data[0] > LINE_FORMAT:
        raise ValueError(
            f"template line record of format {data[0]}, written by a newer newsflow; this one "
            f"reads format {LINE_FORMAT}: restore it with that version (or start without this "
            "state)"
        )
    pages_bytes = len(data) - _HEADER
    if data[:1] != bytes((LINE_FORMAT,)) or pages_bytes < 0 or pages_bytes % KEY_BYTES:
        raise ValueError(f"not a template line record ({len(data)} bytes, format {data[:1]!r})")
    return data[1 : 1 + KEY_BYTES], data[1 + KEY_BYTES :]


@dataclass(frozen=True)
class TemplateVersion:
    """A source's template state version, carried with its pending articles: ``bag``, the
    records bag's ``(random token, records in the bag)`` (``VersionedBag``), and the cutoff the
    memory last forgot before (None: never), which a replay of the records applies again."""

    bag: tuple[int, int]
    forgot_before_ms: int | None
