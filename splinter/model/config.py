"""SplinterConfig: the fields and defaults of `transformers.SplinterConfig`, plus our `head_type`.

A plain dataclass so that it can be built, compared and serialised without transformers. The
config.json it writes is one that `transformers.SplinterConfig` reads back (extra keys are tolerated
there too), and it reads the config.json of Hub Splinter checkpoints and of plain BERT checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from splinter.errors import CheckpointError, ConfigError
from splinter.files import atomic_write
from splinter.model.bert import bert_config_to_splinter, looks_like_bert_config
from splinter.model.roberta import roberta_config_to_splinter
from splinter.tokenization.question_token import QUESTION_TOKEN_ID

HEAD_TYPES = ("qass", "linear")
# How a fresh head's final scoring weights start (see _SpanSelectionModel.reset_head).
HEAD_INITS = ("zero", "paper")
# "gelu" is BERT's exact erf GELU; the others appear in BERT-family configs on the Hub.
HIDDEN_ACTS = ("gelu", "gelu_new", "relu")
SUPPORTED_MODEL_TYPES = ("splinter", "bert", "roberta")
# "bert": absolute positions 0..L-1, two token types (BERT, Splinter, SpanBERT, MiniLM, ELECTRA's
# encoder); "roberta": positions from padding_idx + 1, one token type (RoBERTa and its relatives).
ENCODER_FAMILIES = ("bert", "roberta")


@dataclass
class SplinterConfig:
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    use_cache: bool = True
    pad_token_id: int = 0
    question_token_id: int = QUESTION_TOKEN_ID
    # "qass": the paper's question-aware span selection head; "linear": a start/end Linear(d, 2)
    # head on each token (the paper's non-QASS baselines).
    head_type: str = "qass"
    # Which BERT-shaped encoder this is (see ENCODER_FAMILIES); saved as transformers' model_type.
    encoder_family: str = "bert"
    # "zero": a fresh head's scoring weights start at 0 (uniform first spans); "paper": N(0,
    # initializer_range) like every other weight, as transformers' port of the paper's model.
    head_init: str = "zero"

    def __post_init__(self) -> None:
        if self.head_init not in HEAD_INITS:
            raise ConfigError("head_init", f"unknown head initialisation {self.head_init!r}", HEAD_INITS)
        if self.encoder_family not in ENCODER_FAMILIES:
            raise ConfigError("encoder_family", f"unknown encoder family {self.encoder_family!r}",
                              ENCODER_FAMILIES)
        if self.head_type not in HEAD_TYPES:
            raise ConfigError("head_type", f"unknown head type {self.head_type!r}", HEAD_TYPES)
        if self.hidden_act not in HIDDEN_ACTS:
            raise ConfigError("hidden_act", f"unsupported activation {self.hidden_act!r}", HIDDEN_ACTS)
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                "num_attention_heads",
                f"{self.num_attention_heads} does not divide hidden_size {self.hidden_size}",
            )

    @property
    def max_sequence_length(self) -> int:
        """The longest input the position table covers: RoBERTa numbers positions from pad_token_id + 1,
        so its table has pad_token_id + 1 rows before the first real position."""
        offset = self.pad_token_id + 1 if self.encoder_family == "roberta" else 0
        return self.max_position_embeddings - offset

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_dict(cls, values: dict[str, Any], **overrides: Any) -> SplinterConfig:
        """Build from a config.json dict; keys that are not fields (architectures, dtype, ...) are ignored.

        `overrides` must name fields: a typo there is the user's, so it is an error rather than ignored.
        """
        names = cls.field_names()
        for key in overrides:
            if key not in names:
                raise ConfigError(key, "not a SplinterConfig field", names)
        known = {k: v for k, v in values.items() if k in names}
        # Older Splinter configs omit question_token_id; the dataclass default (QUESTION_TOKEN_ID) then applies.
        if known.get("question_token_id") is None:
            known.pop("question_token_id", None)
        return cls(**{**known, **overrides})

    def to_dict(self) -> dict[str, Any]:
        """The fields only, so that `SplinterConfig(**config.to_dict())` rebuilds the config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_json_file(cls, path: str | Path, **overrides: Any) -> SplinterConfig:
        """Read a Splinter or BERT config.json (a BERT config becomes a Splinter encoder config)."""
        values, _ = read_config_dict(path)
        return cls.from_dict(values, **overrides)

    def save(self, directory: str | Path, architecture: str | None = None) -> Path:
        """Write config.json into `directory`; `architecture` fills transformers' `architectures` key."""
        path = Path(directory) / "config.json"
        # model_type is what transformers' AutoConfig (and read_config_dict) dispatch on. A RoBERTa-family
        # model is saved as "roberta" (keys under `roberta.`), so that transformers' RobertaModel and
        # RobertaForQuestionAnswering load it: its Splinter fields ride along as extra config keys.
        model_type = "roberta" if self.encoder_family == "roberta" else "splinter"
        values = {"model_type": model_type, **self.to_dict()}
        if architecture is not None:
            values["architectures"] = [architecture]
        with atomic_write(path) as file:  # never a truncated config.json
            file.write((json.dumps(values, indent=2, sort_keys=True) + "\n").encode("utf-8"))
        return path


def read_config_dict(path: str | Path) -> tuple[dict[str, Any], str]:
    """Read a config.json as a Splinter config dict; returns (values, source model type).

    The source is "splinter", "bert" or "roberta": it says how the checkpoint's keys are named. A
    config without model_type but with BERT's fields (SpanBERT's, from before transformers wrote
    model_type) is read as BERT.
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read config ({err})") from None
    if not isinstance(values, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(values).__name__}")
    model_type = values.get("model_type")
    if model_type is None and looks_like_bert_config(values):
        model_type = "bert"
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise CheckpointError(
            f"{path}: model_type {model_type!r} is not supported (expected one of "
            f"{', '.join(SUPPORTED_MODEL_TYPES)}; other encoders: model.backend=transformers)"
        )
    if model_type == "bert":
        return bert_config_to_splinter(values, path), model_type
    if model_type == "roberta":
        return roberta_config_to_splinter(values, path), model_type
    return values, model_type
