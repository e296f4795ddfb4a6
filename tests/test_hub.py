"""splinter.hub's one rule for "local path or Hugging Face Hub name", and its one offline check, as the
data readers, the pretraining corpus and the checkpoint/tokenizer resolver apply them."""

from __future__ import annotations

import pytest

from splinter.data.datamodule import _existing_or_name
from splinter.data.formats.readers import read_examples
from splinter.errors import CheckpointError, ConfigError, DataError
from splinter.hub import (
    is_hub_id,
    local_path,
    looks_like_path,
    neither,
    offline,
    offline_note,
    resolve_directory,
)
from splinter.pretraining.corpus import is_hub_name, read_documents, resolve_sources
from splinter.tokenization.tokenizer import load_tokenizer

PATH_NAMES = ["./x", "../x", "/abs/path", "~/x", "a/b/c", "train.jsonl", "dev.jsonl.gz", "corpus.TXT", "squad.json"]
HUB_IDS = ["squad", "bert-base-uncased", "owner/name", "tau/splinter-base-qass", "Owner_1/name.v2"]
NEITHER = ["bad name!", "x--y", "owner/x..y", "-lead", "owner/name.git", "a" * 97]


@pytest.mark.parametrize("name", PATH_NAMES)
def test_names_shaped_like_paths_are_paths_never_hub_ids(name):
    assert looks_like_path(name)
    assert not is_hub_id(name) and not is_hub_id(name, suffix=True)


@pytest.mark.parametrize("name", HUB_IDS)
def test_hub_ids(name):
    assert not looks_like_path(name)
    assert is_hub_id(name) and is_hub_id(name, suffix=True)


@pytest.mark.parametrize("name", NEITHER)
def test_neither_a_path_nor_a_hub_id(name):
    assert not looks_like_path(name) and not is_hub_id(name) and not is_hub_id(name, suffix=True)


def test_a_colon_tail_is_for_datasets_names_only():
    for name in ("name:Subset", "squad:validation", "mrqa-workshop/mrqa:SQuAD", "mrqa-workshop/mrqa:test:DROP"):
        assert is_hub_id(name, suffix=True), name
        assert not is_hub_id(name), name  # a checkpoint or tokenizer id has no tail
    assert not is_hub_id("bad name:Subset", suffix=True)  # the part before the tail is still checked


def test_neither_is_one_line_with_the_path_the_form_and_the_reason(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert neither("x--y") == (
        f"no file or directory {tmp_path / 'x--y'}, and not a Hugging Face Hub id ('name' or 'owner/name'): "
        "Cannot have -- or .. in repo_id: 'x--y'"
    )
    assert "optionally followed by ':<config or split>'" in neither("x--y", suffix=True)
    with pytest.raises(ValueError):
        neither("owner/name")


def test_an_existing_path_is_local_even_when_it_is_named_like_a_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert is_hub_name("wikitext")  # nothing here yet: the Hub name
    (tmp_path / "wikitext").write_text("A local corpus named like a Hub dataset.\n")
    assert not is_hub_name("wikitext") and local_path("wikitext").is_file()
    assert resolve_sources("wikitext") == ["wikitext"]
    assert read_documents("wikitext", cache_dir=str(tmp_path / "cache"))["text"] == [
        "A local corpus named like a Hub dataset."
    ]
    (tmp_path / "owner" / "name").mkdir(parents=True)
    kind = {"what": "checkpoint", "files": ["config.json"], "local_hint": "pass a local directory"}
    assert resolve_directory("owner/name", **kind) == local_path("owner/name")  # no download tried
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolve_directory("~/owner/name", **kind) == tmp_path / "owner" / "name"


def test_every_caller_gives_the_same_one_line_error_for_neither(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    name = "bad name!"
    reason = neither(name, suffix=True)
    with pytest.raises(DataError) as info:
        read_examples(name, training=False, cache_dir=str(tmp_path / "cache"))
    assert str(info.value) == f"{name}: {reason}"
    with pytest.raises(DataError) as info:
        read_documents(name, cache_dir=str(tmp_path / "cache"))
    assert str(info.value) == f"{name}: {reason}"
    with pytest.raises(ConfigError) as info:
        _existing_or_name(name, "data.train_file")
    assert str(info.value) == f"config key 'data.train_file': {reason}"
    with pytest.raises(CheckpointError) as info:
        load_tokenizer(name)
    assert str(info.value).startswith(f"tokenizer {name!r}: {neither(name)}; pass a local directory")


def test_a_missing_path_is_file_not_found_everywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"a/b/c: file not found$"):
        read_examples("a/b/c", training=False, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(DataError, match=r"^a/b/c: file not found$"):  # was a Hub name for the corpus
        resolve_sources("a/b/c")
    with pytest.raises(CheckpointError, match=r"local directory .*/a/b/c not found"):
        load_tokenizer("a/b/c")


# ---- offline --------------------------------------------------------------------------------------

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def online(monkeypatch):
    """No offline variable set (conftest sets two of them for every test): each test adds its own."""
    for variable in OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_unset_is_online(online):
    assert not offline() and offline_note() == ""


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"])
@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("true", True), ("YES", True), ("On", True), ("0", False), ("false", False), ("", False),
    ("offline", False),
])
def test_offline_values_as_huggingface_hub_parses_them(online, variable, value, expected):
    online.setenv(variable, value)
    assert offline() is expected
    assert offline_note() == (f" (offline: {variable}={value})" if expected else "")


def test_hf_hub_offline_decides_before_transformers_offline(online):
    online.setenv("TRANSFORMERS_OFFLINE", "1")
    online.setenv("HF_HUB_OFFLINE", "0")  # huggingface_hub reads TRANSFORMERS_OFFLINE only without this
    assert not offline()
    online.setenv("HF_DATASETS_OFFLINE", "yes")
    assert offline_note() == " (offline: HF_DATASETS_OFFLINE=yes)"
    online.setenv("HF_HUB_OFFLINE", "TRUE")
    assert offline_note() == " (offline: HF_HUB_OFFLINE=TRUE, HF_DATASETS_OFFLINE=yes)"


def test_the_readers_report_offline_with_this_check(online, tmp_path):
    online.setenv("HF_DATASETS_OFFLINE", "True")
    with pytest.raises(DataError) as info:
        read_documents("no-such-owner/no-such-corpus", cache_dir=str(tmp_path / "cache"))
    assert "loading it as a hub dataset failed (offline: HF_DATASETS_OFFLINE=True): " in str(info.value)
    with pytest.raises(DataError) as info:
        read_examples("no-such-owner/no-such-data", training=False, cache_dir=str(tmp_path / "cache"))
    assert "datasets hub name failed (offline: HF_DATASETS_OFFLINE=True): " in str(info.value)
