"""The transformers-based reference pipeline the benchmark compares against (bench only: the package
never imports transformers).

It does what `transformers`' `examples/pytorch/question-answering/run_qa.py` does, rewritten here:

* `prepare_validation_features`: the fast tokenizer with ``truncation="only_second"``,
  ``max_length=384``, ``stride=128`` (run_qa's meaning: 128 tokens of OVERLAP between windows),
  ``return_overflowing_tokens``, ``return_offsets_mapping``, ``padding="max_length"``; offsets of
  non-context tokens set to None; one ``example_id`` per window; run through ``Dataset.map(batched=True)``.
* `postprocess_qa_predictions`: the Python n-best loop of run_qa's ``utils_qa.py``: per question, per
  window, ``np.argsort`` the start and end logits, try the ``n_best × n_best`` pairs in Python, sort the
  candidates, slice the answer texts, softmax the n-best scores, keep an n-best list per question.
* the model: ``transformers.SplinterForQuestionAnswering`` (eager attention: transformers' Splinter
  supports no other), fed windows padded to 384 tokens, as ``padding="max_length"`` gives.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np


def hf_tokenizer(directory: str):
    from transformers import SplinterTokenizerFast

    return SplinterTokenizerFast.from_pretrained(directory)


def hf_model(directory: str):
    from transformers import SplinterForQuestionAnswering

    return SplinterForQuestionAnswering.from_pretrained(directory)


def prepare_validation_features(examples: dict, tokenizer, max_length: int = 384, stride: int = 128) -> dict:
    """run_qa.py's validation preprocessing (batched map function)."""
    questions = [q.lstrip() for q in examples["question"]]
    encoded = tokenizer(
        questions,
        examples["context"],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    sample_mapping = encoded.pop("overflow_to_sample_mapping")
    encoded["example_id"] = []
    for i in range(len(encoded["input_ids"])):
        sequence_ids = encoded.sequence_ids(i)
        encoded["example_id"].append(examples["id"][sample_mapping[i]])
        encoded["offset_mapping"][i] = [
            offset if sequence_ids[k] == 1 else None for k, offset in enumerate(encoded["offset_mapping"][i])
        ]
    return encoded


def postprocess_qa_predictions(
    examples,
    features,
    predictions: tuple[np.ndarray, np.ndarray],
    n_best_size: int = 20,
    max_answer_length: int = 10,
) -> dict[str, str]:
    """run_qa.py's SQuAD v1 post-processing: question id → best answer text (n-best lists built too)."""
    all_start_logits, all_end_logits = predictions
    example_id_to_index = {k: i for i, k in enumerate(examples["id"])}
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):  # row by row, as run_qa iterates the features Dataset
        features_per_example[example_id_to_index[feature["example_id"]]].append(i)

    all_predictions: dict[str, str] = collections.OrderedDict()
    all_nbest: dict[str, list] = collections.OrderedDict()
    for example_index, example in enumerate(examples):
        candidates = []
        for feature_index in features_per_example[example_index]:
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            offset_mapping = features[feature_index]["offset_mapping"]
            start_indexes = np.argsort(start_logits)[-1 : -n_best_size - 1 : -1].tolist()
            end_indexes = np.argsort(end_logits)[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if (
                        start_index >= len(offset_mapping)
                        or end_index >= len(offset_mapping)
                        or offset_mapping[start_index] is None
                        or offset_mapping[end_index] is None
                    ):
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    candidates.append({
                        "offsets": (offset_mapping[start_index][0], offset_mapping[end_index][1]),
                        "score": start_logits[start_index] + end_logits[end_index],
                        "start_logit": start_logits[start_index],
                        "end_logit": end_logits[end_index],
                    })
        best = sorted(candidates, key=lambda x: x["score"], reverse=True)[:n_best_size]
        context = example["context"]
        for candidate in best:
            start, end = candidate.pop("offsets")
            candidate["text"] = context[start:end]
        if not best or (len(best) == 1 and best[0]["text"] == ""):
            best.insert(0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0})
        scores = np.array([candidate.pop("score") for candidate in best])
        exp_scores = np.exp(scores - np.max(scores))
        for probability, candidate in zip(exp_scores / exp_scores.sum(), best, strict=True):
            candidate["probability"] = probability
        all_predictions[example["id"]] = best[0]["text"]
        all_nbest[example["id"]] = [
            {k: (float(v) if isinstance(v, (np.float16, np.float32, np.float64)) else v) for k, v in c.items()}
            for c in best
        ]
    return all_predictions


def python_nbest_decode(
    example_ids: Sequence[str],
    contexts: dict[str, str],
    offsets: Sequence[Sequence],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best_size: int = 20,
    max_answer_length: int = 10,
) -> dict[str, str]:
    """The same loop over plain Python inputs (no Dataset rows), for the decoding-only comparison:
    ``offsets`` per window with None for non-context tokens, logits [N, L] numpy."""
    features = [{"example_id": e, "offset_mapping": o} for e, o in zip(example_ids, offsets, strict=True)]
    order = list(dict.fromkeys(example_ids))
    examples = _Rows({"id": order, "context": [contexts[e] for e in order]})
    return postprocess_qa_predictions(examples, features, (start_logits, end_logits), n_best_size,
                                      max_answer_length)


class _Rows:
    """Column dict that iterates as rows, the way a datasets.Dataset does."""

    def __init__(self, columns: dict[str, list]):
        self.columns = columns

    def __getitem__(self, key):
        return self.columns[key]

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __iter__(self):
        names = list(self.columns)
        for values in zip(*(self.columns[n] for n in names), strict=True):
            yield dict(zip(names, values, strict=True))
