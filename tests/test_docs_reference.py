"""The configuration reference and the troubleshooting guide cannot rot (issue 22).

docs/configuration.md: every table whose header's first cell is `Key` lists config keys, one per row,
as a code span in the first cell (`data.shots`); its second cell is the default, a code span holding the
YAML value (`16`, `null`, `${model.tokenizer}`) or plain words where the default depends on the option.
The test fails when

- a key that exists under conf/ is not in such a table: the leaves of the composed train, evaluate and
  predict and serve configs and of train.py composed with each option of each config group, plus the `hydra.*`
  keys the files under conf/ set (conf/hydra/**, and the `hydra:` sections of the other files); a few
  free-form nodes (`model.config`, `settings`, `hydra.sweeper.params`, ...) count as one key each;
- a key in such a table exists nowhere under conf/;
- a default written as a code span is not the value of that key in any of those configs.

docs/troubleshooting.md: every table whose header's first cell is `Message` quotes one error line per
row, as a code span in the first cell. A leading `error: ` (what the command line prints before the
message) is dropped; `…` and `{…}` stand for any text (a path, a number, a key). The rest must occur in
a message the code under splinter/ can raise: a string literal (f-string placeholders match the
wildcards; implicitly joined literals are one string), or, for `ConfigError(key, message, choices)` and
`DataError(path, message, line)` calls, the line those classes build from their arguments
(`config key '<key>': <message> (valid: …)`, `<path>:<line>: <message>`). A reworded message fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml
from run_helpers import REPO

DOCS = REPO / "docs"
CONF = REPO / "conf"
CONFIGURATION = DOCS / "configuration.md"
TROUBLESHOOTING = DOCS / "troubleshooting.md"

# Nodes whose contents are the user's (a dict of overrides, a search space, a logging dict): one key each.
FREE_FORM = {"model.config", "settings", "callbacks", "hydra.sweeper.params", "hydra.job_logging",
             "hydra.callbacks.failed_jobs", "hydra.callbacks.new_run_directory", "hydra.help.template"}
GROUPS = ("model", "data", "task", "trainer", "logger", "selection", "experiment", "hparams_search")
WILDCARD = re.compile(r"\{…\}|…")
PLACEHOLDER = "\x00"  # an f-string's replacement field in a source message


# ------------------------------------------------------------------------------------ markdown tables

def table_rows(path: Path, first_header: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of every body row of the tables whose header's first cell is `first_header`."""
    rows, in_table, header_seen = [], False, False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.startswith("|"):
            in_table = header_seen = False
            continue
        cells = _cells(line)
        if not header_seen:
            header_seen, in_table = True, cells[0].strip() == first_header
            continue
        if in_table and not re.fullmatch(r"[\s:|-]+", line):
            rows.append((number, cells))
    return rows


def _cells(line: str) -> list[str]:
    """A table row's cells; a `|` inside a code span or escaped as `\\|` does not split."""
    cells, current, in_code = [], "", False
    body = line.strip()[1:]
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\" and body[i + 1:i + 2] == "|":
            current += "|"
            i += 2
            continue
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
        i += 1
    cells.append(current.strip())
    return cells


def code_span(cell: str) -> str | None:
    match = re.fullmatch(r"`([^`]+)`", cell.strip())
    return match.group(1) if match else None


# ------------------------------------------------------------------------------------ config keys

def _leaves(node, prefix: str = ""):
    if prefix in FREE_FORM:
        yield prefix, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "defaults":
                yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix, node


def _file_package(path: Path) -> str:
    """`hydra[.<sub group>]` for a file under conf/hydra/, else "" (the file's own `hydra:` section counts)."""
    relative = path.relative_to(CONF)
    if relative.parts[0] == "hydra":
        return ".".join(["hydra", *relative.parts[1:-1]])
    return ""


def config_keys() -> dict[str, list]:
    """Every key under conf/ → the values it has in the configs that hold it."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from splinter.run.names import register_resolvers

    register_resolvers()
    keys: dict[str, list] = {}
    combos = [("train", []), ("evaluate", []), ("predict", []), ("serve", [])]
    combos += [("train", [f"{group}={path.stem}"]) for group in GROUPS
               for path in sorted((CONF / group).glob("*.yaml")) if not path.stem.startswith("_")]
    with initialize_config_dir(str(CONF), version_base="1.3"):
        for name, overrides in combos:
            cfg = OmegaConf.to_container(compose(name, overrides=overrides), resolve=False)
            for key, value in _leaves(cfg):
                keys.setdefault(key, []).append(value)
    # Hydra's own keys that the files set (not part of the job's config)
    for path in sorted(CONF.rglob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        package = _file_package(path)
        if package.startswith("hydra"):
            if path.parent.name == "job_logging":
                keys.setdefault("hydra.job_logging", []).append(data)
                continue
            if path.parent.name == "launcher":  # `# @package hydra.launcher`
                package = "hydra.launcher"
            found = _leaves(data, package) if package != "hydra" else _leaves({"hydra": data})
        else:
            found = _leaves({"hydra": data["hydra"]}) if isinstance(data.get("hydra"), dict) else []
        for key, value in found:
            keys.setdefault(key, []).append(value)
    return keys


def documented_keys() -> list[tuple[int, str, str]]:
    """(line, key, default cell) of every row of configuration.md's key tables."""
    found = []
    for number, cells in table_rows(CONFIGURATION, "Key"):
        key = code_span(cells[0])
        assert key, f"configuration.md:{number}: the first cell of a key table must be one `key` code span"
        found.append((number, key, cells[1] if len(cells) > 1 else ""))
    return found


@pytest.fixture(scope="module")
def keys() -> dict[str, list]:
    return config_keys()


def test_every_config_key_is_documented(keys):
    documented = {key for _, key, _ in documented_keys()}
    missing = sorted(set(keys) - documented)
    assert not missing, f"keys under conf/ missing from docs/configuration.md: {missing}"
    assert len(keys) > 130  # the collection itself still finds the groups' keys


def test_every_documented_key_exists(keys):
    unknown = [f"configuration.md:{line}: {key}" for line, key, _ in documented_keys() if key not in keys]
    assert not unknown, f"keys documented but not under conf/: {unknown}"


def _same_value(documented, actual) -> bool:
    if isinstance(documented, (int, float)) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        return float(documented) == float(actual)
    return documented == actual


def test_documented_defaults_are_the_configs(keys):
    wrong = []
    for line, key, cell in documented_keys():
        text = code_span(cell)
        if text is None or key not in keys:
            continue
        value = yaml.safe_load(text)
        if not any(_same_value(value, actual) for actual in keys[key]):
            wrong.append(f"configuration.md:{line}: {key} default {text!r}, conf/ has "
                         f"{sorted(set(map(repr, keys[key])))}")
    assert not wrong, "\n".join(wrong)


# ------------------------------------------------------------------------------------ error messages

def _render(node: ast.expr) -> str:
    """A message argument as text: literals as written, every computed part as PLACEHOLDER."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(part.value if isinstance(part, ast.Constant) else PLACEHOLDER for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _render(node.left) + _render(node.right)
    return PLACEHOLDER


def source_messages() -> list[str]:
    """Every string the package can show a user: each literal, each call argument (so `"a" + b` is one
    message), and the lines ConfigError, DataError and WriteError build from their arguments. Each also
    with its placeholders removed, so that `f"{where}missing field"` matches a quote `…: missing field`."""
    messages = []
    for path in sorted((REPO / "splinter").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr) or isinstance(node, ast.Constant) and isinstance(node.value, str):
                messages.append(_render(node))
            if not isinstance(node, ast.Call):
                continue
            messages += [_render(arg) for arg in node.args]
            name = node.func.id if isinstance(node.func, ast.Name) else ""
            keywords = {k.arg: k.value for k in node.keywords}
            arguments = [*node.args, *(keywords[k] for k in ("message",) if k in keywords)]
            if name in ("ConfigError", "DataError", "WriteError") and len(arguments) >= 2:
                first, second = _render(arguments[0]), _render(arguments[1])
                if name == "ConfigError":
                    choices = " (valid: " + PLACEHOLDER + ")" if len(node.args) > 2 or "choices" in keywords else ""
                    messages.append(f"config key '{first}': {second}{choices}")
                else:
                    line = ":" + PLACEHOLDER if len(node.args) > 2 or "line" in keywords else ""
                    messages.append(f"{first}{line}: {second}")
    return messages + [message.replace(PLACEHOLDER, "") for message in messages]


def _pattern(quoted: str) -> re.Pattern:
    parts = WILDCARD.split(quoted)
    return re.compile(".*?".join(re.escape(part) for part in parts), re.DOTALL)


def _occurs(quoted: str, messages: list[str]) -> bool:
    parts = [part for part in WILDCARD.split(quoted) if part]
    pattern = _pattern(quoted)
    # every literal part as a substring first (fast), the ordered pattern only then
    return any(all(part in message for part in parts) and pattern.search(message) for message in messages)


def documented_messages() -> list[tuple[int, str]]:
    found = []
    for number, cells in table_rows(TROUBLESHOOTING, "Message"):
        text = code_span(cells[0])
        assert text, f"troubleshooting.md:{number}: the first cell of a message table must be one code span"
        found.append((number, text.removeprefix("error: ")))
    return found


def test_troubleshooting_quotes_real_messages():
    messages = source_messages()
    documented = documented_messages()
    stale = [f"troubleshooting.md:{line}: {text}" for line, text in documented if not _occurs(text, messages)]
    assert not stale, "messages quoted in docs/troubleshooting.md that no code under splinter/ raises:\n" + "\n".join(stale)
    assert len(documented) >= 80  # the guide covers the real breadth, not a sample


def test_troubleshooting_covers_every_error_class():
    """Every SplinterError subclass anywhere in the package is named in the guide."""
    import importlib
    import pkgutil

    import splinter
    from splinter.errors import SplinterError

    for module in pkgutil.walk_packages(splinter.__path__, "splinter."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    text = TROUBLESHOOTING.read_text(encoding="utf-8")
    names = sorted({cls.__name__ for cls in subclasses(SplinterError) if cls.__module__.startswith("splinter.")})
    assert len(names) >= 12
    missing = [name for name in names if f"`{name}`" not in text]
    assert not missing, f"error classes not named in docs/troubleshooting.md: {missing}"


def test_wildcards_do_not_match_everything():
    """A quote that is only wildcards and punctuation would match any message."""
    weak = [f"troubleshooting.md:{line}: {text}" for line, text in documented_messages()
            if len(re.sub(r"[^A-Za-z]", "", WILDCARD.sub("", text))) < 8]
    assert not weak, f"quotes too short to pin a message: {weak}"
