"""QuestionAnswerer: answer questions over any text with a trained model, exactly as evaluation does.

    qa = QuestionAnswerer.from_pretrained("outputs/2026-11-21/12-00-00/model")
    qa(question="Who wrote Hamlet?", context="Hamlet is a tragedy written by William Shakespeare.")
    # {'answer': 'William Shakespeare', 'start': 31, 'end': 50, 'score': 13.2}

One path with evaluation, not a second one: the windows come from `splinter.data.windows` (the rows
`build_windows` makes, built without a `Dataset.map` per call), the batches from the evaluation collator,
the per-window spans from `splinter.qa.spans.top_spans` and the best answer per question from
`splinter.qa.spans.best_predictions`, with the window and decoding settings the checkpoint was evaluated
with (a training run's `config.yaml` beside its `model/` directory, or the hyper-parameters inside a
Lightning `.ckpt`). On the same file and model the answers are those of `evaluate.py`'s predictions.json.

Scores. ``score`` is the span score the decoder ranks by: start logit + end logit of the span's tokens
(float32, unbounded; comparable between the answers of one question, not between questions or
models). ``probability=True`` adds ``probability``: a softmax of the scores over the question's kept
candidates, i.e. the ``n_best`` best valid spans of each of its windows with duplicate character spans
removed (the same rule as run_qa.py's n-best probabilities). It is not comparable with the
probabilities of transformers' pipeline, which multiplies per-token softmaxes over whole windows.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from splinter.data.batches import Collator
from splinter.data.evaluation_set import EvaluationSet
from splinter.data.windows import WindowSettings, windows_from_columns
from splinter.errors import CheckpointError, ConfigError, SplinterError
from splinter.model.factory import load_model
from splinter.model.qa import SplinterForQuestionAnswering
from splinter.model.training_checkpoint import TrainingCheckpoint, read_training_checkpoint
from splinter.qa.memory import release_freed_memory
from splinter.qa.spans import (
    SpanCandidates,
    best_predictions,
    merged_candidates,
    span_probabilities,
    top_spans,
)
from splinter.tokenization.tokenizer import check_fits_model, load_tokenizer, special_token_ids

__all__ = ["DecodingSettings", "InputError", "QuestionAnswerer", "Skipped"]

_MODEL_COLUMNS = ("input_ids", "token_type_ids", "attention_mask", "question_position")
_WINDOW_KEYS = tuple(f.name for f in fields(WindowSettings))
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
           "float16": torch.float16, "fp16": torch.float16}
NO_TOKENS = "context has no tokens the model can read"
# Windows per forward pass when neither the caller nor the checkpoint's run says. A CPU forward is
# compute-bound and larger batches lose to cache misses: 120 SQuAD dev questions, MiniLM, 2 threads,
# windows sorted by length, batches of 4 / 8 / 16 / 32 / 64 ran at 68 / 72 / 70 / 61 / 55 questions/s
# in fp32 and 129 / 161 / 176 / 174 / 148 under bf16 autocast (bench/README.md); 16 is within 3 % of
# the best of both. An accelerator wants large batches: evaluation's `eval_batch_size` default.
CPU_BATCH_SIZE = 16
ACCELERATOR_BATCH_SIZE = 32
# Context characters per chunk of `answer_stream` (besides `chunk_size` questions): ~200 MB of windows.
CHUNK_CHARS = 1_000_000
# The answer when no window has a valid span (evaluation predicts "" too).
_NOT_FOUND = {"answer": "", "start": None, "end": None, "score": None}


class InputError(SplinterError, ValueError):
    """A question or context the answerer cannot take (not a string, empty, no readable tokens)."""


@dataclass(frozen=True)
class DecodingSettings:
    """How logits become answers; the defaults are evaluation's (docs/protocol.md §4, `conf/task/finetune.yaml`)."""

    max_answer_length: int = 10
    n_best: int = 20
    use_max_context: bool = False

    def __post_init__(self) -> None:
        from splinter.run.config_checks import check_value

        for field in fields(self):  # by the decoding keys' one rule (config_checks.RULES, decoding.*)
            check_value(f"decoding.{field.name}", getattr(self, field.name), name=field.name)


_DECODING_KEYS = tuple(f.name for f in fields(DecodingSettings))
SETTING_KEYS = (*_WINDOW_KEYS, *_DECODING_KEYS, "batch_size", "pad_to_multiple_of")


@dataclass(frozen=True)
class Skipped:
    """What `QuestionAnswerer.answer_stream` yields for an input it cannot answer, and why."""

    reason: str


class QuestionAnswerer:
    """Extractive QA with a `SplinterForQuestionAnswering` and its tokenizer; see the module doc.

    Args:
        model: a `SplinterForQuestionAnswering`.
        tokenizer: the tokenizer it was trained with (`load_tokenizer`).
        windows: the window settings (default: the paper's).
        decoding: the decoding settings (default: the paper's).
        batch_size: windows per forward pass; None: `CPU_BATCH_SIZE` (16) on the CPU, else
            `ACCELERATOR_BATCH_SIZE` (32, evaluation's `eval_batch_size` default).
        pad_to_multiple_of: batches are padded to their longest window rounded up to this.
        device: "cpu", "cuda", ...; None: CUDA when available, else the CPU.
        dtype: the autocast dtype of the forward pass (``torch.bfloat16`` / "bf16" as evaluation's
            `bf16-mixed`); None: bf16 on CUDA, float32 elsewhere. The weights stay float32.
        chunk_size: questions whose windows are built and decoded together (bounds the memory of a
            long `answer_stream`); a chunk also ends once its contexts reach `CHUNK_CHARS` characters.
    """

    def __init__(
        self,
        model: SplinterForQuestionAnswering,
        tokenizer: Tokenizer,
        windows: WindowSettings | None = None,
        decoding: DecodingSettings | None = None,
        batch_size: int | None = None,
        pad_to_multiple_of: int | None = 8,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        chunk_size: int = 1024,
    ):
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ConfigError("batch_size", f"must be an integer >= 1, got {batch_size!r}")
        if chunk_size < 1:
            raise ConfigError("chunk_size", f"must be >= 1, got {chunk_size!r}")
        # a tokenizer of another model (more ids, another [QUESTION] id): one line, not wrong answers
        check_fits_model(tokenizer, model.config.vocab_size, model.config.question_token_id)
        self.windows = windows or WindowSettings()
        model.check_sequence_length(self.windows.max_seq_length, key="max_seq_length")
        self.device = _device(device)
        if batch_size is None:
            batch_size = CPU_BATCH_SIZE if self.device.type == "cpu" else ACCELERATOR_BATCH_SIZE
        self.dtype = _dtype(dtype, self.device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.decoding = decoding or DecodingSettings()
        self.batch_size, self.chunk_size = batch_size, chunk_size
        # [PAD] (BERT) or <pad> (RoBERTa), as evaluation pads
        self.collator = Collator(pad_to_multiple_of=pad_to_multiple_of, pad_token_id=special_token_ids(tokenizer).pad)
        self.settings_source = "defaults"

    # ------------------------------------------------------------------------------------- loading

    @classmethod
    def from_pretrained(
        cls,
        name: str | os.PathLike,
        *,
        tokenizer: str | Tokenizer | None = None,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        **settings: Any,
    ) -> QuestionAnswerer:
        """Load a model: a `save_pretrained` directory, a Hub id, a Lightning `.ckpt` of train.py, or
        "minilm".

        Window and decoding settings (`WindowSettings` fields, `DecodingSettings` fields, `batch_size`,
        `pad_to_multiple_of`) come, in this order of precedence, from ``settings`` (None values are
        ignored), from the checkpoint's training run (the hyper-parameters a `.ckpt` carries, or the
        `config.yaml` that train.py writes beside `model/`), else from the defaults.
        ``settings_source`` on the result says which file they came from. ``tokenizer`` replaces the
        checkpoint's (a path, Hub id, "minilm" or a loaded `tokenizers.Tokenizer`).
        """
        unknown = sorted(set(settings) - set(SETTING_KEYS))
        if unknown:
            raise ConfigError(unknown[0], "not a QuestionAnswerer setting", choices=SETTING_KEYS)
        name = os.fspath(name)
        if name.endswith(".ckpt"):
            model, saved_tokenizer, saved, source = _load_lightning_checkpoint(Path(name))
        else:
            model = load_model(name)  # head_type None: the checkpoint's head
            saved_tokenizer, (saved, source) = None, run_config_settings(Path(name))
        if isinstance(tokenizer, Tokenizer):
            saved_tokenizer = tokenizer
        elif tokenizer is not None or saved_tokenizer is None:
            if tokenizer is None and name.endswith(".ckpt"):
                raise CheckpointError(f"{name}: holds no tokenizer; pass tokenizer=<directory, hub id or 'minilm'>")
            saved_tokenizer = load_tokenizer(tokenizer or name)
        chosen = {**saved, **{k: v for k, v in settings.items() if v is not None}}
        answerer = cls(
            model,
            saved_tokenizer,
            windows=WindowSettings(**{k: chosen[k] for k in _WINDOW_KEYS if k in chosen}),
            decoding=DecodingSettings(**{k: chosen[k] for k in _DECODING_KEYS if k in chosen}),
            batch_size=int(chosen["batch_size"]) if "batch_size" in chosen else None,
            pad_to_multiple_of=chosen.get("pad_to_multiple_of", 8),
            device=device,
            dtype=dtype,
        )
        answerer.settings_source = source
        return answerer

    # ------------------------------------------------------------------------------------- answering

    def __call__(
        self,
        question: str | Mapping | Sequence | None = None,
        context: str | Sequence[str] | None = None,
        *,
        top_k: int | None = None,
        probability: bool = False,
    ) -> dict | list:
        """Answer one question or many.

        ``qa(question=..., context=...)`` or ``qa({"question": ..., "context": ...})`` → one result;
        ``qa([{"question": ..., "context": ...}, ...])``, ``qa(question=[...], context=[...])`` or a list
        of questions about one context string → a list of results, in input order, run in batches.
        A result is ``{"answer", "start", "end", "score"}`` (``context[start:end] == answer``; plus
        ``probability`` when asked), or with ``top_k=N`` a list of up to N such dicts with distinct
        character spans, best first. When no window has a valid span the answer is ``""`` with
        ``start``, ``end`` and ``score`` None (evaluation predicts ``""`` too), or ``[]`` with top_k.
        Invalid input raises `InputError` naming the input.
        """
        items, single = _as_items(question, context)
        results = []
        for i, result in enumerate(self.answer_stream(items, top_k=top_k, probability=probability)):
            if isinstance(result, Skipped):
                raise InputError(f"{'input' if single else f'input[{i}]'}: {result.reason}")
            results.append(result)
        return results[0] if single else results

    def answer_stream(
        self, items: Iterable[tuple[Any, Any]], *, top_k: int | None = None, probability: bool = False
    ) -> Iterator[dict | list | Skipped]:
        """One result per (question, context) pair, lazily, `chunk_size` questions at a time; a pair that
        cannot be answered gives `Skipped(reason)` instead of stopping the stream."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise InputError(f"top_k must be None or an integer >= 1, got {top_k!r}")
        chunk: list[tuple[Any, Any]] = []
        chars = 0
        for item in items:
            chunk.append(item)
            chars += len(item[1]) if isinstance(item[1], str) else 0
            # a chunk's windows take ~200 bytes per context character: bounded by characters too,
            # so that 1,024 questions about long contexts are not windowed at once
            if len(chunk) == self.chunk_size or chars >= CHUNK_CHARS:
                yield from self._answer_chunk(chunk, top_k, probability)
                chunk, chars = [], 0
                # The chunk's windows and activations are freed, but glibc keeps freed heap pages
                # below long-lived small blocks: without this, predict.py's peak RSS crept up with
                # the number of questions (bench/README.md, "Memory against context length").
                release_freed_memory()
        if chunk:
            yield from self._answer_chunk(chunk, top_k, probability)

    def _answer_chunk(self, items: list[tuple[Any, Any]], top_k: int | None, probability: bool) -> list:
        results: list = [None] * len(items)
        kept = []
        for i, (question, context) in enumerate(items):
            problem = _problem(question, context)
            if problem:
                results[i] = Skipped(problem)
            else:
                kept.append(i)
        if not kept:
            return results
        ids = [str(i) for i in kept]  # unique within the chunk whatever ids the caller has
        contexts = {str(i): items[i][1] for i in kept}
        rows = windows_from_columns(
            {"id": ids, "question": [items[i][0] for i in kept], "context": [items[i][1] for i in kept],
             "answer_texts": [[] for _ in kept], "answer_starts": [[] for _ in kept]},
            self.tokenizer, self.windows, training=False, max_context=self.decoding.use_max_context,
        )
        windows = EvaluationSet.from_windows(rows, contexts)  # what evaluation decodes with
        offsets = windows.offsets  # [W, L, 2], -1 outside the context
        n_best_lists = top_k is not None or probability
        candidates = self._window_candidates(rows, windows, keep=self.decoding.n_best if n_best_lists else 1)
        readable = _questions_with_context_tokens(rows["example_id"], offsets)
        if n_best_lists:
            answers = _n_best_answers(rows["example_id"], candidates, offsets, contexts, top_k or 1, probability)
        else:
            predictions = best_predictions(rows["example_id"], candidates.scores, candidates.starts,
                                           candidates.ends, offsets, contexts)
            answers = {eid: _answer_dict(p.text, p.start_char, p.end_char, p.score if p.found else None)
                       for eid, p in predictions.items()}
        for eid in ids:
            i = int(eid)
            if eid not in readable:
                results[i] = Skipped(NO_TOKENS)
            elif top_k is None:
                results[i] = answers[eid] if not n_best_lists else (answers[eid] or [dict(_NOT_FOUND)])[0]
            else:
                results[i] = answers[eid]
        return results

    def _window_candidates(self, rows: dict[str, list], windows: EvaluationSet, keep: int) -> SpanCandidates:
        """The `keep` best spans of every window, best first (evaluation's forward + `top_spans`), in the
        order of `rows`.

        The windows run longest first (a stable sort by token count) so that each batch holds windows of
        about one length: a list of short questions and long contexts then pads little, and on a CPU,
        where the forward is compute-bound, padded tokens cost as much as real ones. Attention masks
        keep padding out of every real token's result, so the order changes no answer.
        """
        context_mask = windows.context_masks
        max_context = windows.max_context_masks if self.decoding.use_max_context else None
        order = sorted(range(len(rows["input_ids"])), key=lambda w: -len(rows["input_ids"][w]))
        parts = []
        with torch.inference_mode(), self._autocast():
            for begin in range(0, len(order), self.batch_size):
                chosen = order[begin:begin + self.batch_size]
                batch = self.collator([{k: rows[k][w] for k in _MODEL_COLUMNS} for w in chosen])
                batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
                length = batch["input_ids"].shape[1]
                output = self.model(**batch)  # one question per window: logits [B, 1, L]
                found = top_spans(
                    output.start_logits.squeeze(1),
                    output.end_logits.squeeze(1),
                    _fit(context_mask[chosen], length).to(self.device),
                    max_answer_length=self.decoding.max_answer_length,
                    n_best=self.decoding.n_best,
                    max_context_mask=None if max_context is None else _fit(max_context[chosen], length),
                )
                parts.append(SpanCandidates(found.scores[:, :keep], found.starts[:, :keep],
                                            found.ends[:, :keep], found.valid[:, :keep]))
        back = torch.argsort(torch.tensor(order))  # sorted position of each window, in input order
        return SpanCandidates(*(torch.cat([getattr(p, f) for p in parts]).cpu()[back]
                                for f in ("scores", "starts", "ends", "valid")))

    def _autocast(self):
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def __repr__(self) -> str:
        return (f"QuestionAnswerer(device={self.device}, dtype={self.dtype}, windows={self.windows}, "
                f"decoding={self.decoding}, batch_size={self.batch_size}, settings from {self.settings_source})")


# ----------------------------------------------------------------------------------------------- inputs


def _as_items(question, context) -> tuple[list[tuple[Any, Any]], bool]:
    """The call's inputs as (question, context) pairs, and whether one result (not a list) is wanted."""
    if isinstance(question, Mapping) and context is None:
        return [_pair(question, "input")], True
    if isinstance(question, (list, tuple)):
        if context is None:
            return [_pair(item, f"input[{i}]") for i, item in enumerate(question)], False
        if isinstance(context, str):  # several questions about one text
            return [(q, context) for q in question], False
        if not isinstance(context, (list, tuple)):
            raise InputError(f"context: expected a string or a list of strings, got {type(context).__name__}")
        if len(question) != len(context):
            raise InputError(f"{len(question)} questions but {len(context)} contexts: pass one context per question")
        return list(zip(question, context, strict=True)), False
    if question is None or context is None:
        raise InputError("pass question=... and context=..., or a {'question', 'context'} dict or a list of them")
    return [(question, context)], True


def _pair(item, where: str) -> tuple[Any, Any]:
    if not isinstance(item, Mapping):
        raise InputError(f"{where}: expected a {{'question', 'context'}} dict, got {type(item).__name__}")
    missing = [key for key in ("question", "context") if key not in item]
    if missing:
        raise InputError(f"{where}: missing {' and '.join(repr(k) for k in missing)}")
    return item["question"], item["context"]


def _problem(question, context) -> str | None:
    """Why a pair cannot be answered (the readers' rule: empty question or context), or None."""
    for name, value in (("question", question), ("context", context)):
        if not isinstance(value, str):
            return f"{name} must be a string, got {type(value).__name__}"
        if not value.strip():
            return f"empty {name}"
    return None


# ----------------------------------------------------------------------------------------------- decoding


def _fit(mask: torch.Tensor, length: int) -> torch.Tensor:
    """Mask rows cut or False-padded to a batch's padded length."""
    if mask.shape[1] >= length:
        return mask[:, :length]
    return torch.nn.functional.pad(mask, (0, length - mask.shape[1]))


def _questions_with_context_tokens(example_ids: Sequence[str], offsets: torch.Tensor) -> set[str]:
    has_tokens = (offsets[..., 0] >= 0).any(dim=1).tolist()
    return {eid for eid, ok in zip(example_ids, has_tokens, strict=True) if ok}


def _answer_dict(text: str, start: int, end: int, score: float | None) -> dict:
    if score is None or not math.isfinite(score):
        return dict(_NOT_FOUND)
    return {"answer": text, "start": int(start), "end": int(end), "score": float(score)}


def _n_best_answers(
    example_ids: Sequence[str],
    candidates: SpanCandidates,
    offsets: torch.Tensor,
    contexts: Mapping[str, str],
    top_k: int,
    probability: bool,
) -> dict[str, list[dict]]:
    """Per question, its windows' candidates merged best first with distinct character spans
    (`merged_candidates`: the first answer is the one `best_predictions` picks)."""
    n, k = candidates.scores.shape
    rows = torch.arange(n)[:, None].expand(n, k)
    char_start = offsets[rows, candidates.starts.clamp(min=0), 0]
    char_end = offsets[rows, candidates.ends.clamp(min=0), 1]
    merged = merged_candidates(example_ids, candidates.scores, char_start, char_end, candidates.valid)
    out: dict[str, list[dict]] = {}
    for eid, spans in merged.items():
        answers = [_answer_dict(contexts[eid][a:b], a, b, score) for a, b, score in spans[:top_k]]
        if probability and spans:
            probabilities = span_probabilities([score for _, _, score in spans])
            for answer, p in zip(answers, probabilities[:top_k], strict=True):
                answer["probability"] = p
        out[eid] = answers
    return out


# ----------------------------------------------------------------------------------------------- loading


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ConfigError("device", f"{device!r} is not a torch device ({error})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "'cuda' was asked for but torch sees no CUDA device", choices=["cpu"])
    return device


def _dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ConfigError("dtype", f"{dtype} is not supported", choices=sorted(_DTYPES))
        return dtype
    if str(dtype).removeprefix("torch.") not in _DTYPES:
        raise ConfigError("dtype", f"unknown dtype {dtype!r}", choices=sorted(_DTYPES))
    return _DTYPES[str(dtype).removeprefix("torch.")]


def _load_lightning_checkpoint(path: Path):
    """Model, tokenizer (or None) and saved settings from a train.py `.ckpt`."""
    saved = read_training_checkpoint(path)
    return (load_model(saved), saved.tokenizer, *checkpoint_settings(saved))


def checkpoint_settings(saved: TrainingCheckpoint) -> tuple[dict, str]:
    """The window and decoding settings a train.py `.ckpt`'s run evaluated with, and where they came
    from (the hyper-parameters it carries; "defaults" when it carries none). evaluate.py uses these too."""
    settings = {**saved.data_hyper_parameters, **saved.hyper_parameters}
    return _settings_from(settings), f"{saved.path} (hyper-parameters)" if settings else "defaults"


def run_config(model: Path) -> tuple[dict | None, Path]:
    """The `config.yaml` train.py wrote into the run directory holding `model` (its `model/` directory or
    a `checkpoints/*.ckpt`), unresolved, and its path; None when there is none."""
    run_dir = model.parent.parent if model.suffix == ".ckpt" else model / ".."
    path = run_dir / "config.yaml"
    if not (model.is_dir() or model.is_file()) or not path.is_file():
        return None, path
    from omegaconf import OmegaConf

    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as error:  # noqa: BLE001 - a broken file is reported, not guessed around
        raise CheckpointError(f"{path.resolve()}: cannot read the run's settings ({error})") from None
    return (cfg if isinstance(cfg, dict) else None), path


def run_config_settings(model_dir: Path) -> tuple[dict, str]:
    """Settings from the `config.yaml` train.py wrote into the run directory that holds `model_dir`."""
    if not model_dir.is_dir():
        return {}, "defaults"
    cfg, path = run_config(model_dir)
    data = cfg.get("data") if cfg is not None else None
    if not isinstance(data, dict) or not str(data.get("_target_", "")).endswith("QADataModule"):
        return {}, "defaults"  # not a fine-tuning run (e.g. pretraining): its windows are not QA windows
    module = ((cfg.get("task") or {}).get("module") or {}) if isinstance(cfg.get("task"), dict) else {}
    # decoding.* is the decoding settings' home; a run written before it held them in task.module.*
    decoding = cfg.get("decoding") if isinstance(cfg.get("decoding"), dict) else {}
    return _settings_from({**data, **decoding, **module}), str(path.resolve())


def _settings_from(saved: Mapping[str, Any]) -> dict:
    """The answerer's settings among a run's saved data/module settings (`eval_batch_size` is ours)."""
    out = {k: saved[k] for k in (*_WINDOW_KEYS, *_DECODING_KEYS, "pad_to_multiple_of") if k in saved}
    if saved.get("eval_batch_size") is not None:
        out["batch_size"] = saved["eval_batch_size"]
    return out
