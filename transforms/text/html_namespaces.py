"""Namespace declarations of an HTML page: URLs, never content, yet dated-looking.

``<html prefix="rdfs: http://www.w3.org/2000/01/rdf-schema# ...">`` (RDFa) and ``xmlns:*``
attributes name vocabularies by URL, and those URLs carry the vocabulary's own dates. htmldate's
extensive search reads a date from any URL-like ``/YYYY/MM/`` in the page, so a page whose only
other date is elsewhere got 2000-01-01 from the RDF schema's namespace (deutschland.de in
htmldate's gold; ``benchmarks/quality.py`` dates). Dropping the declarations before extraction
changes nothing else: no text or metadata of the page lives in them.
"""

from __future__ import annotations

from lxml.html import HtmlElement

DECLARATIONS = frozenset({"prefix", "xmlns", "vocab"})


def drop_namespace_declarations(tree: HtmlElement) -> None:
    """Remove ``prefix``, ``vocab``, ``xmlns`` and ``xmlns:*`` attributes from every element."""
    for element in tree.iter():
        if not isinstance(element.tag, str):  # comments, processing instructions
            continue
        for name in [a for a in element.attrib if a in DECLARATIONS or a.startswith("xmlns:")]:
            del element.attrib[name]
