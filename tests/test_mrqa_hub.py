"""The MRQA dev sets from the Hub, offline: a local copy of `mrqa-workshop/mrqa` (Parquet with the Hub's
columns, built here from the shipped MRQA SQuAD dev fixture the way the Hub's converter built it)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from datasets import Dataset, Features, Sequence, Value

from splinter.data.formats import mrqa_hub
from splinter.data.formats.readers import read_examples
from splinter.data.release.download import main
from splinter.errors import DataError

DEV_FIXTURE = Path(__file__).resolve().parent / "fixtures" / "root" / "mrqa-dev" / "SQuAD.jsonl.gz"

SPANS = Sequence({"start": Value("int32"), "end": Value("int32")})
TOKENS = Sequence({"tokens": Value("string"), "offsets": Value("int32")})
HUB_FEATURES = Features({
    "subset": Value("string"),
    "context": Value("string"),
    "context_tokens": TOKENS,
    "qid": Value("string"),
    "question": Value("string"),
    "question_tokens": TOKENS,
    "detected_answers": Sequence({"text": Value("string"), "char_spans": SPANS, "token_spans": SPANS}),
    "answers": Sequence(Value("string")),
})


def fixture_records() -> list[dict]:
    with gzip.open(DEV_FIXTURE, "rt", encoding="utf-8") as f:
        records = [json.loads(line) for line in f][1:]
    # one context that starts with whitespace, like one real SQuAD dev context: its offsets count the space
    first = json.loads(json.dumps(records[0]))
    first["context"] = "  " + first["context"]
    for qa in first["qas"]:
        qa["qid"] = qa["id"] = "spaced-" + qa["id"]
        for answer in qa["detected_answers"]:
            answer["char_spans"] = [[s + 2, e + 2] for s, e in answer["char_spans"]]
    return [*records, first]  # last: stripped, it equals the first context, which must not be adjacent


def hub_rows(records: list[dict], subset: str) -> dict:
    """MRQA records → the Hub's columns, one row per question, as its converter made them: stripped
    context and question, original offsets, sequences of dicts stored as dicts of lists."""
    rows = []
    for record in records:
        tokens = record.get("context_tokens") or [[w, i] for i, w in _words(record["context"])]
        for qa in record["qas"]:
            rows.append({
                "subset": subset,
                "context": record["context"].strip(),
                "context_tokens": {"tokens": [t for t, _ in tokens], "offsets": [o for _, o in tokens]},
                "qid": qa["qid"],
                "question": qa["question"].strip(),
                "question_tokens": {"tokens": [], "offsets": []},
                "detected_answers": {
                    "text": [a["text"].strip() for a in qa["detected_answers"]],
                    "char_spans": [{"start": [s for s, _ in a["char_spans"]], "end": [e for _, e in a["char_spans"]]}
                                   for a in qa["detected_answers"]],
                    "token_spans": [{"start": [], "end": []} for _ in qa["detected_answers"]],
                },
                "answers": qa["answers"],
            })
    return {key: [row[key] for row in rows] for key in HUB_FEATURES}


def _words(text: str):
    start = None
    for i, char in enumerate(text + " "):
        if char.isspace() and start is not None:
            yield start, text[start:i]
            start = None
        elif not char.isspace() and start is None:
            start = i


@pytest.fixture(scope="module")
def hub_copy(tmp_path_factory) -> Path:
    """A local copy of the Hub repository: validation holds SQuAD, test holds the same rows as 'BioASQ'."""
    folder = tmp_path_factory.mktemp("mrqa-hub")
    records = fixture_records()
    for split, subset in (("validation", "SQuAD"), ("test", "BioASQ")):
        path = folder / "plain_text" / f"{split}-00000-of-00001.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        Dataset.from_dict(hub_rows(records, subset), features=HUB_FEATURES).to_parquet(str(path))
    return folder


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("datasets-cache"))


def test_parse_source():
    assert mrqa_hub.parse_source("mrqa-workshop/mrqa:SQuAD") == ("validation", "SQuAD")
    assert mrqa_hub.parse_source("mrqa-workshop/mrqa:DuoRC.ParaphraseRC") == ("test", "DuoRC.ParaphraseRC")
    assert mrqa_hub.parse_source("mrqa:train:SQuAD") == ("train", "SQuAD")
    assert mrqa_hub.parse_source("squad:validation") is None
    with pytest.raises(ValueError, match=r"expected mrqa-workshop/mrqa:<Subset> \(valid: SQuAD, NewsQA,"):
        mrqa_hub.parse_source("mrqa-workshop/mrqa:Squad")


def test_hub_rows_become_the_mrqa_records_again(hub_copy, cache):
    rows = mrqa_hub.load_split("validation", source=str(hub_copy), cache_dir=cache)
    assert len(rows) == sum(len(r["qas"]) for r in fixture_records())
    records = list(mrqa_hub.context_records(rows))
    originals = fixture_records()
    assert len(records) == len(originals)
    for record, original in zip(records, originals, strict=True):
        assert record["context"] == original["context"].strip()
        assert [qa["qid"] for qa in record["qas"]] == [qa["qid"] for qa in original["qas"]]
        for qa, original_qa in zip(record["qas"], original["qas"], strict=True):
            # every span slices the same text out of the stripped context as out of the original one
            for answer, original_answer in zip(qa["detected_answers"], original_qa["detected_answers"], strict=True):
                ours = [record["context"][s:e + 1] for s, e in answer["char_spans"]]
                theirs = [original["context"][s:e + 1] for s, e in original_answer["char_spans"]]
                assert ours == theirs and all(ours)


def test_written_file_reads_like_the_original(hub_copy, cache, tmp_path):
    rows = mrqa_hub.select_subset(mrqa_hub.load_split("test", source=str(hub_copy), cache_dir=cache), "BioASQ")
    out = tmp_path / "mrqa-dev" / "BioASQ.jsonl.gz"
    assert mrqa_hub.write_mrqa_file(rows, out, "BioASQ", "test") == len(rows)
    with gzip.open(out, "rt", encoding="utf-8") as f:
        assert json.loads(f.readline()) == {"header": {"dataset": "BioASQ", "split": "dev"}}
    original = tmp_path / "original.jsonl"
    original.write_text("".join(json.dumps(r) + "\n" for r in fixture_records()))
    ours, summary = read_examples(out, training=True, cache_dir=cache)
    theirs, _ = read_examples(original, training=True, cache_dir=cache)
    assert summary.skipped == {}
    for column in ("answer_texts", "gold_answers"):
        assert ours[column] == theirs[column]
    assert ours["question"] == [q.strip() for q in theirs["question"]]  # the Hub's converter stripped them
    assert ours["id"] == [qa["qid"] for r in fixture_records() for qa in r["qas"]]  # the Hub keeps only qid
    # the answer starts move with the stripped whitespace (2 characters in the first context)
    shift = [2 if qid.startswith("spaced-") else 0 for qid in theirs["id"]]
    assert ours["answer_starts"] == [[s - d for s in starts] for starts, d in zip(theirs["answer_starts"], shift,
                                                                                    strict=True)]
    again = tmp_path / "again.jsonl.gz"
    mrqa_hub.write_mrqa_file(rows, again, "BioASQ", "test")
    assert again.read_bytes() == out.read_bytes()  # reproducible bytes: the manifest hash is stable


def test_reader_takes_hub_sources(hub_copy, cache, monkeypatch):
    loaded = []

    load_split = mrqa_hub.load_split

    def local(split, *, source=mrqa_hub.HUB_ID, cache_dir=None):  # the loader, pointed at the local copy
        loaded.append((split, source))
        return load_split(split, source=str(hub_copy), cache_dir=cache_dir)

    monkeypatch.setattr(mrqa_hub, "load_split", local)
    examples, summary = read_examples("mrqa-workshop/mrqa:SQuAD", training=False, cache_dir=cache)
    reference, _ = read_examples(DEV_FIXTURE, training=False, cache_dir=cache)
    assert summary.name == "mrqa:SQuAD" and loaded == [("validation", mrqa_hub.HUB_ID)]
    assert len(examples) == len(reference) + len(fixture_records()[0]["qas"])
    assert examples["gold_answers"][:len(reference)] == reference["gold_answers"]
    examples, _ = read_examples("mrqa-workshop/mrqa:test:BioASQ", training=False, cache_dir=cache)
    assert loaded[-1] == ("test", mrqa_hub.HUB_ID) and len(examples) > 0
    with pytest.raises(DataError, match=r"^mrqa-workshop/mrqa:test:DROP: no rows with subset 'DROP' in split 'test'$"):
        read_examples("mrqa-workshop/mrqa:test:DROP", training=False, cache_dir=cache)


def test_reader_offline_is_one_line(cache):
    with pytest.raises(DataError) as info:
        read_examples("mrqa-workshop/mrqa:DROP", training=False, cache_dir=cache)
    message = str(info.value)
    assert message.startswith("mrqa-workshop/mrqa:DROP: loading the Hub dataset failed (offline: ")
    assert message.endswith("(or install the dev sets with `python -m splinter.download`)") and "\n" not in message


def test_download_writes_the_dev_sets_and_skips_them_next_time(hub_copy, tmp_path, capsys):
    args = ["--root", str(tmp_path), "--no-splits", "--mrqa-source", str(hub_copy), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    questions = sum(len(r["qas"]) for r in fixture_records())
    assert f"mrqa-dev/SQuAD.jsonl.gz: {questions} questions" in out
    assert f"mrqa-dev/BioASQ.jsonl.gz: {questions} questions" in out
    assert (f"not in {hub_copy}: NewsQA, TriviaQA-web, SearchQA, HotpotQA, NaturalQuestionsShort, DROP, "
            "DuoRC.ParaphraseRC, RACE, RelationExtraction, TextbookQA") in out
    listed = {f["file"] for f in json.loads((tmp_path / "MANIFEST.json").read_text())["files"]}
    assert listed == {"mrqa-dev/SQuAD.jsonl.gz", "mrqa-dev/BioASQ.jsonl.gz"}
    # a second call: the two present files verify; only the absent ten are looked for again
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "mrqa-dev/SQuAD.jsonl.gz:" not in out and "not in" in out
