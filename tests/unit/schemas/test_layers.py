"""schemas/ is the lowest layer: every package imports its codecs and error types, so it imports
none of them (a cycle would make the error types unusable where they are needed first)."""

import ast
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
HIGHER_LAYERS = ("transforms", "pipelines")


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


@pytest.mark.parametrize("path", sorted(SCHEMAS.glob("*.py")), ids=lambda p: p.name)
def test_schemas_imports_nothing_from_higher_layers(path):
    higher = {m for m in imported_modules(path) if m.split(".")[0] in HIGHER_LAYERS}
    assert not higher, f"{path.name} imports {sorted(higher)}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    module = tmp_path / "bad.py"
    module.write_text("from transforms.text.models import Article\nimport pipelines.cli\n")
    assert imported_modules(module) == {"transforms.text.models", "pipelines.cli"}
