"""The CUDA path (`pytest -m cuda`): packed tokens under fp32 and bf16, fused attention kernels,
`trainer=gpu` training and evaluation, an exact resume, `trainer=ddp` on one device, QuestionAnswerer.

Every test is marked `cuda` and skips where torch sees no CUDA device. `SPLINTER_CUDA_TESTS_DEVICE=cpu`
runs the same steps on the CPU (`bench/gpu_check.sh --dry-run`, itself run by tests/test_gpu_check.py),
so that the checks cannot rot between GPU sessions. `SPLINTER_TEST_TOKENIZER` names the tokenizer
(default the MiniLM package's; the GPU machine has no such package: `make gpu-data` copies its files
into the checkout); with `SPLINTER_CUDA_REPORT=<file>` the tests add their figures to that JSON file.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import torch
from run_helpers import REPO, run_evaluate, run_train
from tiny_config import perturbed

from splinter import SplinterConfig, SplinterForQuestionAnswering

DEVICE = os.environ.get("SPLINTER_CUDA_TESTS_DEVICE", "cuda")
CUDA = DEVICE == "cuda"
TOKENIZER = os.environ.get("SPLINTER_TEST_TOKENIZER", "minilm")
REPORT = os.environ.get("SPLINTER_CUDA_REPORT")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(CUDA and not torch.cuda.is_available(),
                       reason="no CUDA device (torch.cuda.is_available() is False); "
                              "SPLINTER_CUDA_TESTS_DEVICE=cpu runs these steps on the CPU"),
]

# trainer=gpu as the README gives it (bf16-mixed); on the CPU dry run the same config with the CPU.
ON_DEVICE = ["trainer=gpu", *([] if CUDA else ["trainer.accelerator=cpu"]), f"model.tokenizer={TOKENIZER}"]
# Bit-identical weights after a resume need deterministic kernels (CUDA's index_add/embedding backward
# otherwise accumulate with atomics in a varying order).
EXACT = ["trainer.deterministic=true"]


def report(name: str, figures: dict) -> None:
    """Add `figures` under `name` to the SPLINTER_CUDA_REPORT JSON file (gpu_check.sh's raw output)."""
    print(f"{name}: {figures}")
    if REPORT:
        path = Path(REPORT)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[name] = figures
        path.write_text(json.dumps(data, indent=1) + "\n")


@pytest.fixture(autouse=True)
def full_fp32_matmuls():
    # fp32 means fp32: no TF32 in the comparisons (torch's default, pinned here against a changed one).
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32 = before


def autocast(enabled: bool):
    return torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=enabled)


# ---- packed tokens against the padded forward, on the device ---------------------------------------

def small_model(dropout: float = 0.0) -> SplinterForQuestionAnswering:
    # head size 16 (a multiple of 8: the fused kernels' requirement); vocabulary 128 for the batch below
    torch.manual_seed(0)
    config = SplinterConfig(vocab_size=128, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                            intermediate_size=96, max_position_embeddings=64, hidden_dropout_prob=dropout,
                            attention_probs_dropout_prob=dropout)
    return perturbed(SplinterForQuestionAnswering(config)).to(DEVICE)


def padded_batch() -> dict[str, torch.Tensor]:
    """6 sequences of up to 40 tokens (~30 % padding: the encoder packs them), a hidden [SEP] in each."""
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(1, 100, (6, 40), generator=generator)
    attention_mask = torch.ones(6, 40, dtype=torch.long)
    for row, length in enumerate((40, 23, 31, 12, 36, 27)):
        attention_mask[row, length:] = 0
        input_ids[row, length:] = 0
    attention_mask[:, 5] = 0
    batch = {"input_ids": input_ids, "attention_mask": attention_mask,
             "token_type_ids": torch.zeros(6, 40, dtype=torch.long),
             "question_positions": torch.tensor([[2], [3], [1], [4], [2], [3]]),
             "start_positions": torch.tensor([[8], [10], [20], [7], [30], [12]]),
             "end_positions": torch.tensor([[9], [12], [21], [9], [33], [12]])}
    return {k: v.to(DEVICE) for k, v in batch.items()}


def logits_loss_grads(model, batch, packed: bool, bf16: bool, monkeypatch) -> dict[str, torch.Tensor]:
    from splinter.model import encoder

    built = []
    real_build = encoder.TokenLayout.build.__func__

    def build(cls, keep, attended=None):
        layout = real_build(cls, keep, attended) if packed else None
        built.append(layout)
        return layout

    monkeypatch.setattr(encoder.TokenLayout, "build", classmethod(build))
    model.zero_grad()
    with autocast(bf16):
        output = model(**batch)
    output.loss.backward()
    monkeypatch.undo()
    assert all((layout is not None) == packed for layout in built) and built
    if packed:  # the layout the device really uses: per sequence on the CPU, one padded call on a GPU
        assert built[0].per_sequence == (not CUDA)
    grads = torch.cat([p.grad.flatten().float() for p in model.parameters() if p.grad is not None])
    return {"start": output.start_logits.detach().float(), "end": output.end_logits.detach().float(),
            "loss": output.loss.detach().float(), "grads": grads}


def test_packed_tokens_match_the_padded_forward_in_fp32(monkeypatch):
    model, batch = small_model().train(), padded_batch()
    packed = logits_loss_grads(model, batch, packed=True, bf16=False, monkeypatch=monkeypatch)
    padded = logits_loss_grads(model, batch, packed=False, bf16=False, monkeypatch=monkeypatch)
    attended = batch["attention_mask"].bool()[:, None]
    for name in ("start", "end"):
        torch.testing.assert_close(packed[name][attended.expand_as(packed[name])],
                                   padded[name][attended.expand_as(padded[name])], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed["loss"], padded["loss"], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed["grads"], padded["grads"], atol=1e-4, rtol=1e-4)
    report("packed_vs_padded_fp32", {name: float((packed[name] - padded[name]).abs().max())
                                     for name in ("loss", "grads")})


def test_packed_tokens_under_bf16_autocast_add_no_error_beyond_bf16s_own(monkeypatch):
    """bf16 keeps 8 significant bits (relative rounding 2⁻⁹ ≈ 0.2 %). Packed and padded run the same
    operations through differently shaped kernels (GEMMs over T vs B·L rows, attention with or without
    padded keys), so their roundings differ: neither is the reference. The fp32 padded forward is. The
    packed bf16 result must be as close to it as the padded bf16 result is (within 2× plus 1 % of the
    scale: a couple of roundings over 2 layers), and the two bf16 results within 5 % of each other's
    scale; a real bug (a misplaced token, a masked key attended) moves logits by O(1)."""
    model, batch = small_model().train(), padded_batch()
    reference = logits_loss_grads(model, batch, packed=False, bf16=False, monkeypatch=monkeypatch)
    packed = logits_loss_grads(model, batch, packed=True, bf16=True, monkeypatch=monkeypatch)
    padded = logits_loss_grads(model, batch, packed=False, bf16=True, monkeypatch=monkeypatch)
    attended = batch["attention_mask"].bool()[:, None]
    figures = {}
    for name in ("start", "end", "loss", "grads"):
        keep = attended.expand_as(reference[name]) if name in ("start", "end") else ...
        ref, a, b = reference[name][keep], packed[name][keep], padded[name][keep]
        scale = float(ref.abs().max())
        error_packed, error_padded = float((a - ref).abs().max()), float((b - ref).abs().max())
        between = float((a - b).abs().max())
        figures[name] = {"scale": scale, "packed_vs_fp32": error_packed, "padded_vs_fp32": error_padded,
                         "packed_vs_padded": between}
        assert error_packed <= 2 * error_padded + 0.01 * scale, (name, figures[name])
        assert between <= 0.05 * scale, (name, figures[name])
    report("packed_vs_padded_bf16", figures)


def test_attention_runs_with_only_the_fused_sdpa_kernels():
    """Restricted to flash / memory-efficient attention (the CPU has flash only), SDPA raises "No
    available kernel" rather than falling back to the unfused math path: the padded-layout call (a
    boolean key mask, dropout in training) must be one a fused kernel takes, forward and backward."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fused = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION] if CUDA else [SDPBackend.FLASH_ATTENTION]
    model, batch = small_model(dropout=0.1 if CUDA else 0.0).train(), padded_batch()  # CPU dropout: no SDPA
    with sdpa_kernel(fused), autocast(True):
        output = model(**batch)
        output.loss.backward()
        model.eval()
        with torch.no_grad():
            evaluated = model(**{k: v for k, v in batch.items() if "positions" not in k or k == "question_positions"})
    assert torch.isfinite(output.loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    assert torch.isfinite(evaluated.start_logits[batch["attention_mask"].bool()[:, None]]).all()


# ---- trainer=gpu: fine-tuning, evaluation, crash and resume -----------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("on-device")
    return out, run_train(out, *ON_DEVICE, *EXACT)


def test_trainer_gpu_fine_tunes_and_evaluates(trained, tmp_path):
    out, results = trained
    assert results["steps"] == 6 and results["num_questions"] == 40 and 0 <= results["f1"] <= 100
    assert len(json.loads((out / "predictions.json").read_text())) == 40
    # evaluate.py on the saved model, same trainer: the scores of the run's own final evaluation
    evaluated = run_evaluate(tmp_path, f"checkpoint={out / 'model'}", *ON_DEVICE)
    assert (evaluated["exact_match"], evaluated["f1"]) == (results["exact_match"], results["f1"])
    report("trainer_gpu", {"steps": results["steps"], "f1": results["f1"], "evaluate_f1": evaluated["f1"]})


def test_crash_and_resume_on_the_device_ends_with_the_uninterrupted_weights(trained, tmp_path):
    out, uninterrupted = trained
    crash = "callbacks=[{_target_: run_helpers.CrashAtStep, step: 4}]"
    with pytest.raises(RuntimeError, match="simulated crash at step 4"):
        run_train(tmp_path / "crashed", *ON_DEVICE, *EXACT, crash)
    saved = tmp_path / "crashed" / "checkpoints" / "interrupted.ckpt"
    rng = torch.load(saved, map_location="cpu", weights_only=True)["splinter_resume"]["rng"]
    assert ("cuda" in rng) == CUDA  # dropout on a GPU draws from the CUDA generator
    resumed = run_train(tmp_path / "resumed", *ON_DEVICE, *EXACT, f"ckpt_path={saved}")
    assert resumed["steps"] == 6
    assert (resumed["exact_match"], resumed["f1"]) == (uninterrupted["exact_match"], uninterrupted["f1"])
    a = SplinterForQuestionAnswering.from_pretrained(out / "model").state_dict()
    b = SplinterForQuestionAnswering.from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_trainer_ddp_with_one_device_trains(tmp_path):
    ddp = ["trainer=ddp", f"trainer.accelerator={'gpu' if CUDA else 'cpu'}", "trainer.devices=1",
           f"model.tokenizer={TOKENIZER}"]
    results = run_train(tmp_path, *ddp, "task.max_steps=3")
    assert results["steps"] == 3 and results["num_questions"] == 40
    assert (tmp_path / "model" / "model.safetensors").is_file()


# ---- QuestionAnswerer on the device ------------------------------------------------------------------

def test_question_answerer_on_the_device_answers_as_the_cpu_in_fp32():
    """The first 100 questions of the shipped SQuAD dev slice (real paragraphs of ~150 tokens). A random
    model whose scoring weights are scaled up, so that the best spans rarely tie within fp32 noise."""
    from splinter import load_tokenizer
    from splinter.data.questions import read_questions
    from splinter.qa.answerer import QuestionAnswerer

    questions = read_questions(REPO / "data" / "demo" / "squad-dev-slice.jsonl.gz")[0][:100]
    items = [{"question": q["question"], "context": q["context"]} for q in questions]
    tokenizer = load_tokenizer(TOKENIZER)
    torch.manual_seed(0)
    model = perturbed(SplinterForQuestionAnswering(SplinterConfig(
        vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96)))
    with torch.no_grad():
        for name in ("start_classifier", "end_classifier"):
            getattr(model.splinter_qass, name).weight.mul_(20)

    def answers(device, dtype):
        return [a["answer"] for a in QuestionAnswerer(copy.deepcopy(model), tokenizer, device=device, dtype=dtype)(items)]

    cpu = answers("cpu", torch.float32)
    on_device = answers(DEVICE, torch.float32)
    bf16 = answers(DEVICE, torch.bfloat16)
    assert on_device == cpu
    differ = sum(a != b for a, b in zip(bf16, cpu, strict=True))
    report("question_answerer", {"questions": len(items), "fp32_differences": 0, "bf16_differences": differ})
    assert all(isinstance(a, str) for a in bf16)
