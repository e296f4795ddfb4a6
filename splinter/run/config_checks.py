"""Every numeric and choice key of a run's config, checked before anything is read, built or written.

One table (`RULES`): full key → what it accepts, and `TASK_RULES` for keys a task reads more
strictly than another. `check_config(cfg)` checks the keys the composed config has (fine-tuning,
pretraining and evaluation configs have different ones), then the rules that join several keys, and
raises a `ConfigError` naming the full key (`data.shots`, not `data`), the value and what is allowed.
Checks that need the data (a released split exists, the tokenizer fits the model) stay where the data is.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from splinter.errors import ConfigError
from splinter.model.config import HEAD_INITS


@dataclass(frozen=True)
class Rule:
    accepts: Callable[[object], bool]
    allowed: str  # what the error line says is allowed


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    # inf and nan are never a setting (lr=1e400 reads as inf and trains to an all-NaN model)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_non_finite(value) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def integer(minimum: int | None = None, optional: bool = False, maximum: int | None = None) -> Rule:
    allowed = "an integer" + (f" >= {minimum}" if minimum is not None else "") + (
        f" and <= {maximum}" if maximum is not None else "") + (" or null" if optional else "")
    return Rule(lambda v: (optional and v is None) or (_is_int(v) and (minimum is None or v >= minimum)
                                                        and (maximum is None or v <= maximum)), allowed)


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


def path(optional: bool = False) -> Rule:
    # a number here is a typo (data.cache_dir=5 would make a directory named "5"), never a path
    return Rule(lambda v: (optional and v is None) or (isinstance(v, str) and v != ""),
                "a path (a string)" + (" or null" if optional else ""))


def either(*rules: Rule) -> Rule:
    return Rule(lambda v: any(rule.accepts(v) for rule in rules), ", or ".join(rule.allowed for rule in rules))


def devices() -> Rule:
    # Lightning's forms: a count, -1 (every device), "auto", a list of indices or a string "0,1"
    def accepts(value) -> bool:
        if _is_int(value):
            return value >= 1 or value == -1
        if isinstance(value, str):
            return value == "auto" or re.fullmatch(r"-1|\d+(,\d+)*,?", value.replace(" ", "")) is not None
        return OmegaConf.is_list(value) and len(value) > 0 and all(_is_int(i) and i >= 0 for i in value)

    return Rule(accepts, "a number of devices >= 1, -1 (all), auto, or device indices e.g. [0,1]")


def strategy() -> Rule:
    # a name of Lightning's registry (read when checked: plugins may register more), or a node that
    # Hydra instantiates into a Strategy object
    def accepts(value) -> bool:
        if OmegaConf.is_dict(value):
            return "_target_" in value
        from pytorch_lightning.strategies import StrategyRegistry

        return isinstance(value, str) and (value == "auto" or value in StrategyRegistry.available_strategies())

    return Rule(accepts, "auto, a Lightning strategy name (ddp, ddp_spawn, fsdp, deepspeed, ...: "
                         "StrategyRegistry.available_strategies()) or a node with _target_")


class AcceleratorRule:
    """Lightning's accelerator names, read from its registry when a value is checked: importing this
    table must not import Lightning (QuestionAnswerer checks its decoding settings here)."""

    @staticmethod
    def _names() -> tuple[str, ...]:
        from pytorch_lightning.accelerators import AcceleratorRegistry

        return ("auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators()))

    def accepts(self, value) -> bool:
        return value in self._names()

    @property
    def allowed(self) -> str:
        return "one of " + ", ".join(self._names())


def betas() -> Rule:
    return Rule(
        lambda v: OmegaConf.is_list(v) and len(v) == 2 and all(_is_number(b) and 0 <= b < 1 for b in v),
        "two numbers in [0, 1), e.g. [0.9,0.999]",
    )


POSITIVE = integer(1)
POSITIVE_OR_NULL = integer(1, optional=True)
# Lightning 2's precision values (Trainer(precision=...)); the short forms are its aliases.
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "16-true", "64-true", "transformer-engine",
              "transformer-engine-float16", "32", "16", "bf16", "64", 32, 16, 64)

# Lightning's seed_everything (numpy's seeds) takes 0 ... 2**32 - 1; outside, it warns and picks another.
MAX_SEED = 2**32 - 1

RULES: dict[str, Rule] = {
    "seed": integer(0, maximum=MAX_SEED),
    "resume": boolean(),
    "model.head_type": choice("qass", "linear"),
    "model.fresh_head": boolean(),
    "model.head_init": choice(*HEAD_INITS),
    "model.compile": boolean(),
    # task (finetune and pretrain)
    "task.epochs": integer(0),
    "task.min_steps": integer(0),
    "task.max_steps": POSITIVE_OR_NULL,
    "task.evaluate_before": boolean(),
    "task.checkpoint_every_n_steps": POSITIVE_OR_NULL,
    "task.accumulate_grad_batches": POSITIVE,
    "task.save_every_n_steps": POSITIVE_OR_NULL,
    # task.module (fine-tuning, pretraining)
    "task.module.lr": number(0, open_low=True),
    "task.module.warmup_ratio": number(0, 1, optional=True),
    "task.module.warmup_steps": integer(0, optional=True),
    "task.module.total_steps": POSITIVE_OR_NULL,
    "task.module.weight_decay": number(0),
    "task.module.betas": betas(),
    "task.module.eps": number(0, open_low=True),
    # decoding (conf/decoding.yaml: fine-tuning and evaluate.py)
    "decoding.max_answer_length": POSITIVE,
    "decoding.n_best": POSITIVE,
    "decoding.use_max_context": boolean(),
    # eval (conf/eval.yaml: what fine-tuning's and evaluate.py's evaluation writes)
    "eval.analysis": boolean(),
    # data (question answering)
    "data.shots": POSITIVE,
    "data.seed": integer(0),  # numpy's generators (pretraining masks) refuse a negative seed
    "data.sample_from_full": boolean(),
    "data.max_eval_examples": POSITIVE_OR_NULL,
    # data.max_seq_length / doc_stride / max_query_length of a QA dataset: their one rule is
    # splinter.data.windows.check_window_lengths (_check_windows); a pretraining corpus's: TASK_RULES
    "data.zero_token_type_ids": boolean(),
    "data.hide_sep": boolean(),
    "data.batch_size": POSITIVE,
    "data.eval_batch_size": POSITIVE,
    "data.num_workers": integer(0),
    "data.pad_to_multiple_of": POSITIVE_OR_NULL,
    "data.group_by_length": boolean(),
    "data.shuffle_seed": integer(0, optional=True),
    "data.num_proc": POSITIVE_OR_NULL,
    # data (pretraining corpus)
    "data.max_questions": POSITIVE,
    "data.mask_ratio": number(0, 1, open_low=True),
    "data.max_span_length": POSITIVE,
    "data.cluster_order": choice("longest", "random"),  # recurring_spans.CLUSTER_ORDERS (a test keeps them equal)
    "data.streaming": boolean(),
    "data.one_doc_per_line": boolean(),
    "data.pack_across_documents": boolean(),
    "data.drop_empty": boolean(),
    "data.shuffle": boolean(),
    "data.shuffle_buffer": POSITIVE,
    "data.statistics_rows": POSITIVE,
    "data.debug": boolean(),
    "data.cache_dir": path(optional=True),
    # trainer (conf/trainer/*.yaml and the Lightning Trainer arguments users set on the command line)
    "trainer.accelerator": AcceleratorRule(),
    "trainer.devices": devices(),
    "trainer.num_nodes": POSITIVE,
    "trainer.strategy": strategy(),
    "trainer.precision": Rule(lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and v in PRECISIONS,
                              "one of " + ", ".join(str(p) for p in PRECISIONS[:8])),
    "trainer.gradient_clip_val": number(0, optional=True),
    "trainer.gradient_clip_algorithm": Rule(lambda v: v is None or v in ("norm", "value"), "norm, value or null"),
    "trainer.max_epochs": integer(-1, optional=True),
    "trainer.min_epochs": integer(0, optional=True),
    "trainer.accumulate_grad_batches": POSITIVE,
    "trainer.num_sanity_val_steps": integer(-1, optional=True),
    "trainer.limit_val_batches": either(integer(0), number(0, 1), Rule(lambda v: v is None, "null")),
    "trainer.log_every_n_steps": integer(0, optional=True),
    "trainer.deterministic": Rule(lambda v: v is None or isinstance(v, bool) or v == "warn", "true, false, warn or null"),
    "trainer.benchmark": Rule(lambda v: v is None or isinstance(v, bool), "true, false or null"),
    "trainer.enable_progress_bar": boolean(),
    "trainer.enable_model_summary": boolean(),
    "trainer.enable_checkpointing": boolean(),
}

# Keys a task reads more strictly than the shared table (by `task.name`). Fine-tuning warms up over a
# fraction of its steps and has no warmup_steps to fall back on (pretraining has: its ratio may be null
# when warmup_steps is set).
TASK_RULES: dict[str, dict[str, Rule]] = {
    "finetune": {"task.module.warmup_ratio": number(0, 1)},
    "pretrain": {"data.max_seq_length": integer(8)},
}

_ABSENT = object()


def check_config(cfg: DictConfig, rules: dict[str, Rule] | None = None) -> None:
    """Raise ConfigError for the first key of `rules` (default: `RULES` and the task's `TASK_RULES`) whose
    value is not allowed, then for values that do not fit together."""
    check_interpolations(cfg)
    if rules is None:
        rules = {**RULES, **TASK_RULES.get(OmegaConf.select(cfg, "task.name", default=None), {})}
    _check_finite(cfg)
    for key, rule in rules.items():
        try:
            value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True)
        except MissingMandatoryValue:  # `???`: check_required names it where the key is needed
            continue
        if value is not _ABSENT:
            check_value(key, value, rule=rule)
    _check_windows(cfg)
    _check_warmup(cfg)


def check_value(key: str, value, name: str | None = None, rule: Rule | None = None) -> None:
    """`value` against `rule` (default: RULES[key]), the one rule of that setting; the error names `name`
    (default: `key`): a caller outside a config (DecodingSettings of predict.py's settings) names its own."""
    rule = rule or RULES[key]
    if not rule.accepts(value):
        raise ConfigError(name or key, f"got {_show(value)}, allowed: {rule.allowed}")


def _check_finite(cfg: DictConfig) -> None:
    """No inf or nan anywhere in the config, ruled key or not (model.config.*, ...): one line naming it."""
    _find_non_finite(OmegaConf.to_container(cfg, resolve=False), "")


def _find_non_finite(node, prefix: str) -> None:
    if isinstance(node, dict):
        items = [(f"{prefix}.{name}" if prefix else str(name), value) for name, value in node.items()]
    elif isinstance(node, list):
        items = [(f"{prefix}[{index}]", value) for index, value in enumerate(node)]
    else:
        return
    for key, value in items:
        if _is_non_finite(value):
            raise ConfigError(key, f"got {value}, allowed: a finite number")
        _find_non_finite(value, key)


def check_interpolations(cfg: DictConfig) -> None:
    """Every `${...}` of the config resolves (a `???` is left to check_required), else one line naming the
    key that holds it and what it refers to, before anything is written."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except InterpolationResolutionError as error:
        raise interpolation_error(error) from None


def interpolation_error(error: InterpolationResolutionError) -> ConfigError:
    """OmegaConf's multi-line report (message, full_key, object_type) as one line naming the key."""
    message = str(getattr(error, "msg", "") or error).strip().splitlines()[0]
    return ConfigError(str(error.full_key or "?"), f"cannot be resolved: {message}")


def _check_windows(cfg: DictConfig) -> None:
    """The window lengths of a QA dataset (one with a doc_stride), by their one rule (WindowSettings'),
    before the run writes anything, not when the data is read."""
    data = OmegaConf.select(cfg, "data", default=None)
    if not OmegaConf.is_dict(data) or "doc_stride" not in data:  # a pretraining corpus: no windows
        return
    from splinter.data.windows import WindowSettings  # imports datasets: only when needed

    WindowSettings.from_keys("data.", **{key: data[key] for key in ("max_seq_length", "doc_stride",
                                                                   "max_query_length") if key in data})


def _check_warmup(cfg: DictConfig) -> None:
    """An absolute warm-up longer than a run whose length the config gives: refused before any work
    (the module checks again against the trainer's step count)."""
    warmup = OmegaConf.select(cfg, "task.module.warmup_steps", default=None)
    total = OmegaConf.select(cfg, "task.module.total_steps", default=None)
    if total is None and OmegaConf.select(cfg, "task.name", default=None) == "pretrain":
        total = OmegaConf.select(cfg, "task.max_steps", default=None)
    if _is_int(warmup) and _is_int(total):
        from splinter.run.optim import check_warmup  # imports torch: only when needed

        check_warmup(warmup, total)


def command_line_keys() -> set[str]:
    """The keys this Hydra run's command line set (`key=value`, `+key=value`, `~key`); empty outside a
    Hydra run. What the user asked for explicitly, as opposed to a default or an experiment's value."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return set()
    overrides = OmegaConf.to_container(HydraConfig.get().overrides.task, resolve=False)
    return {re.split(r"[=@]", item.lstrip("+~"), maxsplit=1)[0] for item in overrides}


def check_required(cfg: DictConfig, group: str) -> None:
    """A `???` key of `group` the user did not fill in: one line naming it."""
    node = cfg.get(group)
    if node is None:
        return
    for name in node:
        if OmegaConf.is_missing(node, name):
            raise ConfigError(f"{group}.{name}", f"is required: give {group}.{name}=...")


def _show(value) -> str:
    if value is None:
        return "null"
    if OmegaConf.is_config(value):
        return str(OmegaConf.to_container(value))
    return repr(value) if isinstance(value, str) else str(value)
