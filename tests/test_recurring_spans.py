"""Recurring span selection (docs/protocol.md §5): toy passages with exact outputs, properties on the shipped
text sample (checked against an independent brute-force search), determinism, statistics."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from splinter.pretraining.corpus import load_passages
from splinter.pretraining.recurring_spans import (
    ENGLISH_STOPWORDS,
    TokenClasses,
    find_recurring_clusters,
    mask_passages,
    mask_recurring_spans,
    question_budget,
    save_statistics,
    span_statistics,
)
from splinter.tokenization.tokenizer import load_tokenizer

SAMPLE = Path(__file__).parent / "fixtures" / "pretrain" / "sample.txt"


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer("minilm")


@pytest.fixture(scope="module")
def classes(tokenizer):
    return TokenClasses.from_tokenizer(tokenizer)


@pytest.fixture(scope="module")
def passages(tokenizer, tmp_path_factory):
    cache = tmp_path_factory.mktemp("hf-cache")
    return load_passages(str(SAMPLE), tokenizer, max_seq_length=256, cache_dir=str(cache))


@pytest.fixture(scope="module")
def masked(passages, tokenizer):
    return mask_passages(passages, tokenizer, seed=7, debug=True)


class FixedChoice:
    """A stand-in for numpy's Generator: always picks occurrence `which` (0 first, -1 last)."""

    def __init__(self, which: int):
        self.which = which

    def integers(self, n):
        return self.which % n

    def permutation(self, n):
        return np.arange(n)


def ids_of(tokenizer, text: str) -> list[int]:
    ids = []
    for token in text.split():
        index = tokenizer.token_to_id(token)
        assert index is not None, f"{token!r} is not in the vocabulary"
        ids.append(index)
    return ids


def tokens_of(tokenizer, ids) -> list[str]:
    return [tokenizer.id_to_token(i) for i in ids]


# ---------------------------------------------------------------------------------------------------
# Toy passages with exact expected outputs

TOY = "[CLS] new york is big . he loves new york and paris . paris is far [SEP]"


def test_toy_passage_first_occurrence_kept(tokenizer, classes):
    ids = ids_of(tokenizer, TOY)
    out = mask_recurring_spans(ids, classes, FixedChoice(0))
    assert " ".join(tokens_of(tokenizer, out.input_ids)) == (
        "[CLS] new york is big . he loves [QUESTION] and paris . [QUESTION] is far [SEP]"
    )
    assert out.question_positions == [8, 12]
    assert out.start_positions == [1, 10]
    assert out.end_positions == [2, 10]
    assert out.masked_spans == [[8, 9], [13, 13]]
    assert out.answer_spans == [[1, 2], [11, 11]]


def test_toy_passage_labels_shift_after_removal(tokenizer, classes):
    ids = ids_of(tokenizer, TOY)
    out = mask_recurring_spans(ids, classes, FixedChoice(-1))
    assert " ".join(tokens_of(tokenizer, out.input_ids)) == (
        "[CLS] [QUESTION] is big . he loves new york and [QUESTION] . paris is far [SEP]"
    )
    # "new york" (2 pieces) became one token before the answer: its labels moved left by one
    assert out.question_positions == [1, 10]
    assert out.start_positions == [7, 12]
    assert out.end_positions == [8, 12]


def test_whole_words_only(tokenizer, classes):
    # "play ##ing cards" recurs; "play" alone ends a word only once; "##ing cards" starts mid-word
    ids = ids_of(tokenizer, "[CLS] play ##ing cards . play ##ing cards . play ball [SEP]")
    assert [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)] == [(3, [1, 5])]
    # "play" is followed by "##ing" in two occurrences: no unigram cluster "play"
    ids = ids_of(tokenizer, "[CLS] play ##ing home , play ##s home , play ball [SEP]")
    clusters = [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)]
    assert clusters == [(1, [3, 7])]  # only "home"


def test_punctuation_and_stopwords_excluded(tokenizer, classes):
    assert find_recurring_clusters(ids_of(tokenizer, "[CLS] of the , of the , of the [SEP]"), classes) == []
    ids = ids_of(tokenizer, "[CLS] u . s . army and u . s . army [SEP]")
    # "u . s . army" contains punctuation and "s" is a stopword: "u" and "army" remain
    assert [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)] == [(1, [1, 7]), (1, [5, 11])]
    # a span may contain stopwords as long as one word is not one
    ids = ids_of(tokenizer, "[CLS] in the city we met , in the city [SEP]")
    assert [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)] == [(3, [1, 7])]


def test_overlapping_occurrences_within_a_cluster(tokenizer, classes):
    ids = ids_of(tokenizer, "[CLS] moon moon moon moon [SEP]")
    # "moon moon" at 1, 2, 3: taken left to right without overlap → 1 and 3; nothing else remains
    assert [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)] == [(2, [1, 3])]


def test_budget_counts_questions_and_takes_longest_first(tokenizer, classes):
    words = "apple banana cherry lemon mango olive peach grape bread plum".split()
    ids = ids_of(tokenizer, "[CLS] " + " ".join(words + words[::-1]) + " [SEP]")
    assert question_budget(len(ids)) == 3 == round(0.15 * 22)
    out = mask_recurring_spans(ids, classes, FixedChoice(0))
    assert len(out.question_positions) == 3
    # all clusters have length 1: ties go to the earliest first occurrence
    answers = sorted(tokenizer.id_to_token(ids[s]) for s, _ in out.answer_spans)
    assert answers == ["apple", "banana", "cherry"]
    # a longer recurring span wins over the unigrams it contains
    ids = ids_of(tokenizer, "[CLS] apple banana cherry lemon mango olive . apple banana cherry . lemon mango olive [SEP]")
    out = mask_recurring_spans(ids, classes, FixedChoice(0))
    assert [e - s + 1 for s, e in out.masked_spans] == [3, 3]


def test_cluster_that_exceeds_the_budget_is_skipped_whole(tokenizer, classes):
    ids = ids_of(tokenizer, "[CLS] apple river apple stone apple cloud apple banana cherry cherry banana [SEP]")
    assert question_budget(len(ids)) == 2
    out = mask_recurring_spans(ids, classes, FixedChoice(0))
    masked = sorted(tokenizer.id_to_token(ids[s]) for s, _ in out.masked_spans)
    assert masked == ["banana", "cherry"]  # apple (4 occurrences = 3 questions) does not fit
    assert tokens_of(tokenizer, out.input_ids).count("apple") == 4


def test_max_questions_caps_the_count(tokenizer, classes):
    words = "apple banana cherry lemon mango olive peach grape bread plum".split()
    ids = ids_of(tokenizer, "[CLS] " + " ".join(words + words[::-1]) + " [SEP]")
    out = mask_recurring_spans(ids, classes, FixedChoice(0), max_questions=2)
    assert len(out.question_positions) == 2


def test_random_cluster_order_is_an_option(tokenizer, classes):
    words = "apple banana cherry lemon mango olive peach grape bread plum".split()
    ids = ids_of(tokenizer, "[CLS] " + " ".join(words + words[::-1]) + " [SEP]")
    chosen = set()
    for seed in range(8):
        out = mask_recurring_spans(ids, classes, np.random.default_rng(seed), cluster_order="random")
        assert len(out.question_positions) == 3
        chosen.add(tuple(sorted(ids[s] for s, _ in out.answer_spans)))
    assert len(chosen) > 1
    with pytest.raises(ValueError):
        mask_recurring_spans(ids, classes, np.random.default_rng(0), cluster_order="shortest")


def test_stopword_list(classes, tokenizer):
    assert {"the", "a", "of", "and", "also", "would"} <= ENGLISH_STOPWORDS
    assert classes.stopword[tokenizer.token_to_id("the")]
    assert not classes.stopword[tokenizer.token_to_id("##s")]  # "s" is a stopword, the piece is not
    assert classes.continuation[tokenizer.token_to_id("##s")] and not classes.invalid[tokenizer.token_to_id("##s")]
    assert classes.invalid[tokenizer.token_to_id(",")] and classes.invalid[tokenizer.token_to_id("[CLS]")]
    assert classes.invalid[tokenizer.token_to_id("[QUESTION]")] and classes.invalid[tokenizer.token_to_id("[UNK]")]
    assert not classes.invalid[tokenizer.token_to_id("paris")]


# ---------------------------------------------------------------------------------------------------
# Properties on the shipped sample


def brute_force_clusters(ids, tokens, max_len=10):
    """Independent reference: count every n-gram with a dict, filter, then greedy longest-first."""

    def is_piece(t):
        return t.startswith("##")

    def ok_token(t):
        if t.startswith("[") and t.endswith("]"):
            return False
        return (t[2:] if is_piece(t) else t).isalnum()

    found = []
    for k in range(max_len, 0, -1):
        where = defaultdict(list)
        for i in range(len(ids) - k + 1):
            where[tuple(ids[i : i + k])].append(i)
        for starts in where.values():
            toks = tokens[starts[0] : starts[0] + k]
            if is_piece(toks[0]) or not all(ok_token(t) for t in toks):
                continue
            if all((not is_piece(t)) and t.lower() in ENGLISH_STOPWORDS for t in toks):
                continue
            starts = [s for s in starts if s + k >= len(ids) or not is_piece(tokens[s + k])]
            if len(starts) >= 2:
                found.append((k, starts))
    found.sort(key=lambda c: (-c[0], c[1][0]))
    taken = [False] * len(ids)
    result = []
    for k, starts in found:
        kept = []
        for s in starts:
            if any(taken[s : s + k]) or (kept and s <= kept[-1] + k - 1):
                continue
            kept.append(s)
        if len(kept) >= 2:
            for s in kept:
                taken[s : s + k] = [True] * k
            result.append((k, kept))
    return result


def test_clusters_match_brute_force_on_sample(passages, classes, tokenizer):
    total = 0
    for ids in passages["input_ids"]:
        expected = brute_force_clusters(ids, tokens_of(tokenizer, ids))
        got = [(c.length, c.starts) for c in find_recurring_clusters(ids, classes)]
        assert got == expected
        total += len(got)
    assert total > 50


def test_sample_questions_are_well_formed(masked, tokenizer, classes):
    question_id = tokenizer.token_to_id("[QUESTION]")
    num_questions = 0
    for row in masked:
        source, ids = row["source_ids"], row["input_ids"]
        positions, starts, ends = row["question_positions"], row["start_positions"], row["end_positions"]
        assert len(positions) == len(starts) == len(ends) == len(row["masked_spans"])
        assert len(positions) <= min(30, round(0.15 * len(source)))
        assert positions == sorted(set(positions))
        assert [i for i, t in enumerate(ids) if t == question_id] == positions
        assert ids[0] == source[0] and ids[-1] == source[-1]
        num_questions += len(positions)
        for s, e, (ms, me), (a_s, a_e) in zip(starts, ends, row["masked_spans"], row["answer_spans"], strict=True):
            masked_span = source[ms : me + 1]
            # the label points at an occurrence equal to the masked span, in the final sequence
            assert ids[s : e + 1] == masked_span == source[a_s : a_e + 1]
            assert 0 < s <= e < len(ids) - 1 and e - s < 10
            assert question_id not in ids[s : e + 1]  # no answer overlaps a question
            span_tokens = tokens_of(tokenizer, masked_span)
            assert not span_tokens[0].startswith("##")
            assert me + 1 >= len(source) or not tokenizer.id_to_token(source[me + 1]).startswith("##")
            assert a_e + 1 >= len(source) or not tokenizer.id_to_token(source[a_e + 1]).startswith("##")
            assert not any(classes.invalid[t] for t in masked_span)  # no punctuation
            assert not all(t in ENGLISH_STOPWORDS for t in span_tokens)
        # spans in the source: masked ones are pairwise disjoint and disjoint from every answer
        covered = set()
        for ms, me in row["masked_spans"]:
            cells = set(range(ms, me + 1))
            assert not cells & covered
            covered |= cells
        answers = {tuple(a) for a in row["answer_spans"]}
        answer_cells = [set(range(a, b + 1)) for a, b in answers]
        for i, cells in enumerate(answer_cells):
            assert not cells & covered
            for other in answer_cells[i + 1 :]:
                assert not cells & other
    assert num_questions > 100


def test_reinserting_masked_spans_restores_the_passage(masked):
    for row in masked:
        rebuilt, spans = [], dict(zip(row["question_positions"], row["masked_spans"], strict=True))
        for i, token in enumerate(row["input_ids"]):
            if i in spans:
                ms, me = spans[i]
                rebuilt.extend(row["source_ids"][ms : me + 1])
            else:
                rebuilt.append(token)
        assert rebuilt == row["source_ids"]


def test_greedy_budget_matches_clusters(masked, classes):
    """With the default order, the questions are exactly the longest-first clusters that fit."""
    for row in masked:
        source = row["source_ids"]
        budget = question_budget(len(source))
        expected = []
        for c in find_recurring_clusters(source, classes):
            if len(c.starts) - 1 <= budget:
                budget -= len(c.starts) - 1
                expected.extend((s, c.length) for s in c.starts)
            if budget == 0:
                break
        chosen = {(ms, me - ms + 1) for ms, me in row["masked_spans"]}
        chosen |= {(a, b - a + 1) for a, b in row["answer_spans"]}
        assert chosen == set(expected)


def test_deterministic_per_seed_and_independent_of_processes(passages, tokenizer, masked):
    again = mask_passages(passages, tokenizer, seed=7, debug=True)
    assert again[:] == masked[:]
    np.random.seed(123)  # the global RNG plays no part
    two_procs = mask_passages(passages, tokenizer, seed=7, debug=True, num_proc=2, batch_size=4)
    assert two_procs[:] == masked[:]
    other = mask_passages(passages, tokenizer, seed=8, debug=True)
    assert other["input_ids"] != masked["input_ids"]
    # the seed changes which occurrence is kept, never which spans recur
    for a, b in zip(other, masked, strict=True):
        spans_a = {tuple(s) for s in a["masked_spans"] + a["answer_spans"]}
        spans_b = {tuple(s) for s in b["masked_spans"] + b["answer_spans"]}
        assert spans_a == spans_b


def test_each_passage_has_its_own_generator(masked, classes):
    """The rng of passage i is numpy's default_rng([seed, i]): independent of order and processes."""
    for index, row in enumerate(masked):
        expected = mask_recurring_spans(row["source_ids"], classes, np.random.default_rng([7, index]))
        assert expected.input_ids == row["input_ids"]
        assert expected.start_positions == row["start_positions"]
    # the same passage at another index gets other answers (many clusters: a clash is unlikely)
    row = max(masked, key=lambda r: len(r["question_positions"]))
    outputs = {
        tuple(mask_recurring_spans(row["source_ids"], classes, np.random.default_rng([7, i])).input_ids)
        for i in range(4)
    }
    assert len(outputs) > 1


def test_mapping_is_cached(passages, tokenizer, masked):
    assert masked.cache_files and passages.cache_files
    again = mask_passages(passages, tokenizer, seed=7, debug=True)
    assert again.cache_files == masked.cache_files
    other = mask_passages(passages, tokenizer, seed=9, debug=True)
    assert other.cache_files != masked.cache_files


def test_statistics(masked, tmp_path):
    stats = span_statistics(masked)
    rows = list(masked)
    counts = [len(r["question_positions"]) for r in rows]
    assert stats["passages"] == len(rows)
    assert stats["questions"] == sum(counts)
    assert stats["questions_per_passage_mean"] == pytest.approx(np.mean(counts))
    assert sum(stats["questions_per_passage_hist"].values()) == len(rows)
    assert stats["zero_question_fraction"] == pytest.approx(np.mean([c == 0 for c in counts]))
    lengths = [e - s + 1 for r in rows for s, e in zip(r["start_positions"], r["end_positions"], strict=True)]
    assert stats["span_length_hist"] == {str(k): lengths.count(k) for k in sorted(set(lengths))}
    assert stats == span_statistics(rows)  # the row-iterating path (streaming) agrees
    path = tmp_path / "stats" / "spans.json"
    save_statistics(stats, path)
    assert json.loads(path.read_text()) == stats
