"""The `[QUESTION]` token is defined once (splinter/question_token.py), and that is the definition the
tokenizer, the model config and the BERT conversion use."""

from __future__ import annotations

import ast
from pathlib import Path

from tiny_config import TINY

from splinter.model.bert import bert_config_to_splinter
from splinter.model.config import SplinterConfig
from splinter.question_token import QUESTION_TOKEN, QUESTION_TOKEN_ID
from splinter.tokenizer import load_tokenizer, question_token_id

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
