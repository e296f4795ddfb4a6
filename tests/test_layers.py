"""The package layers are a checked rule (pyproject.toml [tool.importlinter], run by `make lint`), and
docs/architecture.md's tree lists the package file for file."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

CONTRACTS = (
    "Layers: commands over training over run over QA",
    "Decoding, scoring, inference, the model and the tokenizers never import",
    "The model never imports the data pipeline",
    "Nothing below run imports the run, training or command packages",
)


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200"}  # one contract name a line in the report
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_package_keeps_its_layers():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in CONTRACTS:
        assert re.search(re.escape(name) + r".* KEPT", result.stdout), (name, result.stdout)


def test_the_contracts_catch_inference_importing_training_and_the_model_importing_data(tmp_path):
    shutil.copytree(REPO / "splinter", tmp_path / "splinter", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "splinter/qa/spans.py", "a") as f:
        f.write("\nimport pytorch_lightning  # noqa\nfrom splinter.run import job  # noqa\n")
    with open(tmp_path / "splinter/model/heads.py", "a") as f:
        f.write("\nfrom splinter.data import windows  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    for name in CONTRACTS:
        assert re.search(re.escape(name) + r".* BROKEN", result.stdout), (name, result.stdout)
    assert "splinter.qa.spans -> pytorch_lightning" in result.stdout
    assert "splinter.model.heads -> splinter.data.windows" in result.stdout


def _documented_files() -> set[str]:
    """The paths in docs/architecture.md's package tree (indentation = folder depth, 2 spaces a level)."""
    text = (REPO / "docs/architecture.md").read_text(encoding="utf-8")
    tree = text.split("```\nsplinter/\n", 1)[1].split("```", 1)[0]
    files, folders = set(), ["splinter"]
    for line in tree.splitlines():
        match = re.match(r"( *)(\S+)", line)
        if not match or not line.startswith("  "):
            continue
        depth, name = len(match.group(1)) // 2, match.group(2)
        if not re.fullmatch(r"\w+\.(py|txt|html)|\w+/", name) or len(match.group(1)) % 2:
            continue  # a description's continuation line
        del folders[depth:]
        if name.endswith("/"):
            folders.append(name.rstrip("/"))
        else:
            files.add("/".join([*folders, name]))
    return files


def test_architecture_tree_lists_every_package_file():
    on_disk = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "splinter").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".txt", ".html")
    }
    documented = _documented_files()
    assert sorted(on_disk - documented) == [], "files missing from docs/architecture.md's tree"
    assert sorted(documented - on_disk) == [], "files in docs/architecture.md's tree that do not exist"
