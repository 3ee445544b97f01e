"""comment_containers(): reader-comment blocks trafilatura misses are found, articles are not."""

from __future__ import annotations

import pytest
from lxml.html import fromstring

from transforms.text.html_comments import comment_containers, is_comment_name

ARTICLE = (
    "<p>The council approved the new budget on Tuesday after a long debate about library "
    "funding, which had been cut in each of the previous five years.</p>"
    "<p>Opposition members said the cuts would fall hardest on families in the north.</p>"
)


def page(*blocks: str) -> str:
    return f"<html><body><article><h1>Budget</h1>{ARTICLE}</article>{''.join(blocks)}</body></html>"


@pytest.mark.parametrize(
    ("value", "repeated", "expected"),
    [
        ("sf_comment_list", False, True),
        ("c-comments js-fb-comments", False, True),
        ("serendipity_commentlist", False, True),
        ("commentList", False, True),
        ("meta-item comments", False, True),
        ("the-comment", True, True),
        ("the-comment", False, False),
        ("ArticleHeaderComment_metaData", True, False),
        ("PageArticle_commentLead", False, False),
        ("tone-comment", False, False),
        ("commentary", True, False),
        ("post has-comments", False, False),
        ("summary-item-has-comments-enabled", False, False),
        ("comments-open", False, False),
        ("", False, False),
    ],
)
def test_is_comment_name(value: str, repeated: bool, expected: bool) -> None:
    assert is_comment_name(value, repeated) is expected


def test_prefixed_comment_thread_is_found() -> None:
    html = page(
        '<div id="sf_comment_list"><div class="sf_comment"><p>Alcalino, 28 minutes ago</p>'
        '<div class="sf_comment_text"><p>What a disgrace this budget is.</p></div></div></div>'
    )
    found = comment_containers(fromstring(html))
    assert [element.get("id") for element in found] == ["sf_comment_list"]


def test_repeated_single_comments_are_found() -> None:
    html = page(
        '<div class="the-comment"><p>Ben: I disagree with the council.</p></div>'
        '<div class="the-comment"><p>Ann: So do I, strongly.</p></div>'
    )
    assert [e.get("class") for e in comment_containers(fromstring(html))] == ["the-comment"] * 2


@pytest.mark.parametrize(
    "html",
    [
        # an opinion piece ("Comment" section) is the article, not reader comments
        page('<div class="ArticleHeaderComment_publishDate">Tuesday, 29 January 2019</div>'),
        # trafilatura recognizes this thread itself and returns it as comments
        page('<div id="comments"><div class="comment-list"><p>Nice.</p></div></div>'),
        # a wrapper holding the article carries a comment-ish class
        f'<html><body><div class="story comments-area">{ARTICLE}</div></body></html>',
    ],
)
def test_articles_and_known_threads_are_kept(html: str) -> None:
    assert comment_containers(fromstring(html)) == []
