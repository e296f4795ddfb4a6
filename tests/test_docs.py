"""The documentation cannot rot (issue 22): README.md and docs/*.md against the code.

- every command of a ```bash block follows the convention (tests/doc_commands.py);
- every `python train.py` / `evaluate.py` / `predict.py` command, run here or not (hub, gpu, slurm),
  composes with Hydra against conf/ and passes the checks a run makes before it writes anything;
- every repository path, link, image and extra a page names exists.
Running the offline commands is tests/test_readme_commands.py's part.
"""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest
import yaml
from doc_commands import PAGES, REPO, Command, all_commands

COMMANDS = all_commands()
ENTRY_POINTS = {"train.py": "train", "evaluate.py": "evaluate", "predict.py": "predict"}
PLACEHOLDER = re.compile(r"<[^<>]*>")  # <date>, <run>, <dir or Hub id>: not a runnable value


def test_every_command_runs_here_or_says_what_it_needs():
    assert COMMANDS, "no ```bash block found in README.md or docs/*.md"
    for command in COMMANDS:
        assert command.text.startswith(("python ", "make ")) or command.needs, (
            f"{command.where}: `{command.text}` is neither a python/make command nor marked `# needs: ...`")
        if PLACEHOLDER.search(command.text):
            assert not command.runs_here, f"{command.where}: a placeholder needs a `# needs:` mark"


def entry_point_commands() -> list[Command]:
    return [c for c in COMMANDS if re.match(r"python (train|evaluate|predict)\.py\b", c.text)]


def overrides_to_compose(command: Command) -> list[list[str]]:
    """The override lists that cover the command: itself, or for a sweep (-m, `a=1,2`), every value of
    every swept key once (the other keys at their first value) rather than the whole product."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    words = [w for w in shlex.split(PLACEHOLDER.sub("X", command.text))[2:] if not w.startswith("-")]
    overrides = OverridesParser.create().parse_overrides(words)
    choices = [[o.input_line] if not o.is_sweep_override() else
               [f"{o.get_key_element()}={value}" for value in o.sweep_string_iterator()] for o in overrides]
    combos = [[values[0] for values in choices]]
    for index, values in enumerate(choices):
        for value in values[1:]:
            combos.append([*combos[0][:index], value, *combos[0][index + 1:]])
    return combos


def check_composed(script: str, cfg, explicit: set[str]) -> None:
    """The checks the command's run makes before it reads or writes anything (Run.start's and its own)."""
    from splinter.run.config_checks import check_config

    if script == "predict":
        from splinter.qa.predict import PREDICT_RULES

        for key in ("checkpoint", "input", "output"):
            assert cfg.get(key), f"predict.py needs {key}="
        check_config(cfg, PREDICT_RULES)
        return
    check_config(cfg)
    if script == "evaluate":
        from splinter.finetuning.evaluate import _check
        _check(cfg)
    elif cfg.task.name == "pretrain":
        from splinter.pretraining.run import _check
        _check(cfg)
    else:
        from splinter.data.splits import SEEDS, SHOTS
        from splinter.finetuning.finetune import _check
        _check(cfg, explicit)
        if cfg.data.get("dataset") and not cfg.data.get("train_file"):  # a released split: it must exist
            assert cfg.data.shots in SHOTS and cfg.data.seed in SEEDS, "no released split for these data.shots/seed"


def test_every_train_evaluate_predict_command_composes_and_passes_the_config_checks():
    from hydra import compose, initialize_config_dir

    from splinter.run.cli import composition_error_line

    commands = entry_point_commands()
    assert len(commands) >= 5, [c.text for c in commands]
    problems = []
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for command in commands:
            script = ENTRY_POINTS[command.text.split()[1]]
            for overrides in overrides_to_compose(command):
                # output_dir is Hydra's run directory (${hydra:...}), which compose does not set
                extra = [] if script == "predict" else ["output_dir=unused"]
                try:
                    cfg = compose(script, overrides=[*overrides, *extra], return_hydra_config=False)
                    explicit = {re.split(r"[=@]", o.lstrip("+~"), maxsplit=1)[0] for o in overrides}
                    check_composed(script, cfg, explicit)
                except Exception as error:  # noqa: BLE001 - every failure is reported with its command
                    line = composition_error_line(error) or f"{type(error).__name__}: {error}"
                    problems.append(f"{command.where}: {' '.join(overrides)}\n    {line}")
    assert not problems, "commands in the docs that do not compose:\n" + "\n".join(problems)


def test_a_command_with_a_wrong_key_or_value_is_caught():
    """The check above fails on what a stale page would say (a renamed key, a refused value)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from splinter.errors import ConfigError

    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        for text, error in [("python train.py data.shot=16", ConfigCompositionException),
                            ("python train.py -m data.shots=16,17", AssertionError),
                            ("python train.py -m task.max_steps=5,0", ConfigError),
                            ("python train.py -m model=minilm,no-such-model", ConfigCompositionException)]:
            with pytest.raises(error):
                for overrides in overrides_to_compose(Command(text, (), "x.md", 1)):
                    cfg = compose("train", overrides=[*overrides, "output_dir=unused"])
                    check_composed("train", cfg, set())


# Paths a page may name that this repository does not hold: other projects' files, named as such.
EXTERNAL = {
    "run_qa.py",  # transformers' question-answering example script
    "evaluate-v1.1.py",  # the official SQuAD v1.1 evaluation script
    "finetuning/qass_preprocess.py", "pretraining/optimization.py",  # files of the paper's code (oriram/splinter)
}
ROOTS = ("splinter", "conf", "bench", "experiments", "docs", "tests", "data/demo", "hydra_plugins", ".ci")
REPO_PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(map(re.escape, ROOTS)) + r")/[\w./*-]*|[\w./-]*\w\.py)(?![\w/-])")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def named_paths(text: str) -> set[str]:
    """Repository paths written in a page: `splinter/...`-style paths and .py files."""
    text = PLACEHOLDER.sub("<>", text)
    found = set()
    for match in REPO_PATH.finditer(text):
        path = match.group(1).rstrip(".")
        if not text.startswith("<>", match.end(1)):  # conf/model/<name>.yaml names no one file
            found.add(path)
    return found


def exists(path: str) -> bool:
    if "*" in path:
        return any(REPO.glob(path))
    if (REPO / path).exists() or (REPO / "splinter" / path).exists():  # architecture.md: package-relative
        return True
    # a bare file name (`answerer.py`) names a file somewhere in the package, tests or tools
    return "/" not in path and any(p for p in REPO.rglob(path) if ".venv" not in p.parts)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_path_a_page_names_exists(page: Path):
    text = page.read_text(encoding="utf-8")
    missing = sorted(p for p in named_paths(text) if p not in EXTERNAL and not exists(p))
    for target in LINK.findall(text):  # links and images, relative to the page
        target = target.split("#", 1)[0]
        if target and not re.match(r"[a-z]+:", target) and not (page.parent / target).exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(REPO)} names files that do not exist: {missing}"


# How a module defines a name: def/class, an assignment, an import, a lazily imported name's entry ("Name": ...)
DEFINED = (r"^\s*(?:(?:async )?def|class)\s+{name}\b|^\s*{name}\s*[:=]|^from .* import .*\b{name}\b"
           r"|^\s*[\"']{name}[\"']\s*:")
MODULE_NAME = re.compile(r"(?<![\w/.{-])splinter(?:\.\w+)+(?![\w:])")  # not ${splinter.resolver:...}


def module_name_exists(name: str) -> bool:
    """`splinter.qa.spans.top_spans`: the longest prefix that is a module of the package, then (at most two)
    names defined in its file (a class or function, a method of that class, a module-level name)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:end])
        source = base.with_suffix(".py") if base.with_suffix(".py").is_file() else base / "__init__.py"
        if source.is_file():
            text = source.read_text(encoding="utf-8")
            return all(re.search(DEFINED.format(name=re.escape(attr)), text, re.M) for attr in parts[end:end + 2])
    return False


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_module_a_page_names_exists(page: Path):
    text = page.read_text(encoding="utf-8")
    # `splinter.embeddings.*`: a checkpoint's state-dict keys, not a module
    names = {m.group() for m in MODULE_NAME.finditer(text) if not text.startswith(".*", m.end())}
    assert [n for n in sorted(names) if not module_name_exists(n)] == [], page.relative_to(REPO)


def test_every_extra_a_page_installs_exists():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    for page in PAGES:
        named = set(re.findall(r"\.\[([\w,-]+)\]", page.read_text(encoding="utf-8")))
        unknown = {e for group in named for e in group.split(",")} - extras
        assert not unknown, f"{page.relative_to(REPO)}: no such extra in pyproject.toml: {unknown}"


def test_the_path_check_catches_a_missing_file():
    text = "see `splinter/qa/no_such.py`, conf/data/squad.yaml and [x](../bench/README.md)"
    assert named_paths(text) == {"splinter/qa/no_such.py", "conf/data/squad.yaml"}
    assert not exists("splinter/qa/no_such.py") and exists("conf/data/squad.yaml") and exists("answerer.py")
    assert module_name_exists("splinter.qa.spans.top_spans") and module_name_exists("splinter.QuestionAnswerer")
    assert not module_name_exists("splinter.qa.spans.no_such") and not module_name_exists("splinter.no_such")


def test_the_site_lists_every_page_and_the_guides():
    """mkdocs.yml's nav holds every docs/*.md page (the strict build, make docs ARGS=--strict in CI, then
    fails on a missing one) and the README links the same guides."""
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text())["nav"]

    def files(node):
        if isinstance(node, str):
            return [node]
        items = node.values() if isinstance(node, dict) else node
        return list(itertools.chain.from_iterable(files(item) for item in items))

    listed = set(files(nav))
    on_disk = {p.relative_to(REPO / "docs").as_posix() for p in (REPO / "docs").rglob("*.md")}
    assert on_disk <= listed, f"pages missing from mkdocs.yml's nav: {sorted(on_disk - listed)}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    guides = [p for p in listed if "/" not in p and p != "index.md"]
    assert [g for g in guides if f"(docs/{g})" not in readme] == []


# Dotted names in the package that are not modules: state-dict key prefixes and the Hydra resolver.
NOT_MODULES = ("splinter.embeddings.", "splinter.encoder.", "splinter.training_data")


def test_every_module_the_package_source_names_exists():
    """Docstrings and comments (which the API pages show) name modules and functions that exist."""
    missing = []
    for source in sorted((REPO / "splinter").rglob("*.py")):
        text = source.read_text(encoding="utf-8")
        for match in MODULE_NAME.finditer(text):
            name = match.group()
            if (text.startswith(".*", match.end()) or name.startswith(NOT_MODULES) or name == "splinter.__file__"
                    or module_name_exists(name)):
                continue
            missing.append(f"{source.relative_to(REPO)}: {name}")
    assert missing == []
