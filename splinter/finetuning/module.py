"""QAModule: fine-tuning and evaluation of SplinterForQuestionAnswering as a LightningModule.

Training is the paper's protocol (docs/protocol.md §3). Evaluation runs the model and updates a
`splinter.qa.span_metric.SpanMetric` (decoding, gathering across ranks and scoring live there); the run
function hands the module its evaluation set (`evaluate_on`) and reads the result back from
`trainer.callback_metrics[EVALUATION_RESULT]`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytorch_lightning as pl
import torch
from tokenizers import Tokenizer
from torch import nn

from splinter.data.evaluation_set import EvaluationSet
from splinter.errors import ConfigError
from splinter.model.factory import model_arguments
from splinter.model.training_checkpoint import MODEL_ARGUMENTS, TOKENIZER_ENTRY, store_model_config
from splinter.qa.memory import release_freed_memory
from splinter.qa.span_metric import SpanMetric
from splinter.run.divergence import stop_if_diverged
from splinter.run.optim import build_optimizer, clip_gradients, linear_warmup_decay, warmup_length
from splinter.run.resume import ResumeState, skipper

# The key of trainer.callback_metrics under which an evaluation leaves its SpanMetric result.
EVALUATION_RESULT = "evaluation"


def compile_encoder(model: torch.nn.Module, backend: str = "inductor") -> None:
    """`model.compile=true`: torch.compile the native encoder's layer stack in place (parameter names and
    checkpoints unchanged). dynamic=True: every batch has another length (dynamic padding) and, packed,
    another token count; compiling one graph per shape would cost more than it saves. Measured on a CPU
    it is slower than eager (bench/compile_speed.py, bench/README.md): it is meant for GPUs."""
    encoder = getattr(getattr(model, "splinter", None), "encoder", None)
    if encoder is None:
        raise ConfigError("model.compile", "compiles the native encoder only; this model has none "
                          "(model.backend=transformers)", ["false"])
    encoder.compile(dynamic=True, backend=backend)


# Evaluation batches between two hand-backs of the heap's free pages to the system (splinter/qa/memory.py).
RELEASE_MEMORY_EVERY = 16


class QAModule(pl.LightningModule):
    """Fine-tunes and evaluates `model` (a `SplinterForQuestionAnswering` or `TransformersQAModel`, built
    by `splinter.model.factory.load_model`). The hyper-parameters are the optimisation and decoding
    settings, plus, under "model", the arguments the model was built with (`load_arguments`)."""

    # Resuming a checkpoint (splinter.run.resume_check): the hyper-parameters that may differ (decoding,
    # used only by the evaluation after training), and the config keys of those that are not
    # task.module.* (the model's arguments are the model group's keys).
    RESUME_MAY_DIFFER = frozenset({"max_answer_length", "n_best", "use_max_context", "compile"})
    CONFIG_KEYS = {MODEL_ARGUMENTS: "model", "compile": "model.compile"}

    def __init__(
        self,
        model: nn.Module,
        lr: float = 3e-5,
        warmup_ratio: float = 0.1,
        weight_decay: float = 0.0,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        max_answer_length: int = 10,
        n_best: int = 20,
        use_max_context: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.hparams[MODEL_ARGUMENTS] = model_arguments(model)
        # from_pretrained hands back an eval-mode model; Lightning keeps module modes as it finds them,
        # so without this, fine-tuning would run with dropout off.
        self.model = model.train()
        if compile:
            compile_encoder(self.model)
        self.resume = ResumeState()
        # Set by evaluate_on() before an evaluation: the evaluation set and the decoding rule.
        self.span_metric: SpanMetric | None = None
        # The run's tokenizer, stored in every .ckpt so that evaluate.py needs nothing else.
        self.tokenizer: Tokenizer | None = None

    # ---- training -------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.model(**batch).loss
        stop_if_diverged(self, loss)
        self.resume.batch_finished()
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].size(0))
        # Steps done, as a metric: under ddp_spawn only callback metrics travel back to the main process.
        self.log("train/steps", float(self.global_step + 1), batch_size=1)
        return loss

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        # The scheduler steps per optimiser step; logging the lr it just set shows warm-up and decay.
        self.log("train/lr", self.lr_schedulers().get_last_lr()[0], batch_size=batch["input_ids"].size(0))

    def on_train_start(self) -> None:
        self.resume.training_started(skipper(self.trainer.train_dataloader))

    def on_train_epoch_start(self) -> None:
        self.resume.epoch_started()

    def configure_optimizers(self):
        hp = self.hparams
        optimizer = build_optimizer(self.model, hp.lr, hp.weight_decay, tuple(hp.betas), hp.eps)
        total = int(self.trainer.estimated_stepping_batches)
        scheduler = linear_warmup_decay(optimizer, warmup_length(total, hp.warmup_ratio), total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)  # bf16 + fused AdamW

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.resume.save(checkpoint)
        store_model_config(self.model, checkpoint)
        if self.tokenizer is not None:
            checkpoint[TOKENIZER_ENTRY] = self.tokenizer.to_str()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.resume.load(checkpoint)

    # ---- evaluation -----------------------------------------------------------------------------
    def evaluate_on(self, evaluation_set: EvaluationSet, answers: bool = False) -> None:
        """Score the next validate/test run on `evaluation_set` with the module's decoding settings;
        `answers`: the result also holds each question's answer span and n-best list (the analysis page)."""
        hp = self.hparams
        self.span_metric = SpanMetric(evaluation_set, hp.max_answer_length, hp.n_best, hp.use_max_context,
                                      keep_candidates=answers)

    def _evaluation_step(self, batch: dict[str, torch.Tensor]) -> None:
        if self.span_metric is None:
            raise RuntimeError("QAModule.evaluate_on(evaluation_set) must be called before evaluating")
        window_index = batch.pop("window_index")
        with without_onednn():
            output = self.model(**batch)  # one question per window: logits [B, 1, L]
        self.span_metric.update(window_index, output.start_logits.squeeze(1), output.end_logits.squeeze(1))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch)
        self._release_memory(batch_idx)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluation_step(batch)
        self._release_memory(batch_idx)

    @staticmethod
    def _release_memory(batch_idx: int) -> None:
        # Every batch has other shapes, and glibc keeps the freed activations in the heap: the resident
        # size of a long evaluation crept up with the number of questions (MiniLM, full SQuAD dev set:
        # 1.68 GiB peak; with this, 1.04 GiB, and 0.90 / 0.93 GiB at 1k / 4k questions). Cheap (one call
        # every 16 batches), a no-op outside glibc.
        if (batch_idx + 1) % RELEASE_MEMORY_EVERY == 0:
            release_freed_memory()

    def on_validation_epoch_start(self) -> None:
        if self.span_metric is not None:
            self.span_metric.reset()

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_epoch_end(self) -> None:
        self._finish_evaluation(stage="val")

    def on_test_epoch_end(self) -> None:
        self._finish_evaluation(stage="test")

    def _finish_evaluation(self, stage: str) -> None:
        result = self.span_metric.compute()  # every rank takes part in the gather
        self.span_metric.reset()
        self.log(f"{stage}/exact_match", result["exact_match"], rank_zero_only=True)
        self.log(f"{stage}/f1", result["f1"], rank_zero_only=True)
        # callback_metrics is what Lightning hands back to the main process from rank 0 under ddp_spawn
        # (torch.save, loaded with weights_only=True: plain dicts, strings and numbers travel).
        self.trainer.callback_metrics[EVALUATION_RESULT] = result


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
