"""What the steps share: the tags of their outputs, the keyed element, and the order in which the
keyed steps (templates, dedup) decide.

Every composite returns a dict keyed by these tags (``articles`` on, ``duplicates`` set aside,
``dead_letter`` rejected), so ``pipelines.assembly`` wires any step to the next by the same names.
"""

from __future__ import annotations

from transforms.text.models import Article

ARTICLES = "articles"
DUPLICATES = "duplicates"
DEAD_LETTER = "dead_letter"
# String keys get Beam's deterministic UTF-8 coder, as keyed state requires.
KeyedArticle = tuple[str, Article]


def arrival_order(article: Article) -> tuple[int, tuple[int, int], str]:
    """Earliest fetched first, then input position: DESIGN.md's rule for which copy is kept, and
    the order in which templates learns a source's pages."""
    return (article.fetched_at, article.ref.position, article.id)
