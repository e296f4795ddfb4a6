"""Few-shot split resolution and seeded sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from splinter.data.formats.readers import read_examples
from splinter.data.splits import (
    DATASETS,
    EVAL_SETS,
    SEEDS,
    SHOTS,
    default_data_root,
    eval_set_name,
    resolve_dev_file,
    resolve_train_file,
    sample_few_shot,
)
from splinter.errors import ConfigError

ROOT = Path(__file__).parent / "fixtures" / "root"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def test_tables():
    assert SHOTS == (16, 32, 64, 128, 256, 512, 1024) and SEEDS == (42, 43, 44, 45, 46)
    assert DATASETS["squad"] == ("squad", "SQuAD")
    assert DATASETS["triviaqa"] == ("triviaqa", "TriviaQA-web")
    assert DATASETS["naturalquestions"] == ("naturalquestions", "NaturalQuestionsShort")
    assert sorted(DATASETS) == sorted(["squad", "newsqa", "triviaqa", "searchqa", "hotpotqa",
                                       "naturalquestions", "bioasq", "textbookqa"])


def test_resolve_released_split_and_dev_file():
    assert resolve_train_file(ROOT, "squad", 16, 42) == (
        ROOT / "mrqa-few-shot/squad/squad-train-seed-42-num-examples-16.jsonl")
    assert resolve_train_file(str(ROOT), "SQuAD", 16, 42).is_file()
    assert resolve_dev_file(ROOT, "squad") == ROOT / "mrqa-dev/SQuAD.jsonl.gz"


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not there")
def test_resolve_every_shared_split():
    for shots in SHOTS:
        for seed in SEEDS:
            assert resolve_train_file(SHARED, "squad", shots, seed).name == (
                f"squad-train-seed-{seed}-num-examples-{shots}.jsonl")
    assert resolve_dev_file(SHARED, "squad") == SHARED / "mrqa-dev/SQuAD.jsonl.gz"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    return path


def test_eval_file_rule_follows_the_papers_protocol(tmp_path):
    # in-domain: the release's dev.jsonl (what the paper's code evaluated on), else the MRQA dev set
    mrqa_squad = _touch(tmp_path / "mrqa-dev" / "SQuAD.jsonl.gz")
    assert resolve_dev_file(tmp_path, "squad") == mrqa_squad
    release_squad = _touch(tmp_path / "mrqa-few-shot" / "squad" / "dev.jsonl")
    assert resolve_dev_file(tmp_path, "squad") == release_squad
    # BioASQ / TextbookQA: only the release's held-out dev.jsonl; MRQA's dev set holds their training questions
    for name, stem in (("bioasq", "BioASQ"), ("textbookqa", "TextbookQA")):
        _touch(tmp_path / "mrqa-dev" / f"{stem}.jsonl.gz")
        with pytest.raises(ConfigError) as info:
            resolve_dev_file(tmp_path, name)
        message = str(info.value)
        assert f"tried {tmp_path / 'mrqa-few-shot' / name / 'dev.jsonl'};" in message
        assert f"mrqa-dev/{stem}.jsonl.gz is not used" in message and "python -m splinter.download" in message
        held_out = _touch(tmp_path / "mrqa-few-shot" / name / "dev.jsonl")
        assert resolve_dev_file(tmp_path, name) == held_out
    # MRQA-only out-of-domain sets, by key or MRQA name
    drop = _touch(tmp_path / "mrqa-dev" / "DROP.jsonl.gz")
    assert resolve_dev_file(tmp_path, "drop") == resolve_dev_file(tmp_path, "DROP") == drop
    duorc = _touch(tmp_path / "mrqa-dev" / "DuoRC.ParaphraseRC.jsonl")
    assert resolve_dev_file(tmp_path, "DuoRC") == duorc


def test_eval_set_names():
    assert sorted(EVAL_SETS) == sorted([*DATASETS, "drop", "duorc", "race", "relationextraction"])
    assert [eval_set_name(n) for n in ("BioASQ", "TriviaQA-web", "triviaqa", "DuoRC.ParaphraseRC", "RACE")] == [
        "bioasq", "triviaqa", "triviaqa", "duorc", "race"]
    with pytest.raises(ConfigError) as info:
        eval_set_name("wikiqa")
    assert str(info.value).startswith("config key 'data.eval_set': unknown evaluation set 'wikiqa' (valid: squad,")
    assert str(info.value).endswith("race, relationextraction)")


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("SPLINTER_DATA_ROOT", str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"
    monkeypatch.delenv("SPLINTER_DATA_ROOT")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_root() == tmp_path / "xdg" / "splinter"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_root() == tmp_path / "home" / ".cache" / "splinter"
    assert "shared" not in str(default_data_root())


@pytest.mark.parametrize(
    ("args", "key", "fragments"),
    [
        (("wikiqa", 16, 42), "data.dataset", ["unknown dataset 'wikiqa'", "squad, newsqa, triviaqa"]),
        (("squad", 100, 42), "data.shots", ["100", "16, 32, 64, 128, 256, 512, 1024"]),
        (("squad", 16, 7), "data.seed", ["seed 7", "42, 43, 44, 45, 46"]),
        (("squad", 32, 42), "data.root", ["squad-train-seed-42-num-examples-32.jsonl", "not found",
                                          f"run `python -m splinter.download --root {ROOT}`"]),
        (("newsqa", 16, 42), "data.root", [str(ROOT / "mrqa-few-shot/newsqa")]),
    ],
)
def test_train_file_errors_name_the_key_and_choices(args, key, fragments):
    with pytest.raises(ConfigError) as info:
        resolve_train_file(ROOT, *args)
    assert info.value.key == key and str(info.value).startswith(f"config key '{key}'")
    for fragment in fragments:
        assert fragment in str(info.value)


def test_missing_root_and_dev_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        resolve_train_file(tmp_path / "does-not-exist", "squad", 16, 42)
    assert str(info.value) == (
        f"config key 'data.root': data folder {tmp_path / 'does-not-exist'} does not exist: run "
        f"`python -m splinter.download --root {tmp_path / 'does-not-exist'}`, or point data.root or "
        "SPLINTER_DATA_ROOT at a folder holding mrqa-few-shot/ and mrqa-dev/")
    with pytest.raises(ConfigError) as info:
        resolve_dev_file(tmp_path, "hotpotqa")
    assert info.value.key == "data.root"
    assert str(info.value) == (
        f"config key 'data.root': no evaluation file for 'hotpotqa': tried "
        f"{tmp_path / 'mrqa-few-shot/hotpotqa/dev.jsonl'}, {tmp_path / 'mrqa-dev/HotpotQA.jsonl.gz'}, "
        f"{tmp_path / 'mrqa-dev/HotpotQA.jsonl'} (run `python -m splinter.download --root {tmp_path}`, "
        "or set data.eval_file)")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    examples, _ = read_examples(ROOT / "mrqa-dev/SQuAD.jsonl.gz", training=True,
                                cache_dir=str(tmp_path_factory.mktemp("cache")))
    return examples


def test_sampling_is_pinned_and_seeded(full):
    # Pinned: numpy PCG64 permutations are stable across numpy versions and platforms.
    assert list(sample_few_shot(full, 5, 42)["id"]) == [
        "56beae423aeaaa14008c91f7", "572755b7708984140094dc4e", "5728742cff5b5019007da24a",
        "57297781af94a219006aa4a3", "5730285a04bcaa1900d77271"]
    assert list(sample_few_shot(full, 5, 42)["id"]) == list(sample_few_shot(full, 5, 42)["id"])
    assert list(sample_few_shot(full, 5, 43)["id"]) != list(sample_few_shot(full, 5, 42)["id"])
    draws = {tuple(sample_few_shot(full, 16, seed)["id"]) for seed in SEEDS}
    assert len(draws) == len(SEEDS)


def test_sampling_ignores_file_order_and_global_rng(full):
    ids = set(sample_few_shot(full, 16, 44)["id"])
    shuffled = full.select(np.random.default_rng(0).permutation(len(full)).tolist())
    np.random.seed(123)  # the global RNG plays no part
    assert set(sample_few_shot(shuffled, 16, 44)["id"]) == ids


def test_sample_keeps_file_order_and_checks_shots(full):
    order = {qid: i for i, qid in enumerate(full["id"])}
    sample = list(sample_few_shot(full, 32, 45)["id"])
    assert len(set(sample)) == 32 and sample == sorted(sample, key=order.__getitem__)
    assert len(sample_few_shot(full, len(full), 1)) == len(full)
    with pytest.raises(ConfigError, match=r"data\.shots.*asks for 135.*only 134"):
        sample_few_shot(full, 135, 42)
    with pytest.raises(ConfigError, match=r"data\.shots"):
        sample_few_shot(full, 0, 42)
