"""The pretraining objectives (`task.objective`): what one pipeline varies between them.

The corpus, passage packing, caching/streaming, batching, optimiser, schedule, DDP and checkpointing
are shared; an objective contributes the per-passage transform (`mask`), the label columns of its rows
and how a batch pads them, the column whose emptiness means "no training signal" (such rows are
dropped), the corpus statistics; the model class that computes its loss is the factory's
(`splinter.model.factory.MODEL_CLASSES`).

- `rss`: recurring span selection (`recurring_spans`, `SplinterForPreTraining`), the paper's;
- `mlm`: BERT's masked language model (`masked_lm`, `SplinterForMaskedLM`), the control.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from splinter.errors import ConfigError


@dataclass(frozen=True)
class Objective:
    name: str
    label_padding: dict[str, int]  # per-row list column → the value a batch pads it with
    labelled_column: str  # a row where this column is empty carries no training signal
    mask: Callable  # (passages, datamodule) → rows; the datamodule holds the options
    statistics: Callable  # (rows, datamodule) → dict
    format_statistics: Callable[[dict], str]


def _mask_rss(passages, dm):
    from splinter.pretraining.recurring_spans import mask_passages

    return mask_passages(
        passages,
        dm.tokenizer,
        seed=dm.seed,
        max_questions=dm.max_questions,
        mask_ratio=dm.mask_ratio,
        max_span_length=dm.max_span_length,
        cluster_order=dm.cluster_order,
        num_proc=dm.num_proc,
        debug=dm.debug,
    )


def _rss_statistics(rows, dm):
    from splinter.pretraining.recurring_spans import span_statistics

    return span_statistics(rows)


def _format_rss(stats: dict) -> str:
    from splinter.pretraining.recurring_spans import format_statistics

    return format_statistics(stats)


def _mask_mlm(passages, dm):
    from splinter.pretraining.masked_lm import mask_passages_mlm

    return mask_passages_mlm(passages, dm.tokenizer, seed=dm.seed, mask_ratio=dm.mask_ratio, num_proc=dm.num_proc)


def _mlm_statistics(rows, dm):
    from splinter.pretraining.masked_lm import MASK_TOKEN, masked_lm_statistics

    return masked_lm_statistics(rows, mask_id=dm.tokenizer.token_to_id(MASK_TOKEN))


def _format_mlm(stats: dict) -> str:
    from splinter.pretraining.masked_lm import format_masked_lm_statistics

    return format_masked_lm_statistics(stats)


OBJECTIVES = {
    "rss": Objective(
        name="rss",
        label_padding={"question_positions": 0, "start_positions": 0, "end_positions": 0},
        labelled_column="question_positions",
        mask=_mask_rss,
        statistics=_rss_statistics,
        format_statistics=_format_rss,
    ),
    "mlm": Objective(
        name="mlm",
        # padded positions point at [CLS] and are ignored through their label
        label_padding={"masked_positions": 0, "masked_labels": -100},
        labelled_column="masked_positions",
        mask=_mask_mlm,
        statistics=_mlm_statistics,
        format_statistics=_format_mlm,
    ),
}


def get_objective(name: str) -> Objective:
    if name not in OBJECTIVES:
        raise ConfigError("task.objective", f"unknown objective {name!r}", tuple(OBJECTIVES))
    return OBJECTIVES[name]
