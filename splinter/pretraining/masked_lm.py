"""BERT's masked-language-model masking: the per-passage transform of `task.objective=mlm`.

Per passage (`[CLS] tokens [SEP]`, token ids):

1. Candidates: every wordpiece that is not a special token (`[CLS]`, `[SEP]`, `[PAD]`, `[UNK]`,
   `[MASK]`, `[QUESTION]`, any `[...]` entry such as `[unused5]`, and the tokenizer's added special
   tokens). These are never masked and never drawn as random replacements.
2. `max(1, round(mask_ratio × candidates))` of them (none for a passage without candidates) are
   drawn uniformly without replacement: an exact count, as BERT's `create_pretraining_data.py` (which
   counted `[CLS]`/`[SEP]` too), rather than a Bernoulli draw per token.
3. Each chosen piece becomes `[MASK]` with probability 0.8, a random candidate wordpiece (uniform over
   the vocabulary's candidates; it may be the original) with probability 0.1, and stays unchanged
   with probability 0.1. Wordpieces are masked one by one (no whole-word masking), as in BERT.
4. Labels: `masked_positions` (ascending) and `masked_labels` (the original ids there); the passage
   keeps its length.

Randomness comes only from a `numpy.random.Generator` seeded with `(seed, passage_index)`, as for
recurring spans: the rows are the same whatever the number of processes or the order of processing.
The masking is static (drawn once per passage and cached), like the recurring-span rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MASK_TOKEN = "[MASK]"
MASK_PROBABILITY = 0.8  # of a chosen piece: replaced by [MASK]
RANDOM_PROBABILITY = 0.1  # replaced by a random wordpiece; the remaining 0.1 keep the original


@dataclass
class MaskingVocabulary:
    """Per-vocabulary-id facts the masking needs."""

    maskable: np.ndarray  # [V] bool: a wordpiece that may be masked (not a special token)
    replacements: np.ndarray  # ids a random replacement is drawn from (the maskable ones)
    mask_id: int

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], special_tokens: Sequence[str] = ()) -> MaskingVocabulary:
        if MASK_TOKEN not in vocab:
            raise ValueError(f"the vocabulary has no {MASK_TOKEN} token")
        maskable = np.zeros(max(vocab.values()) + 1, dtype=bool)
        special = set(special_tokens)
        for token, index in vocab.items():
            bracketed = token.startswith("[") and token.endswith("]")  # [CLS], [unused5], [QUESTION], ...
            maskable[index] = not bracketed and token not in special
        return cls(maskable, np.flatnonzero(maskable), vocab[MASK_TOKEN])

    @classmethod
    def from_tokenizer(cls, tokenizer) -> MaskingVocabulary:
        """From a `tokenizers.Tokenizer` (its added special tokens are never masked)."""
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        specials = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special]
        return cls.from_vocab(vocab, special_tokens=specials)


@dataclass
class MaskedTokens:
    input_ids: list[int]
    masked_positions: list[int]
    masked_labels: list[int]


def mask_tokens(
    ids: Sequence[int], vocabulary: MaskingVocabulary, rng: np.random.Generator, mask_ratio: float = 0.15
) -> MaskedTokens:
    """Mask one passage (see the module docstring)."""
    tokens = np.asarray(ids, dtype=np.int64)
    candidates = np.flatnonzero(vocabulary.maskable[tokens])
    if len(candidates) == 0:
        return MaskedTokens(tokens.tolist(), [], [])
    count = min(len(candidates), max(1, round(mask_ratio * len(candidates))))
    positions = np.sort(rng.choice(candidates, size=count, replace=False))
    labels = tokens[positions]
    draw = rng.random(count)
    masked = tokens.copy()
    as_mask = draw < MASK_PROBABILITY
    as_random = (draw >= MASK_PROBABILITY) & (draw < MASK_PROBABILITY + RANDOM_PROBABILITY)
    masked[positions[as_mask]] = vocabulary.mask_id
    masked[positions[as_random]] = rng.choice(vocabulary.replacements, size=int(as_random.sum()))
    return MaskedTokens(masked.tolist(), positions.tolist(), labels.tolist())


class MaskedLMMasker:
    """Batched `datasets.map` function (with_indices=True): `input_ids` passages → MLM rows with the
    columns `input_ids` (masked), `masked_positions`, `masked_labels`."""

    def __init__(self, vocabulary: MaskingVocabulary, seed: int, mask_ratio: float = 0.15):
        if not 0 < mask_ratio <= 1:
            raise ValueError(f"mask_ratio must be in (0, 1], got {mask_ratio}")
        self.vocabulary, self.seed, self.mask_ratio = vocabulary, int(seed), mask_ratio

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        out: dict[str, list] = {"input_ids": [], "masked_positions": [], "masked_labels": []}
        for ids, index in zip(batch["input_ids"], indices, strict=True):
            rng = np.random.default_rng([self.seed, int(index)])
            m = mask_tokens(ids, self.vocabulary, rng, self.mask_ratio)
            out["input_ids"].append(m.input_ids)
            out["masked_positions"].append(m.masked_positions)
            out["masked_labels"].append(m.masked_labels)
        return out


def masked_lm_features():
    import datasets

    ints = datasets.Sequence(datasets.Value("int32"))
    return datasets.Features({"input_ids": ints, "masked_positions": ints, "masked_labels": ints})


def mask_passages_mlm(
    passages,
    tokenizer_or_vocabulary,
    seed: int = 42,
    mask_ratio: float = 0.15,
    num_proc: int | None = None,
    batch_size: int = 256,
):
    """Apply `MaskedLMMasker` to a passages `Dataset` (cached, `num_proc` workers) or `IterableDataset`
    (lazily; indices count the passages of the stream, as for `recurring_spans.mask_passages`)."""
    import datasets

    vocabulary = (
        tokenizer_or_vocabulary
        if isinstance(tokenizer_or_vocabulary, MaskingVocabulary)
        else MaskingVocabulary.from_tokenizer(tokenizer_or_vocabulary)
    )
    kwargs = dict(
        with_indices=True,
        batched=True,
        batch_size=batch_size,
        remove_columns=list(passages.column_names or ["input_ids"]),
        features=masked_lm_features(),
    )
    masker = MaskedLMMasker(vocabulary, seed, mask_ratio)
    if isinstance(passages, datasets.IterableDataset):
        return passages.map(masker, **kwargs)
    return passages.map(masker, num_proc=num_proc, desc="Masking wordpieces", **kwargs)


def _chunks(dataset, max_rows: int | None):
    """(input_ids, masked_positions, masked_labels) as flat numpy arrays plus per-row lengths and
    mask counts, in chunks: through Arrow for a `Dataset`, row by row for any other iterable."""
    import datasets

    if isinstance(dataset, datasets.Dataset):
        import pyarrow.compute as pc

        table = dataset.with_format("arrow")
        stop = len(dataset) if max_rows is None else min(max_rows, len(dataset))
        for begin in range(0, stop, 10_000):
            part = table[begin : min(stop, begin + 10_000)]
            yield (
                pc.list_flatten(part["input_ids"]).to_numpy(),
                pc.list_flatten(part["masked_positions"]).to_numpy(),
                pc.list_flatten(part["masked_labels"]).to_numpy(),
                pc.list_value_length(part["input_ids"]).to_numpy(),
                pc.list_value_length(part["masked_positions"]).to_numpy(),
            )
        return
    rows = []
    for i, row in enumerate(dataset):
        if max_rows is not None and i >= max_rows:
            break
        rows.append(row)
    if rows:
        yield (
            np.concatenate([np.asarray(r["input_ids"], dtype=np.int64) for r in rows]),
            np.concatenate([np.asarray(r["masked_positions"], dtype=np.int64) for r in rows]),
            np.concatenate([np.asarray(r["masked_labels"], dtype=np.int64) for r in rows]),
            np.array([len(r["input_ids"]) for r in rows]),
            np.array([len(r["masked_positions"]) for r in rows]),
        )


def masked_lm_statistics(dataset, max_rows: int | None = None, mask_id: int | None = None) -> dict:
    """Passages, masked pieces (per passage, share of all pieces), passage length, and, given
    `mask_id`, the share of masked pieces shown as [MASK], as the original piece, and as another one.
    Works on a `Dataset` (all rows, via Arrow) or any iterable of rows (the first `max_rows`)."""
    passages = masked = length = shown_mask = shown_original = 0
    for ids, positions, labels, lengths, counts in _chunks(dataset, max_rows):
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        shown = ids[np.repeat(starts, counts) + positions.astype(np.int64)]
        passages += len(lengths)
        masked += int(counts.sum())
        length += int(lengths.sum())
        shown_original += int((shown == labels).sum())
        if mask_id is not None:
            shown_mask += int((shown == mask_id).sum())
    stats = {
        "passages": passages,
        "masked_tokens": masked,
        "masked_per_passage_mean": masked / passages if passages else 0.0,
        "masked_fraction": masked / length if length else 0.0,
        "passage_length_mean": length / passages if passages else 0.0,
    }
    if mask_id is not None:
        stats["shown_as_mask"] = shown_mask / masked if masked else 0.0
        stats["shown_as_original"] = shown_original / masked if masked else 0.0
        stats["shown_as_random"] = (masked - shown_mask - shown_original) / masked if masked else 0.0
    return stats


def format_masked_lm_statistics(stats: dict) -> str:
    text = (
        f"masked LM: {stats['passages']} passages, {stats['masked_tokens']} masked pieces "
        f"({stats['masked_per_passage_mean']:.2f} per passage, {100 * stats['masked_fraction']:.1f}% of all pieces), "
        f"mean passage length {stats['passage_length_mean']:.1f}"
    )
    if "shown_as_mask" in stats:
        text += (
            f"; shown as [MASK] {100 * stats['shown_as_mask']:.1f}%, random {100 * stats['shown_as_random']:.1f}%, "
            f"unchanged {100 * stats['shown_as_original']:.1f}%"
        )
    return text
