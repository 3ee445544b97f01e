"""Per-source learned templates: site headers and footers around real articles.

The 350 Lee articles (cut into paragraphs as in ``quality_text``) are spread round-robin over 7
sites. Each site wraps its pages in its own header and footer lines (written by the harness: no
fixed chrome list knows them), as separate paragraphs or as newline-separated lines of one
paragraph. The cases span the learning threshold (``min_pages`` distinct pages, each within
``window_hours`` of the one before):

* sites publish every ``CADENCE_HOURS`` (one page every 7 hours, so a template is learned), but
  the last site only every 96 hours, longer than the window: its template is never learned;
* each site repeats one real Lee paragraph (from an article of another site) as the closing
  paragraph of ``RECYCLED_PAGES[site]`` consecutive pages (1 to 6: fewer and more than
  ``min_pages``), a recycled background paragraph that must stay.

Pages go through the clean step, then ``learn_and_strip`` with one memory per site, in arrival
order.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

from corpora import lee_articles
from quality_text import paragraphs

from transforms.text.cleaning import clean_article
from transforms.text.models import Article, SourceRef
from transforms.text.templates import TEMPLATE_KIND, TemplateConfig, TemplateMemory, learn_and_strip

Row = tuple[str, str, str, str]
HOUR_MS = 3_600_000
SITES = (
    (
        ["The Riverside Courier | News for the valley since 1894"],
        ["Got a story? Call the Courier newsdesk on 01632 960 000.", "© Riverside Courier Ltd."],
    ),
    (
        ["MORNING LEDGER — INDEPENDENT SINCE 1921"],
        ["The Morning Ledger is published by Ledger Group plc, 4 Quay Street, Bristol."],
    ),
    (
        ["Northern Echo-Times", "Your region, your news, every day"],
        ["Reporting for this story was funded by the Echo-Times community fund."],
    ),
    (
        [],
        ["This article is part of our Climate Desk series.", "Comments are closed on this story."],
    ),
    (
        ["Harbour Post Online — Tuesday edition"],
        ["Corrections: write to the readers' editor at the Harbour Post, PO Box 12."],
    ),
    (
        ["Valley Radio News"],
        ["Valley Radio News is an independent station serving the valley since 1982."],
    ),
    (
        ["The Weekly Observer"],
        ["Our journalism is free to read. Please consider a contribution to keep it that way."],
    ),
)


# Hours between two pages of each site; the last one publishes less often than the window.
CADENCE_HOURS = (7, 7, 7, 7, 7, 7, 96)
# On how many consecutive pages each site closes with the same real paragraph.
RECYCLED_PAGES = (1, 2, 3, 4, 5, 6, 3)


@dataclass(frozen=True)
class SitePage:
    """One page of a site: its real paragraphs, template lines, recycled paragraph, article."""

    site: int
    number: int
    real: list[str]
    template: list[str]
    recycled: str | None
    article: Article


def site_pages(seed: int = 21) -> list[SitePage]:
    """Every site's pages, in arrival order."""
    rng, pages = random.Random(seed), []
    articles = lee_articles()
    for index, text in enumerate(articles):
        site, number = index % len(SITES), index // len(SITES)
        header, footer = SITES[site]
        body = paragraphs(text, rng)
        recycled = None
        if 5 <= number < 5 + RECYCLED_PAGES[site]:
            other_site = articles[(site + 1) % len(articles)]
            recycled = paragraphs(other_site, random.Random(site))[0]
        joiner = "\n" if site % 2 else "\n\n"
        parts = [joiner.join(header)] if header else []
        raw = "\n\n".join([*parts, *body, *([recycled] if recycled else []), joiner.join(footer)])
        article = Article(
            id=f"{site}-{index}",
            raw_body=raw,
            source=f"site-{site}",
            url=f"https://site-{site}.example/{index}",
            fetched_at=(site + number * CADENCE_HOURS[site]) * HOUR_MS,
            ref=SourceRef(),
        )
        pages.append(SitePage(site, number, body, [*header, *footer], recycled, article))
    return sorted(pages, key=lambda page: page.article.fetched_at)


def template_rows(cfg: TemplateConfig | None = None) -> list[Row]:
    """Template lines removed after the learning pages (sites publishing within the window, and
    the one publishing less often), real paragraphs lost, recycled paragraphs kept by how many
    pages carry them, titles taken from a template line."""
    cfg = cfg or TemplateConfig()
    memories = [TemplateMemory() for _ in SITES]
    counts: Counter[str] = Counter()
    for page in site_pages():
        cleaned = learn_and_strip(clean_article(page.article), memories[page.site], cfg)
        body_lines = set(cleaned.body.split("\n")) | {cleaned.title}
        kinds = {span.text: span.kind for span in cleaned.boilerplate}
        if page.number >= cfg.min_pages - 1:
            group = "rare" if CADENCE_HOURS[page.site] > cfg.window_hours else "regular"
            counts[f"{group} lines"] += len(page.template)
            counts[f"{group} removed"] += sum(line not in body_lines for line in page.template)
            counts[f"{group} as template"] += sum(
                kinds.get(line) == TEMPLATE_KIND for line in page.template
            )
            counts[f"{group} titles"] += cleaned.title in page.template
        counts["real"] += len(page.real)
        counts["lost"] += sum(paragraph not in cleaned.body for paragraph in page.real)
        if page.recycled:
            group = "below" if RECYCLED_PAGES[page.site] < cfg.min_pages else "above"
            counts[f"recycled {group}"] += 1
            counts[f"recycled {group} kept"] += page.recycled in cleaned.body
    return _rows(counts, cfg)


def _rows(counts: Counter[str], cfg: TemplateConfig) -> list[Row]:
    config = f"min_pages={cfg.min_pages}, window={cfg.window_hours:g}h, edges={cfg.edge_lines}"
    removed = counts["regular removed"] + counts["rare removed"]
    lines = counts["regular lines"] + counts["rare lines"]
    return [
        _share("template lines removed (all sites)", removed, lines, config),
        _share(
            "  sites publishing within the window",
            counts["regular removed"],
            counts["regular lines"],
        ),
        _share(
            "  a site publishing every 96 h (never learned)",
            counts["rare removed"],
            counts["rare lines"],
        ),
        _share(
            "removed with kind template",
            counts["regular as template"] + counts["rare as template"],
            lines,
        ),
        _share("real paragraphs kept", counts["real"] - counts["lost"], counts["real"]),
        _share(
            f"recycled paragraph kept, on < {cfg.min_pages} pages",
            counts["recycled below kept"],
            counts["recycled below"],
        ),
        _share(
            f"recycled paragraph kept, on >= {cfg.min_pages} pages",
            counts["recycled above kept"],
            counts["recycled above"],
            "removed once learned: a paragraph closing 4+ pages in a row reads as a footer",
        ),
        (
            "template",
            "titles taken from a learned template line",
            str(counts["regular titles"]),
            f"must be 0; the 96 h site's header is its pages' title {counts['rare titles']} times",
        ),
    ]


def _share(metric: str, hits: int, total: int, detail: str = "") -> Row:
    value = f"{hits / total:.4f}" if total else "-"
    return ("template", metric, value, f"{hits}/{total}" + (f"; {detail}" if detail else ""))
