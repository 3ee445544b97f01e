"""numbered_events(): file mode's inputs and the coordinates their dead letters point at."""

from __future__ import annotations

import pytest

from transforms.io.event_files import numbered_events
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
