"""One way to fail an article: no module of ``transforms/`` catches ``Exception`` (or
``BaseException``, or everything with a bare ``except:``) except ``dead_letters.guarded``, the
helper under ``attempt``. A step that caught errors its own way could turn an infrastructure
error (a broker, a broken NER pool) into dead letters, or forget the dead letter altogether."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCANNED = ROOT / "transforms"
# (module, function) allowed to catch everything: the one helper every step routes through.
ALLOWED = {("transforms/steps/dead_letters.py", "guarded")}
CATCH_ALL = {"Exception", "BaseException"}


def catch_alls(source: str) -> list[tuple[str | None, int]]:
    """``(enclosing function, line)`` of every handler that catches everything: ``except:``,
    ``except Exception``/``BaseException`` (alone or in a tuple), ``suppress(Exception)``."""
    found: list[tuple[str | None, int]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if isinstance(node, ast.ExceptHandler) and (node.type is None or _names(node.type)):
            found.append((function, node.lineno))
        suppress = isinstance(node, ast.Call) and _name(node.func) == "suppress"
        if suppress and any(_names(arg) for arg in node.args):
            found.append((function, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), None)
    return found


def _names(node: ast.expr) -> bool:
    """Whether the exception type expression names a catch-all class."""
    if isinstance(node, ast.Tuple):
        return any(_names(element) for element in node.elts)
    return _name(node) in CATCH_ALL


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def test_only_the_dead_letter_helper_catches_everything():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} (in {function})"
        for path in sorted(SCANNED.rglob("*.py"))
        for function, line in catch_alls(path.read_text())
        if (path.relative_to(ROOT).as_posix(), function) not in ALLOWED
    ]
    assert offenders == [], "route failures through transforms.steps.dead_letters.attempt"


def test_the_helper_is_still_there():
    """The allowed handler exists: the scan checks the right files under the right names."""
    source = (ROOT / "transforms/steps/dead_letters.py").read_text()
    assert [function for function, _ in catch_alls(source)] == ["guarded"]


@pytest.mark.parametrize(
    "source",
    [
        "def f():\n    try:\n        g()\n    except Exception as exc:\n        h(exc)\n",
        "def f():\n    try:\n        g()\n    except:\n        pass\n",
        "def f():\n    try:\n        g()\n    except (ValueError, builtins.BaseException):\n"
        "        pass\n",
        "def f():\n    with contextlib.suppress(KeyError, Exception):\n        g()\n",
    ],
)
def test_the_scan_sees_every_spelling_of_a_catch_all(source):
    assert [function for function, _ in catch_alls(source)] == ["f"]


def test_narrow_handlers_pass():
    source = "def f():\n    try:\n        g()\n    except (ValueError, KeyError):\n        pass\n"
    assert catch_alls(source) == []
