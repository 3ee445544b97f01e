"""Fail on a relative markdown link that points at no file, or at no heading of its file.

README.md is a front page that links into docs/, and the docs link to each other and to
sections (``operations.md#known-issues``); a moved section or a renamed file breaks such a link
silently. ``make lint`` runs this over the markdown files and folders given on its command line:
it checks every ``[text](target)`` outside code, skips web and mail addresses, resolves the path
against the linking file's folder and, for ``#anchor``, looks for a heading whose GitHub anchor
matches. It prints ``file:line`` of each broken link and exits 1 if there is one.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import checks

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"`+[^`]*`+")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
EXTERNAL = ("http://", "https://", "mailto:", "ftp://")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to hyphens."""
    text = CODE_SPAN.sub(lambda span: span.group(0).strip("`"), heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def prose_lines(text: str):
    """(1-based line number, line) of every line outside fenced code blocks."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            yield number, line


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a markdown file, with GitHub's -1, -2 suffixes for repeats."""
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if match:
            slug = anchor(match.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            if count:
                seen[f"{slug}-{count}"] = 1
    return set(seen)


def broken_links(path: Path) -> list[tuple[int, str, str]]:
    """(line, target, why) of every relative link in ``path`` that does not resolve."""
    found = []
    for number, line in prose_lines(path.read_text(encoding="utf-8")):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if target.startswith(EXTERNAL):
                continue
            file_part, _, fragment = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path.resolve()
            if not linked.exists():
                found.append((number, target, "no such file"))
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
                found.append((number, target, f"no heading #{fragment} in {linked.name}"))
    return found


def markdown_files(root: Path):
    """``root`` itself if it is a file, else every ``*.md`` below it."""
    return [root] if root.is_file() else sorted(root.rglob("*.md"))


def problems(path: Path) -> list[tuple[int, str]]:
    """(line, problem) of every broken link in one file."""
    return [
        (number, f"broken link ({target}): {why}") for number, target, why in broken_links(path)
    ]


def main(roots: list[str]) -> int:
    return checks.run(roots, markdown_files, problems, "point them at the file and heading now")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["README.md", "docs", "deploy/README.md"]))
