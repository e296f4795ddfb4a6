"""Pretraining resumed in the middle of an epoch ends with the weights of the uninterrupted run
(map-style corpus; streamed, read by the main process, one worker or several)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from splinter.data.samplers import SkippableStreamLoader
from splinter.run.resume import ResumeState, skipper

SAMPLE = Path(__file__).parent / "fixtures" / "pretrain" / "sample.txt"
# sample.txt gives 106 passages at max_seq_length=64, 87 with a recurring span: an epoch has 22
# batches of 4 (rss, the others dropped) or 27 (mlm).
BASE = [
    "task=pretrain", "data=text", "model=tiny", "trainer=cpu", "logger=none", "data.max_seq_length=64",
    "data.batch_size=4", "data.num_workers=0", "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false", "task.module.warmup_steps=2",
]


def pretrain(output_dir: Path, cache: Path, *overrides: str) -> dict:
    from hydra import compose, initialize_config_dir

    from splinter.pretraining.run import run

    conf = Path(__file__).parent.parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("train", overrides=[*BASE, f"output_dir={output_dir}", f"data.cache_dir={cache}", *overrides])
    return run(cfg)


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every saved tensor of the run's model/ (the encoder and the objective's head)."""
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model" / "model.safetensors"))


@pytest.mark.parametrize("mode, per_epoch", [
    (["data.streaming=false"], 22),
    (["data.streaming=true"], 22),
    (["data.streaming=true", "data.num_workers=1"], 22),
    (["data.streaming=false", "task.objective=mlm"], 27),
])
def test_crash_mid_epoch_and_resume_gives_the_uninterrupted_weights(tmp_path, mode, per_epoch):
    # The crash is 2 batches into the second epoch: the resumed run must skip them, shuffle the stream
    # for epoch 1 (Lightning does not start a resumed epoch) and draw the same dropout masks.
    cache, total, crash = tmp_path / "cache", per_epoch + 4, per_epoch + 2
    common = [*mode, f"data.files=[{SAMPLE}]", f"task.max_steps={total}"]
    full = pretrain(tmp_path / "full", cache, *common)
    with pytest.raises(RuntimeError, match=f"simulated crash at step {crash}"):
        pretrain(tmp_path / "crashed", cache, *common, f"callbacks=[{{_target_: run_helpers.CrashAtStep, step: {crash}}}]")
    saved = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    state = torch.load(saved, map_location="cpu", weights_only=True)
    assert state["global_step"] == crash and state["splinter_resume"]["batches_in_epoch"] == 2
    resumed = pretrain(tmp_path / "resumed", cache, *common, f"ckpt_path={saved}")
    assert resumed["steps"] == full["steps"] == total
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    # the comparison can fail: the weights at the crash are not the final ones
    crashed = state["state_dict"]
    assert any(not torch.equal(crashed[f"model.{k}"], a[k]) for k in a if f"model.{k}" in crashed)


@pytest.mark.parametrize("streaming", [True, False])
def test_a_checkpoint_from_the_last_batch_of_an_epoch_resumes_with_the_next_epoch(tmp_path, streaming):
    # last.ckpt after 22 steps: the epoch's last batch. A stream's length is unknown to the loader, so the
    # resumed run must not skip 22 batches of the next epoch, and must shuffle the stream for epoch 1.
    cache = tmp_path / "cache"
    common = [f"data.streaming={str(streaming).lower()}", f"data.files=[{SAMPLE}]", "task.max_steps=26",
              "task.checkpoint_every_n_steps=22"]
    pretrain(tmp_path / "full", cache, *common)
    with pytest.raises(RuntimeError, match="simulated crash at step 24"):
        pretrain(tmp_path / "crashed", cache, *common, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 24}]")
    last = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert (state["global_step"], state["epoch"], state["splinter_resume"]["batches_in_epoch"]) == (22, 0, 22)
    pretrain(tmp_path / "resumed", cache, *common, f"ckpt_path={last}")
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_stream_read_by_two_workers_resumes_with_the_worker_whose_turn_it_was(tmp_path):
    # Two files, two workers taking turns by batch: after 5 batches the next one is the second worker's.
    cache = tmp_path / "cache"
    files = [shutil.copy(SAMPLE, tmp_path / f"part{i}.txt") for i in range(2)]
    common = ["data.streaming=true", "data.num_workers=2", f"data.files=[{files[0]},{files[1]}]", "task.max_steps=8"]
    pretrain(tmp_path / "full", cache, *common)
    with pytest.raises(RuntimeError, match="simulated crash at step 5"):
        pretrain(tmp_path / "crashed", cache, *common, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 5}]")
    pretrain(tmp_path / "resumed", cache, *common, f"ckpt_path={tmp_path / 'crashed' / 'checkpoints' / 'interrupted.ckpt'}")
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_stream_loader_drops_the_consumed_batches_once():
    loader = SkippableStreamLoader(Rows(10), batch_size=3)
    assert skipper(loader) is loader and skipper(DataLoader(list(range(4)))) is not None
    state = ResumeState()
    state.load({"splinter_resume": {"batches_in_epoch": 2, "rng": state.rng}})
    state.training_started(skipper(loader))
    assert [batch.tolist() for batch in loader] == [[6, 7, 8], [9]]
    assert state.batches_in_epoch == 2  # a checkpoint written on the way out still records them
    assert len(list(loader)) == 4  # the next epoch starts at its first batch
    state.load({"splinter_resume": {"batches_in_epoch": 4, "rng": state.rng}})
    state.nothing_to_skip()  # the checkpoint ended its epoch
    state.training_started(skipper(loader))
    assert len(list(loader)) == 4
    loader.skip_batches(9)  # a checkpoint from the end of the epoch: nothing left of it
    assert list(loader) == []


class Rows(IterableDataset):
    def __init__(self, count: int):
        self.count = count

    def __iter__(self):
        return iter(range(self.count))


def test_pretraining_under_ddp_resumed_mid_epoch_ends_with_the_uninterrupted_weights(tmp_path):
    # Two processes (ddp_spawn, gloo), a cached corpus: each process loads its half of every global batch
    # of 4 (RankShare). A checkpoint after step 3 of an epoch of 22, resumed: both processes skip the
    # three global batches and restore their own random state. Under ddp_spawn a crash leaves no
    # interrupted.ckpt, so the run resumes from its periodic last.ckpt.
    cache = tmp_path / "cache"
    common = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.enable_progress_bar=false",
              "trainer.enable_model_summary=false", "data.streaming=false", f"data.files=[{SAMPLE}]",
              "task.max_steps=5", "task.checkpoint_every_n_steps=3"]
    full = pretrain(tmp_path / "full", cache, *common)
    assert full["steps"] == 5
    with pytest.raises(Exception, match="simulated crash at step 4"):
        pretrain(tmp_path / "crashed", cache, *common, "callbacks=[{_target_: run_helpers.CrashAtStep, step: 4}]")
    saved = tmp_path / "crashed" / "checkpoints" / "last.ckpt"
    state = torch.load(saved, map_location="cpu", weights_only=True)
    assert state["global_step"] == 3 and state["splinter_resume"]["batches_in_epoch"] == 3
    assert len(state["splinter_resume"]["rng_by_rank"]) == 2
    resumed = pretrain(tmp_path / "resumed", cache, *common, f"ckpt_path={saved}")
    assert resumed["steps"] == 5
    a, b = weights(tmp_path / "full"), weights(tmp_path / "resumed")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
