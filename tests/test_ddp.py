"""CPU DDP (ddp_spawn, 2 processes, gloo): every question scored once, same score as one process."""

from __future__ import annotations

import json
import re

import pytest
import torch
from run_helpers import run_evaluate, run_train

DDP = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


# Two epochs of the paper's length rule (no step cap) on 32 windows, a multiple of the batch of 4 (else
# DistributedSampler would pad each epoch with a repeated window); each step's window count is recorded.
PROTOCOL = ["task.epochs=2", "task.min_steps=0", "task.max_steps=null", "data.max_seq_length=144"]


def _record(out) -> str:
    return f"callbacks=[{{_target_: run_helpers.RecordWindowsPerStep, path: {out / 'windows.txt'}}}]"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp-trained")
    return out, run_train(out, *DDP, *PROTOCOL, _record(out))


def test_fine_tuning_under_ddp_writes_one_set_of_outputs(trained):
    out, results = trained
    assert results["steps"] == 16 and results["num_questions"] == 40
    assert json.loads((out / "results.json").read_text())["f1"] == results["f1"]
    assert (out / "model" / "model.safetensors").is_file()


def test_ddp_evaluation_scores_every_question_once_with_the_single_process_score(trained, tmp_path):
    out, _ = trained
    single = run_evaluate(tmp_path / "single", f"checkpoint={out / 'model'}")
    # 40 questions → 70 windows: an eval batch size of 16 leaves the two ranks uneven shards, which
    # DistributedSampler pads by repeating windows: those repeats must not be scored twice.
    double = run_evaluate(tmp_path / "double", f"checkpoint={out / 'model'}", *DDP, "data.eval_batch_size=16")
    assert (double["exact_match"], double["f1"]) == (single["exact_match"], single["f1"])
    predictions = json.loads((tmp_path / "double" / "predictions.json").read_text())
    assert predictions == json.loads((tmp_path / "single" / "predictions.json").read_text())
    assert double["num_windows"] == single["num_windows"] == 70 and double["num_questions"] == 40
    # analysis.html: the answers' spans travel back from rank 0 with the predictions (SpanMetric's n-best)
    pages = [json.loads(re.search(r'id="splinter-data">(.*?)</script>', (tmp_path / name / "analysis.html")
                                  .read_text(encoding="utf-8"), re.S).group(1)) for name in ("single", "double")]
    span = pages[0]["columns"].index("span")
    assert [row[span] for row in pages[1]["questions"]] == [row[span] for row in pages[0]["questions"]]
    assert len(pages[1]["questions"]) == 40 and all(row[span] for row in pages[1]["questions"])


def test_no_rank_creates_a_stray_output_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_train(tmp_path / "run", *DDP, "task.max_steps=1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    assert torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 1


def _windows_per_step(out) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in line.split()) for line in (out / "windows.txt").read_text().splitlines()]


def test_two_processes_train_the_single_process_protocol(trained, tmp_path):
    # data.batch_size is the global batch: two processes load half of it each, so every optimiser step
    # sees as many windows as one process does, and the run has the same number of steps and epochs.
    out, double = trained
    single = run_train(tmp_path, *PROTOCOL, _record(tmp_path))
    assert single["data"]["train_windows"] == 32
    assert single["steps"] == double["steps"] == 16
    expected = [(epoch, 4) for epoch in (0, 1) for _ in range(8)]
    assert _windows_per_step(tmp_path) == _windows_per_step(out) == expected


def test_a_run_resumed_mid_epoch_under_ddp_ends_with_the_uninterrupted_weights(trained, tmp_path):
    # A checkpoint in the third step of the second epoch, resumed: both processes skip the two global batches
    # they trained on and restore their own random state, so the weights are the uninterrupted run's.
    from splinter import SplinterForQuestionAnswering

    out, uninterrupted = trained
    # Under ddp_spawn the crash reaches the main process without the trainer's state, so there is no
    # interrupted.ckpt: the run resumes from its periodic last.ckpt, written after step 10.
    crash = ["task.checkpoint_every_n_steps=10", "callbacks=[{_target_: run_helpers.CrashAtStep, step: 11}]"]
    with pytest.raises(Exception, match="simulated crash at step 11"):
        run_train(tmp_path / "crashed", *DDP, *PROTOCOL, *crash)
    saved = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    assert torch.load(saved, weights_only=True)["global_step"] == 10
    state = torch.load(saved, weights_only=True)["splinter_resume"]
    assert state["batches_in_epoch"] == 2 and len(state["rng_by_rank"]) == 2
    resumed = run_train(tmp_path / "resumed", *DDP, *PROTOCOL, f"ckpt_path={saved}")
    assert resumed["steps"] == 16 and (resumed["exact_match"], resumed["f1"]) == (
        uninterrupted["exact_match"], uninterrupted["f1"])
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
