"""Recurring span selection (docs/protocol.md §5): find recurring spans, mask them with [QUESTION], label them.

Per passage (`[CLS] tokens [SEP]`, token ids):

1. Candidates: n-grams of 1..`max_span_length` wordpieces that occur at least twice, such that the
   n-gram
   - starts a word (its first piece is not a `##` continuation) and ends one (the piece after each
     occurrence is not a `##` continuation; checked per occurrence, and a candidate needs two
     occurrences that pass),
   - contains no punctuation or special token (a word-initial piece that is not alphanumeric, a
     `##` piece whose remainder is not alphanumeric, `[CLS]`, `[SEP]`, `[UNK]`, ...),
   - is not made only of stopwords (`ENGLISH_STOPWORDS`; a `##` piece is never a stopword).
2. Clusters are taken longest first (ties: earliest first occurrence); within a cluster, occurrences
   are taken left to right and one that overlaps an occurrence already taken (of this or an earlier
   cluster) is dropped; a cluster left with fewer than two occurrences is dropped.
3. Budget: at most `min(max_questions, round(mask_ratio * len(passage)))` questions, `len` counting
   `[CLS]` and `[SEP]` (as the original code did; Python's round, half to even). A cluster with k
   occurrences costs k - 1 questions. Clusters are masked whole or not at all: one that no longer
   fits the remaining budget is skipped and the next (shorter) ones are tried. (The original code
   masked part of such a cluster, which leaves an unmasked copy of the answer text that is not the
   label.) `cluster_order="random"` visits the non-overlapping clusters in a random order instead,
   as the original code did after its longest-first overlap pruning; the default follows docs/protocol.md §5
   ("longest spans first").
4. Per chosen cluster one occurrence, drawn uniformly, stays as the answer; every other occurrence is
   replaced by ONE `[QUESTION]` token and the rest of its pieces are removed, so the passage gets
   shorter (the original padded them out with `[PAD]` and a zero attention mask instead; removal
   gives the same attention pattern without wasted positions, and positions after the removal shift).
5. Labels: `start_positions`/`end_positions` are the (inclusive) token indices of the answer
   occurrence in the final, shortened sequence; questions are listed in order of their position.

Randomness comes only from a `numpy.random.Generator` seeded with `(seed, passage_index)`, so the
output is reproducible whatever the number of processes or the order of processing.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from splinter.tokenization.question_token import QUESTION_TOKEN

# The English stopword list of NLTK (`nltk.corpus.stopwords.words("english")`, the subset used by the
# original Splinter pretraining code, `pretraining/masking.py`, which also adds "also", "could" and
# "would"). Compared lowercased, so it works for cased and uncased vocabularies.
ENGLISH_STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being
    below between both but by can could did do does doing don down during each few for from further
    had has have having he her here hers herself him himself his how i if in into is it its itself
    just me more most my myself no nor not now of off on once only or other our ours ourselves out
    over own same she should so some such t than that the their theirs them themselves then there
    these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours yourself yourselves s
    """.split()
)

CLUSTER_ORDERS = ("longest", "random")


@dataclass
class TokenClasses:
    """Per-vocabulary-id flags used by the span search (plain lists: fastest to index in Python)."""

    continuation: list[bool]  # "##" piece
    invalid: list[bool]  # punctuation or special token: never inside a span
    stopword: list[bool]
    question_id: int

    @classmethod
    def from_vocab(
        cls,
        vocab: dict[str, int],
        special_tokens: Sequence[str] = (),
        stopwords: frozenset[str] = ENGLISH_STOPWORDS,
        question_token: str = QUESTION_TOKEN,
    ) -> TokenClasses:
        if question_token not in vocab:
            raise ValueError(f"the vocabulary has no {question_token} token")
        size = max(vocab.values()) + 1
        continuation, invalid, stopword = [False] * size, [True] * size, [False] * size
        special = set(special_tokens)
        for token, index in vocab.items():
            is_piece = token.startswith("##")
            body = token[2:] if is_piece else token
            continuation[index] = is_piece
            bracketed = token.startswith("[") and token.endswith("]")  # [CLS], [unused5], ...
            invalid[index] = token in special or bracketed or not body.isalnum()
            stopword[index] = (not is_piece) and token.lower() in stopwords
        return cls(continuation, invalid, stopword, vocab[question_token])

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs) -> TokenClasses:
        """From a `tokenizers.Tokenizer` (added special tokens are treated as invalid)."""
        vocab = tokenizer.get_vocab(with_added_tokens=True)
        specials = [t.content for t in tokenizer.get_added_tokens_decoder().values() if t.special]
        return cls.from_vocab(vocab, special_tokens=specials, **kwargs)


@dataclass
class SpanCluster:
    """`length` pieces starting at each of `starts` (sorted, non-overlapping)."""

    length: int
    starts: list[int]


def find_recurring_clusters(
    ids: Sequence[int], classes: TokenClasses, max_span_length: int = 10
) -> list[SpanCluster]:
    """Valid recurring n-grams as non-overlapping clusters, longest first (see the module docstring)."""
    n = len(ids)
    cont = [classes.continuation[t] for t in ids]
    bad = [classes.invalid[t] for t in ids]
    stop = classes.stopword
    # Grow groups of equal n-grams one piece at a time: an n-gram can only recur if its (n-1)-prefix
    # does, so only groups with two or more members are extended (a group is a list of start positions).
    first: dict[int, list[int]] = defaultdict(list)
    for p in range(n):
        if not bad[p] and not cont[p]:
            first[ids[p]].append(p)
    # (positions, contains a non-stopword)
    level = [(ps, not stop[ids[ps[0]]]) for ps in first.values() if len(ps) >= 2]
    candidates: list[SpanCluster] = []
    for length in range(1, max_span_length + 1):
        grown = []
        for ps, content in level:
            if content:
                ends_word = [p for p in ps if p + length >= n or not cont[p + length]]
                if len(ends_word) >= 2:
                    candidates.append(SpanCluster(length, ends_word))
            if length == max_span_length:
                continue
            split: dict[int, list[int]] = defaultdict(list)
            for p in ps:
                q = p + length
                if q < n and not bad[q]:
                    split[ids[q]].append(p)
            for token, sub in split.items():
                if len(sub) >= 2:
                    grown.append((sub, content or not stop[token]))
        level = grown
        if not level:
            break
    candidates.sort(key=lambda c: (-c.length, c.starts[0]))

    taken = bytearray(n)
    clusters = []
    for cand in candidates:
        k = cand.length
        kept, last_end = [], -1
        for p in cand.starts:
            if p > last_end and not any(taken[p : p + k]):
                kept.append(p)
                last_end = p + k - 1
        if len(kept) >= 2:
            for p in kept:
                taken[p : p + k] = b"\x01" * k
            clusters.append(SpanCluster(k, kept))
    return clusters


@dataclass
class MaskedPassage:
    input_ids: list[int]
    question_positions: list[int] = field(default_factory=list)
    start_positions: list[int] = field(default_factory=list)
    end_positions: list[int] = field(default_factory=list)
    masked_spans: list[list[int]] = field(default_factory=list)  # [start, end] in the input passage
    answer_spans: list[list[int]] = field(default_factory=list)  # [start, end] in the input passage


def question_budget(length: int, max_questions: int = 30, mask_ratio: float = 0.15) -> int:
    return min(max_questions, round(mask_ratio * length))


def mask_recurring_spans(
    ids: Sequence[int],
    classes: TokenClasses,
    rng: np.random.Generator,
    max_questions: int = 30,
    mask_ratio: float = 0.15,
    max_span_length: int = 10,
    cluster_order: str = "longest",
) -> MaskedPassage:
    """Mask the recurring spans of one passage (see the module docstring)."""
    if cluster_order not in CLUSTER_ORDERS:
        raise ValueError(f"cluster_order must be one of {CLUSTER_ORDERS}, got {cluster_order!r}")
    clusters = find_recurring_clusters(ids, classes, max_span_length)
    if cluster_order == "random" and clusters:
        clusters = [clusters[i] for i in rng.permutation(len(clusters))]
    budget = question_budget(len(ids), max_questions, mask_ratio)

    masked_at: dict[int, tuple[int, int]] = {}  # masked start -> (length, answer start)
    for cluster in clusters:
        cost = len(cluster.starts) - 1
        if cost > budget:
            continue
        budget -= cost
        answer = cluster.starts[int(rng.integers(len(cluster.starts)))]
        for p in cluster.starts:
            if p != answer:
                masked_at[p] = (cluster.length, answer)
        if budget == 0:
            break
    if not masked_at:
        return MaskedPassage(list(ids))

    # Rebuild the sequence: each masked occurrence becomes one [QUESTION]; map old -> new positions.
    out: list[int] = []
    new_pos = [-1] * len(ids)
    questions = []  # (new position, masked start, length, answer start)
    i, n = 0, len(ids)
    while i < n:
        hit = masked_at.get(i)
        if hit is None:
            new_pos[i] = len(out)
            out.append(ids[i])
            i += 1
        else:
            questions.append((len(out), i, hit[0], hit[1]))
            out.append(classes.question_id)
            i += hit[0]
    result = MaskedPassage(out)
    for position, start, length, answer in questions:
        result.question_positions.append(position)
        result.start_positions.append(new_pos[answer])
        result.end_positions.append(new_pos[answer + length - 1])
        result.masked_spans.append([start, start + length - 1])
        result.answer_spans.append([answer, answer + length - 1])
    return result


class RecurringSpanMasker:
    """Batched `datasets.map` function (with_indices=True): `input_ids` passages → pretraining rows.

    Output columns: `input_ids` (shortened), `question_positions`, `start_positions`, `end_positions`;
    with `debug=True` also `source_ids` (the passage before masking) and `masked_spans` /
    `answer_spans` ([start, end] in `source_ids`, aligned with the questions).
    """

    def __init__(
        self,
        classes: TokenClasses,
        seed: int,
        max_questions: int = 30,
        mask_ratio: float = 0.15,
        max_span_length: int = 10,
        cluster_order: str = "longest",
        debug: bool = False,
    ):
        if cluster_order not in CLUSTER_ORDERS:
            raise ValueError(f"cluster_order must be one of {CLUSTER_ORDERS}, got {cluster_order!r}")
        self.classes, self.seed, self.debug = classes, int(seed), debug
        self.max_questions, self.mask_ratio = max_questions, mask_ratio
        self.max_span_length, self.cluster_order = max_span_length, cluster_order

    def __call__(self, batch: dict, indices: list[int]) -> dict:
        columns = ["input_ids", "question_positions", "start_positions", "end_positions"]
        if self.debug:
            columns += ["source_ids", "masked_spans", "answer_spans"]
        out: dict[str, list] = {c: [] for c in columns}
        for ids, index in zip(batch["input_ids"], indices, strict=True):
            rng = np.random.default_rng([self.seed, int(index)])
            m = mask_recurring_spans(
                ids, self.classes, rng, self.max_questions, self.mask_ratio, self.max_span_length,
                self.cluster_order,
            )
            out["input_ids"].append(m.input_ids)
            out["question_positions"].append(m.question_positions)
            out["start_positions"].append(m.start_positions)
            out["end_positions"].append(m.end_positions)
            if self.debug:
                out["source_ids"].append(list(ids))
                out["masked_spans"].append(m.masked_spans)
                out["answer_spans"].append(m.answer_spans)
        return out


def pretraining_features(debug: bool = False):
    import datasets

    ints = datasets.Sequence(datasets.Value("int32"))
    spec = {
        "input_ids": ints,
        "question_positions": ints,
        "start_positions": ints,
        "end_positions": ints,
    }
    if debug:
        spec["source_ids"] = ints
        spec["masked_spans"] = datasets.Sequence(ints)
        spec["answer_spans"] = datasets.Sequence(ints)
    return datasets.Features(spec)


def mask_passages(
    passages,
    tokenizer_or_classes,
    seed: int = 42,
    max_questions: int = 30,
    mask_ratio: float = 0.15,
    max_span_length: int = 10,
    cluster_order: str = "longest",
    num_proc: int | None = None,
    batch_size: int = 256,
    debug: bool = False,
):
    """Apply `RecurringSpanMasker` to a passages `Dataset` (cached, `num_proc` workers) or
    `IterableDataset` (lazily; indices then count the passages of the stream, which is deterministic
    for a given list of sources and number of data-loader workers)."""
    import datasets

    classes = (
        tokenizer_or_classes
        if isinstance(tokenizer_or_classes, TokenClasses)
        else TokenClasses.from_tokenizer(tokenizer_or_classes)
    )
    masker = RecurringSpanMasker(
        classes, seed, max_questions, mask_ratio, max_span_length, cluster_order, debug
    )
    kwargs = dict(
        with_indices=True,
        batched=True,
        batch_size=batch_size,
        remove_columns=list(passages.column_names or ["input_ids"]),
        features=pretraining_features(debug),
    )
    if isinstance(passages, datasets.IterableDataset):
        return passages.map(masker, **kwargs)
    return passages.map(masker, num_proc=num_proc, desc="Masking recurring spans", **kwargs)


# ---------------------------------------------------------------------------------------------------
# Statistics


def span_statistics(dataset, max_rows: int | None = None) -> dict:
    """Passages, questions per passage (mean, histogram), span lengths (histogram), the fraction of
    passages without a question, and passage lengths after masking. Works on a `Dataset` (all rows,
    via Arrow) or any iterable of rows (the first `max_rows`, e.g. of a streaming dataset)."""
    import datasets

    questions: list[np.ndarray] = []
    spans: list[np.ndarray] = []
    lengths: list[np.ndarray] = []
    if isinstance(dataset, datasets.Dataset):
        import pyarrow.compute as pc

        table = dataset.with_format("arrow")
        stop = len(dataset) if max_rows is None else min(max_rows, len(dataset))
        for begin in range(0, stop, 10_000):
            part = table[begin : min(stop, begin + 10_000)]
            questions.append(pc.list_value_length(part["question_positions"]).to_numpy())
            lengths.append(pc.list_value_length(part["input_ids"]).to_numpy())
            starts = pc.list_flatten(part["start_positions"]).to_numpy()
            ends = pc.list_flatten(part["end_positions"]).to_numpy()
            spans.append(ends - starts + 1)
    else:
        q, s, lens = [], [], []
        for i, row in enumerate(dataset):
            if max_rows is not None and i >= max_rows:
                break
            q.append(len(row["question_positions"]))
            lens.append(len(row["input_ids"]))
            s.extend(int(e) - int(b) + 1 for b, e in zip(row["start_positions"], row["end_positions"], strict=True))
        questions, spans, lengths = [np.array(q, int)], [np.array(s, int)], [np.array(lens, int)]
    q = np.concatenate(questions) if questions else np.zeros(0, int)
    s = np.concatenate(spans) if spans else np.zeros(0, int)
    ln = np.concatenate(lengths) if lengths else np.zeros(0, int)
    passages = int(len(q))

    def histogram(values: np.ndarray) -> dict[str, int]:
        keys, counts = np.unique(values, return_counts=True)
        return {str(int(k)): int(c) for k, c in zip(keys, counts, strict=True)}

    return {
        "passages": passages,
        "questions": int(q.sum()),
        "questions_per_passage_mean": float(q.mean()) if passages else 0.0,
        "questions_per_passage_hist": histogram(q),
        "zero_question_fraction": float((q == 0).mean()) if passages else 0.0,
        "span_length_mean": float(s.mean()) if len(s) else 0.0,
        "span_length_hist": histogram(s),
        "passage_length_mean": float(ln.mean()) if passages else 0.0,
    }


def format_statistics(stats: dict) -> str:
    return (
        f"recurring spans: {stats['passages']} passages, {stats['questions']} questions "
        f"({stats['questions_per_passage_mean']:.2f} per passage, "
        f"{100 * stats['zero_question_fraction']:.1f}% of passages without any), "
        f"mean span length {stats['span_length_mean']:.2f}, "
        f"mean passage length {stats['passage_length_mean']:.1f}; "
        f"questions/passage {stats['questions_per_passage_hist']}; span lengths {stats['span_length_hist']}"
    )


def save_statistics(stats: dict, path: str | os.PathLike) -> None:
    """Write `stats` (from `span_statistics`) as JSON, creating the parent directory."""
    from splinter.files import atomic_write

    with atomic_write(path) as file:  # never a truncated statistics file
        file.write((json.dumps(stats, indent=2, sort_keys=True) + "\n").encode("utf-8"))
