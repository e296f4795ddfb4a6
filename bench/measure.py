"""Benchmark workers. Each runs in its own process (`run.py` starts them), so that the peak resident
memory it reports (ru_maxrss, a per-process high-water mark) belongs to that measurement alone.

Every worker returns a JSON-able dict; times are wall-clock seconds measured with `time.perf_counter`
after `torch.cuda.synchronize()` on GPU.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.flops import batch_flops

ROOT = Path(__file__).resolve().parent.parent
# The data root (mrqa-few-shot/, mrqa-dev/) and the tokenizer: the shared data beside the checkout and
# the MiniLM package's vocabulary by default; bench/gpu_check.sh points both into the checkout
# (`make gpu-data`), since on the GPU machine neither is there.
DATA = Path(os.environ.get("SPLINTER_BENCH_DATA") or ROOT.parent / "shared" / "data")
TOKENIZER = os.environ.get("SPLINTER_BENCH_TOKENIZER") or "minilm"
DEV_FILE = DATA / "mrqa-dev" / "SQuAD.jsonl.gz"
REFERENCE_LENGTH = 384  # run_qa.py's padding="max_length"


# ---------------------------------------------------------------------------------------------- utils

class Device:
    def __init__(self, name: str, threads: int | None):
        if threads:
            torch.set_num_threads(threads)
        self.type = name
        self.torch = torch.device(name)
        self.cuda = name == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def autocast(self):
        # GPU: bf16 autocast (SDPA picks flash/memory-efficient kernels); CPU: fp32, as in the paper.
        if self.cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()

    def memory(self, rss_base_kb: int) -> dict:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        out = {"peak_rss_mib": rss / 1024, "peak_rss_delta_mib": (rss - rss_base_kb) / 1024}
        if self.cuda:
            out["cuda_max_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        return out


def maxrss_kb() -> int:
    """The baseline for a peak-memory delta: the CURRENT resident set (VmRSS) rather than ru_maxrss, whose
    high-water mark may already include a transient peak of loading (so that the delta would read 0)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])  # KiB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def now(device: Device) -> float:
    device.sync()
    return time.perf_counter()


def model_config(model_dir: str) -> dict:
    import json

    return json.loads((Path(model_dir) / "config.json").read_text())


# ---------------------------------------------------------------------------------------------- peak

def peak(p: dict) -> dict:
    """GFLOP/s of a large square matmul in the compute dtype (fp32 on CPU; fp32 and bf16 on GPU)."""
    device = Device(p["device"], p.get("threads"))
    n = p.get("size") or (8192 if device.cuda else 4096)
    out = {"size": n, "threads": torch.get_num_threads()}
    dtypes = [torch.float32] + ([torch.bfloat16] if device.cuda else [])
    for dtype in dtypes:
        a = torch.randn(n, n, device=device.torch, dtype=dtype)
        b = torch.randn(n, n, device=device.torch, dtype=dtype)
        for _ in range(2):
            a @ b
        times = []
        for _ in range(p.get("repeats", 5)):
            start = now(device)
            a @ b
            times.append(now(device) - start)
        out[f"gflops_{str(dtype).split('.')[-1]}"] = 2 * n**3 / statistics.median(times) / 1e9
        out[f"gflops_{str(dtype).split('.')[-1]}_best"] = 2 * n**3 / min(times) / 1e9
    return out


# ---------------------------------------------------------------------------------------------- training

def _training_batches(p: dict, count: int) -> list[dict]:
    """The first `count` batches of our training loader (epochs repeat when the split is short)."""
    from splinter.data.datamodule import QADataModule

    dm = QADataModule(
        tokenizer=p["tokenizer"], root=str(DATA), shots=p["shots"], seed=p["split_seed"],
        batch_size=p["batch_size"], group_by_length=p["order"] == "grouped", cache_dir=p["cache_dir"],
        shuffle_seed=0, verbose=False,
    )
    loader = dm.train_dataloader()
    batches, epoch = [], 0
    while len(batches) < count:
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            batches.append(batch)
            if len(batches) == count:
                break
        epoch += 1
    return batches


def _pad_to(batch: dict, length: int) -> dict:
    """Our batch padded to `length` (run_qa's padding="max_length"), in transformers' argument names."""
    pad = length - batch["input_ids"].shape[1]
    out = {name: torch.nn.functional.pad(batch[name], (0, pad)) for name in
           ("input_ids", "attention_mask", "token_type_ids")}
    out["start_positions"], out["end_positions"] = batch["start_positions"], batch["end_positions"]
    return out


def _pad_ours(batch: dict, length: int) -> dict:
    """Our batch (its own argument names) with every [B, L] tensor padded to `length`."""
    size, current = batch["input_ids"].shape
    return {name: torch.nn.functional.pad(t, (0, length - current)) if t.dim() == 2 and t.shape == (size, current)
            and name != "question_positions" else t for name, t in batch.items()}


def _computed(attention_mask: torch.Tensor, device: Device) -> tuple[int, int]:
    """(tokens our encoder runs its linear layers on, Σ L² of its attention), as TokenLayout decides:
    packed attended tokens and, on CPU, attention per sequence at its own length."""
    from splinter.model.encoder import TokenLayout

    size, length = attention_mask.shape
    kept = attention_mask.bool().sum(1)
    if int(kept.sum()) > (1 - TokenLayout.MIN_PADDING_FRACTION) * size * length:
        return size * length, size * length * length
    l2 = int((kept * kept).sum()) if not device.cuda else size * length * length
    return int(kept.sum()), l2


def train(p: dict) -> dict:
    """Fine-tuning steps (forward + backward + clip + AdamW) on the real few-shot split, fp32 on CPU."""
    device = Device(p["device"], p.get("threads"))
    steps, warmup = p["steps"], p["warmup"]
    batches = _training_batches(p, warmup + steps)
    config = model_config(p["model_dir"])
    torch.manual_seed(0)
    if p["impl"] == "ours":
        from splinter import SplinterForQuestionAnswering
        from splinter.run.optim import build_optimizer

        model = SplinterForQuestionAnswering.from_pretrained(p["model_dir"]).to(device.torch).train()
        optimizer = build_optimizer(model, lr=3e-5)  # the project's AdamW (fused)
        # padding="max_length": the same batches padded to 384 as run_qa pads them (ours then packs the
        # real tokens again); the default is the training loader's dynamic padding.
        inputs = batches if p.get("padding", "dynamic") == "dynamic" else [
            _pad_ours(b, REFERENCE_LENGTH) for b in batches]
    else:
        from bench.reference import hf_model

        model = hf_model(p["model_dir"]).to(device.torch).train()
        # transformers' Trainer default optimiser on torch >= 2.8: "adamw_torch_fused"
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, fused=True)
        inputs = [_pad_to(b, REFERENCE_LENGTH) for b in batches]
    inputs = [{k: v.to(device.torch) for k, v in b.items()} for b in inputs]
    params = [q for q in model.parameters() if q.requires_grad]
    rss_base = maxrss_kb()
    device.reset_peak()

    records = []
    for i, batch in enumerate(inputs):
        start = now(device)
        with device.autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        seconds = now(device) - start
        if i < warmup:
            continue
        ours = batches[i]
        lengths = (ours["input_ids"] != 0).sum(1).tolist()  # the windows' own lengths ([PAD] is id 0)
        size, length = batch["input_ids"].shape
        computed, l2 = (_computed(batch["attention_mask"].cpu(), device) if p["impl"] == "ours"
                        else (size * length, size * length * length))
        flops = batch_flops(config, size, length, computed, lengths, training=True, attention_l2=l2)
        records.append({"seconds": seconds, "windows": size, "length": length, "real_tokens": sum(lengths),
                        "computed_tokens": computed, "loss": float(loss), **{f"flops_{k}": v for k, v in
                                                                          flops.items()}})
    return {"steps": records, **device.memory(rss_base)}


# ---------------------------------------------------------------------------------------------- evaluation

class _ForwardTimer:
    """Forward hooks on the model: total forward seconds and the padded shapes of the batches."""

    def __init__(self, model: torch.nn.Module, device: Device):
        self.device, self.seconds, self.shapes, self._start = device, 0.0, [], 0.0
        self.real_lengths: list[int] = []
        model.register_forward_pre_hook(self._pre, with_kwargs=True)
        model.register_forward_hook(self._post, with_kwargs=True)

    def _pre(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self.shapes.append((tuple(ids.shape), _computed(kwargs["attention_mask"].cpu(), self.device)))
        self.real_lengths += (ids != 0).sum(1).tolist()
        self._start = now(self.device)

    def _post(self, module, args, kwargs, output):
        self.seconds += now(self.device) - self._start


def _eval_flops(config: dict, timer: _ForwardTimer, impl: str) -> dict:
    executed = 0.0
    for (size, length), (computed, l2) in timer.shapes:
        if impl != "ours":
            computed, l2 = size * length, size * length * length
        executed += batch_flops(config, size, length, computed, [], training=False, attention_l2=l2)["executed"]
    useful = batch_flops(config, 0, 0, 0, timer.real_lengths, training=False)["useful"]
    return {"flops_executed": executed, "flops_useful": useful,
            "padded_tokens": sum(s * n for (s, n), _ in timer.shapes), "real_tokens": sum(timer.real_lengths)}


def eval_ours(p: dict) -> dict:
    """The project's evaluation path: QADataModule (read → windows) + Lightning validate of QAModule
    (forward → top_spans per batch → best_answers → squad_scores)."""
    import logging

    import pytorch_lightning as pl

    from splinter.data.datamodule import QADataModule
    from splinter.finetuning.module import EVALUATION_RESULT, QAModule
    from splinter.model.factory import load_model

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    device = Device(p["device"], p.get("threads"))
    module = QAModule(load_model(p["model_dir"], head_type="qass"))
    timer = _ForwardTimer(module.model, device)
    dm = QADataModule(tokenizer=p["tokenizer"], root=str(DATA), eval_file=str(DEV_FILE),
                      max_eval_examples=p["questions"], eval_batch_size=p["batch_size"],
                      cache_dir=p["cache_dir"], verbose=False, **p.get("datamodule", {}))
    trainer = pl.Trainer(accelerator="gpu" if device.cuda else "cpu", devices=1, logger=False,
                         precision="bf16-mixed" if device.cuda else "32-true", enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    rss_base = maxrss_kb()
    device.reset_peak()
    start = now(device)
    examples = dm.eval_examples
    read = now(device)
    windows = dm.eval_windows
    built = now(device)
    module.evaluate_on(dm.evaluation_set)
    trainer.validate(module, datamodule=dm, verbose=False)
    done = now(device)
    metrics = trainer.callback_metrics[EVALUATION_RESULT]
    return {
        "questions": len(examples), "windows": len(windows),
        "read_seconds": read - start, "windows_seconds": built - read, "validate_seconds": done - built,
        "forward_seconds": timer.seconds, "rest_seconds": done - built - timer.seconds,
        "seconds": done - read,  # comparable with the reference: from examples to scores
        "seconds_with_read": done - start,
        "exact_match": metrics["exact_match"], "f1": metrics["f1"],
        **_eval_flops(model_config(p["model_dir"]), timer, "ours"), **device.memory(rss_base),
    }


def eval_ref(p: dict) -> dict:
    """run_qa.py-style evaluation: tokenizer map → padded 384 windows → forward → Python n-best → metric."""
    import numpy as np
    from torch.utils.data import DataLoader

    from bench.reference import (
        hf_model,
        hf_tokenizer,
        postprocess_qa_predictions,
        prepare_validation_features,
    )
    from splinter.data.formats.readers import read_examples
    from splinter.qa.metrics import squad_scores

    device = Device(p["device"], p.get("threads"))
    model = hf_model(p["model_dir"]).to(device.torch).eval()
    tokenizer = hf_tokenizer(p["model_dir"])
    timer = _ForwardTimer(model, device)
    rss_base = maxrss_kb()
    device.reset_peak()
    # Reading the file is the same for both pipelines: untimed here, timed separately for ours.
    examples, _ = read_examples(DEV_FILE, training=False, cache_dir=p["cache_dir"])
    examples = examples.select(range(min(p["questions"], len(examples))))
    start = now(device)
    features = examples.map(prepare_validation_features, batched=True, remove_columns=examples.column_names,
                            fn_kwargs={"tokenizer": tokenizer}, load_from_cache_file=False)
    tokenized = now(device)
    model_inputs = features.remove_columns(["example_id", "offset_mapping"]).with_format("torch")
    starts, ends = [], []
    with torch.no_grad():
        for batch in DataLoader(model_inputs, batch_size=p["batch_size"]):
            batch = {k: v.to(device.torch) for k, v in batch.items()}
            with device.autocast():
                output = model(**batch)
            starts.append(output.start_logits.float().cpu().numpy())
            ends.append(output.end_logits.float().cpu().numpy())
    forwarded = now(device)
    predictions = postprocess_qa_predictions(examples, features, (np.concatenate(starts), np.concatenate(ends)),
                                             n_best_size=20, max_answer_length=10)
    decoded = now(device)
    references = dict(zip(examples["id"], examples["gold_answers"], strict=True))
    scores = squad_scores(predictions, references)
    done = now(device)
    return {
        "questions": len(examples), "windows": len(features),
        "windows_seconds": tokenized - start, "forward_loop_seconds": forwarded - tokenized,
        "forward_seconds": timer.seconds, "decode_seconds": decoded - forwarded, "score_seconds": done - decoded,
        "seconds": done - start, **scores,
        **_eval_flops(model_config(p["model_dir"]), timer, "ref"), **device.memory(rss_base),
    }


# ---------------------------------------------------------------------------------------------- decoding

def _decoding_inputs(p: dict):
    """Evaluation windows of the first questions of the dev set, and synthetic logits shaped like a
    trained model's: noise plus a bump at a random context position (starts) and 0-3 tokens later
    (ends), so that the top-20 starts/ends cluster and many pairs are valid, as with real predictions."""
    from splinter import load_tokenizer
    from splinter.data.formats.readers import read_examples
    from splinter.data.windows import WindowSettings, build_windows

    examples, _ = read_examples(DEV_FILE, training=False, cache_dir=p["cache_dir"])
    examples = examples.select(range(min(p["questions"], len(examples))))
    windows = build_windows(examples, load_tokenizer(p["tokenizer"]), WindowSettings(), training=False)
    contexts = dict(zip(examples["id"], examples["context"], strict=True))
    offsets = windows["offsets"][:]
    n, length = len(offsets), max(len(o) for o in offsets)
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([len(o) for o in offsets])
    first_context = torch.tensor([next((i for i, o in enumerate(row) if o[0] >= 0), 0) for row in offsets])
    answer = first_context + (torch.rand(n, generator=generator) * (lengths - first_context - 4).clamp(min=1)).long()
    position = torch.arange(length)[None, :].float()
    start_logits = torch.randn(n, length, generator=generator) + 8 * torch.exp(-((position - answer[:, None]) / 2) ** 2)
    answer_end = answer + torch.randint(0, 4, (n,), generator=generator)
    end_logits = torch.randn(n, length, generator=generator) + 8 * torch.exp(-((position - answer_end[:, None]) / 2) ** 2)
    padding = torch.arange(length)[None, :] >= lengths[:, None]
    minimum = torch.finfo(torch.float32).min  # the model's logits at padding
    return (windows, examples, contexts, offsets, start_logits.masked_fill(padding, minimum),
            end_logits.masked_fill(padding, minimum))


def decode(p: dict) -> dict:
    """Logits → answer texts for the same windows and logits: splinter.qa.spans vs run_qa's Python loop.

    inputs="dataset": each side reads what its pipeline has: ours the windows Dataset's columns (as
    QAModule passes them), the reference run_qa's features/examples Datasets, iterated row by row.
    inputs="lists": both get plain Python lists (the loop at its fastest)."""
    import json

    from datasets import Dataset

    Device(p["device"], p.get("threads"))  # thread count; decoding runs on the CPU
    windows, examples, contexts, offsets, start_logits, end_logits = _decoding_inputs(p)
    rss_base = maxrss_kb()
    times = []
    if p["impl"] == "ours":
        from splinter.data.evaluation_set import EvaluationSet
        from splinter.qa.spans import best_answers, top_spans

        if p["inputs"] == "dataset":
            source = windows
        else:
            source = {"example_id": windows["example_id"][:], "offsets": offsets,
                      "max_context": windows["max_context"][:]}
        for _ in range(p["repeats"]):
            start = time.perf_counter()
            ev = EvaluationSet.from_windows(source, contexts)
            context = torch.nn.functional.pad(ev.context_masks, (0, start_logits.shape[1] - ev.context_masks.shape[1]))
            c = top_spans(start_logits, end_logits, context, max_answer_length=10, n_best=20)
            predictions = best_answers(ev.example_ids, c.scores, c.starts, c.ends, ev.offsets, contexts)
            times.append(time.perf_counter() - start)
    else:
        from bench.reference import postprocess_qa_predictions, python_nbest_decode

        offsets_none = [[None if o[0] < 0 else tuple(o) for o in row] for row in offsets]
        example_ids = windows["example_id"][:]
        # run_qa's features: every window padded to 384 (logits too), its model inputs kept as columns
        # (post-processing iterates the full features Dataset), offsets None outside the context.
        pad = REFERENCE_LENGTH - start_logits.shape[1]
        minimum = torch.finfo(torch.float32).min
        s = torch.nn.functional.pad(start_logits, (0, pad), value=minimum).numpy()
        e = torch.nn.functional.pad(end_logits, (0, pad), value=minimum).numpy()
        columns = {name: [row + [0] * (REFERENCE_LENGTH - len(row)) for row in windows[name][:]]
                   for name in ("input_ids", "token_type_ids", "attention_mask")}
        features = Dataset.from_dict({**columns, "offset_mapping": [
            row + [None] * (REFERENCE_LENGTH - len(row)) for row in offsets_none], "example_id": example_ids})
        features = features.map(lambda batch: batch, batched=True, cache_file_name=str(Path(p["cache_dir"]) /
                                                                                     "features.arrow"))
        for _ in range(p["repeats"]):
            start = time.perf_counter()
            if p["inputs"] == "dataset":
                predictions = postprocess_qa_predictions(examples, features, (s, e), 20, 10)
            else:
                predictions = python_nbest_decode(example_ids, contexts, offsets_none, s, e, 20, 10)
            times.append(time.perf_counter() - start)
    Path(p["predictions_file"]).write_text(json.dumps(predictions))
    return {"windows": len(offsets), "questions": len(contexts), "seconds": statistics.median(times),
            "times": times, "peak_rss_delta_mib": (maxrss_kb() - rss_base) / 1024}


def parity(p: dict) -> dict:
    """Same weights, same windows: our logits/loss (dynamic padding, packed tokens) against transformers'
    (padded to 384), eval mode, fp32; the speed comparison is only meaningful if these agree."""
    from bench.reference import hf_model
    from splinter import SplinterForQuestionAnswering

    Device(p["device"], p.get("threads"))
    batches = _training_batches({**p, "order": "random"}, 2)
    ours = SplinterForQuestionAnswering.from_pretrained(p["model_dir"]).eval()
    ref = hf_model(p["model_dir"]).eval()
    logit_diff, loss_diff = 0.0, 0.0
    with torch.no_grad():
        for batch in batches:
            a = ours(**batch)
            b = ref(**_pad_to(batch, REFERENCE_LENGTH))
            length = batch["input_ids"].shape[1]
            attended = batch["attention_mask"].bool()
            for x, y in ((a.start_logits[:, 0], b.start_logits[:, :length]),
                         (a.end_logits[:, 0], b.end_logits[:, :length])):
                logit_diff = max(logit_diff, float((x - y)[attended].abs().max()))
            loss_diff = max(loss_diff, abs(float(a.loss) - float(b.loss)))
    return {"max_abs_logit_diff": logit_diff, "max_abs_loss_diff": loss_diff}


WORKERS = {"parity": parity, "peak": peak, "train": train, "eval_ours": eval_ours, "eval_ref": eval_ref, "decode": decode}


# all-MiniLM-L6-v2's config.json: the shape of the benchmark's model where the package is missing.
MINILM_SHAPE = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)


# `--tiny` (bench/gpu_check.sh --dry-run): both benchmark models at this size, random weights.
TINY_SHAPE = dict(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=128, max_position_embeddings=512)


def prepare_models(directory: Path, base: bool, tiny: bool = False) -> dict[str, str]:
    """Save the benchmark checkpoints once: MiniLM + a seeded fresh QASS head; optionally a random
    splinter-base-shaped model (768 hidden, 12 layers, MiniLM's vocabulary). Both with tokenizer files,
    so that transformers' SplinterTokenizerFast / SplinterForQuestionAnswering load the same directory."""
    from splinter import SplinterConfig, SplinterForQuestionAnswering, load_tokenizer
    from splinter.errors import CheckpointError
    from splinter.tokenization.tokenizer import save_tokenizer_files

    tokenizer = load_tokenizer(TOKENIZER)
    out = {}

    def scoring_weights(model):
        # A fresh head scores every token 0 (reset_head zeroes the classifiers): all logits would tie.
        # transformers' N(0, 0.02) initialisation gives spread-out logits, as a trained model has.
        with torch.no_grad():
            for name in ("start_classifier", "end_classifier"):
                torch.nn.init.normal_(getattr(model.splinter_qass, name).weight, std=0.02)
        return model

    torch.manual_seed(0)
    try:
        if tiny:
            raise CheckpointError("tiny shapes asked for")
        minilm = scoring_weights(SplinterForQuestionAnswering.from_pretrained("minilm"))
    except CheckpointError:  # no MiniLM package (the GPU machine): its shape with random weights
        minilm = scoring_weights(SplinterForQuestionAnswering(SplinterConfig(**(TINY_SHAPE if tiny else MINILM_SHAPE))))
        out["minilm_weights"] = "tiny, random" if tiny else "random"
    out["minilm"] = str(directory / "minilm")
    minilm.save_pretrained(out["minilm"])
    save_tokenizer_files(tokenizer, out["minilm"])
    if base:
        torch.manual_seed(0)
        shape = TINY_SHAPE if tiny else {}
        model = scoring_weights(SplinterForQuestionAnswering(SplinterConfig(**{
            **shape, "vocab_size": minilm.config.vocab_size, "question_token_id": minilm.config.question_token_id})))
        out["base"] = str(directory / "base")
        model.save_pretrained(out["base"])
        save_tokenizer_files(tokenizer, out["base"])
    return out


def fresh_dir(prefix: str) -> str:
    return tempfile.mkdtemp(prefix=f"splinter-bench-{prefix}-")


def median(values) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan
