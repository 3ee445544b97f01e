"""A clean body as offsets into its raw body: found only when rebuilt exactly."""

import pytest

from transforms.text.body_ranges import locate, rebuild

RAW = "LONDON (Reuters) - Storm hits.\n\nPower is out.\n\n\nShare this article"


@pytest.mark.parametrize(
    ("body", "ranges"),
    [
        ("Storm hits.\n\nPower is out.", (19, 30, 32, 45)),
        ("Power is out.", (32, 45)),
        ("LONDON (Reuters) - Storm hits.", (0, 30)),
        # Paragraphs must appear in order and verbatim.
        ("Power is out.\n\nStorm hits.", None),
        ("Storm hits.\n\nPower is  out.", None),
        ("", None),
    ],
)
def test_locate_finds_each_paragraph_in_order_or_nothing(body, ranges):
    assert locate(body, RAW) == ranges
    if ranges is not None:
        assert rebuild(ranges, RAW) == body


def test_a_paragraph_repeated_in_the_raw_body_takes_the_next_occurrence():
    raw = "A.\n\nB.\n\nA."
    ranges = locate("A.\n\nA.", raw)
    assert ranges == (0, 2, 8, 10) and rebuild(ranges, raw) == "A.\n\nA."
