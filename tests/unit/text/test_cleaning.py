"""Headline feed events (body = title) are articles; junk with a title is still rejected."""

import pytest

from schemas.errors import RejectedArticleError
from transforms.text.cleaning import clean_article
from transforms.text.models import Article, SourceRef

REF = SourceRef(file="feed.jsonl", line=1)


def event(body: str, title: str | None, content_type: str = "text/plain") -> Article:
    return Article(
        id="h1", raw_body=body, fetched_at=0, ref=REF, content_type=content_type, title_hint=title
    )


@pytest.mark.parametrize(
    "headline",
    [
        "Fed official says weak data caused by weather, should not slow taper",
        # Read as a credit line ("Video: Reuters") were it not the title.
        "VIDEO: Apple's iOS 7.1 lands with CarPlay, improved fingerprint scanner",
        # The filler detector calls part of this line Latin; the headline stays whole.
        "L'Wren Scott post mortem confirms suicide",
        "NEW YORK (AP) — Keith Richards is writing a children's book. He really is.",
        "  Guinea seeks to stem spread of deadly Ebola virus in capital \n",
    ],
)
def test_a_headline_event_keeps_its_headline_as_body(headline):
    article = clean_article(event(headline, headline.strip()))
    assert article.body == headline.strip()
    assert article.title == headline.strip()
    assert article.boilerplate == ()


@pytest.mark.parametrize(
    "body, title, code",
    [
        # A date is not a headline.
        ("March 11, 2014, 2:02 am", "March 11, 2014, 2:02 am", "no_text"),
        # All filler, title or not.
        (
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor",
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor",
            "all_filler",
        ),
        # Not a headline event: the title again, then only a share prompt.
        ("Council approves budget\n\nShare this article", "Council approves budget", "no_text"),
        # Not a headline event: chrome only, the title something else.
        ("Share this article", "Council approves budget", "no_text"),
    ],
)
def test_junk_with_a_title_is_still_rejected(body, title, code):
    with pytest.raises(RejectedArticleError) as caught:
        clean_article(event(body, title))
    assert caught.value.code == code


def test_a_full_article_still_drops_the_repeated_title():
    body = "Council approves budget\n\nThe council approved the budget on Tuesday after a debate."
    article = clean_article(event(body, "Council approves budget"))
    assert article.body == "The council approved the budget on Tuesday after a debate."
