"""wandb with no account and no network: offline runs, one per job, finished even when a job fails."""

from __future__ import annotations

import pytest
from run_helpers import run_train

wandb = pytest.importorskip("wandb")


@pytest.fixture
def offline_wandb(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("WANDB_API_KEY", raising=False)


def test_offline_run_is_written_and_finished_also_after_a_crash(offline_wandb, tmp_path):
    run_train(tmp_path / "ok", "logger=wandb", "task.max_steps=2")
    runs = list((tmp_path / "ok" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert wandb.run is None  # finished, so the next sweep job gets a run of its own

    crash = "callbacks=[{_target_: run_helpers.CrashAtStep, step: 1}]"
    with pytest.raises(RuntimeError):
        run_train(tmp_path / "crashed", "logger=wandb", "task.max_steps=2", crash)
    assert wandb.run is None
    assert len(list((tmp_path / "crashed" / "wandb").glob("offline-run-*"))) == 1
