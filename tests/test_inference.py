"""QuestionAnswerer and predict.py: the same answers as evaluation, n-best lists, inputs, errors, files."""

from __future__ import annotations

import gzip
import json

import pytest
import torch
from run_helpers import FIXTURE_ROOT, REPO, compose_config, run_cli, run_train
from tiny_config import TINY, perturbed

from splinter.data.formats.readers import read_examples
from splinter.data.questions import read_questions
from splinter.data.windows import WindowSettings
from splinter.errors import ConfigError, DataError
from splinter.model.config import SplinterConfig
from splinter.model.qa import SplinterForQuestionAnswering
from splinter.qa.answerer import DecodingSettings, InputError, QuestionAnswerer
from splinter.tokenization.tokenizer import load_tokenizer

DEV = FIXTURE_ROOT / "mrqa-dev" / "SQuAD.jsonl.gz"
HAMLET = "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601."


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny fine-tuning run (max_seq_length 128, doc_stride 64, 40 dev questions) and its predictions."""
    out = tmp_path_factory.mktemp("trained")
    run_train(out)
    return out, json.loads((out / "predictions.json").read_text())


@pytest.fixture(scope="module")
def dev_questions():
    examples, _ = read_examples(DEV, training=False)
    return examples.select(range(40)).to_list()


@pytest.fixture(scope="module")
def tiny_answerer():
    torch.manual_seed(0)
    model = SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": 30522, "max_position_embeddings": 512}))
    return QuestionAnswerer(model, load_tokenizer("minilm"), device="cpu")


@pytest.mark.parametrize("source", ["model", "checkpoints/last.ckpt"])
def test_answers_are_evaluations_predictions_for_every_question(trained, dev_questions, source):
    out, predictions = trained
    qa = QuestionAnswerer.from_pretrained(out / source)
    # the run's window settings, not the defaults: they decide which windows exist
    assert (qa.windows.max_seq_length, qa.windows.doc_stride, qa.batch_size) == (128, 64, 32)
    results = qa([{"question": q["question"], "context": q["context"]} for q in dev_questions])
    assert len(predictions) == len(results) == 40
    assert {q["id"]: r["answer"] for q, r in zip(dev_questions, results, strict=True)} == predictions
    for q, r in zip(dev_questions, results, strict=True):
        if r["answer"]:
            assert q["context"][r["start"]:r["end"]] == r["answer"]


def test_the_max_context_rule_matches_evaluation_too(trained, dev_questions, tmp_path):
    out, _ = trained
    from splinter.finetuning.evaluate import run as evaluate_run

    # as on the command line: the key the user set keeps its value, the others come from the run
    evaluate_run(compose_config("evaluate", tmp_path, f"checkpoint={out / 'model'}", "decoding.use_max_context=true"),
                 explicit={"checkpoint", "decoding.use_max_context"})
    expected = json.loads((tmp_path / "predictions.json").read_text())
    qa = QuestionAnswerer.from_pretrained(out / "model", use_max_context=True)
    results = qa(question=[q["question"] for q in dev_questions], context=[q["context"] for q in dev_questions])
    assert {q["id"]: r["answer"] for q, r in zip(dev_questions, results, strict=True)} == expected
    assert expected != trained[1]  # the rule changes some answers here: the comparison means something


def test_n_best_lists_start_with_the_answer_and_hold_distinct_spans(trained, dev_questions):
    out, _ = trained
    qa = QuestionAnswerer.from_pretrained(out / "model")
    pairs = [(q["question"], q["context"]) for q in dev_questions]
    best = qa(question=[q for q, _ in pairs], context=[c for _, c in pairs])
    lists = qa(question=[q for q, _ in pairs], context=[c for _, c in pairs], top_k=5, probability=True)
    for one, many in zip(best, lists, strict=True):
        assert len(many) == 5
        assert {k: many[0][k] for k in one} == one
        assert len({(a["start"], a["end"]) for a in many}) == 5
        assert [a["score"] for a in many] == sorted((a["score"] for a in many), reverse=True)
        probabilities = [a["probability"] for a in many]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-9


def test_one_question_gives_one_dict_and_the_probability_is_a_softmax_over_candidates(tiny_answerer):
    result = tiny_answerer(question="Who wrote Hamlet?", context=HAMLET, probability=True)
    assert set(result) == {"answer", "start", "end", "score", "probability"}
    assert HAMLET[result["start"]:result["end"]] == result["answer"] != ""
    everything = tiny_answerer({"question": "Who wrote Hamlet?", "context": HAMLET}, top_k=10_000, probability=True)
    assert sum(a["probability"] for a in everything) == pytest.approx(1.0)
    assert everything[0] == result


def test_a_long_context_is_cut_into_windows_and_offsets_point_into_it(tiny_answerer):
    context = " ".join(f"word{i}" for i in range(2000))  # ~6,000 tokens: dozens of windows
    result = tiny_answerer(question="Which word?", context=context)
    assert context[result["start"]:result["end"]] == result["answer"] != ""
    assert result["end"] - result["start"] < 200


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda qa: qa(question="", context=HAMLET), "input: empty question"),
        (lambda qa: qa(question="Who?", context=3), "input: context must be a string, got int"),
        (lambda qa: qa([{"question": "Who?", "context": HAMLET}, {"question": "Who?", "context": " \n"}]),
         "input[1]: empty context"),
        (lambda qa: qa(question="Who?", context="\x00\x01"), "input: context has no tokens the model can read"),
        (lambda qa: qa(question=["a", "b"], context=[HAMLET]), "2 questions but 1 contexts"),
        (lambda qa: qa([{"question": "Who?"}]), "input[0]: missing 'context'"),
        (lambda qa: qa(question="Who?", context=HAMLET, top_k=0), "top_k must be None or an integer >= 1, got 0"),
        (lambda qa: qa(), "pass question=... and context=..."),
    ],
)
def test_bad_input_is_one_clear_error(tiny_answerer, call, message):
    with pytest.raises(InputError) as error:
        call(tiny_answerer)
    assert str(error.value).startswith(message)


def test_settings_given_win_over_the_runs_and_unknown_ones_are_refused(trained):
    out, _ = trained
    qa = QuestionAnswerer.from_pretrained(out / "model", doc_stride=32, max_answer_length=5, batch_size=None)
    assert (qa.windows.max_seq_length, qa.windows.doc_stride, qa.decoding.max_answer_length) == (128, 32, 5)
    assert qa.settings_source.endswith("config.yaml")
    with pytest.raises(ConfigError, match="config key 'stride': not a QuestionAnswerer setting"):
        QuestionAnswerer.from_pretrained(out / "model", stride=32)


def test_predict_writes_the_evaluation_answers_with_n_best_lists(trained, dev_questions, tmp_path):
    out, predictions = trained
    lines = [json.dumps({k: q[k] for k in ("id", "question", "context")}) for q in dev_questions]
    lines.insert(3, json.dumps({"id": "empty", "question": "  ", "context": "x"}))
    lines.insert(5, lines[0])  # a duplicate id
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n")
    answers = tmp_path / "out" / "answers.jsonl"
    result = run_cli("predict.py", f"checkpoint={out / 'model'}", f"input={tmp_path / 'questions.jsonl'}",
                     f"output={answers}", "top_k=3", "progress=false", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "answered 40 / 42 questions: skipped 1 duplicate question id, 1 empty question or context" in result.stdout
    written = [json.loads(line) for line in answers.read_text().splitlines()]
    assert [w["id"] for w in written] == [q["id"] for q in dev_questions]
    assert {w["id"]: w["answer"] for w in written} == predictions
    assert all(len(w["n_best"]) == 3 and w["n_best"][0]["answer"] == w["answer"] for w in written)
    assert sorted(p.name for p in answers.parent.iterdir()) == ["answers.jsonl", "answers.jsonl.summary.json"]
    summary = json.loads((answers.parent / "answers.jsonl.summary.json").read_text())
    assert (summary["questions"], summary["answered"]) == (42, 40)


def test_question_files_in_mrqa_format_need_no_answers(tmp_path):
    path = tmp_path / "q.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"header": {"dataset": "x"}}) + "\n")
        f.write(json.dumps({"context": HAMLET, "qas": [{"qid": "m1", "question": "Who?"}, {"id": "m2", "question": "When?"}]}) + "\n")
        f.write(json.dumps({"id": "p1", "question": "What?", "context": HAMLET}) + "\n")
        f.write(json.dumps({"question": "Where?", "context": HAMLET}) + "\n")
    questions, summary = read_questions(path)
    assert [q["id"] for q in questions] == ["m1", "m2", "p1", "4"]  # a missing id is the line number
    assert (summary.kept, summary.total, summary.skipped) == (4, 4, {})


def test_predict_reads_squad_files_without_answers_and_reports_bad_lines(tmp_path):
    squad = {"data": [{"paragraphs": [{"context": HAMLET, "qas": [{"id": "q1", "question": "Who wrote it?"},
                                                                  {"id": "q2", "question": "When?"}]}]}]}
    (tmp_path / "q.json").write_text(json.dumps(squad))
    questions, summary = read_questions(tmp_path / "q.json")
    assert [q["id"] for q in questions] == ["q1", "q2"] and summary.kept == 2
    (tmp_path / "bad.jsonl").write_text('{"id": "a", "question": "Who?", "context": "x"}\n{"id": "b", "question": 5, "context": "x"}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: field 'question' should be str, got int"):
        read_questions(tmp_path / "bad.jsonl")
    result = run_cli("predict.py", "checkpoint=minilm", f"input={tmp_path / 'bad.jsonl'}",
                     f"output={tmp_path / 'a.jsonl'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {tmp_path / 'bad.jsonl'}:2: field 'question' should be str, got int")
    assert not (tmp_path / "a.jsonl").exists()


def test_device_and_dtype_choices(tiny_answerer):
    model, tokenizer = tiny_answerer.model, tiny_answerer.tokenizer
    with pytest.raises(ConfigError, match=r"config key 'dtype': unknown dtype 'int8' \(valid: bf16, bfloat16"):
        QuestionAnswerer(model, tokenizer, dtype="int8")
    with pytest.raises(ConfigError, match="config key 'device': 'gpu' is not a torch device"):
        QuestionAnswerer(model, tokenizer, device="gpu")
    bf16 = QuestionAnswerer(model, tokenizer, device="cpu", dtype="bf16")  # autocast; the weights stay fp32
    assert bf16.dtype == torch.bfloat16 and next(bf16.model.parameters()).dtype == torch.float32
    result = bf16(question="Who wrote Hamlet?", context=HAMLET)
    assert HAMLET[result["start"]:result["end"]] == result["answer"] != ""


def test_an_unknown_hub_id_offline_is_one_line():
    from splinter.errors import CheckpointError

    with pytest.raises(CheckpointError) as error:
        QuestionAnswerer.from_pretrained("no-such-owner/no-such-model")
    assert "\n" not in str(error.value) and "no-such-owner/no-such-model" in str(error.value)


def test_windows_run_longest_first_yet_results_keep_input_order_and_answers(tiny_answerer):
    """Batches of windows sorted by length give, in input order, the answers of unbatched calls."""
    torch.manual_seed(0)  # perturbed: a fresh head scores every span 0, and ties would prove nothing
    model = perturbed(SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": 30522,
                                                                    "max_position_embeddings": 512})))
    tokenizer = tiny_answerer.tokenizer
    assert tiny_answerer.batch_size == 16  # the CPU default (a run's eval_batch_size wins: 32 above)
    windows = WindowSettings(max_seq_length=48, doc_stride=16, max_query_length=16)
    sizes = [3, 120, 8, 1, 60, 15, 200, 5]  # short and multi-window contexts, interleaved
    contexts = [" ".join(f"w{q}x{i}" for i in range(n)) for q, n in enumerate(sizes)]
    questions = [f"Which word of text {q}?" for q in range(len(sizes))]
    sorted_qa = QuestionAnswerer(model, tokenizer, windows=windows, batch_size=3, device="cpu")
    lengths = []
    hook = model.register_forward_pre_hook(lambda _, args, kwargs: lengths.append(
        kwargs["attention_mask"].shape[1]), with_kwargs=True)
    try:
        results = sorted_qa(question=questions, context=contexts, top_k=3)
    finally:
        hook.remove()
    assert len(lengths) > 3 and lengths == sorted(lengths, reverse=True) and lengths[0] > lengths[-1]
    # batch_size=1: every window alone, unpadded, one question per call: nothing to sort
    alone = QuestionAnswerer(model, tokenizer, windows=windows, batch_size=1, device="cpu")
    for question, context, many in zip(questions, contexts, results, strict=True):
        expected = alone(question=question, context=context, top_k=3)
        assert [(a["answer"], a["start"], a["end"]) for a in many] == [
            (a["answer"], a["start"], a["end"]) for a in expected]
        assert [a["score"] for a in many] == pytest.approx([a["score"] for a in expected], abs=1e-4)
        assert all(a["answer"] and context[a["start"]:a["end"]] == a["answer"] for a in many)


def test_question_files_take_integer_ids_as_the_training_readers_do(tmp_path):
    span = {"text": "William Shakespeare", "char_spans": [[31, 49]]}
    qas = [{"id": 7, "question": "Who wrote it?", "answers": [span["text"]], "detected_answers": [span]},
           {"id": "", "qid": 8, "question": "Who?", "answers": [span["text"]], "detected_answers": [span]}]
    path = tmp_path / "ints.jsonl"
    path.write_text(json.dumps({"header": {"dataset": "x"}}) + "\n" + json.dumps({"context": HAMLET, "qas": qas}) + "\n")
    questions, _ = read_questions(path)
    examples, _ = read_examples(path, training=False)
    assert [q["id"] for q in questions] == examples["id"] == ["7", "8"]
    squad = {"data": [{"paragraphs": [{"context": HAMLET, "qas": [{"id": 12, "question": "Who wrote it?"}]}]}]}
    (tmp_path / "ints.json").write_text(json.dumps(squad))
    assert [q["id"] for q in read_questions(tmp_path / "ints.json")[0]] == ["12"]
    (tmp_path / "bool.jsonl").write_text(json.dumps({"context": HAMLET, "qas": [{"id": True, "question": "Who?"}]}) + "\n")
    with pytest.raises(DataError, match=r"bool.jsonl:1: qas\[0\]: field 'id' should be a non-empty string or an "
                                        r"integer, got True"):
        read_questions(tmp_path / "bool.jsonl")


def test_importing_the_answerer_does_not_import_lightning():
    # issue 26: `from splinter import QuestionAnswerer` spent 5 of 8 s importing Lightning
    import subprocess
    import sys

    code = ("import sys; from splinter import QuestionAnswerer; import splinter.qa.serve; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', "
            "'lightning_fabric')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=str(REPO))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_long_context_answers_under_the_max_context_rule_are_those_of_the_windows_by_tokens_table(monkeypatch):
    import numpy as np

    from splinter.data import windows as windows_module

    def table_flags(spans):  # the windows × tokens table max_context_flags built before issue 27
        position = np.arange(spans[-1][1])
        scores = np.full((len(spans), spans[-1][1]), -np.inf)
        for i, (start, end) in enumerate(spans):
            inside = position[start:end]
            scores[i, start:end] = np.minimum(inside - start, end - 1 - inside) + 0.01 * (end - start)
        best = scores.argmax(axis=0)
        return [(best[start:end] == i).astype(np.int8) for i, (start, end) in enumerate(spans)]

    torch.manual_seed(0)
    model = perturbed(SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": 30522,
                                                                     "max_position_embeddings": 512})))
    qa = QuestionAnswerer(model, load_tokenizer("minilm"), windows=WindowSettings(max_seq_length=96, doc_stride=24),
                          decoding=DecodingSettings(use_max_context=True), device="cpu")
    context = " ".join([HAMLET] * 120)  # ~10 KB: ~150 overlapping windows
    questions = ["Who wrote Hamlet?", "When was it written?", "What is Hamlet?"]
    now = qa(question=questions, context=context, top_k=5, probability=True)
    monkeypatch.setattr(windows_module, "max_context_flags", table_flags)
    assert qa(question=questions, context=context, top_k=5, probability=True) == now


def test_a_stream_is_cut_into_chunks_by_context_characters_too(tiny_answerer, monkeypatch):
    from splinter.qa import answerer as inference

    items = [(f"Who wrote part {i}?", " ".join([HAMLET] * (1 + i))) for i in range(6)]
    whole = list(tiny_answerer.answer_stream(items))
    sizes = []
    answer_chunk = tiny_answerer._answer_chunk
    monkeypatch.setattr(tiny_answerer, "_answer_chunk", lambda chunk, *a: sizes.append(len(chunk)) or answer_chunk(chunk, *a))
    monkeypatch.setattr(inference, "CHUNK_CHARS", 3 * len(HAMLET))  # long contexts end a chunk early
    assert list(tiny_answerer.answer_stream(items)) == whole
    assert sizes == [2, 1, 1, 1, 1]
