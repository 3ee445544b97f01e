"""numbered_events(): file mode's inputs and the coordinates their dead letters point at;
chunk_starts(): where a file's chunks of event time start."""

from __future__ import annotations

import pytest

from transforms.io.event_files import MAX_CHUNKS, MIN_CHUNK_LINES, chunk_starts, numbered_events
from transforms.text.models import SourceRef


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([b'{"body": "a"}\n', b'{"body": "b"}\n'], [(b'{"body": "a"}', 1), (b'{"body": "b"}', 2)]),
        # blank lines are layout: no event, but they still count for the line numbers
        ([b"\n", b'{"body": "a"}\n', b"  \t\r\n", b"x\n"], [(b'{"body": "a"}', 2), (b"x", 4)]),
        ([b'{"body": "a"}\r\n'], [(b'{"body": "a"}', 1)]),
        ([b'{"body": "no newline at the end"}'], [(b'{"body": "no newline at the end"}', 1)]),
        # bytes pass unchanged, not decoded: a bad line becomes a not_utf8 dead letter later
        ([b"\xff\xfe\n"], [(b"\xff\xfe", 1)]),
        ([b"  padded  \n"], [(b"  padded  ", 1)]),
        ([], []),
    ],
)  # fmt: skip
def test_each_non_blank_line_is_one_event_with_file_and_line(lines, expected):
    events = list(numbered_events("in/events.jsonl", lines))
    assert [(e.payload, e.ref.line) for e in events] == expected
    assert all(e.ref == SourceRef(file="in/events.jsonl", line=e.ref.line) for e in events)
    assert all(e.timestamp_ms is None and e.key is None for e in events)


def short_lines(count: int) -> list[bytes]:
    return [b'{"body": "%d"}\n' % i for i in range(count)]


def test_chunks_start_every_min_chunk_lines_lines_at_their_byte_offsets():
    lines = short_lines(200)
    starts, numbers = chunk_starts(lines)
    assert numbers == (1, 65, 129, 193)
    assert starts == tuple(sum(map(len, lines[: n - 1])) for n in numbers)


def test_a_long_file_has_at_most_max_chunks_chunks_of_whole_multiples():
    starts, numbers = chunk_starts(short_lines(MIN_CHUNK_LINES * MAX_CHUNKS * 3))
    assert len(starts) == len(numbers) <= MAX_CHUNKS
    assert numbers[:2] == (1, 3 * MIN_CHUNK_LINES + 1)


@pytest.mark.parametrize(
    "odd_line",
    [
        b'{"body": "late", "fetched_at": "2017-01-01T00:00:00Z"}\n',
        b'{"body": "says fetched_at in its text"}\n',  # cannot tell without parsing: one chunk
        b"\xc3\x01" + bytes(8) + b"avro\n",  # single-object Avro carries fetched_at unnamed
        b"\x00\x00\x00\x00\x01avro\n",  # Confluent-framed Avro
    ],
)
def test_a_file_whose_lines_may_carry_fetched_at_is_one_chunk(odd_line: bytes):
    """Decisions go by fetched_at first: an early one late in the file must not be decided in a
    later step of event time than the lines before it."""
    assert chunk_starts([*short_lines(150), odd_line, *short_lines(150)]) == ((0,), (1,))


def test_an_empty_file_is_one_chunk():
    assert chunk_starts([]) == ((0,), (1,))
