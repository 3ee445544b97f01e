"""Reader-comment containers of an HTML page that trafilatura does not recognize as comments.

trafilatura sets comments apart only when a container's id or class *starts* with "comment"
(``comment-list``, ``comments``, ``disqus_thread``, ...). Comment systems that prefix their
names (``sf_comment_list``, ``c-comments``, ``serendipity_commentlist``, ``the-comment``) slip
through, and their posts, author names and "2 hours ago" lines then land in the article body,
where they would be NER'd, deduplicated and taken for a byline. Here a container counts as
comments when its id or class names a comment thread (see ``is_comment_name``); such containers
are removed from the tree before main-text extraction, and nothing else is.
"""

from __future__ import annotations

import re
from collections import Counter

from lxml.html import HtmlElement

# Elements that hold blocks of text: a comment thread, one comment, a comment form or widget.
CONTAINER_TAGS = ("div", "section", "aside", "article", "ul", "ol", "li", "dl", "header", "footer")
CONTAINER_TAGS += ("details", "form")
_INVISIBLE = ("script", "style", "template", "noscript")
# A container holding more than this share of the page's text is a page or article wrapper
# that merely carries a comment-ish class ("post has-comments"); it is never removed.
MAX_PAGE_SHARE = 0.4
# Words of an id or class that name a comment thread or area: "comments", "commentlist",
# "comment_list", "comments-area". A lone singular "comment" also names an opinion piece in
# news ("ArticleHeaderComment", "tone-comment"), so it counts only on repeated items.
_LAYOUT = "list|area|box|block|wrap|wrapper|container|section|thread|form|s"
_THREAD_WORD = re.compile(rf"comments(?:{_LAYOUT})?|comment(?:{_LAYOUT})")
_LAYOUT_WORD = re.compile(_LAYOUT)
_WORD_SPLIT = re.compile(r"[^A-Za-z0-9]+")
# State flags on any element ("has-comments", "comments-enabled", "no-comments"), not names.
_FLAG_BEFORE = frozenset({"has", "no", "with", "allow", "allows"})
_FLAG_AFTER = frozenset({"enabled", "disabled", "open", "closed", "on", "off", "count"})
# trafilatura's own comment test (xpaths.REMOVE_COMMENTS_XPATH): containers it already handles.
_TRAFILATURA_ID = re.compile(r"^(?:[Cc]omment(?!ary)|comol|disqus_thread|dsq-comments)")
_TRAFILATURA_CLASS = re.compile(r"^[Cc]omment(?!ary)|(?:article|post)-comments")


def is_comment_name(value: str, repeated: bool = False) -> bool:
    """True when an id or class value names reader comments.

    Words are split on punctuation only (camelCase stays one word, so "ArticleHeaderComment"
    is not split). A thread word ("comments", "commentlist") or "comment" followed by a layout
    word ("sf_comment_list") always counts; a lone "comment" only when ``repeated`` (the same
    class on several elements: one comment of a thread). State flags ("has-comments",
    "comments-enabled") are not names: they sit on article wrappers and teaser cards.
    """
    words = ["", *(word.lower() for word in _WORD_SPLIT.split(value) if word), ""]
    for before, word, after in zip(words, words[1:], words[2:], strict=False):
        if before in _FLAG_BEFORE or after in _FLAG_AFTER:
            continue
        if _THREAD_WORD.fullmatch(word):
            return True
        if word == "comment" and (repeated or _LAYOUT_WORD.fullmatch(after)):
            return True
    return False


def comment_containers(tree: HtmlElement) -> list[HtmlElement]:
    """Outermost comment containers that trafilatura would leave in the main text.

    Kept (not returned): containers inside or around one trafilatura already sets apart as
    comments (it extracts those into the comments field itself), containers holding an ``h1``,
    and containers with more than ``MAX_PAGE_SHARE`` of the page's text.
    """
    page_chars = _text_length(tree)
    classes = Counter(element.get("class") for element in tree.iter(*CONTAINER_TAGS))
    found: list[HtmlElement] = []
    for element in tree.iter(*CONTAINER_TAGS):
        if any(element is kept or kept in element.iterancestors() for kept in found):
            continue
        if not _named_comment(element, classes) or _known_to_trafilatura(element):
            continue
        if element.find(".//h1") is not None:
            continue
        if _text_length(element) > MAX_PAGE_SHARE * page_chars:
            continue
        found.append(element)
    return found


def _named_comment(element: HtmlElement, classes: Counter[str | None]) -> bool:
    class_name = element.get("class")
    repeated = class_name is not None and classes[class_name] > 1
    return is_comment_name(element.get("id") or "") or is_comment_name(class_name or "", repeated)


def _known_to_trafilatura(element: HtmlElement) -> bool:
    """The element, an ancestor or a descendant is a container trafilatura treats as comments."""
    for node in (element, *element.iterancestors(), *element.iterdescendants()):
        if not isinstance(node.tag, str):
            continue
        if _TRAFILATURA_ID.match(node.get("id") or "") or _TRAFILATURA_CLASS.search(
            node.get("class") or ""
        ):
            return True
    return False


def _text_length(element: HtmlElement) -> int:
    """Characters of visible text (script and style content left out)."""
    total = 0
    for node in element.iter():
        if node.tag not in _INVISIBLE and isinstance(node.tag, str) and node.text:
            total += len(node.text.strip())
        if node is not element and node.tail:
            total += len(node.tail.strip())
    return total
