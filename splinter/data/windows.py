"""Examples → windows (model features): `[CLS] question [QUESTION] . [SEP] context chunk [SEP]`.

A context longer than one window is cut into several, as in the paper's fine-tuning code (BERT's
`run_squad.py`): windows start every `doc_stride` context tokens and the last one ends at the end of
the context. Each window repeats the (truncated) question. Training windows carry the token span of
the first answer, or 0/0 (`[CLS]`) when they do not contain all of it; evaluation windows carry
character offsets and max-context flags for decoding (docs/protocol.md §3, §4).

The work runs inside `Dataset.map(batched=True)`, so results are cached on disk next to a file-backed
input dataset and reused on an identical second call (datasets fingerprints the function arguments,
tokenizer and settings included). In-memory datasets are not cached: that is datasets' rule.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import InitVar, dataclass

import numpy as np
from datasets import Dataset, Features, List, Value
from tokenizers import Encoding, Tokenizer

from splinter.errors import ConfigError, DataError
from splinter.tokenization.tokenizer import SpecialTokenIds, special_token_ids

logger = logging.getLogger(__name__)

EXAMPLE_COLUMNS = ("id", "question", "context", "answer_texts", "answer_starts")
# Part of the map arguments, hence of the cache fingerprint: bump it whenever the window layout or
# labelling changes, or stale cached windows would be reused (datasets hashes module functions by name).
LAYOUT_VERSION = 2  # 2: evaluation offsets extend over trailing combining marks
NO_OFFSET = (-1, -1)

_COMMON_FEATURES = {
    "input_ids": List(Value("int32")),
    "token_type_ids": List(Value("int8")),
    "attention_mask": List(Value("int8")),
    "question_position": Value("int32"),
}
TRAIN_FEATURES = Features({
    **_COMMON_FEATURES,
    "start_position": Value("int32"),
    "end_position": Value("int32"),
})
EVAL_FEATURES = Features({
    **_COMMON_FEATURES,
    "example_id": Value("string"),
    "offsets": List(List(Value("int32"), length=2)),
    "max_context": List(Value("int8")),
})


@dataclass(frozen=True)
class WindowSettings:
    """How examples are cut into windows. The defaults are the paper's (docs/protocol.md §3).

    max_seq_length: tokens per window, specials included (384).
    doc_stride: the STEP between the starts of consecutive windows, in context tokens (128): windows
        start at context tokens 0, 128, 256, ... as in the paper's original code. This is NOT the
        overlap that transformers' run_qa.py calls doc_stride (there, windows overlap by 128 tokens).
        A step larger than a window's context budget is clamped to it, so no context token is skipped.
    max_query_length: tokens of the question part INCLUDING its `[QUESTION] .` suffix (64); longer
        questions lose their last words, never the `[QUESTION]` token.
    zero_token_type_ids: all-zero token types (True), as the paper fed them: its pretraining never
        trained the second type embedding. False gives BERT's 0-then-1 types.
    hide_sep: attention mask 0 on both `[SEP]` tokens (True), as in the paper: hidden from attention
        and hence (the model masks logits where attention is 0) from the answer logits.
    """

    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    zero_token_type_ids: bool = True
    hide_sep: bool = True

    # The key the error names is `key_prefix` + field (data.max_seq_length, settings.doc_stride)
    key_prefix: InitVar[str] = ""

    def __post_init__(self, key_prefix: str) -> None:
        check_window_lengths(self.max_seq_length, self.doc_stride, self.max_query_length, key_prefix)

    @classmethod
    def from_keys(cls, key_prefix: str, **values) -> WindowSettings:
        """Settings from a caller's config group: an error names the caller's full key, `key_prefix` +
        field (data.max_seq_length, settings.doc_stride). Absent fields take the defaults."""
        return cls(**values, key_prefix=key_prefix)


def check_window_lengths(max_seq_length: int, doc_stride: int, max_query_length: int, key_prefix: str = "") -> None:
    """ConfigError for lengths no window can hold; `key_prefix` + field is the key the message names.
    The window lengths' one rule: config_checks (before a run writes anything) and WindowSettings call it."""
    seq, stride, query = (f"{key_prefix}{name}" for name in ("max_seq_length", "doc_stride", "max_query_length"))
    for key, value in ((seq, max_seq_length), (stride, doc_stride), (query, max_query_length)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"must be an integer, got {value!r}")
    if max_query_length < 3:
        raise ConfigError(query, f"must be >= 3 (question + [QUESTION] .), got {max_query_length}")
    # [CLS] + question part + [SEP] + >= 1 context token + [SEP]
    if max_seq_length < max_query_length + 4:
        raise ConfigError(seq, f"must be >= {query} + 4 = {max_query_length + 4}, got {max_seq_length}")
    if doc_stride < 1:
        raise ConfigError(stride, f"must be >= 1, got {doc_stride}")


def build_windows(
    examples: Dataset,
    tokenizer: Tokenizer,
    settings: WindowSettings,
    training: bool,
    num_proc: int | None = None,
) -> Dataset:
    """One row per window; training rows carry labels, evaluation rows offsets and max-context flags.

    Every example yields at least one window (an empty context gives one with no context tokens).
    """
    missing = [c for c in EXAMPLE_COLUMNS if c not in examples.column_names]
    if missing:
        raise DataError("examples dataset", f"missing columns {missing} (have {examples.column_names})")
    _check_tokenizer(tokenizer)  # fail here, with a clear message, rather than inside the map
    return examples.map(
        _windows_batch,
        batched=True,
        remove_columns=examples.column_names,
        features=TRAIN_FEATURES if training else EVAL_FEATURES,
        fn_kwargs={
            "tokenizer": tokenizer, "settings": settings, "training": training, "version": LAYOUT_VERSION,
        },
        num_proc=num_proc,
        desc="Building training windows" if training else "Building evaluation windows",
    )


def windows_from_columns(columns: dict[str, list], tokenizer: Tokenizer, settings: WindowSettings,
                         training: bool, max_context: bool = True) -> dict[str, list]:
    """`build_windows` for in-memory columns (lists keyed by `EXAMPLE_COLUMNS`): the same rows, with no
    Dataset and no `map` (whose fingerprinting costs ~20 ms a call: most of answering one question).
    `max_context=False` (a decoder without the max-context rule) leaves the flags 0 uncomputed."""
    _check_tokenizer(tokenizer)
    return _windows_batch(columns, tokenizer, settings, training, LAYOUT_VERSION, max_context)


def _check_tokenizer(tokenizer: Tokenizer) -> None:
    special_token_ids(tokenizer)  # every special id a window needs, for either tokenizer family
    if tokenizer.padding is not None or tokenizer.truncation is not None:
        # windows are cut here; a padded/truncated encoding would silently lose context tokens
        raise ConfigError("tokenizer", "must have padding and truncation disabled (use load_tokenizer())")


def window_spans(num_tokens: int, budget: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) context-token ranges: starts 0, stride, 2·stride, ...; the last ends at num_tokens."""
    if num_tokens == 0:
        return [(0, 0)]
    spans, start = [], 0
    while True:
        end = min(start + budget, num_tokens)
        spans.append((start, end))
        if end == num_tokens:
            return spans
        start += min(stride, end - start)


def max_context_flags(spans: list[tuple[int, int]]) -> list[np.ndarray]:
    """Per window, 1 for the tokens whose max-context window it is (BERT's `_check_is_max_context`).

    A token's score in a window is min(tokens left of it, tokens right of it) + 0.01 × window length;
    the first window with the best score wins ties, as in BERT (strict `>`). One pass over the windows
    keeps each token's best score so far: memory O(context tokens) and time O(Σ window lengths), where
    a windows × tokens table would need 12 GB for a 1 MB context. The scores are the same float64
    expressions as BERT's, so ties resolve identically.
    """
    num_tokens = spans[-1][1]
    if num_tokens == 0:  # empty context: a single window without context tokens
        return [np.zeros(0, dtype=np.int8) for _ in spans]
    best_score = np.full(num_tokens, -np.inf)
    best_window = np.zeros(num_tokens, dtype=np.int64)
    for i, (start, end) in enumerate(spans):
        inside = np.arange(end - start)
        score = np.minimum(inside, end - start - 1 - inside) + 0.01 * (end - start)
        better = score > best_score[start:end]  # strict: the earlier window keeps a tie
        best_score[start:end][better] = score[better]
        best_window[start:end][better] = i
    return [(best_window[start:end] == i).astype(np.int8) for i, (start, end) in enumerate(spans)]


def answer_token_span(offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int] | None:
    """(first, last) context tokens overlapping the characters [start_char, end_char), or None.

    `offsets` is the [N, 2] array of context token character spans, sorted by position.
    """
    first = int(np.searchsorted(offsets[:, 1], start_char, side="right"))  # first token ending after start
    last = int(np.searchsorted(offsets[:, 0], end_char, side="left")) - 1  # last token starting before end
    return (first, last) if first <= last else None


def context_offsets(encoding: Encoding, text: str) -> np.ndarray:
    """[N, 2] character spans of the context tokens, each end moved past the combining marks that follow it.

    An accent-stripping tokenizer (uncased BERT) drops a decomposed accent ("Jose" + U+0301) from the
    token, so the token's span ends before the accent and no predicted span could reproduce the
    answer "José" exactly. A mark is only claimed when no token covers it (ends stop at the next start).
    """
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    if text.isascii() or len(offsets) == 0 or not any(map(unicodedata.combining, text)):
        return offsets  # the common case, decided at C speed
    limits = [*offsets[1:, 0].tolist(), len(text)]
    for i, end in enumerate(offsets[:, 1].tolist()):
        stop = max(end, limits[i])
        while end < stop and unicodedata.combining(text[end]):
            end += 1
        offsets[i, 1] = end
    return offsets


def _windows_batch(batch: dict[str, list], tokenizer: Tokenizer, settings: WindowSettings, training: bool,
                   version: int, max_context: bool = True) -> dict[str, list]:
    del version  # only there to change the cache fingerprint
    special = special_token_ids(tokenizer)
    questions = tokenizer.encode_batch(batch["question"], add_special_tokens=False)
    # Evaluation sets ask several questions about each context (SQuAD dev: ~5): tokenize each once.
    unique = list(dict.fromkeys(batch["context"]))
    encoded = dict(zip(unique, tokenizer.encode_batch(unique, add_special_tokens=False), strict=True))
    contexts = [encoded[c] for c in batch["context"]]
    out: dict[str, list] = {name: [] for name in (TRAIN_FEATURES if training else EVAL_FEATURES)}
    unlabelled = 0
    for i, (question, context) in enumerate(zip(questions, contexts, strict=True)):
        question_ids = _without_question_token(question.ids[: settings.max_query_length - 2], special)
        context_ids = _without_question_token(context.ids, special)
        prefix = [special.cls, *question_ids, special.question, special.dot, *special.separator]
        spans = window_spans(len(context_ids), settings.max_seq_length - len(prefix) - 1, settings.doc_stride)
        for start, end in spans:
            _append_inputs(out, prefix, context_ids[start:end], special, settings)
            out["question_position"].append(len(question_ids) + 1)
        if training:
            unlabelled += _append_labels(out, batch, i, context, spans, len(prefix))
        else:
            _append_eval_columns(out, batch["id"][i], context_offsets(context, batch["context"][i]),
                                 spans, len(prefix), max_context)
    if unlabelled:
        logger.warning("%d training question(s) have an answer covered by no token (e.g. only control "
                       "characters); their windows are labelled 0/0", unlabelled)
    return out


def _without_question_token(ids: list[int], special: SpecialTokenIds) -> list[int]:
    # A literal "[QUESTION]" in the text is tokenized as the special token; the model reads the
    # question representation at [QUESTION], so a stray one in the input becomes [UNK].
    if special.question not in ids:
        return ids
    return [special.unk if t == special.question else t for t in ids]


def _append_inputs(out: dict[str, list], prefix: list[int], chunk: list[int], special: SpecialTokenIds,
                   settings: WindowSettings) -> None:
    out["input_ids"].append(prefix + chunk + [special.sep])
    n_prefix, n_rest = len(prefix), len(chunk) + 1
    # An encoder with one token type (RoBERTa) gets all-zero types whatever the setting: as its own
    # tokenizer gives them, and type 1 would index past its embedding table.
    if settings.zero_token_type_ids or special.token_types == 1:
        out["token_type_ids"].append([0] * (n_prefix + n_rest))
    else:
        out["token_type_ids"].append([0] * n_prefix + [1] * n_rest)
    # hide_sep hides every separator token (RoBERTa has two between the parts), as the paper's code
    # did (attention_mask[input_ids == sep_id] = 0).
    seen = 0 if settings.hide_sep else 1
    n_separator = len(special.separator)
    out["attention_mask"].append([1] * (n_prefix - n_separator) + [seen] * n_separator
                                 + [1] * (n_rest - 1) + [seen])


def _append_labels(out: dict[str, list], batch: dict[str, list], i: int, context: Encoding,
                   spans: list[tuple[int, int]], context_start: int) -> int:
    """Append start/end labels of example i's windows; returns 1 when no token covers the answer."""
    example_id, texts, starts = batch["id"][i], batch["answer_texts"][i], batch["answer_starts"][i]
    if not texts or not starts:
        raise DataError(f"example '{example_id}'", "training example without an answer (answer_texts is "
                        "empty); readers drop such questions, so use it for evaluation only")
    text, start_char = texts[0], starts[0]
    if batch["context"][i][start_char:start_char + len(text)] != text:
        raise DataError(f"example '{example_id}'", f"answer_starts[0]={start_char} does not point at "
                        f"answer_texts[0]={text!r} in the context")
    offsets = np.asarray(context.offsets, dtype=np.int64).reshape(-1, 2)
    token_span = answer_token_span(offsets, start_char, start_char + len(text))
    for start, end in spans:
        if token_span is not None and start <= token_span[0] and token_span[1] < end:
            out["start_position"].append(token_span[0] - start + context_start)
            out["end_position"].append(token_span[1] - start + context_start)
        else:  # the window lacks (part of) the answer: point at [CLS]
            out["start_position"].append(0)
            out["end_position"].append(0)
    return int(token_span is None)


def _append_eval_columns(out: dict[str, list], example_id: str, offsets: np.ndarray,
                         spans: list[tuple[int, int]], context_start: int, max_context: bool = True) -> None:
    offsets = offsets.astype(np.int32)
    all_flags = max_context_flags(spans) if max_context else [0] * len(spans)
    for (start, end), flags in zip(spans, all_flags, strict=True):
        length = context_start + (end - start) + 1
        window_offsets = np.full((length, 2), NO_OFFSET, dtype=np.int32)
        window_offsets[context_start:context_start + end - start] = offsets[start:end]
        window_flags = np.zeros(length, dtype=np.int8)
        window_flags[context_start:context_start + end - start] = flags
        out["example_id"].append(example_id)
        # numpy arrays, not .tolist(): datasets hands them to Arrow without a Python object per token
        # (3× faster evaluation windows on long contexts).
        out["offsets"].append(window_offsets)
        out["max_context"].append(window_flags)
