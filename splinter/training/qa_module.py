"""QAModule: fine-tuning and evaluation of SplinterForQuestionAnswering as a LightningModule.

Training is the paper's protocol (PROTOCOL.md §3). Evaluation decodes each batch's logits into the best
span per window on the device (no logits are kept), gathers the per-window bests from every rank,
drops the windows that DistributedSampler repeated to even out the shards, and picks the best window
per question, so that every question is scored exactly once under any number of processes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from tokenizers import Tokenizer

from splinter.errors import ConfigError
from splinter.files import write_json
from splinter.metrics import squad_scores
from splinter.model.config import SplinterConfig
from splinter.model.qa import SplinterForQuestionAnswering
from splinter.spans import best_answers, context_mask_from_offsets, pad_mask, top_spans
from splinter.training.optim import build_optimizer, linear_warmup_decay
from splinter.training.resume import ResumeState


def build_qa_model(
    checkpoint: str | None,
    config: dict | None = None,
    fresh_head: bool = False,
    head_type: str = "qass",
    head_init: str | None = None,
    backend: str = "native",
) -> SplinterForQuestionAnswering:
    """A QA model from a checkpoint (dir, hub id, 'minilm') or, with checkpoint=None, random weights.

    `head_init` ("zero" | "paper", None: the config's) sets how a fresh head starts; `backend`
    "transformers" loads the checkpoint with transformers' AutoModel instead of the native encoder
    (`config` then overrides the AutoModel's config).
    """
    from splinter.model.transformers_backend import BACKENDS

    if backend not in BACKENDS:
        raise ConfigError("model.backend", f"unknown backend {backend!r}", BACKENDS)
    if backend == "transformers":
        if checkpoint is None:
            raise ConfigError("model.checkpoint", "model.backend=transformers needs a checkpoint (a directory "
                              "or Hub id that transformers' AutoModel loads), got null")
        from splinter.model.transformers_backend import TransformersQAModel

        return TransformersQAModel.from_pretrained(checkpoint, fresh_head=fresh_head, head_type=head_type,
                                                   head_init=head_init, **(config or {}))
    overrides = {**(config or {}), "head_type": head_type}
    if head_init is not None:
        overrides["head_init"] = head_init
    if checkpoint is None:
        return SplinterForQuestionAnswering(SplinterConfig(**overrides))
    return SplinterForQuestionAnswering.from_pretrained(checkpoint, fresh_head=fresh_head, **overrides)


class QAModule(pl.LightningModule):
    def __init__(
        self,
        checkpoint: str | None = None,
        model_config: dict | None = None,
        fresh_head: bool = False,
        head_type: str = "qass",
        head_init: str | None = None,
        backend: str = "native",
        lr: float = 3e-5,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_answer_length: int = 10,
        n_best: int = 20,
        use_max_context: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        # from_pretrained hands back an eval-mode model; Lightning keeps module modes as it finds them,
        # so without this, fine-tuning would run with dropout off.
        self.model = build_qa_model(checkpoint, model_config, fresh_head, head_type, head_init, backend).train()
        self.resume = ResumeState()
        self.predictions: dict[str, str] = {}
        self.eval_metrics: dict[str, Any] = {}
        # Where rank 0 writes predictions.json at the end of an evaluation: the run's output directory.
        # Written from inside the (possibly spawned) process so that ddp_spawn loses nothing.
        self.output_dir: Path | None = None
        # The run's tokenizer, stored in every .ckpt so that evaluate.py needs nothing else.
        self.tokenizer: Tokenizer | None = None
        self._eval_parts: list[tuple[torch.Tensor, ...]] = []

    # ---- training -------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        self.resume.batch_finished()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].size(0))
        # Steps done, as a metric: under ddp_spawn only callback metrics travel back to the main process.
        self.log("train/steps", float(self.global_step + 1), batch_size=1)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # The scheduler steps per optimiser step; logging the lr it just set shows warm-up and decay.
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0], batch_size=batch["input_ids"].size(0))

    def on_train_start(self) -> None:
        self.resume.training_started(getattr(self.trainer.train_dataloader, "sampler", None))

    def on_train_epoch_start(self) -> None:
        self.resume.epoch_started()

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(self.model, hp.lr, hp.weight_decay, tuple(hp.betas), hp.eps)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = linear_warmup_decay(optimizer, round(hp.warmup_ratio * total), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.resume.save(checkpoint)
        # The model's own config, so evaluate.py can rebuild it from the .ckpt without the hub.
        checkpoint["splinter_config"] = self.model.config.to_dict()
        if self.tokenizer is not None:
            checkpoint["splinter_tokenizer"] = self.tokenizer.to_str()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.resume.load(checkpoint)

    # ---- evaluation -----------------------------------------------------------------------------
    def _evaluation_step(self, batch: dict[str, torch.Tensor]) -> None:
        window_index = batch.pop("window_index")
        length = batch["input_ids"].size(1)
        context_mask = _mask_rows(self._context_masks, window_index, length)
        max_context_mask = (
            _mask_rows(self._max_context_masks, window_index, length) if self.hparams.use_max_context else None
        )
        with without_onednn():
            output = self.model(**batch)  # one question per window: logits [B, 1, L]
        candidates = top_spans(
            output.start_logits.squeeze(1),
            output.end_logits.squeeze(1),
            context_mask,
            max_answer_length=self.hparams.max_answer_length,
            n_best=self.hparams.n_best,
            max_context_mask=max_context_mask,
        )
        # Only each window's best span can win across windows, so one candidate per window is kept.
        score = torch.where(candidates.valid[:, 0], candidates.scores[:, 0], float("-inf"))
        self._eval_parts.append((window_index, score, candidates.starts[:, 0], candidates.ends[:, 0]))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch)

    def on_validation_epoch_start(self) -> None:
        self._eval_parts = []
        self._eval_started = time.perf_counter()
        # Which tokens may start or end an answer, per window, looked up by window_index in each step:
        # the offsets stay outside the model batch, these masks live on the device once per evaluation.
        windows = self.trainer.datamodule.eval_windows
        self._context_masks = context_mask_from_offsets(windows["offsets"]).to(self.device)
        if self.hparams.use_max_context:
            self._max_context_masks = pad_mask(windows["max_context"]).to(self.device)

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        self._finish_evaluation(stage="val")

    def on_test_epoch_end(self) -> None:
        self._finish_evaluation(stage="test")

    def _gathered_window_bests(self) -> tuple[torch.Tensor, ...]:
        """Per-window best spans from every rank, each window once, sorted by window index."""
        if self._eval_parts:
            local = [torch.cat(column) for column in zip(*self._eval_parts, strict=True)]
        else:  # a rank with no batches still has to take part in the gather
            local = [torch.empty(0, dtype=dtype, device=self.device) for dtype in
                     (torch.long, torch.float, torch.long, torch.long)]
        if self.trainer.world_size > 1:
            # DistributedSampler gives every rank the same number of windows, so shapes agree.
            local = [self.all_gather(column).flatten(0, 1) for column in local]
        index, score, start, end = (column.cpu() for column in local)
        index, first = _first_occurrence(index)
        return index, score[first], start[first], end[first]

    def _finish_evaluation(self, stage: str) -> None:
        datamodule = self.trainer.datamodule
        index, score, start, end = self._gathered_window_bests()
        windows = datamodule.eval_windows.select(index.tolist())
        predictions = best_answers(
            windows["example_id"], score, start, end, windows["offsets"], datamodule.contexts()
        )
        references = datamodule.references()
        scores = squad_scores(predictions, references)
        self.predictions = predictions
        self.eval_metrics = {
            **scores,
            "num_questions": len(references),
            "num_windows": int(index.numel()),
            "eval_seconds": time.perf_counter() - self._eval_started,
        }
        self.log(f"{stage}/exact_match", scores["exact_match"], rank_zero_only=True)
        self.log(f"{stage}/f1", scores["f1"], rank_zero_only=True)
        if self.output_dir is not None and self.trainer.is_global_zero:
            out = Path(self.output_dir)  # written atomically: never a truncated file under the final name
            write_json(out / "predictions.json", predictions, indent=1)
            write_json(out / "eval_metrics.json", self.eval_metrics, indent=1)
        self._eval_parts = []


@contextmanager
def without_onednn() -> Iterator[None]:
    """Run CPU ops on torch's own kernels instead of oneDNN's, so that evaluation memory stays flat.

    On CPU, fp32 GELU (the only op of the model that torch hands to oneDNN) JIT-compiles one oneDNN
    primitive per input shape and keeps it in a cache of 1,024. The encoder's packed activations are
    [tokens of the batch, intermediate size]: a new shape nearly every evaluation batch, so every batch
    leaves a new small, long-lived primitive on the glibc heap right next to its large, short-lived
    activations. Those pins keep the freed activations from going back to the system (mallinfo2 on
    MiniLM: the heap in use flat, the free heap ~15 MB larger after every batch of 32; peak RSS 1.26 GiB
    at 1,000 questions, 2.0 at 4,000; now 0.96 at both: bench/eval_memory.py). torch's own GELU keeps
    no per-shape state; it differs from oneDNN's by at most ~1.5e-6 (float32 rounding), and was no
    slower here.
    Only the evaluation forward is switched (training is unchanged); the flag is restored on exit.
    """
    previous = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = previous


def _first_occurrence(index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique values of `index` (sorted) and, for each, the position of one occurrence."""
    unique, inverse = torch.unique(index, sorted=True, return_inverse=True)
    position = torch.full((unique.numel(),), -1, dtype=torch.long)
    position.scatter_(0, inverse, torch.arange(index.numel()))
    return unique, position


def _mask_rows(table: torch.Tensor, index: torch.Tensor, length: int) -> torch.Tensor:
    """Rows `index` of a per-window mask table, cut or False-padded to the batch's padded length."""
    rows = table[index, :length]
    return torch.nn.functional.pad(rows, (0, length - rows.size(1))) if rows.size(1) < length else rows
