"""Masked-LM pretraining (`task.objective=mlm`): the masking rules, the rows through the shared data
module, the module's loss, and the run end to end into a checkpoint that fine-tuning loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from splinter.errors import ConfigError
from splinter.model.factory import load_model
from splinter.pretraining.datamodule import PretrainDataModule, collate_passages
from splinter.pretraining.masked_lm import MaskingVocabulary, mask_passages_mlm, mask_tokens
from splinter.pretraining.module import PretrainModule
from splinter.pretraining.objectives import OBJECTIVES
from splinter.tokenization.tokenizer import load_tokenizer

SAMPLE = Path(__file__).parent / "fixtures" / "pretrain" / "sample.txt"
TINY = dict(
    vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    max_position_embeddings=512, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
)
# A toy vocabulary: ids 0-4 and 9 are special, 5-8 and 10-19 are wordpieces.
VOCAB = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "[QUESTION]": 9,
         **{f"w{i}": i for i in (5, 6, 7, 8, *range(10, 20))}}


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def vocabulary():
    return MaskingVocabulary.from_vocab(VOCAB)


def passage(rng: np.random.Generator, length: int = 200) -> list[int]:
    """[CLS] words with specials sprinkled in [SEP]."""
    body = rng.choice([1, 5, 6, 7, 8, 9, *range(10, 20)], size=length - 2).tolist()
    return [2, *body, 3]


# ---------------------------------------------------------------------------------------------------
# Masking rules


def test_special_tokens_are_never_masked_nor_drawn(vocabulary):
    assert np.flatnonzero(~vocabulary.maskable).tolist() == [0, 1, 2, 3, 4, 9]
    assert vocabulary.replacements.tolist() == [5, 6, 7, 8, *range(10, 20)]
    rng = np.random.default_rng(0)
    for _ in range(50):
        ids = passage(rng)
        m = mask_tokens(ids, vocabulary, rng)
        assert all(vocabulary.maskable[ids[p]] for p in m.masked_positions)
        specials = [i for i, t in enumerate(ids) if not vocabulary.maskable[t]]
        assert [m.input_ids[i] for i in specials] == [ids[i] for i in specials]  # untouched
        changed = [i for i in range(len(ids)) if m.input_ids[i] != ids[i]]
        assert set(changed) <= set(m.masked_positions)
        assert all(m.input_ids[i] == 4 or vocabulary.maskable[m.input_ids[i]] for i in changed)


def test_rate_is_fifteen_percent_of_the_maskable_pieces(vocabulary):
    rng = np.random.default_rng(1)
    for length in (3, 4, 10, 57, 256):
        ids = passage(rng, length)
        candidates = sum(bool(vocabulary.maskable[t]) for t in ids)
        m = mask_tokens(ids, vocabulary, rng)
        expected = 0 if candidates == 0 else max(1, round(0.15 * candidates))
        assert len(m.masked_positions) == expected, (length, candidates)
        assert m.masked_positions == sorted(set(m.masked_positions))
        assert m.masked_labels == [ids[p] for p in m.masked_positions]
        assert len(m.input_ids) == len(ids)
    only_specials = mask_tokens([2, 1, 9, 3], vocabulary, rng)
    assert only_specials.masked_positions == [] and only_specials.input_ids == [2, 1, 9, 3]
    assert len(mask_tokens(passage(rng, 200), vocabulary, rng, mask_ratio=0.5).masked_positions) > 80


def test_eighty_ten_ten_on_a_seeded_draw(vocabulary):
    rng = np.random.default_rng(2)
    shown = {"mask": 0, "same": 0, "other": 0}
    for _ in range(400):
        ids = passage(rng)
        m = mask_tokens(ids, vocabulary, rng)
        for position, label in zip(m.masked_positions, m.masked_labels, strict=True):
            token = m.input_ids[position]
            shown["mask" if token == 4 else "same" if token == label else "other"] += 1
    total = sum(shown.values())
    assert total > 10_000
    # a random replacement equals the original 1 time in 14 here: "same" gets ~0.1 + 0.1/14
    assert shown["mask"] / total == pytest.approx(0.8, abs=0.015)
    assert shown["same"] / total == pytest.approx(0.1 + 0.1 / 14, abs=0.015)
    assert shown["other"] / total == pytest.approx(0.1 * 13 / 14, abs=0.015)


def test_masks_depend_on_the_seed_and_passage_index_only(tokenizer, tmp_path):
    import datasets

    rng = np.random.default_rng(3)
    vocab_size = tokenizer.get_vocab_size()
    passages = datasets.Dataset.from_dict(
        {"input_ids": [[101, *rng.integers(1000, vocab_size, size=60).tolist(), 102] for _ in range(24)]}
    )
    one = mask_passages_mlm(passages, tokenizer, seed=7)
    again = mask_passages_mlm(passages, tokenizer, seed=7, batch_size=5)
    two_procs = mask_passages_mlm(passages, tokenizer, seed=7, num_proc=2, batch_size=4)
    other = mask_passages_mlm(passages, tokenizer, seed=8)
    assert one.column_names == ["input_ids", "masked_positions", "masked_labels"]
    assert one.to_dict() == again.to_dict() == two_procs.to_dict()
    assert one["masked_positions"] != other["masked_positions"]
    assert all(len(p) == 9 for p in one["masked_positions"])  # round(0.15 × 60)


# ---------------------------------------------------------------------------------------------------
# Through the shared pipeline


def make_datamodule(tokenizer, cache, **kwargs):
    options = dict(max_seq_length=64, batch_size=8, seed=3, cache_dir=cache, shuffle=False, objective="mlm")
    options.update(kwargs)
    return PretrainDataModule(str(SAMPLE), tokenizer, **options)


def test_collate_pads_mlm_labels_with_ignore_index():
    rows = [
        {"input_ids": [101, 103, 7, 102], "masked_positions": [1], "masked_labels": [2000]},
        {"input_ids": [101, 5, 103, 103, 102], "masked_positions": [2, 3], "masked_labels": [3000, 3001]},
    ]
    batch = collate_passages(rows, label_padding=OBJECTIVES["mlm"].label_padding)
    assert batch["input_ids"].tolist() == [[101, 103, 7, 102, 0], [101, 5, 103, 103, 102]]
    assert batch["masked_positions"].tolist() == [[1, 0], [2, 3]]
    assert batch["masked_labels"].tolist() == [[2000, -100], [3000, 3001]]
    assert "question_positions" not in batch


def test_datamodule_mlm_rows_statistics_and_streaming(tokenizer, tmp_path):
    cache = str(tmp_path / "cache")
    dm = make_datamodule(tokenizer, cache, statistics_path=str(tmp_path / "stats.json"))
    dm.setup("fit")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats == dm.statistics and stats["passages"] == len(dm.dataset) > 0
    assert stats["masked_fraction"] == pytest.approx(0.15 * (1 - 2 / stats["passage_length_mean"]), abs=0.01)
    assert stats["shown_as_mask"] == pytest.approx(0.8, abs=0.05)
    assert stats["shown_as_mask"] + stats["shown_as_original"] + stats["shown_as_random"] == pytest.approx(1.0)
    mask_id = tokenizer.token_to_id("[MASK]")
    masked = 0
    batches = list(dm.train_dataloader())
    for batch in batches:
        real = batch["masked_labels"] >= 0
        assert real.any(dim=1).all()
        rows = torch.arange(batch["input_ids"].shape[0])[:, None].expand_as(real)
        shown = batch["input_ids"][rows[real], batch["masked_positions"][real]]
        assert (shown != tokenizer.token_to_id("[CLS]")).all()
        masked += int(real.sum())
        assert int((shown == mask_id).sum()) > 0
    assert masked == stats["masked_tokens"]
    streamed = make_datamodule(tokenizer, cache, streaming=True)
    streamed.setup("fit")
    assert [b["input_ids"].tolist() for b in streamed.train_dataloader()] == [b["input_ids"].tolist() for b in batches]
    assert streamed.statistics == dm.statistics


def test_unknown_or_mismatched_objective_is_a_config_error(tokenizer, tmp_path):
    with pytest.raises(ConfigError, match=r"^config key 'task.objective': unknown objective 'clm' \(valid: rss, mlm\)$"):
        PretrainDataModule(str(SAMPLE), tokenizer, objective="clm")
    with pytest.raises(ConfigError, match="task.objective"):
        load_model(config=TINY, objective="clm")
    dm = make_datamodule(tokenizer, str(tmp_path / "cache"))  # masked for MLM
    module = PretrainModule(load_model(config=TINY, objective="rss"))  # trains recurring spans
    trainer = pl.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, default_root_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="the data are masked for 'mlm' but the model trains 'rss'"):
        trainer.fit(module, datamodule=dm)


def test_mlm_steps_reduce_the_loss_and_all_ignored_gives_zero(tokenizer, tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = make_datamodule(tokenizer, str(tmp_path / "cache"))
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    module = PretrainModule(load_model(config=TINY, objective="mlm"), lr=3e-3, warmup_steps=0, objective="mlm")

    def loss() -> float:
        module.eval()
        with torch.no_grad():
            return float(module.model(batch["input_ids"], batch["attention_mask"], masked_positions=batch[
                "masked_positions"], labels=batch["masked_labels"]).loss)

    before = loss()
    assert before == pytest.approx(np.log(30522), abs=0.5)  # a fresh head: near uniform
    trainer = pl.Trainer(max_steps=15, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1,
                         default_root_dir=str(tmp_path))
    trainer.fit(module, datamodule=dm)
    assert loss() < before - 0.5
    assert {"train/loss", "train/lr", "train/masked_per_row"} <= set(trainer.callback_metrics)
    empty = collate_passages([{"input_ids": [101, 7, 102], "masked_positions": [], "masked_labels": []}],
                    label_padding=OBJECTIVES["mlm"].label_padding)
    with pytest.warns(UserWarning, match="trainer"):  # self.log without a trainer
        zero = PretrainModule(load_model(config=TINY, objective="mlm"), objective="mlm").training_step(empty, 0)
    assert torch.isfinite(zero) and zero.item() == 0.0


def test_train_py_task_pretrain_mlm_end_to_end(tmp_path):
    from hydra import compose, initialize_config_dir

    from splinter.model.masked_lm import SplinterForMaskedLM
    from splinter.model.qa import SplinterForQuestionAnswering
    from splinter.pretraining.run import run

    conf = Path(__file__).parent.parent / "conf"
    overrides = [
        "task=pretrain", "task.objective=mlm", "data=text", "model=tiny", "trainer=cpu", "logger=none",
        f"output_dir={tmp_path}", f"data.files=[{SAMPLE}]", "data.max_seq_length=64", "data.batch_size=4",
        "data.num_workers=0", f"data.cache_dir={tmp_path / 'cache'}", "task.max_steps=3",
        "task.checkpoint_every_n_steps=3", "task.module.warmup_ratio=0.5", "trainer.enable_progress_bar=false",
    ]
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    results = run(cfg)
    assert results["objective"] == "mlm" and results["steps"] == 3 and results["final_loss"] > 0
    stats = json.loads((tmp_path / "span_statistics.json").read_text())
    assert stats == results["span_statistics"] and stats["masked_tokens"] > 0
    mlm = SplinterForMaskedLM.from_pretrained(str(tmp_path / "model"))
    qa, info = SplinterForQuestionAnswering.from_pretrained(str(tmp_path / "model"), output_loading_info=True)
    assert all(key.startswith("splinter_qass.") for key in info["missing_keys"])  # a fresh QASS head
    encoder = mlm.splinter.state_dict()
    assert all(torch.equal(qa.splinter.state_dict()[k], v) for k, v in encoder.items())
