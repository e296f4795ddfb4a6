"""Every numeric and choice key of a run's config, checked before anything is read, built or written.

One table (`RULES`): full key → what it accepts. `check_config(cfg)` checks the keys the composed
config has (fine-tuning, pretraining and evaluation configs have different ones) and raises a
`ConfigError` naming the full key (`data.shots`, not `data`), the value and what is allowed. Checks
that need the data (a released split exists, the tokenizer fits the model) stay where the data is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from splinter.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    accepts: Callable[[object], bool]
    allowed: str  # what the error line says is allowed


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def integer(minimum: int | None = None, optional: bool = False) -> Rule:
    allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (" or null" if optional else "")
    return Rule(lambda v: (optional and v is None) or (_is_int(v) and (minimum is None or v >= minimum)), allowed)


def number(low: float, high: float | None = None, *, open_low: bool = False, open_high: bool = False,
           optional: bool = False) -> Rule:
    if high is None:
        allowed = f"a number {'>' if open_low else '>='} {low}"
    else:
        allowed = f"a number in {'(' if open_low else '['}{low}, {high}{')' if open_high else ']'}"
    allowed += " or null" if optional else ""

    def accepts(value) -> bool:
        if optional and value is None:
            return True
        if not _is_number(value):
            return False
        above = value > low if open_low else value >= low
        below = high is None or (value < high if open_high else value <= high)
        return above and below

    return Rule(accepts, allowed)


def boolean() -> Rule:
    return Rule(lambda v: isinstance(v, bool), "true or false")


def choice(*options: str) -> Rule:
    return Rule(lambda v: v in options, "one of " + ", ".join(options))


def betas() -> Rule:
    return Rule(
        lambda v: OmegaConf.is_list(v) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9,0.999]",
    )


POSITIVE = integer(1)
POSITIVE_OR_NULL = integer(1, optional=True)

RULES: dict[str, Rule] = {
    "seed": integer(),
    "resume": boolean(),
    "model.head_type": choice("qass", "linear"),
    "model.fresh_head": boolean(),
    # task (finetune and pretrain)
    "task.epochs": integer(0),
    "task.min_steps": integer(0),
    "task.max_steps": POSITIVE_OR_NULL,
    "task.evaluate_before": boolean(),
    "task.checkpoint_every_n_steps": POSITIVE_OR_NULL,
    "task.accumulate_grad_batches": POSITIVE,
    "task.save_every_n_steps": POSITIVE_OR_NULL,
    # task.module (fine-tuning, pretraining, decoding in evaluate.py)
    "task.module.lr": number(0, open_low=True),
    "task.module.warmup_ratio": number(0, 1, optional=True),
    "task.module.warmup_steps": integer(0),
    "task.module.total_steps": POSITIVE_OR_NULL,
    "task.module.weight_decay": number(0),
    "task.module.betas": betas(),
    "task.module.eps": number(0, open_low=True),
    "task.module.max_answer_length": POSITIVE,
    "task.module.n_best": POSITIVE,
    "task.module.use_max_context": boolean(),
    # data (question answering)
    "data.shots": POSITIVE,
    "data.seed": integer(),
    "data.sample_from_full": boolean(),
    "data.max_eval_examples": POSITIVE_OR_NULL,
    "data.max_seq_length": integer(8),
    "data.doc_stride": POSITIVE,
    "data.max_query_length": integer(3),  # "[QUESTION] ." needs two of them
    "data.zero_token_type_ids": boolean(),
    "data.hide_sep": boolean(),
    "data.batch_size": POSITIVE,
    "data.eval_batch_size": POSITIVE,
    "data.num_workers": integer(0),
    "data.pad_to_multiple_of": POSITIVE_OR_NULL,
    "data.group_by_length": boolean(),
    "data.shuffle_seed": integer(optional=True),
    "data.num_proc": POSITIVE_OR_NULL,
    # data (pretraining corpus)
    "data.max_questions": POSITIVE,
    "data.mask_ratio": number(0, 1, open_low=True),
    "data.max_span_length": POSITIVE,
    "data.cluster_order": choice("longest", "random"),
    "data.streaming": boolean(),
    "data.one_doc_per_line": boolean(),
    "data.pack_across_documents": boolean(),
    "data.drop_empty": boolean(),
    "data.shuffle": boolean(),
    "data.shuffle_buffer": POSITIVE,
    "data.statistics_rows": POSITIVE,
    "data.debug": boolean(),
}

_ABSENT = object()


def check_config(cfg: DictConfig, rules: dict[str, Rule] | None = None) -> None:
    """Raise ConfigError for the first key of `rules` (default: `RULES`) whose value is not allowed."""
    for key, rule in (RULES if rules is None else rules).items():
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:  # `???`: check_required names it where the key is needed
            continue
        if value is _ABSENT:
            continue
        if not rule.accepts(value):
            raise ConfigError(key, f"got {_show(value)}, allowed: {rule.allowed}")


def check_required(cfg: DictConfig, group: str) -> None:
    """A `???` key of `group` the user did not fill in: one line naming it."""
    node = cfg.get(group)
    if node is None:
        return
    for name in node:
        if OmegaConf.is_missing(node, name):
            raise ConfigError(f"{group}.{name}", f"is required: give {group}.{name}=...")


def _show(value) -> str:
    if OmegaConf.is_config(value):
        return str(OmegaConf.to_container(value))
    return repr(value) if isinstance(value, str) else str(value)
