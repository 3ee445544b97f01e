"""Per-source learned templates: site headers and footers around real articles.

The 350 Lee articles (cut into paragraphs as in ``quality_text``) are spread round-robin over 7
sites, one page every hour. Each site wraps its pages in its own header and footer lines (written
by the harness: no fixed chrome list knows them), as separate paragraphs or as newline-separated
lines of one paragraph. Each site also repeats one real Lee sentence as the closing paragraph of
``min_pages - 1`` of its pages (a recycled background paragraph), which must stay. Pages go
through the clean step, then ``learn_and_strip`` with one memory per site, in arrival order.
"""

from __future__ import annotations

import random

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


def site_pages(cfg: TemplateConfig, seed: int = 21) -> list[tuple[int, str, list[str], Article]]:
    """(site, real paragraphs, template lines, article) in arrival order."""
    rng, pages = random.Random(seed), []
    articles = lee_articles()
    recycled = {
        site: rng.sample(range(site, len(articles), len(SITES)), cfg.min_pages - 1)
        for site in range(len(SITES))
    }
    for index, text in enumerate(articles):
        site = index % len(SITES)
        header, footer = SITES[site]
        body = paragraphs(text, rng)
        if index in recycled[site]:
            body.append(paragraphs(articles[site], random.Random(site))[0])
        joiner = "\n" if site % 2 else "\n\n"
        parts = [joiner.join(header)] if header else []
        raw = "\n\n".join([*parts, *body, joiner.join(footer)])
        article = Article(
            id=f"{site}-{index}",
            raw_body=raw,
            source=f"site-{site}",
            url=f"https://site-{site}.example/{index}",
            fetched_at=index * HOUR_MS,
            ref=SourceRef(),
        )
        pages.append((site, body, [*header, *footer], article))
    return pages


def template_rows(cfg: TemplateConfig | None = None) -> list[Row]:
    """Template lines removed after the learning pages, real lines lost, recycled lines kept."""
    cfg = cfg or TemplateConfig()
    memories = [TemplateMemory() for _ in SITES]
    seen = [0] * len(SITES)
    template, removed, as_template, real, lost, titles = 0, 0, 0, 0, 0, 0
    for site, real_lines, lines, article in site_pages(cfg):
        cleaned = learn_and_strip(clean_article(article), memories[site], cfg)
        body_lines = set(cleaned.body.split("\n")) | {cleaned.title}
        kinds = {span.text: span.kind for span in cleaned.boilerplate}
        seen[site] += 1
        if seen[site] >= cfg.min_pages:
            template += len(lines)
            removed += sum(line not in body_lines for line in lines)
            as_template += sum(kinds.get(line) == TEMPLATE_KIND for line in lines)
            titles += cleaned.title in lines
        real += len(real_lines)
        lost += sum(p not in cleaned.body for p in real_lines)
    learning = len(SITES) * (cfg.min_pages - 1)
    config = f"min_pages={cfg.min_pages}, window={cfg.window_hours:g}h, edges={cfg.edge_lines}"
    return [
        (
            "template",
            "template lines removed",
            f"{removed / template:.4f}",
            f"{removed}/{template}; {config}; first {learning} pages learn",
        ),
        (
            "template",
            "removed with kind template",
            f"{as_template / template:.4f}",
            f"{as_template}/{template}",
        ),
        (
            "template",
            "real paragraphs kept",
            f"{1 - lost / real:.4f}",
            f"{lost} lost of {real}, incl. {learning} recycled on {cfg.min_pages - 1} pages",
        ),
        ("template", "titles taken from a template line", f"{titles}", "must be 0"),
    ]
