"""drop_link_runs(): navigation link runs leave the main text; prose and lone links stay."""

from __future__ import annotations

import pytest
from lxml.html import fromstring

from transforms.text.html_links import drop_link_runs, link_texts

PROSE = "The council approved the new budget on Tuesday after a long debate."
MORE = "Opposition members said the cuts would fall hardest on the north."
HEADLINE = "Council closes two more branches as library cuts bite across the north"
LINKS = frozenset({"Home", "Sign in", "Weather", "Corrections", HEADLINE, "Read the report"})


def test_link_texts_are_normalized() -> None:
    html = '<a href="/">Home</a><a href="/x">Sign\n   in</a><a href="/y">x</a>'
    tree = fromstring(f"<html><body>{html}</body></html>")
    assert link_texts(tree) == frozenset({"Home", "Sign in"})


@pytest.mark.parametrize(
    ("paragraphs", "kept"),
    [
        pytest.param(
            [PROSE, MORE, "Site links", "- Home", "- Weather", "Corrections"],
            [PROSE, MORE],
            id="trailing-navigation-and-its-heading",
        ),
        pytest.param(["Home", "Sign in", PROSE, MORE], [PROSE, MORE], id="leading-navigation"),
        pytest.param(
            [PROSE, "Read the report", MORE],
            [PROSE, "Read the report", MORE],
            id="one-link-line-stays",
        ),
        pytest.param(
            [PROSE, "Related", f"- {HEADLINE}", f"- {HEADLINE}"],
            [PROSE, "Related", f"- {HEADLINE}", f"- {HEADLINE}"],
            id="headline-links-stay",
        ),
        pytest.param(["Home", "Weather"], ["Home", "Weather"], id="never-everything"),
    ],
)
def test_drop_link_runs(paragraphs: list[str], kept: list[str]) -> None:
    assert drop_link_runs(paragraphs, LINKS) == kept
