"""PretrainModule: continued pretraining (Lightning) with recurring span selection (`objective="rss"`,
SplinterForPreTraining) or BERT's masked language model (`"mlm"`, SplinterForMaskedLM, the control):
the same optimiser, schedule and checkpointing; the objective picks the model and its loss.

Defaults are the paper's / original code's (docs/protocol.md §5, `pretraining/optimization.py` of the
release, which is BERT's): AdamW lr 1e-4, betas (0.9, 0.999), eps 1e-6, weight decay 0.01 except on
biases and LayerNorm weights (every 1-D parameter), gradient clipping 1.0 (set on the Trainer:
`gradient_clip_val`), linear warm-up over 10,000 steps then linear decay to 0 at the last step. The
warm-up is a fraction of the run (`warmup_ratio`, by default the paper's 10,000 of 2.4M steps), so a
short run warms up briefly instead of never reaching its lr; `warmup_steps` sets an absolute one.
Differences from the TF original: PyTorch's AdamW applies Adam's bias correction (BERT's optimizer did
not), and the decay runs from the end of warm-up to the end (the original decayed from step 0 and
overrode the first `warmup` steps); both matter little after warm-up.

The module receives the model, built by `splinter.model.factory.load_model(checkpoint, config=...,
fresh_head=..., objective=...)` (pretraining.run passes the model group's keys): a checkpoint
(continued pretraining; `config` overrides fields such as dropout) or, with none, from scratch from
`config` (`SplinterConfig` fields, e.g. a tiny `{hidden_size: 32, num_hidden_layers: 2, ...}`). As in
QAModule, the hyper-parameter "model" records the arguments it was built with.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_lightning as pl
import torch
from torch import nn

from splinter.errors import ConfigError
from splinter.model.factory import model_arguments, model_class
from splinter.model.training_checkpoint import MODEL_ARGUMENTS, store_model_config
from splinter.run.divergence import stop_if_diverged
from splinter.run.optim import (
    build_optimizer,
    check_warmup,
    clip_gradients,
    linear_warmup_decay,
    warmup_length,
)
from splinter.run.resume import ResumeState, skipper
from splinter.tokenization.question_token import QUESTION_TOKEN

# The paper's 10,000 warm-up steps of 2.4M, as a fraction: round(WARMUP_RATIO × 2.4M) = 10,000.
WARMUP_RATIO = 0.0041667


class PretrainModule(pl.LightningModule):
    # Resuming (splinter.run.resume_check): the model's arguments are the model group's keys.
    CONFIG_KEYS = {MODEL_ARGUMENTS: "model", "objective": "task.objective"}

    def __init__(
        self,
        model: nn.Module,
        lr: float = 1e-4,
        weight_decay: float = 0.01,
        betas: Sequence[float] = (0.9, 0.999),
        eps: float = 1e-6,
        warmup_steps: int | None = None,
        warmup_ratio: float | None = WARMUP_RATIO,
        total_steps: int | None = None,
        objective: str = "rss",
    ):
        """`model`: the objective's model (`load_model(..., objective=objective)`). Warm-up over
        `warmup_steps` when set, else over `warmup_ratio` of the total steps. `total_steps` defaults to
        `trainer.estimated_stepping_batches` (max_steps, or epochs × batches / accumulation)."""
        super().__init__()
        self.save_hyperparameters({
            "lr": lr, "weight_decay": weight_decay, "betas": list(betas), "eps": eps,
            "warmup_steps": warmup_steps, "warmup_ratio": warmup_ratio, "total_steps": total_steps,
            "objective": objective, MODEL_ARGUMENTS: model_arguments(model),
        })
        if warmup_ratio is not None and not 0 <= warmup_ratio <= 1:
            raise ConfigError("task.module.warmup_ratio", f"must be in [0, 1], got {warmup_ratio}")
        if warmup_ratio is None and warmup_steps is None:
            raise ConfigError("task.module.warmup_ratio", "is null and so is task.module.warmup_steps: set one")
        from splinter.pretraining.objectives import get_objective

        self.objective = get_objective(objective)
        expected = model_class(objective)
        if not isinstance(model, expected):
            raise ConfigError("task.objective", f"{objective!r} trains a {expected.__name__}, the model is a "
                              f"{type(model).__name__} (build it with load_model(..., objective={objective!r}))")
        self.model = model.train()  # from_pretrained returns eval mode; Lightning keeps whatever mode it finds
        # Exact mid-epoch resume (splinter.run.resume): the batches consumed and the dropout RNG.
        self.resume = ResumeState()

    def setup(self, stage: str | None = None) -> None:
        """Check that the data's tokenizer fits the model (vocabulary size, [QUESTION] id)."""
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        tokenizer = getattr(datamodule, "tokenizer", None)
        if tokenizer is None:
            return
        data_objective = getattr(datamodule, "objective", self.objective)
        if data_objective.name != self.objective.name:
            raise ConfigError(
                "task.objective",
                f"the data are masked for {data_objective.name!r} but the model trains {self.objective.name!r}",
            )
        model_config = self.model.config
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        if size > model_config.vocab_size:
            raise ConfigError(
                "model.tokenizer",
                f"the tokenizer has {size} entries but the model only {model_config.vocab_size} (its vocab_size)",
            )
        question = tokenizer.token_to_id(QUESTION_TOKEN)
        if question != model_config.question_token_id:
            raise ConfigError(
                "model.tokenizer",
                f"the tokenizer's {QUESTION_TOKEN} id is {question}, the model's {model_config.question_token_id}"
                " (its question_token_id)",
            )

    def forward(self, **batch):
        return self.model(**batch)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        loss = self._masked_lm_step(batch) if self.objective.name == "mlm" else self._span_selection_step(batch)
        stop_if_diverged(self, loss)
        self.resume.batch_finished()
        return loss

    def _span_selection_step(self, batch: dict) -> torch.Tensor:
        output = self.model(**batch)
        questions = (batch["question_positions"] > 0).sum()
        rows = batch["input_ids"].shape[0]
        if questions == 0:
            # every label ignored: cross-entropy would be NaN; a zero loss keeps the graph (and DDP) intact
            loss = (output.start_logits.sum() + output.end_logits.sum()) * 0.0
        else:
            loss = output.loss
        self.log("train/loss", loss, prog_bar=True, batch_size=rows)
        self.log("train/questions_per_row", questions.float() / rows, batch_size=rows)
        self._log_progress(rows)
        return loss

    def _masked_lm_step(self, batch: dict) -> torch.Tensor:
        output = self.model(
            batch["input_ids"],
            attention_mask=batch["attention_mask"],
            token_type_ids=batch["token_type_ids"],
            masked_positions=batch["masked_positions"],
            labels=batch["masked_labels"],
        )
        masked = (batch["masked_labels"] >= 0).sum()
        rows = batch["input_ids"].shape[0]
        # every label ignored: as above, a zero loss instead of NaN keeps the graph intact
        loss = output.logits.sum() * 0.0 if masked == 0 else output.loss
        self.log("train/loss", loss, prog_bar=True, batch_size=rows)
        self.log("train/masked_per_row", masked.float() / rows, batch_size=rows)
        self._log_progress(rows)
        return loss

    def _log_progress(self, rows: int) -> None:
        # The step count too: under ddp_spawn the main process's trainer stays at step 0, and
        # callback_metrics is what comes back from rank 0 (results.json's "steps").
        self.log("train/steps", float(self.global_step + 1), batch_size=1)
        optimizer = self.trainer.optimizers[0] if self._trainer is not None and self.trainer.optimizers else None
        if optimizer is not None:
            self.log("train/lr", optimizer.param_groups[0]["lr"], prog_bar=True, batch_size=rows)

    def on_fit_start(self) -> None:
        self.train()  # dropout on, also after an evaluation elsewhere left the model in eval mode

    def on_train_start(self) -> None:
        # A map-style corpus's sampler skips here; a stream's loader already did (PretrainDataModule.resume_stream).
        self.resume.training_started(skipper(self.trainer.train_dataloader))

    def on_train_epoch_start(self) -> None:
        self.resume.epoch_started()
        datamodule = getattr(self.trainer, "datamodule", None)
        set_epoch = getattr(datamodule, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.current_epoch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        self.resume.save(checkpoint)
        store_model_config(self.model, checkpoint)  # load_model rebuilds the model from the .ckpt alone

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.resume.load(checkpoint)

    def schedule_steps(self) -> tuple[int, int]:
        """(warm-up steps, total steps) for the learning-rate schedule."""
        total = self.hparams.total_steps
        if total is None:
            estimate = self.trainer.estimated_stepping_batches
            if estimate == float("inf"):
                raise ConfigError(
                    "task.max_steps", "a streaming corpus has no length: set task.max_steps (or task.module.total_steps)"
                )
            total = int(estimate)
        warmup = warmup_length(total, self.hparams.warmup_ratio, self.hparams.warmup_steps)
        check_warmup(warmup, total)
        return warmup, total

    def configure_optimizers(self):
        optimizer = build_optimizer(
            self.model,
            lr=self.hparams.lr,
            weight_decay=self.hparams.weight_decay,
            betas=tuple(self.hparams.betas),
            eps=self.hparams.eps,
        )
        warmup, total = self.schedule_steps()
        scheduler = linear_warmup_decay(optimizer, warmup, total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        clip_gradients(self, optimizer, gradient_clip_val, gradient_clip_algorithm)  # bf16 + fused AdamW

    def save_pretrained(self, directory: str, tokenizer=None):
        """Write the model (and tokenizer files) so that `SplinterForQuestionAnswering` /
        `SplinterForPreTraining.from_pretrained(directory)` load it (the QASS head included after
        "rss"; after "mlm" the encoder, with a fresh QASS head, and the MLM head for `SplinterForMaskedLM`)."""
        return self.model.save_pretrained(directory, tokenizer=tokenizer)
