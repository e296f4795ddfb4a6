"""Pretraining pipeline: corpus reading and packing, the data module's batches, PretrainModule
(loss goes down, schedule, checkpoints that fine-tuning loads)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from splinter.errors import ConfigError, DataError
from splinter.model.factory import load_model
from splinter.pretraining.corpus import PassagePacker, load_passages, read_documents
from splinter.pretraining.datamodule import PretrainDataModule, collate_passages
from splinter.pretraining.module import PretrainModule
from splinter.tokenization.tokenizer import load_tokenizer

SAMPLE = Path(__file__).parent / "fixtures" / "pretrain" / "sample.txt"
TINY = dict(
    vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
    max_position_embeddings=512, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture
def cache(tmp_path):
    return str(tmp_path / "hf-cache")


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---------------------------------------------------------------------------------------------------
# Reading


def test_plain_text_documents_are_separated_by_blank_lines(tmp_path, cache):
    path = write(tmp_path / "c.txt", "first line\nsecond line\n\n  \n\nthird doc\n\n\nfourth\nend\n")
    assert read_documents(path, cache_dir=cache)["text"] == ["first line\nsecond line", "third doc", "fourth\nend"]
    assert read_documents(path, one_doc_per_line=True, cache_dir=cache)["text"] == [
        "first line", "second line", "third doc", "fourth", "end",
    ]
    assert len(read_documents(str(SAMPLE), cache_dir=cache)) == 10


def test_jsonl_gzip_and_several_sources_in_order(tmp_path, cache):
    a = write(tmp_path / "a.jsonl", '{"text": "alpha", "id": 1}\n\n{"text": "beta"}\n{"text": "  "}\n')
    b = tmp_path / "b.txt.gz"
    with gzip.open(b, "wt", encoding="utf-8") as f:
        f.write("gamma\n\ndelta\n")
    # the blank record stays as an empty document, to be counted (packing skips it)
    expected = ["alpha", "beta", "", "gamma", "delta"]
    assert read_documents([a, str(b)], cache_dir=cache)["text"] == expected
    streamed = [row["text"] for row in read_documents([a, str(b)], streaming=True)]
    assert streamed == expected
    assert read_documents(str(tmp_path / "*.*"), cache_dir=cache)["text"] == expected
    with pytest.raises(DataError, match="no file matches"):
        read_documents(str(tmp_path / "*.none"), cache_dir=cache)
    with pytest.raises(DataError, match="is a directory"):
        read_documents(str(tmp_path), cache_dir=cache)


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "ok"}\n{"text": "unterminated\n', "bad.jsonl:2: invalid JSON"),
        ('{"text": "ok"}\n\n{"body": "x"}\n', "bad.jsonl:3: no 'text' field (fields: body)"),
        ('{"text": "ok"}\n{"text": 3}\n', "bad.jsonl:2: field 'text' is int"),
        ('["text"]\n', "bad.jsonl:1: expected a JSON object"),
        ("\n\n", "bad.jsonl: no documents"),
    ],
)
def test_jsonl_errors_name_file_and_line(tmp_path, cache, content, message):
    path = write(tmp_path / "bad.jsonl", content)
    with pytest.raises(DataError) as info:
        read_documents(path, cache_dir=cache)
    assert message in str(info.value)
    assert str(info.value).startswith(str(tmp_path))


def test_text_errors(tmp_path, cache):
    path = tmp_path / "latin1.txt"
    path.write_bytes("fine\n\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.txt:3: not valid UTF-8"):
        read_documents(str(path), cache_dir=cache)
    with pytest.raises(DataError, match=r"missing.txt: file not found"):
        read_documents(str(tmp_path / "missing.txt"), cache_dir=cache)
    with pytest.raises(DataError, match="no documents"):
        read_documents(write(tmp_path / "blank.txt", "\n   \n"), cache_dir=cache)


def test_hub_name_offline_is_one_clear_error(monkeypatch, cache):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(DataError) as info:
        read_documents("no-such-owner/no-such-corpus", cache_dir=cache)
    message = str(info.value)
    assert message.startswith("no-such-owner/no-such-corpus: ") and "hub dataset" in message
    assert "\n" not in message


# ---------------------------------------------------------------------------------------------------
# Packing


def test_packing_keeps_every_token_once_and_respects_the_length(tokenizer, cache):
    documents = read_documents(str(SAMPLE), cache_dir=cache)["text"]
    for max_len in (64, 512):
        passages = load_passages(str(SAMPLE), tokenizer, max_seq_length=max_len, cache_dir=cache)["input_ids"]
        cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
        assert all(len(p) <= max_len and p[0] == cls and p[-1] == sep for p in passages)
        assert all(cls not in p[1:-1] and sep not in p[1:-1] for p in passages)
        body = [t for p in passages for t in p[1:-1]]
        expected = [t for d in documents for t in tokenizer.encode(d, add_special_tokens=False).ids]
        assert body == expected
        # whole words at the cuts: no passage starts with a "##" piece
        assert not any(tokenizer.id_to_token(p[1]).startswith("##") for p in passages)
    # documents do not share passages unless asked to; packing across them fills passages up
    separate = load_passages(str(SAMPLE), tokenizer, max_seq_length=512, cache_dir=cache)
    packed = load_passages(str(SAMPLE), tokenizer, max_seq_length=512, pack_across_documents=True, cache_dir=cache)
    assert len(packed) < len(separate)
    assert sum(map(len, packed["input_ids"])) == sum(map(len, separate["input_ids"])) - 2 * (
        len(separate) - len(packed)
    )


def test_packer_cuts(tokenizer):
    packer = PassagePacker(tokenizer, max_seq_length=2 + 16)
    ids = tokenizer.encode("one two three four five. six seven eight nine ten eleven twelve thirteen fourteen "
                           "fifteen sixteen seventeen", add_special_tokens=False).ids
    first, second = packer.pack([ids])
    # the sentence end lies too far back (more than budget // 8 = 2 pieces): cut at the last word
    assert len(first) == 18 and len(second) == 2 + len(ids) - 16
    ids = tokenizer.encode("we saw a red cat sat on a mat and the dog ran off. then rain came down",
                           add_special_tokens=False).ids
    first, second = packer.pack([ids])
    # a sentence end within the last 2 pieces wins over the later word boundary
    assert tokenizer.id_to_token(first[-2]) == "." and len(first) == 2 + 15
    assert tokenizer.id_to_token(second[1]) == "then"
    word = tokenizer.encode("unbelievably", add_special_tokens=False).ids
    assert len(word) > 1 and tokenizer.id_to_token(word[1]).startswith("##")
    ids = tokenizer.encode("a b c d e f g h i j k l m n unbelievably", add_special_tokens=False).ids
    first, second = packer.pack([ids])
    assert len(first) == 2 + 14 and second[1:-1] == word  # the word is not split
    long = [word[0]] + [word[1]] * 20  # one "word" longer than a passage: cut inside it
    assert [len(p) for p in packer.pack([long])] == [18, 2 + 5]
    # pack_across_documents: a second document starts in the same passage when it fits
    across = PassagePacker(tokenizer, max_seq_length=2 + 16, pack_across_documents=True)
    assert len(across.pack([ids[:5], ids[5:10]])) == 1 and len(packer.pack([ids[:5], ids[5:10]])) == 2


def test_streaming_gives_the_same_passages(tokenizer, cache):
    mapped = load_passages(str(SAMPLE), tokenizer, max_seq_length=128, cache_dir=cache)
    streamed = load_passages(str(SAMPLE), tokenizer, max_seq_length=128, streaming=True)
    assert [row["input_ids"] for row in streamed] == mapped["input_ids"]


def test_cache_follows_file_changes(tmp_path, tokenizer, cache):
    path = write(tmp_path / "c.txt", "the river runs\n")
    first = load_passages(path, tokenizer, cache_dir=cache)
    assert load_passages(path, tokenizer, cache_dir=cache).cache_files == first.cache_files
    write(tmp_path / "c.txt", "a different, longer text about the river\n")
    changed = load_passages(path, tokenizer, cache_dir=cache)
    assert changed["input_ids"] != first["input_ids"]


# ---------------------------------------------------------------------------------------------------
# Data module


def test_collate_pads_questions_with_zero():
    rows = [
        {"input_ids": [101, 5, 104, 102], "question_positions": [2], "start_positions": [1], "end_positions": [1]},
        {"input_ids": [101, 104, 7, 104, 8, 102], "question_positions": [1, 3], "start_positions": [2, 4],
         "end_positions": [2, 4]},
        {"input_ids": [101, 9, 102], "question_positions": [], "start_positions": [], "end_positions": []},
    ]
    batch = collate_passages(rows, pad_id=0, pad_to_multiple_of=8)
    assert batch["input_ids"].tolist() == [
        [101, 5, 104, 102, 0, 0, 0, 0], [101, 104, 7, 104, 8, 102, 0, 0], [101, 9, 102, 0, 0, 0, 0, 0],
    ]
    assert batch["attention_mask"].sum(1).tolist() == [4, 6, 3]
    assert batch["token_type_ids"].abs().sum() == 0
    assert batch["question_positions"].tolist() == [[2, 0], [1, 3], [0, 0]]
    assert batch["start_positions"].tolist() == [[1, 0], [2, 4], [0, 0]]
    assert batch["end_positions"].tolist() == [[1, 0], [2, 4], [0, 0]]
    assert collate_passages(rows[2:])["question_positions"].shape == (1, 1)


def make_datamodule(tokenizer, cache, **kwargs):
    options = dict(max_seq_length=128, batch_size=4, seed=3, cache_dir=cache, shuffle=False)
    options.update(kwargs)
    return PretrainDataModule(str(SAMPLE), tokenizer, **options)


def test_datamodule_batches_and_statistics(tokenizer, cache, tmp_path):
    dm = make_datamodule(tokenizer, cache, statistics_path=str(tmp_path / "stats.json"), drop_empty=True)
    dm.prepare_data()
    dm.setup("fit")
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats == dm.statistics
    assert len(dm.dataset) == stats["passages"] - stats["questions_per_passage_hist"].get("0", 0)
    question_id = tokenizer.token_to_id("[QUESTION]")
    total = 0
    for batch in dm.train_dataloader():
        real = batch["question_positions"] > 0
        assert real.any(dim=1).all()  # empty passages were dropped
        rows = torch.arange(batch["input_ids"].shape[0])[:, None].expand_as(real)
        assert (batch["input_ids"][rows[real], batch["question_positions"][real]] == question_id).all()
        assert (batch["start_positions"][~real] == 0).all() and (batch["start_positions"][real] > 0).all()
        assert (batch["end_positions"] >= batch["start_positions"]).all()
        total += int(real.sum())
    assert total == stats["questions"]


def test_datamodule_streaming_matches_map_style(tokenizer, cache):
    mapped = make_datamodule(tokenizer, cache)
    streamed = make_datamodule(tokenizer, cache, streaming=True)
    mapped.setup("fit")
    streamed.setup("fit")
    a = [b["input_ids"].tolist() for b in mapped.train_dataloader()]
    b = [b["input_ids"].tolist() for b in streamed.train_dataloader()]
    assert a == b
    assert streamed.statistics == mapped.statistics


def test_datamodule_rejects_bad_options(tokenizer):
    with pytest.raises(ConfigError, match="cluster_order"):
        PretrainDataModule(str(SAMPLE), tokenizer, cluster_order="shortest")
    with pytest.raises(ConfigError, match="data.files"):
        PretrainDataModule([], tokenizer)
    with pytest.raises(DataError, match="missing.txt: file not found"):
        PretrainDataModule(["missing.txt"], tokenizer)  # at construction, before any training set-up


# ---------------------------------------------------------------------------------------------------
# Module


def fit(module, datamodule, steps: int, tmp_path) -> pl.Trainer:
    trainer = pl.Trainer(
        max_steps=steps, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, gradient_clip_val=1.0,
        default_root_dir=str(tmp_path), log_every_n_steps=1,
    )
    trainer.fit(module, datamodule=datamodule)
    return trainer


def fixed_batch_loss(module, batch) -> float:
    module.eval()
    with torch.no_grad():
        return float(module(**batch).loss)


def test_a_few_steps_reduce_the_loss(tokenizer, cache, tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = make_datamodule(tokenizer, cache, max_seq_length=64, batch_size=8)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    module = PretrainModule(load_model(config=TINY, objective="rss"), lr=3e-3, warmup_steps=0)
    before = fixed_batch_loss(module, batch)
    trainer = fit(module, dm, steps=15, tmp_path=tmp_path)
    assert module.training  # fit switched the model back to training mode (dropout)
    after = fixed_batch_loss(module, batch)
    assert after < before - 0.2, (before, after)
    logged = trainer.callback_metrics
    assert {"train/loss", "train/lr", "train/questions_per_row"} <= set(logged)
    assert float(logged["train/questions_per_row"]) > 1


def test_schedule_and_optimizer_groups(tokenizer, cache, tmp_path):
    dm = make_datamodule(tokenizer, cache, max_seq_length=64, batch_size=8)
    module = PretrainModule(load_model(config=TINY, objective="rss"), lr=1e-3, warmup_ratio=0.5)
    trainer = fit(module, dm, steps=4, tmp_path=tmp_path)
    assert module.schedule_steps() == (2, 4)
    optimizer = trainer.optimizers[0]
    assert optimizer.defaults["eps"] == 1e-6 and optimizer.defaults["betas"] == (0.9, 0.999)
    decays = sorted(g["weight_decay"] for g in optimizer.param_groups)
    assert decays == [0.0, 0.01]
    # after 4 of 4 steps the linear decay reaches 0
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0)


class LearningRates(pl.Callback):
    def __init__(self):
        self.lrs = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx):
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def test_a_short_run_with_the_default_warmup_reaches_its_peak_lr_and_learns(tokenizer, cache, tmp_path):
    # issue 26: a 10,000-step warm-up kept a 20-step run under lr 2e-7 (loss 3.5499 -> 3.5497)
    pl.seed_everything(0, verbose=False)
    dm = make_datamodule(tokenizer, cache, max_seq_length=64, batch_size=8)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    module = PretrainModule(load_model(config=TINY, objective="rss"), lr=1e-3)  # the default warm-up, as conf/task/pretrain.yaml
    before = fixed_batch_loss(module, batch)
    lrs = LearningRates()
    trainer = pl.Trainer(
        max_steps=20, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[lrs], default_root_dir=str(tmp_path),
    )
    trainer.fit(module, datamodule=dm)
    assert len(lrs.lrs) == 20 and max(lrs.lrs) == pytest.approx(1e-3)
    after = fixed_batch_loss(module, batch)
    assert after < before - 0.1, (before, after)


def test_an_absolute_warmup_longer_than_the_run_is_refused(tokenizer, cache, tmp_path):
    dm = make_datamodule(tokenizer, cache, max_seq_length=64, batch_size=8)
    module = PretrainModule(load_model(config=TINY, objective="rss"), warmup_steps=50)
    with pytest.raises(ConfigError, match=r"'task.module.warmup_steps': a warm-up of 50 steps is longer than "
                                          r"the run \(4 steps\)"):
        fit(module, dm, steps=4, tmp_path=tmp_path)
    with pytest.raises(ConfigError, match="task.module.warmup_ratio"):
        PretrainModule(load_model(config=TINY, objective="rss"), warmup_ratio=None)  # and no warmup_steps: no schedule at all


def test_zero_question_batch_gives_zero_loss():
    module = PretrainModule(load_model(config=TINY, objective="rss"))
    batch = collate_passages([{"input_ids": [101, 7, 102], "question_positions": [], "start_positions": [],
                      "end_positions": []}])
    with pytest.warns(UserWarning, match="trainer"):  # self.log without a trainer
        loss = module.training_step(batch, 0)
    assert torch.isfinite(loss) and loss.item() == 0.0


def test_tokenizer_model_mismatch_is_a_config_error(tokenizer, cache, tmp_path):
    dm = make_datamodule(tokenizer, cache, max_seq_length=64)
    module = PretrainModule(load_model(config={**TINY, "vocab_size": 1000}, objective="rss"))
    with pytest.raises(ConfigError, match="vocab_size"):
        fit(module, dm, steps=1, tmp_path=tmp_path)


def test_checkpoint_loads_for_fine_tuning_and_continued_pretraining(tokenizer, tmp_path):
    from splinter.model.qa import SplinterForPreTraining, SplinterForQuestionAnswering

    pl.seed_everything(1, verbose=False)
    module = PretrainModule(load_model(config=TINY, objective="rss"))
    out = tmp_path / "pretrained"
    module.save_pretrained(str(out), tokenizer=tokenizer)
    qa = SplinterForQuestionAnswering.from_pretrained(str(out))
    trained = module.model.state_dict()
    loaded = qa.state_dict()
    assert set(loaded) == set(trained)
    assert all(torch.equal(loaded[k], trained[k]) for k in trained)
    assert load_tokenizer(str(out)).token_to_id("[QUESTION]") == 104
    # the same directory continues pretraining
    again = PretrainModule(load_model(str(out), objective="rss"))
    assert isinstance(again.model, SplinterForPreTraining) and again.model.training  # dropout on
    assert torch.equal(again.model.state_dict()["splinter_qass.start_classifier.weight"],
                       trained["splinter_qass.start_classifier.weight"])
    # QA forward on a pair input works with the pretrained head
    encoded = tokenizer.encode("who?", "the river runs")
    qa_out = qa(input_ids=torch.tensor([encoded.ids]), attention_mask=torch.tensor([encoded.attention_mask]))
    assert qa_out.start_logits.shape == (1, len(encoded.ids))


PRETRAIN = [
    "task=pretrain", "data=text", "model=tiny", "trainer=cpu", "logger=none", "data.max_seq_length=64",
    "data.batch_size=4", "data.num_workers=0", "trainer.enable_progress_bar=false",
]


def pretrain_config(output_dir: Path, cache: str, *overrides: str):
    from hydra import compose, initialize_config_dir

    conf = Path(__file__).parent.parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("train", overrides=[*PRETRAIN, f"output_dir={output_dir}", f"data.cache_dir={cache}", *overrides])


def test_train_py_task_pretrain_runs_end_to_end(tmp_path, cache):
    from splinter.model.qa import SplinterForQuestionAnswering
    from splinter.pretraining.run import run

    cfg = pretrain_config(
        tmp_path, cache, f"data.files=[{SAMPLE}]", "task.max_steps=3", "task.save_every_n_steps=2",
        "task.checkpoint_every_n_steps=3", "task.module.warmup_ratio=0.5",
    )
    results = run(cfg)
    # The last step's loss of this seeded CPU run (recorded; the tolerance covers float32 kernel
    # differences across torch builds). Near ln(64) = 4.16, the start/end loss of a barely trained model
    # over 64 positions. (Recorded again when the order of a cached corpus became EpochShuffleSampler's,
    # for exact resume: 4.0883 before.)
    assert results["steps"] == 3 and results["final_loss"] == pytest.approx(4.0972, abs=2e-3)
    stats = json.loads((tmp_path / "span_statistics.json").read_text())
    assert stats == results["span_statistics"] and stats["questions"] > 0
    assert stats["passages_dropped"] == stats["questions_per_passage_hist"]["0"] > 0
    assert stats["records"] == 10 and stats["empty_records_skipped"] == 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # kept after a normal end
    assert (tmp_path / "model-step2" / "model.safetensors").is_file()
    assert json.loads((tmp_path / "results.json").read_text())["steps"] == 3
    model = SplinterForQuestionAnswering.from_pretrained(str(tmp_path / "model"))
    assert model.config.hidden_size == 32


def test_configs_match_the_classes():
    import inspect

    from omegaconf import OmegaConf

    conf = Path(__file__).parent.parent / "conf"
    data = OmegaConf.load(conf / "data" / "text.yaml")
    # objective: task.objective, its one key, which run.py passes to both
    parameters = set(inspect.signature(PretrainDataModule.__init__).parameters) - {"self", "objective"}
    assert set(data) - {"_target_"} == parameters
    assert data._target_ == "splinter.pretraining.datamodule.PretrainDataModule"
    task = OmegaConf.load(conf / "task" / "pretrain.yaml")
    parameters = set(inspect.signature(PretrainModule.__init__).parameters) - {"self", "model", "objective"}  # run passes them
    assert set(task.module) - {"_target_"} == parameters
    assert task.objective == "rss"
    assert task.module.eps == 1e-6 and task.module.lr == 1e-4 and task.module.warmup_steps is None
    assert round(task.module.warmup_ratio * task.max_steps) == 10000  # the paper's warm-up at its length
    assert task.run == "splinter.pretraining.run.run"


# ---------------------------------------------------------------------------------------------------
# Corpora that cannot train, bad lines in workers, what is dropped


def unique_words(tmp_path: Path) -> str:
    """Two documents in which no word occurs twice: no passage has a recurring span."""
    words = [f"word{i}" for i in range(240)]
    return write(tmp_path / "unique.txt", " ".join(words[:120]) + "\n\n" + " ".join(words[120:]) + "\n")


@pytest.mark.timeout(180)  # the stream used to loop through empty epochs forever
@pytest.mark.parametrize(
    ("streaming", "workers", "lookahead", "where"),
    [
        (False, 0, 10_000, "none of the {n} passages"),
        (True, 0, 10_000, "none of the {n} passages"),
        (True, 2, 10_000, "none of the {n} passages"),
        (True, 0, 3, "none of the first 3 passages of the stream (the look-ahead, data.statistics_rows)"),
    ],
)
def test_a_corpus_without_recurring_spans_stops_with_one_line(tmp_path, cache, streaming, workers, lookahead, where):
    from splinter.pretraining.run import run

    cfg = pretrain_config(
        tmp_path / "run", cache, f"data.files=[{unique_words(tmp_path)}]", f"data.streaming={streaming}",
        f"data.num_workers={workers}", f"data.statistics_rows={lookahead}", "task.max_steps=5",
    )
    with pytest.raises(ConfigError) as info:
        run(cfg)
    stats = json.loads((tmp_path / "run" / "span_statistics.json").read_text())
    assert stats["questions"] == 0 and stats["passages"] == stats["passages_dropped"] >= 3
    assert str(info.value) == (
        "config key 'data.files': " + where.format(n=stats["passages"]) + " has a recurring span (whole words that "
        "occur twice in a passage), so there is nothing to train on: the corpus is too small or its passages too short"
    )
    assert not (tmp_path / "run" / "model").exists()


def late_bad_line(tmp_path: Path) -> str:
    """A bad line after more than one packing batch (1,000 documents) and far beyond a look-ahead of 3
    passages; its records have no recurring span, so they give no training step before it."""
    records = [json.dumps({"text": f"record {i}"}) for i in range(1100)]
    return write(tmp_path / "late.jsonl", "\n".join(records) + "\n{broken\n")


LATE_ERROR = ":1101: invalid JSON (Expecting property name enclosed in double quotes, column 2)"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [0, 2])
def test_a_late_bad_line_in_a_stream_is_the_data_error(tmp_path, cache, workers):
    from splinter.pretraining.run import run

    late = late_bad_line(tmp_path)
    cfg = pretrain_config(
        tmp_path / "run", cache, f"data.files=[{SAMPLE},{late}]", "data.streaming=true",
        f"data.num_workers={workers}", "data.statistics_rows=3", "task.max_steps=1000",
    )
    with pytest.raises(DataError) as info:
        run(cfg)
    assert str(info.value) == late + LATE_ERROR


def test_num_proc_reading_errors_are_the_data_error(tmp_path, cache):
    from splinter.pretraining.run import run

    bad = write(tmp_path / "bad.jsonl", '{"text": "fine"}\n{"text": 3}\n')
    empty = write(tmp_path / "empty.txt", "")
    cfg = pretrain_config(tmp_path / "run", cache, f"data.files=[{SAMPLE},{bad}]", "data.num_proc=2", "task.max_steps=5")
    with pytest.raises(DataError) as info:
        run(cfg)
    assert str(info.value) == f"{bad}:2: field 'text' is int, expected a string"
    with pytest.raises(DataError) as info:
        read_documents([str(SAMPLE), empty], num_proc=2, cache_dir=cache)
    assert str(info.value) == f"{empty}: no documents (the file is empty or blank)"


@pytest.mark.timeout(300)
def test_a_data_error_from_a_worker_is_one_line_on_the_command_line(tmp_path):
    from run_helpers import run_cli

    late = late_bad_line(tmp_path)
    result = run_cli(
        "train.py", *PRETRAIN, f"hydra.run.dir={tmp_path / 'run'}", f"data.cache_dir={tmp_path / 'cache'}",
        f"data.files=[{SAMPLE},{late}]", "data.streaming=true", "data.num_workers=2", "data.statistics_rows=3",
        "task.max_steps=1000",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == f"error: {late}{LATE_ERROR}"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("streaming", [False, True])
def test_dropped_passages_and_blank_records_are_counted(tmp_path, tokenizer, cache, capsys, streaming):
    documents = [d for d in SAMPLE.read_text().split("\n\n") if d.strip()]
    records = [{"text": d} for d in documents[:5]] + [{"text": ""}, {"text": " \n "}] + [
        {"text": d} for d in documents[5:]
    ]
    corpus = write(tmp_path / "c.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    dm = PretrainDataModule(corpus, tokenizer, max_seq_length=64, batch_size=4, cache_dir=cache, streaming=streaming,
                            shuffle=False)
    dm.setup("fit")
    stats = dm.statistics
    assert (stats["records"], stats["empty_records_skipped"], stats["streaming_lookahead"]) == (12, 2, None)
    dropped = stats["questions_per_passage_hist"]["0"]
    assert stats["passages_dropped"] == dropped > 0
    kept = sum(len(batch["input_ids"]) for batch in dm.train_dataloader())
    assert kept == stats["passages"] - dropped
    line = f"kept {kept} of {stats['passages']} passages: {dropped} without a recurring span dropped; " \
           "2 of 12 records skipped (blank text)"
    assert line in capsys.readouterr().out.splitlines()
    if streaming:  # a look-ahead shorter than the stream says what it covered
        partial = PretrainDataModule(corpus, tokenizer, max_seq_length=64, streaming=True, statistics_rows=5)
        partial.setup("fit")
        assert partial.statistics["passages"] == 5 and partial.statistics["records"] == 5
        assert capsys.readouterr().out.splitlines()[-1].endswith("records skipped (blank text) (the first 5 of the stream)")


def test_streaming_starts_at_most_one_worker_per_file(tmp_path, tokenizer, cache, capfd):
    one = make_datamodule(tokenizer, cache, streaming=True, num_workers=2, max_seq_length=64)
    loader = one.train_dataloader()
    assert loader.num_workers == 1
    for _ in range(2):  # two epochs: datasets warned about the idle worker at each one
        assert sum(len(batch["input_ids"]) for batch in loader) == len(make_datamodule(
            tokenizer, cache, max_seq_length=64).train_dataloader().dataset)
    assert "Too many dataloader workers" not in capfd.readouterr().err
    copy = write(tmp_path / "copy.txt", SAMPLE.read_text())
    two = PretrainDataModule([str(SAMPLE), copy], tokenizer, streaming=True, num_workers=3, max_seq_length=64)
    assert two.train_dataloader().num_workers == 2


class _Snapshots:
    """A stand-in module whose save_pretrained writes one file and then fails `failures` times."""

    def __init__(self, failures: int):
        self.failures, self.saved = failures, 0

    def save_pretrained(self, directory: str, tokenizer=None):
        (Path(directory) / "config.json").write_text(f"save {self.saved}")
        self.saved += 1
        if self.failures:
            self.failures -= 1
            raise RuntimeError("killed in the middle of the snapshot")
        (Path(directory) / "model.safetensors").write_text("weights")


def test_a_snapshot_interrupted_half_way_is_absent_and_written_again_after_resume(tmp_path):
    from types import SimpleNamespace

    from splinter.pretraining.run import SavePretrainedEvery

    callback = SavePretrainedEvery(tmp_path, every=2)
    trainer = SimpleNamespace(global_step=2, is_global_zero=True)
    module = _Snapshots(failures=1)
    with pytest.raises(RuntimeError, match="killed"):
        callback.on_train_batch_end(trainer, module, None, None, 0)
    assert list(tmp_path.iterdir()) == []  # neither model-step2 nor its staging directory

    # a killed process leaves the staging directory behind: the next try replaces it
    (tmp_path / ".model-step2.partial").mkdir()
    (tmp_path / ".model-step2.partial" / "stale").write_text("x")
    callback.on_train_batch_end(trainer, module, None, None, 0)  # the resumed run reaches step 2 again
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-step2"]
    assert sorted(p.name for p in (tmp_path / "model-step2").iterdir()) == ["config.json", "model.safetensors"]
    assert (tmp_path / "model-step2" / "config.json").read_text() == "save 1"

    callback.on_train_batch_end(trainer, module, None, None, 0)  # a complete snapshot is kept as it is
    assert module.saved == 2 and (tmp_path / "model-step2" / "config.json").read_text() == "save 1"


def test_resuming_pretraining_checks_the_checkpoints_settings(tmp_path, cache):
    from splinter.pretraining.run import run
    from splinter.run.resume_check import ResumeMismatch

    common = [f"data.files=[{SAMPLE}]", "task.max_steps=2", "task.checkpoint_every_n_steps=2"]
    run(pretrain_config(tmp_path / "first", cache, *common))
    checkpoint = tmp_path / "first" / "checkpoints" / "last.ckpt"
    saved = torch.load(checkpoint, weights_only=True)["datamodule_hyper_parameters"]
    assert saved["files"] == [str(SAMPLE)] and saved["seed"] == 42 and "tokenizer" not in saved
    for override, problem in (("data.mask_ratio=0.3", "data.mask_ratio=0.15, this run says 0.3"),
                              ("task.module.lr=0.001", "task.module.lr=0.0001, this run says 0.001")):
        with pytest.raises(ResumeMismatch) as refused:
            run(pretrain_config(tmp_path / "other", cache, *common, f"ckpt_path={checkpoint}", override))
        assert str(refused.value) == (f"{checkpoint}: was trained with {problem}; resume with the checkpoint's "
                                      "settings or start a new run")
    # the same settings, with the statistics written elsewhere (a new output directory): resumes
    results = run(pretrain_config(tmp_path / "same", cache, *common, f"ckpt_path={checkpoint}"))
    assert results["steps"] == 2


def test_a_diverging_pretraining_run_stops_with_one_line_and_no_results(tmp_path, cache):
    from splinter.errors import TrainingDiverged
    from splinter.pretraining.run import run

    cfg = pretrain_config(tmp_path, cache, f"data.files=[{SAMPLE}]", "task.max_steps=20", "task.module.lr=1e6",
                          "task.module.warmup_ratio=0")
    with pytest.raises(TrainingDiverged, match=r"^training diverged at step \d+: the loss is nan; the run "
                                               r"stopped and wrote no results \(task\.module\.lr=1000000\.0"):
        run(cfg)
    assert not (tmp_path / "results.json").exists()
    assert not (tmp_path / "checkpoints" / "interrupted.ckpt").exists()


def test_a_tokenizer_given_as_a_path_is_loaded(tmp_path):
    """Before: only a `str` was loaded; a Path stayed a Path and the first tokenisation failed with an
    AttributeError."""
    from splinter.registry.minilm import minilm_model_dir

    module = PretrainDataModule(str(SAMPLE), Path(minilm_model_dir()), max_seq_length=64, cache_dir=str(tmp_path))
    assert module.tokenizer.token_to_id("[SEP]") == 102
