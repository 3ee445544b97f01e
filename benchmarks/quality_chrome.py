"""Page chrome in real articles: distinct lines of five kinds removed, lookalike prose kept.

The lines are written for the harness in the wording of real news sites (share bars, newsletter
pitches, navigation and "read more" lines, photo and wire credits, cookie banners); each is a
distinct line, not a variant of another, and none was written from the patterns in
``transforms/text/boilerplate.py``. Each line goes into ``PLACEMENTS`` different Lee articles, as
a paragraph of its own or as a line of a real paragraph. Prose lines that open with the same
words ("Share prices fell ...") go in the same way and must be kept.
"""

from __future__ import annotations

import random

from corpora import lee_articles
from quality_text import paragraphs

from transforms.text.boilerplate import strip_boilerplate

Row = tuple[str, str, str, str]
PLACEMENTS = 5
CHROME_LINES = {
    "share_prompt": (
        "Share this article",
        "Share",
        "Share this:",
        "Share via Email",
        "Share on LinkedIn",
        "Share this story on Twitter",
        "Post to Facebook",
        "Click to share on Reddit (Opens in new window)",
        "Email | Facebook | Twitter | WhatsApp",
        "WhatsApp Facebook Twitter Email",
        "Share Tweet Pin Email",
        "Copy link to clipboard",
        "Print this article",
        "Send this story to a friend",
        "Follow us on Twitter @newsdesk",
        "Like us on Facebook",
        "Follow The Courier on Instagram",
        "Share · Save · Comment",
        "Tweet",
        "Share on Facebook (opens in a new tab)",
    ),
    "newsletter": (
        "Sign up for our newsletter",
        "Subscribe to our daily newsletter",
        "Get our free morning briefing straight to your inbox",
        "Newsletters",
        "Sign up for free: get the headlines in your inbox",
        "Enter your email address",
        "Want more stories like this? Subscribe to our weekly email.",
        "Join 50,000 readers who get our briefing every morning",
        "Subscribe now",
        "Don't miss out: sign up for breaking news alerts",
        "Get the latest news delivered to your inbox",
        "Our best stories, every weekday. Sign up here",
        "Register for free to keep reading",
        "Become a subscriber for just $1 a week",
        "Sign up to the First Edition newsletter",
        "Already a subscriber? Log in",
    ),
    "navigation": (
        "Advertisement",
        "ADVERTISEMENT - SCROLL TO CONTINUE WITH CONTENT",
        "Story continues below advertisement",
        "Read more:",
        "READ MORE: Minister defends budget cuts",
        "Related Articles",
        "Related: Floods hit the north coast",
        "Most read",
        "Trending now",
        "Top stories",
        "You may also like",
        "Recommended for you",
        "Next article",
        "Skip to content",
        "Back to top",
        "Home / News / World",
        "News > Australia > Politics",
        "Sponsored",
        "More from World",
        "Listen to this article",
        "Show comments",
        "Load more",
    ),
    "credit": (
        "Photograph: Dan Kitwood/Getty Images",
        "Photo: AP",
        "Image copyright Reuters",
        "(Photo by Mark Baker/AFP via Getty Images)",
        "Picture: Supplied",
        "File photo: Reuters",
        "Video: ABC News",
        "Source: AAP",
        "© 2024 The Associated Press. All rights reserved.",
        "Copyright 2019 Nine Entertainment Co.",
        "Reporting by Mary Brown; Editing by Tom Hale",
        "Additional reporting by Reuters",
        "(AP Photo/Rick Rycroft)",
        "Credit: Getty",
        "Getty Images",
    ),
    "cookie_notice": (
        "We use cookies to give you the best experience on our website.",
        "This site uses cookies. By continuing to browse you agree to our use of cookies.",
        "Accept cookies",
        "Accept all",
        "Reject all",
        "Cookie settings",
        "Manage preferences",
        "We and our partners use cookies to personalise content and ads.",
        "By using this website, you consent to the use of cookies.",
        "Your privacy choices",
    ),
}
# Written after CHROME_LINES and before the patterns were extended from what CHROME_LINES
# missed; never used to tune them, so their figure shows coverage of unseen wording.
HELD_OUT_LINES = {
    "share_prompt": (
        "Share this page",
        "Share to Twitter",
        "Email this",
        "Facebook Twitter LinkedIn",
        "Share the story",
        "Send to a friend",
        "Follow us on Facebook and Twitter",
        "Copy article link",
    ),
    "newsletter": (
        "Sign up to our newsletter",
        "Get the morning briefing",
        "Subscribe for full access",
        "Sign up for email updates",
        "Get our newsletter delivered free",
        "Subscribe today",
    ),
    "navigation": (
        "Advertising",
        "Read next",
        "Most viewed",
        "Popular now",
        "More stories",
        "Related topics",
        "Skip to navigation",
        "Continue reading the main story",
        "See more",
        "Previous article",
    ),
    "credit": (
        "Photo: Getty Images",
        "Image: Reuters",
        "Photograph: AAP",
        "(AFP Photo)",
        "Picture: AFP",
        "© Reuters 2023",
        "Copyright AFP",
    ),
    "cookie_notice": (
        "This website uses cookies",
        "Accept and close",
        "Privacy settings",
        "We value your privacy",
        "Cookie policy",
    ),
}
# Prose that opens like chrome: every one must be kept.
PROSE_LOOKALIKES = (
    "Share prices fell sharply on Monday after the announcement.",
    "Subscribers to the service rose 10 per cent after it cut prices.",
    "Follow-up tests showed no trace of the virus, the hospital said.",
    "The photo was taken minutes before the plane crashed into the hill.",
    "Advertising revenue fell by a third last year, the company said.",
    "Related charges were laid against two other men on Friday.",
    "Cookies and cakes were sold at the fair to raise money for the hospital.",
    "Copyright lawyers say the ruling will be appealed to the High Court.",
    "The newsletter was sent to 3,000 party members last week.",
    "Home is where the heart is, the mayor told the crowd.",
    "Back to top form, the striker scored twice in the second half.",
    "Sign-ups for the program doubled in March, officials said.",
    "Reporting by the BBC found that ministers misled parliament.",
    "Email records show the minister was warned twice.",
    "Tweets from the account were deleted on Tuesday.",
    "Pictures of the damage were shared widely online.",
    "Sponsored by the state government, the festival drew 20,000 people.",
    "Print runs of the newspaper have fallen by half since 2001.",
    "Accept the offer or go to court, the union was told.",
    "Read more closely, the figures tell a different story.",
)


def placed(blocks: list[str], line: str, rng: random.Random) -> tuple[str, int]:
    """Body with ``line`` as its own paragraph or a line of a real one, and the line's offset."""
    index = rng.randrange(len(blocks))
    if rng.random() < 0.5:
        parts = [*blocks[:index], line, *blocks[index:]]
    else:
        joined = f"{line}\n{blocks[index]}" if rng.random() < 0.5 else f"{blocks[index]}\n{line}"
        parts = [*blocks[:index], joined, *blocks[index + 1 :]]
    body = "\n\n".join(parts)
    prefix = "\n\n".join(parts[:index])
    return body, body.index(line, len(prefix))


def chrome_rows(seed: int = 12) -> list[Row]:
    """Distinct chrome lines removed in every placement, placements removed with the right
    kind, per kind; for the lines the patterns were extended from and the held-out ones; then
    prose lookalikes kept."""
    rng, articles = random.Random(seed), lee_articles()
    rows = []
    for name, group in (("", CHROME_LINES), ("held-out ", HELD_OUT_LINES)):
        rows += _line_rows(name, group, rng, articles)
    kept = _lookalikes_kept(rng, articles)
    rows.append(_row("prose lines that open like chrome kept", kept, len(PROSE_LOOKALIKES)))
    return rows


def _line_rows(
    name: str, group: dict[str, tuple[str, ...]], rng: random.Random, articles: list[str]
) -> list[Row]:
    per_kind: dict[str, list[int]] = {}
    placements = removed = right_kind = 0
    lines = [(kind, line) for kind, texts in group.items() for line in texts]
    for number, (kind, line) in enumerate(lines):
        hits = 0
        for placement in range(PLACEMENTS):
            article = articles[(number * PLACEMENTS + placement) % len(articles)]
            body, start = placed(paragraphs(article, rng), line, rng)
            spans = [s for s in strip_boilerplate(body).removed if s.start <= start < s.end]
            whole = bool(spans) and spans[0].end >= start + len(line)
            placements += 1
            hits += whole
            right_kind += whole and spans[0].kind == kind
        removed += hits
        counts = per_kind.setdefault(kind, [0, 0])
        counts[0] += hits == PLACEMENTS
        counts[1] += 1
    lines_removed = sum(hit for hit, _ in per_kind.values())
    rows = [
        _row(
            f"distinct {name}chrome lines removed ({PLACEMENTS} placements each)",
            lines_removed,
            len(lines),
        ),
        _row(f"  {name}placements removed with the expected kind", right_kind, placements),
    ]
    return rows + [_row(f"  {kind}: lines removed", hit, n) for kind, (hit, n) in per_kind.items()]


def _lookalikes_kept(rng: random.Random, articles: list[str]) -> int:
    """Prose lookalikes with no word removed in any of their placements."""
    kept = 0
    for number, line in enumerate(PROSE_LOOKALIKES):
        untouched = True
        for placement in range(PLACEMENTS):
            article = articles[(number * PLACEMENTS + placement + 1) % len(articles)]
            body, start = placed(paragraphs(article, rng), line, rng)
            cuts = strip_boilerplate(body).removed
            untouched &= not any(s.start < start + len(line) and start < s.end for s in cuts)
        kept += untouched
    return kept


def _row(metric: str, hits: int, total: int) -> Row:
    return ("chrome", metric, f"{hits / total:.4f}", f"{hits}/{total}")
