"""bench/gpu_check.sh --dry-run: the GPU check's every step on the CPU, so that the script cannot rot
between the sessions that have a GPU. Slow (2-3 minutes on an idle 2-core machine, more under load)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from run_helpers import REPO

DATA = os.environ["SPLINTER_DATA_ROOT"]


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_on_the_cpu(tmp_path):
    if not (REPO / "bench" / "gpu_data").is_dir() and not os.path.isdir(os.path.join(DATA, "mrqa-dev")):
        pytest.skip("needs the real data: ../shared/data or `make gpu-data`")
    out = tmp_path / "out"
    proc = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--dry-run", str(out)], cwd=REPO,
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=1800)
    log = (out / "gpu_check.log").read_text() if (out / "gpu_check.log").is_file() else proc.stdout
    assert proc.returncode == 0, log[-4000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "bench.json", "compile.json", "cuda_tests.json", "gpu_check.log", "inference.json", "paper_run.json"]
    figures = json.loads((out / "cuda_tests.json").read_text())
    assert figures["question_answerer"]["fp32_differences"] == 0
    assert set(figures["packed_vs_padded_bf16"]) == {"start", "end", "loss", "grads"}
    paper = json.loads((out / "paper_run.json").read_text())
    assert paper["steps"] == 3 and paper["questions"] == 48
    assert set(paper["seconds"]) == {"load", "windows", "train", "eval", "decode", "after_load"}
    bench = json.loads((out / "bench.json").read_text())
    assert {"train_ours", "train_ref", "train_ours_padded"} <= set(bench["summary"])
    assert "8 passed" in log or "passed" in log
