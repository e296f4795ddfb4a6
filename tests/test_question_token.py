"""The `[QUESTION]` token is defined once (splinter/tokenization/question_token.py), and that is the definition the
tokenizer, the model config and the BERT conversion use."""

from __future__ import annotations

import ast
from pathlib import Path

from tiny_config import TINY

from splinter.model.bert import bert_config_to_splinter
from splinter.model.config import SplinterConfig
from splinter.tokenization.question_token import QUESTION_TOKEN, QUESTION_TOKEN_ID
from splinter.tokenization.tokenizer import load_tokenizer, question_token_id

REPO = Path(__file__).resolve().parents[1]


def test_the_public_values():
    assert (QUESTION_TOKEN, QUESTION_TOKEN_ID) == ("[QUESTION]", 104)


def test_tokenizer_and_config_use_it():
    tokenizer = load_tokenizer("minilm")  # an uncased BERT vocabulary: [unused99] renamed at 104
    assert tokenizer.id_to_token(QUESTION_TOKEN_ID) == QUESTION_TOKEN
    assert question_token_id(tokenizer) == QUESTION_TOKEN_ID
    assert SplinterConfig().question_token_id == QUESTION_TOKEN_ID
    assert "question_token_id" not in TINY  # a plain BERT config.json: the conversion adds the id
    assert bert_config_to_splinter(TINY, "config.json")["question_token_id"] == QUESTION_TOKEN_ID


def test_no_other_module_spells_it_out():
    """Neither the text nor the id appears as a literal in code anywhere else (docstrings may name it)."""
    found = []
    for path in sorted([*(REPO / "splinter").rglob("*.py"), *(REPO / "bench").rglob("*.py")]):
        if path.name == "question_token.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            literal = isinstance(node, ast.Constant) and type(node.value) in (str, int)
            if literal and node.value in (QUESTION_TOKEN, QUESTION_TOKEN_ID):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
    assert found == []


def _tiny_model_dir(directory: Path, vocab_lines: list[str], **config) -> Path:
    """A tiny saved model with the MiniLM vocabulary's size and the given vocab.txt beside it."""
    from splinter import SplinterForQuestionAnswering

    fields = {**TINY, "vocab_size": len(vocab_lines), **config}
    SplinterForQuestionAnswering(SplinterConfig(**fields)).save_pretrained(directory)
    (directory / "vocab.txt").write_text("".join(line + "\n" for line in vocab_lines), encoding="utf-8")
    (directory / "tokenizer_config.json").write_text('{"do_lower_case": true}', encoding="utf-8")
    return directory


def _minilm_vocab() -> list[str]:
    from splinter.registry.minilm import minilm_model_dir

    return (minilm_model_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()


def test_a_vocab_that_defines_the_question_token_twice_is_one_error_line(tmp_path):
    """The later line would win: [QUESTION] would take another word's id and embedding, and answers change."""
    import subprocess
    import sys

    from run_helpers import FIXTURE_ROOT

    vocab = _minilm_vocab()
    vocab[QUESTION_TOKEN_ID] = QUESTION_TOKEN  # as Splinter's own vocabularies spell it
    vocab[2000] = QUESTION_TOKEN  # a duplicated line (a bad merge of vocabularies)
    model = _tiny_model_dir(tmp_path / "model", vocab)
    expected = (f"{model / 'vocab.txt'}:2001: [QUESTION] is defined again (first at line 105); each special "
                "token must appear once: the tokenizer file is damaged: restore or re-download it")
    result = subprocess.run(
        [sys.executable, str(REPO / "predict.py"), f"checkpoint={model}",
         f"input={FIXTURE_ROOT / 'mrqa-dev' / 'SQuAD.jsonl.gz'}", f"output={tmp_path / 'answers.jsonl'}",
         f"hydra.run.dir={tmp_path / 'run'}", "progress=false"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"error: {expected}"
    assert not (tmp_path / "answers.jsonl").exists()


def test_a_tokenizer_that_does_not_fit_the_model_is_one_error_line(tmp_path):
    """[QUESTION] at another id than the model's question_token_id, or more ids than the model's embedding
    rows: refused where model and tokenizer are paired, before any answer is computed."""
    import pytest
    import torch

    from splinter import SplinterForQuestionAnswering
    from splinter.errors import ConfigError
    from splinter.qa.answerer import QuestionAnswerer

    vocab = _minilm_vocab()
    vocab[QUESTION_TOKEN_ID], vocab[200] = vocab[200], QUESTION_TOKEN  # [QUESTION] moved to id 200
    moved = _tiny_model_dir(tmp_path / "moved", vocab)
    with pytest.raises(ConfigError, match=r"^config key 'model.tokenizer': the tokenizer's \[QUESTION\] id is 200, "
                                          r"the model's question_token_id is 104 \(do model.tokenizer and "
                                          r"model.checkpoint match\?\)$"):
        QuestionAnswerer.from_pretrained(str(moved))
    torch.manual_seed(0)
    small = SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": 300}))
    with pytest.raises(ConfigError, match=r"^config key 'model.tokenizer': the tokenizer has ids up to 30521, the "
                                          r"model only 300 embeddings"):
        QuestionAnswerer(small, load_tokenizer("minilm"))
