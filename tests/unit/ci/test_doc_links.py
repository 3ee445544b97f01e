"""The ``make lint`` check that keeps README's and docs' relative links pointing somewhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CHECK = ROOT / ".ci" / "doc_links.py"


def check(*roots: Path, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(CHECK), *map(str, roots)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def test_every_link_of_readme_and_docs_resolves():
    result = check(Path("README.md"), Path("docs"), Path("deploy/README.md"))
    assert (result.returncode, result.stdout) == (0, "")


@pytest.fixture
def docs(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ops.md").write_text(
        "# Operating\n\n## Known issues\n\n## Schema registry (Confluent wire format)\n\n"
        "## Known issues\n"
    )
    return tmp_path


SOUND_LINKS = """# Front

See [ops](docs/ops.md), [issues](docs/ops.md#known-issues), the second heading of that name
[again](docs/ops.md#known-issues-1), [registry](docs/ops.md#schema-registry-confluent-wire-format),
[top](#front) and [web](https://example.org/missing.md); `[in code](nowhere.md)` is no link.

```
[fenced](gone.md)
```
"""


def test_links_that_resolve_pass(docs):
    (docs / "README.md").write_text(SOUND_LINKS)
    result = check(docs / "README.md")
    assert (result.returncode, result.stdout) == (0, "")


@pytest.mark.parametrize(
    ("link", "why"),
    [
        ("[gone](docs/operations.md)", "no such file"),
        ("[moved](docs/ops.md#dedup-state)", "no heading #dedup-state in ops.md"),
        ("[here](#dedup-state)", "no heading #dedup-state in README.md"),
    ],
)
def test_a_broken_link_fails_naming_file_line_and_reason(docs, link, why):
    readme = docs / "README.md"
    readme.write_text(f"# Front\n\nSee {link}.\n")
    result = check(readme)
    assert result.returncode == 1
    assert f"{readme}:3: broken link" in result.stdout
    assert why in result.stdout


def test_a_folder_is_checked_file_by_file(docs):
    (docs / "docs" / "arch.md").write_text("# Arch\n\n[back](../README.md)\n")
    result = check(docs / "docs")
    assert result.returncode == 1
    assert "arch.md:3: broken link (../README.md): no such file" in result.stdout


def test_a_missing_folder_is_an_error_not_a_pass(tmp_path):
    assert check(tmp_path / "no-such-folder").returncode == 2
