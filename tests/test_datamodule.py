"""QADataModule end to end on the fixtures (MiniLM tokenizer), the Hydra data configs, and the slow
real-data check over all 35 SQuAD splits and the full MRQA dev set."""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

import pytest
import torch

from splinter.data.datamodule import QADataModule
from splinter.data.examples import NOTE_TEXT_NORMALISED
from splinter.data.formats.readers import file_sha256, read_examples
from splinter.data.splits import SEEDS, SHOTS, resolve_dev_file, resolve_train_file
from splinter.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
ROOT = FIXTURES / "root"
SHARED = REPO.parent / "shared" / "data"
CONF = REPO / "conf" / "data"


@pytest.fixture(scope="module")
def tokenizer():
    from splinter.tokenization.tokenizer import load_tokenizer

    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("datasets-cache"))


def make(tokenizer, cache, **kw) -> QADataModule:
    kw = {"root": ROOT, "cache_dir": cache, "verbose": False, **kw}
    return QADataModule(tokenizer, **kw)


@pytest.fixture(scope="module")
def dm(tokenizer, cache) -> QADataModule:
    module = make(tokenizer, cache, shuffle_seed=0)
    module.prepare_data()
    module.setup("fit")
    module.setup("test")
    return module


def label_spans(examples, tokenizer, settings):
    """Per training window: (example, char span of its label or None), by pairing the training windows
    with evaluation windows built from the same examples (same cutting, so the rows line up)."""
    from splinter.data.windows import build_windows

    train = build_windows(examples, tokenizer, settings, training=True)
    evaluation = build_windows(examples, tokenizer, settings, training=False)
    assert len(train) == len(evaluation)
    by_id = {e["id"]: e for e in examples}
    out = []
    for start, end, example_id, offsets in zip(train["start_position"], train["end_position"],
                                               evaluation["example_id"], evaluation["offsets"], strict=True):
        span = None if start == 0 else (offsets[start][0], offsets[end][1])
        assert (start == 0) == (end == 0) and start <= end
        out.append((by_id[example_id], span))
    return out


def check_round_trip(pairs) -> Counter:
    """Every label's characters are the answer (or, when the answer ends inside a word piece, contain it);
    every question has at least one labelled window."""
    counts, labelled = Counter(), set()
    for example, span in pairs:
        if span is None:
            continue
        text, start = example["answer_texts"][0], example["answer_starts"][0]
        labelled.add(example["id"])
        got = example["context"][span[0]:span[1]]
        if got == text:
            counts["exact"] += 1
        else:
            assert span[0] <= start and start + len(text) <= span[1], (example["id"], got, text)
            assert span[1] - span[0] < len(text) + 20, (example["id"], got, text)
            counts["covers"] += 1
    counts["questions_without_label"] = len({e["id"] for e, _ in pairs} - labelled)
    return counts


# ----------------------------------------------------------------------------------------- batches


def test_train_batches(dm, tokenizer):
    question_id = tokenizer.token_to_id("[QUESTION]")
    batches = list(dm.train_dataloader())
    assert len(dm.train_examples) == 16 and len(dm.train_windows) == 17
    assert [len(b["input_ids"]) for b in batches] == [12, 5]
    for batch in batches:
        assert set(batch) == {"input_ids", "attention_mask", "token_type_ids", "question_positions",
                              "start_positions", "end_positions"}
        size, length = batch["input_ids"].shape
        assert length % 8 == 0 and length <= 384
        assert batch["attention_mask"].shape == batch["token_type_ids"].shape == (size, length)
        assert batch["question_positions"].shape == (size, 1)
        rows = torch.arange(size)
        assert (batch["input_ids"][rows, batch["question_positions"][:, 0]] == question_id).all()
        assert (batch["start_positions"] <= batch["end_positions"]).all()
        assert (batch["token_type_ids"] == 0).all()  # zero_token_type_ids=True by default


def test_eval_batches_carry_window_index(dm):
    seen = []
    for batch in dm.test_dataloader():
        assert "window_index" in batch and "start_positions" not in batch
        assert batch["input_ids"].shape[0] == batch["window_index"].shape[0] <= 32
        seen += batch["window_index"].tolist()
    assert seen == list(range(len(dm.eval_windows)))  # no shuffling, every window once
    assert dm.eval_windows["window_index"][:] == seen
    assert dm.val_dataloader().batch_size == dm.predict_dataloader().batch_size == 32


def test_training_order_is_a_function_of_the_seed(tokenizer, cache, monkeypatch):
    def order(module):
        return [b["input_ids"][:, :16].tolist() for b in module.train_dataloader()]

    a, b, c = (make(tokenizer, cache, shuffle_seed=s) for s in (1, 1, 2))
    assert order(a) == order(b) != order(c)
    monkeypatch.setenv("PL_GLOBAL_SEED", "2")  # set by lightning.seed_everything(2)
    d = make(tokenizer, cache)
    assert d.shuffle_seed == 2 and order(d) == order(c)
    monkeypatch.delenv("PL_GLOBAL_SEED")
    assert make(tokenizer, cache, seed=43).shuffle_seed == 43


def test_group_by_length(tokenizer, cache):
    module = make(tokenizer, cache, group_by_length=True, batch_size=4, pad_to_multiple_of=None)
    batches = list(module.train_dataloader())
    assert sum(len(b["input_ids"]) for b in batches) == 17
    lengths = [b["attention_mask"].shape[1] for b in batches]
    assert lengths[0] == max(lengths)  # the longest batch first (an OOM shows at step 1)


def test_every_labelled_train_window_maps_back_to_its_answer(dm, tokenizer):
    pairs = label_spans(dm.train_examples, tokenizer, dm.settings)
    counts = check_round_trip(pairs)
    assert counts["exact"] == 17 and counts["covers"] == 0 and counts["questions_without_label"] == 0
    # the datamodule's own training windows carry the same labels
    starts = list(dm.train_windows["start_position"])
    assert [s > 0 for s in starts] == [span is not None for _, span in pairs]


def test_references_contexts_and_info(dm):
    examples = dm.eval_examples
    refs, contexts = dm.references(), dm.contexts()
    assert len(refs) == len(contexts) == len(examples) == 134
    assert refs["56be4eafacb8001400a50304"] == ["Broncos", "The Broncos", "Broncos"]
    assert set(dm.eval_windows["example_id"]) == set(refs)
    info = dm.data_info()
    assert dm.train_path == ROOT / "mrqa-few-shot/squad/squad-train-seed-42-num-examples-16.jsonl"
    assert info["train_sha256"] == file_sha256(ROOT / "mrqa-few-shot/squad/squad-train-seed-42-num-examples-16.jsonl")
    assert info["eval_file"].endswith("SQuAD.jsonl.gz") and info["eval_windows"] == len(dm.eval_windows)
    assert [s["split"] for s in info["summaries"]] == ["train", "eval"]
    assert [str(s) for s in dm.summaries][0] == "squad-train-seed-42-num-examples-16.jsonl: kept 16 / 16 questions"


def test_evaluation_only_setup_reads_no_training_file(tokenizer, cache, tmp_path):
    # a root without any training split: scoring a predictions file must not need one
    module = make(tokenizer, cache, eval_file=str(ROOT / "mrqa-dev/SQuAD.jsonl.gz"), root=tmp_path)
    module.setup("test", windows=False)
    assert module._eval_windows is None and len(module.references()) == 134
    info = module.data_info()
    assert "train_file" not in info and info["eval_questions"] == 134 and "eval_windows" not in info
    assert module.eval_path == ROOT / "mrqa-dev/SQuAD.jsonl.gz"
    assert len(module.eval_windows) == 134 and len(module.summaries) == 1  # summary reported once
    with pytest.raises(ConfigError, match="data.root"):
        module.setup("fit")


def test_max_eval_examples_is_a_prefix_in_file_order(tokenizer, cache):
    module = make(tokenizer, cache, max_eval_examples=7)
    full, _ = read_examples(ROOT / "mrqa-dev/SQuAD.jsonl.gz", training=False, cache_dir=cache)
    assert list(module.eval_examples["id"]) == list(full["id"])[:7]
    assert set(module.eval_windows["example_id"]) == set(list(full["id"])[:7])
    with pytest.raises(ConfigError, match="max_eval_examples"):
        make(tokenizer, cache, max_eval_examples=0)


def test_custom_files_and_sampling_from_a_full_file(tokenizer, cache, capsys, caplog):
    dev = ROOT / "mrqa-dev/SQuAD.jsonl.gz"
    module = make(tokenizer, cache, train_file=str(dev), eval_file=str(FIXTURES / "squad_v1_slice.json"),
                  sample_from_full=True, shots=8, seed=3, verbose=True)
    module.setup("fit")
    again = make(tokenizer, cache, train_file=str(dev), sample_from_full=True, shots=8, seed=3)
    again.setup("fit")
    assert len(module.train_examples) == 8
    assert list(module.train_examples["id"]) == list(again.train_examples["id"])
    assert len(module.eval_examples) == 80
    out = capsys.readouterr().out + caplog.text  # printed, or logged where logging shows it
    assert "SQuAD.jsonl.gz: kept 134 / 134 questions" in out and "sampled 8 training questions" in out
    with pytest.raises(ConfigError, match="data.train_file"):
        make(tokenizer, cache, sample_from_full=True)
    with pytest.raises(ConfigError, match=r"data\.train_file.*missing\.jsonl"):
        make(tokenizer, cache, train_file="nowhere/missing.jsonl").setup("fit")
    with pytest.raises(ConfigError, match=r"data\.shots"):
        make(tokenizer, cache, shots=20).setup("fit")


def test_a_directory_given_as_a_data_file_is_called_a_directory(tokenizer, cache, tmp_path):
    with pytest.raises(ConfigError) as info:
        make(tokenizer, cache, eval_file=str(tmp_path)).setup("test")
    assert str(info.value) == f"config key 'data.eval_file': {tmp_path} is a directory, not a data file"


def test_lightning_runs_the_hooks(tokenizer, cache):
    import pytorch_lightning as pl

    class Probe(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(()))
            self.trained_on = []

        def training_step(self, batch, batch_idx):
            self.trained_on.append(batch["start_positions"].shape[0])
            return (self.weight - batch["start_positions"].float().mean()) ** 2

        def predict_step(self, batch, batch_idx):
            return batch["window_index"]

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    module = make(tokenizer, cache, max_eval_examples=40)
    module.prepare_data()
    assert module.train_windows is None and module.summaries == []  # prepare_data assigns no state
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    probe = Probe()
    trainer.fit(probe, datamodule=module)
    assert probe.trained_on == [12, 5]
    indices = torch.cat(trainer.predict(probe, datamodule=module)).tolist()
    assert indices == list(range(len(module.eval_windows))) and len(module.eval_examples) == 40


def test_tokenizer_by_name(cache):
    module = make("minilm", cache)
    assert module.tokenizer.token_to_id("[QUESTION]") == 104
    assert module.hparams["tokenizer"] == "minilm"


# ----------------------------------------------------------------------------------------- hydra


def _compose(name: str, overrides=()):
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    # a data file alone: the paths group it interpolates (${paths.*}) is the top config's
    with open_dict(cfg):
        cfg.paths = OmegaConf.load(CONF.parent / "paths" / "default.yaml")
    return cfg


@pytest.mark.parametrize("name", ["squad", "newsqa", "triviaqa", "searchqa", "hotpotqa", "naturalquestions",
                                  "bioasq", "textbookqa", "custom"])
def test_data_configs_match_the_datamodule(name, monkeypatch):
    from omegaconf import OmegaConf

    cfg = _compose(name)
    keys = set(cfg) - {"hydra", "_target_", "paths"}
    parameters = set(inspect.signature(QADataModule.__init__).parameters) - {"self", "verbose"}
    assert cfg._target_ == "splinter.data.datamodule.QADataModule"
    assert keys == parameters
    assert OmegaConf.to_container(cfg, resolve=False)["tokenizer"] == "${model.tokenizer}"
    assert cfg.dataset == name
    monkeypatch.delenv("SPLINTER_DATA_ROOT", raising=False)
    assert cfg.root is None  # QADataModule: the per-user default root, never a folder beside the repository
    monkeypatch.setenv("SPLINTER_DATA_ROOT", str(Path("mrqa-data").resolve()))
    assert cfg.root == str(Path("mrqa-data").resolve())
    assert cfg.eval_set is None
    if name == "custom":
        assert OmegaConf.is_missing(cfg, "train_file") and OmegaConf.is_missing(cfg, "eval_file")
    else:
        assert cfg.train_file is None and cfg.eval_file is None
        assert (cfg.max_seq_length, cfg.doc_stride, cfg.max_query_length, cfg.batch_size) == (384, 128, 64, 12)


def test_default_root_and_eval_set(tokenizer, cache, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("SPLINTER_DATA_ROOT")
    module = QADataModule(tokenizer, cache_dir=cache, verbose=False)
    assert module.root == str(tmp_path / "xdg" / "splinter") and module.eval_dataset == "squad"
    with pytest.raises(ConfigError) as info:
        module.train_path  # noqa: B018 (the property resolves the file)
    assert f"run `python -m splinter.download --root {tmp_path / 'xdg' / 'splinter'}`" in str(info.value)
    # out-of-domain: train on SQuAD's split, score on another set's evaluation file
    drop = tmp_path / "root" / "mrqa-dev" / "DROP.jsonl.gz"
    drop.parent.mkdir(parents=True)
    drop.write_bytes((ROOT / "mrqa-dev" / "SQuAD.jsonl.gz").read_bytes())
    module = make(tokenizer, cache, root=tmp_path / "root", eval_set="DROP")
    assert module.eval_dataset == "drop" and module.eval_path == drop
    assert make(tokenizer, cache, eval_set="squad").eval_dataset == "squad"
    with pytest.raises(ConfigError) as info:
        make(tokenizer, cache, root=tmp_path / "root", eval_set="race").eval_path  # noqa: B018
    assert str(info.value).startswith("config key 'data.root': no evaluation file for 'race': tried ")
    with pytest.raises(ConfigError, match=r"^config key 'data.eval_set': unknown evaluation set 'wiki'"):
        make(tokenizer, cache, eval_set="wiki")


def test_a_file_that_differs_from_the_manifest_stops_the_run(tokenizer, cache, tmp_path):
    from splinter.data.release.manifest import write_manifest
    from splinter.errors import ChecksumError

    split = "mrqa-few-shot/squad/squad-train-seed-42-num-examples-16.jsonl"
    (tmp_path / split).parent.mkdir(parents=True)
    (tmp_path / split).write_bytes((ROOT / split).read_bytes())
    (tmp_path / "mrqa-dev").mkdir()
    (tmp_path / "mrqa-dev" / "SQuAD.jsonl.gz").write_bytes((ROOT / "mrqa-dev" / "SQuAD.jsonl.gz").read_bytes())
    recorded = {"bytes": 1, "sha256": "0" * 64}
    write_manifest(tmp_path, {"mrqa-dev/SQuAD.jsonl.gz": recorded})
    module = make(tokenizer, cache, root=tmp_path, max_eval_examples=5)
    with pytest.raises(ChecksumError) as info:  # a pinned name, but the fixture is a cut of the real split
        module.setup("fit")
    pin = "aa9982e9607cf9ec67d43fb602fccd3dcda18185ca089a2e98b5e138794dc915"
    assert str(info.value).startswith(f"{tmp_path / split}: sha256 mismatch: expected {pin}, got ")
    with pytest.raises(ChecksumError) as info:
        module.setup("test")
    actual = file_sha256(tmp_path / "mrqa-dev" / "SQuAD.jsonl.gz")
    assert str(info.value) == (f"{tmp_path / 'mrqa-dev' / 'SQuAD.jsonl.gz'}: sha256 mismatch: expected {'0' * 64}, "
                               f"got {actual} (changed or truncated; run `python -m splinter.download` to replace it)")


def test_instantiate_squad_config(cache):
    from hydra.utils import instantiate

    cfg = _compose("squad", [f"root={ROOT}", "tokenizer=minilm", f"cache_dir={cache}", "max_eval_examples=5"])
    module = instantiate({k: v for k, v in cfg.items() if k not in ("hydra", "paths")})
    assert isinstance(module, QADataModule)
    module.setup("test")
    assert len(module.eval_examples) == 5 and module.train_path.name.endswith("num-examples-16.jsonl")


# ----------------------------------------------------------------------------------------- real data


@pytest.mark.slow
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data is not there")
def test_all_shared_splits_and_the_full_dev_set(tokenizer, tmp_path):
    """All 35 SQuAD splits + the MRQA SQuAD dev set: nothing skipped, every label round-trips."""
    from splinter.data.windows import WindowSettings, build_windows

    cache, settings = str(tmp_path), WindowSettings()
    totals: Counter = Counter()
    notes: Counter = Counter()
    for shots in SHOTS:
        for seed in SEEDS:
            examples, summary = read_examples(resolve_train_file(SHARED, "squad", shots, seed), training=True,
                                              cache_dir=cache)
            assert summary.skipped == {} and summary.kept == summary.total == shots, str(summary)
            assert set(summary.notes) <= {NOTE_TEXT_NORMALISED}  # no span on other text in SQuAD's splits
            notes.update(summary.notes)
            pairs = label_spans(examples, tokenizer, settings)
            counts = check_round_trip(pairs)
            assert counts["questions_without_label"] == 0
            totals.update(counts)
            totals["train_questions"] += len(examples)
            totals["train_windows"] += len(pairs)
    dev, summary = read_examples(resolve_dev_file(SHARED, "squad"), training=False, cache_dir=cache)
    assert summary.skipped == {} and summary.total == len(dev) == 10507 and summary.contexts == 2067
    windows = build_windows(dev, tokenizer, settings, training=False)
    assert set(windows["example_id"]) == set(dev["id"])
    print(f"\n35 splits: {totals['train_questions']} questions, {totals['train_windows']} windows; labelled "
          f"windows: {totals['exact']} exactly the answer, {totals['covers']} covering it (answer edge inside a "
          f"word piece); split notes {dict(notes)}")
    print(f"dev: {summary}; {len(windows)} windows")


def test_a_tokenizer_given_as_a_path_is_a_name_like_a_string(cache):
    """Before: a Path passed the `(str, PathLike)` check but not the `str` one a line above, so the
    hyper-parameters (the checkpoint's record, compared on resume) silently lacked the tokenizer."""
    from splinter.registry.minilm import minilm_model_dir

    directory = Path(minilm_model_dir())
    module = QADataModule(directory, root=ROOT, cache_dir=cache, verbose=False)
    assert module.hparams["tokenizer"] == str(directory)
    assert module.tokenizer.token_to_id("[SEP]") == 102
