"""A namespace URL is never a publication date (htmldate's deutschland.de page got 2000-01-01
from ``http://www.w3.org/2000/01/rdf-schema#``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from lxml.html import fromstring

from transforms.text.extract import extract_html
from transforms.text.html_namespaces import drop_namespace_declarations

PARAGRAPH = (
    "<p>The council met on a wet evening to discuss the new bridge, and the residents who came "
    "along asked many questions about the cost, the traffic and the years of building work.</p>"
)
RDFA = (
    '<html lang="en" xmlns:og="http://ogp.me/ns#" prefix="rdfs: '
    'http://www.w3.org/2000/01/rdf-schema# xsd: http://www.w3.org/2001/XMLSchema#">'
)


def page(head: str = "") -> str:
    body = f"<body><article>{PARAGRAPH * 4}</article></body>"
    return f"{RDFA}<head><title>Bridge</title>{head}</head>{body}</html>"


def day(millis: int | None) -> str | None:
    return datetime.fromtimestamp(millis / 1000, UTC).date().isoformat() if millis else None


def test_a_page_dated_only_by_its_namespaces_has_no_date():
    assert extract_html(page(), "https://example.org/").published_at is None


@pytest.mark.parametrize("when", ["2017-08-01", "2021-03-09"])
def test_a_real_date_is_still_found(when):
    meta = f'<meta property="article:published_time" content="{when}T10:00:00+00:00">'
    assert day(extract_html(page(meta), "https://example.org/a").published_at) == when


def test_only_declarations_are_dropped():
    tree = fromstring(
        f'{RDFA}<body><div vocab="http://schema.org/" id="x" lang="en">t</div></body></html>'
    )
    drop_namespace_declarations(tree)
    assert dict(tree.attrib) == {"lang": "en"}
    assert dict(tree.find(".//div").attrib) == {"id": "x", "lang": "en"}
