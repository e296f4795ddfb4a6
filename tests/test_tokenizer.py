"""splinter.tokenization.tokenizer: parity with transformers' SplinterTokenizer(Fast), pair layout, file round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import transformers

from splinter.errors import CheckpointError
from splinter.registry.minilm import minilm_model_dir
from splinter.tokenization.tokenizer import (
    QUESTION_TOKEN,
    load_tokenizer,
    question_token_id,
    save_tokenizer_files,
)

HARD_STRINGS = [
    "Héllo Wörld, café naïve Ångström Straße ß İstanbul e\u0301",
    "日本語のテキスト 中文字符 한국어 مرحبا Привет ＡＢＣ ﬁ",
    "emoji 😀👍🏽 party 🎉 ♥ ☃",
    "control\x00chars\x07 and \t tabs \r\n newlines \x0b\x0c\x7f\x85",
    "zero\u200bwidth\u200c\u200d joiner \ufeff bom soft\u00adhyphen nbsp\xa0ideo\u3000space",
    "a" * 101 + " " + "b" * 100 + " hello" + "c" * 99,
    "",
    " ",
    "\t\n  \u200b",
    "text with [QUESTION] literal [question] lower x[QUESTION]y",
    "[CLS] [SEP] [MASK] [PAD] [UNK] [unused1]",
    "Don't stop: U.S.A. costs $1,000.50 (approx.) -- 'quoted' \"double\"",
    "Hello hello HELLO Hellos worlds the The",
]
PAIRS = [("Who wrote Hamlet?", "Hamlet was written by Shakespeare in 1600."), ("", "x"), ("q", ""), ("", "")]
PAIRS += [(HARD_STRINGS[i], HARD_STRINGS[-1 - i]) for i in range(len(HARD_STRINGS))]

# A small vocabulary with cased and uncased entries, pieces, CJK and accents; 110 entries so that
# id 104 exists and is an [unusedN] slot.
BASE_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [".", ",", "?", "!", "'", "$", "(", ")", "-", ":", '"', "hello", "Hello", "HELLO", "world", "##s",
         "the", "The", "a", "##a", "b", "##b", "c", "##c", "cafe", "café", "caf", "##é", "##e", "naive",
         "text", "with", "literal", "lower", "x", "y", "日", "本", "中", "文", "😀", "🎉", "emoji", "party",
         "don", "t", "stop", "u", "s", "U", "S", "A", "1", "000", "50", "##0", "question", "QUESTION",
         "strasse", "straße", "ß", "istanbul", "e", "zero", "width", "joiner", "##width", "soft", "##hyphen",
         "hyphen", "space", "nbsp", "ideo", "control", "chars", "and", "tabs", "newlines", "who", "Who",
         "wrote", "hamlet", "Hamlet", "was", "written", "by", "shakespeare", "Shakespeare", "in", "1600",
         "q"]


def _vocab_tokens() -> list[str]:
    tokens = BASE_TOKENS + [f"[unused{i}]" for i in range(1, 100)]  # ids 5..103
    tokens.append("[unused100]")  # id 104: the slot that becomes [QUESTION]
    tokens += WORDS
    assert tokens[104] == "[unused100]"
    return tokens


def _write_dir(directory: Path, tokens: list[str], do_lower_case: bool | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("".join(f"{t}\n" for t in tokens), encoding="utf-8")
    config = {"tokenizer_class": "SplinterTokenizer"}
    if do_lower_case is not None:
        config["do_lower_case"] = do_lower_case
    (directory / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def _oracles(directory: Path) -> list:
    """transformers' fast tokenizer, and the slow one when it is a different class (it is not in v5)."""
    classes = {transformers.SplinterTokenizerFast, transformers.SplinterTokenizer}
    return [cls.from_pretrained(str(directory)) for cls in classes]


def _as_oracle_vocab(tokens: list[str]) -> list[str]:
    # The oracle gets [QUESTION] at 104 directly; our loader gets the [unusedN] vocabulary and renames it.
    tokens = list(tokens)
    tokens[104] = QUESTION_TOKEN
    return tokens


def _assert_parity(ours, oracle) -> None:
    for text in HARD_STRINGS:
        ref = oracle(text, return_offsets_mapping=True)
        enc = ours.encode(text)
        assert enc.ids == ref["input_ids"], text
        assert enc.offsets == [tuple(o) for o in ref["offset_mapping"]], text
    for question, context in PAIRS:
        enc = ours.encode(question, context)
        if context == "":
            # transformers' __call__ treats an empty text_pair as "no pair" and returns the single
            # layout; its Rust pipeline (which we match) still builds the pair.
            ref_enc = oracle.backend_tokenizer.encode(question, context)
            assert (enc.ids, enc.type_ids) == (ref_enc.ids, ref_enc.type_ids)
            continue
        ref = oracle(question, context, return_token_type_ids=True, return_offsets_mapping=True)
        assert enc.ids == ref["input_ids"], (question, context)
        assert enc.type_ids == ref["token_type_ids"], (question, context)
        assert enc.offsets == [tuple(o) for o in ref["offset_mapping"]], (question, context)


@pytest.fixture(scope="module")
def minilm_tokens() -> list[str]:
    return (minilm_model_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")[:-1]


@pytest.mark.parametrize("lower", [False, True])
def test_parity_small_vocab(tmp_path, lower):
    tokens = _vocab_tokens()
    ours = load_tokenizer(_write_dir(tmp_path / "ours", tokens, lower))
    assert question_token_id(ours) == 104
    for oracle in _oracles(_write_dir(tmp_path / "oracle", _as_oracle_vocab(tokens), lower)):
        assert oracle.question_token_id == 104
        _assert_parity(ours, oracle)


@pytest.mark.parametrize("lower", [True, False])
def test_parity_minilm_vocab(tmp_path, minilm_tokens, lower):
    assert minilm_tokens[104] == "[unused99]"
    ours = load_tokenizer("minilm", do_lower_case=lower)
    oracle_dir = _write_dir(tmp_path / "oracle", _as_oracle_vocab(minilm_tokens), lower)
    for oracle in _oracles(oracle_dir):
        _assert_parity(ours, oracle)


def test_minilm_is_uncased_with_question_at_104():
    tok = load_tokenizer("minilm")
    assert tok.token_to_id(QUESTION_TOKEN) == 104
    assert tok.token_to_id("[unused99]") is None
    assert tok.encode("HELLO").tokens == ["[CLS]", "hello", "[SEP]"]


def test_do_lower_case_from_config_and_argument(tmp_path):
    tokens = _as_oracle_vocab(_vocab_tokens())
    cased = load_tokenizer(_write_dir(tmp_path / "c", tokens, False))
    uncased = load_tokenizer(_write_dir(tmp_path / "u", tokens, True))
    assert cased.encode("Hello", add_special_tokens=False).tokens == ["Hello"]
    assert uncased.encode("Hello", add_special_tokens=False).tokens == ["hello"]
    forced = load_tokenizer(tmp_path / "c", do_lower_case=True)
    assert forced.encode("Hello", add_special_tokens=False).tokens == ["hello"]
    # No casing anywhere: a vocabulary with capitalised words is taken as cased.
    assert load_tokenizer(_write_dir(tmp_path / "n", tokens, None)).encode("Hello").tokens[1] == "Hello"


def test_pair_layout_type_ids_and_offsets():
    tok = load_tokenizer("minilm")
    question, context = "Who wrote Hamlet?", "Hamlet was written by Shakespeare."
    enc = tok.encode(question, context)
    assert enc.tokens == ["[CLS]", "who", "wrote", "hamlet", "?", "[QUESTION]", ".", "[SEP]",
                          "hamlet", "was", "written", "by", "shakespeare", ".", "[SEP]"]
    first_sep = enc.tokens.index("[SEP]")
    assert enc.type_ids == [0] * (first_sep + 1) + [1] * (len(enc.ids) - first_sep - 1)
    sequence_ids = enc.sequence_ids
    for token, seq, (start, end) in zip(enc.tokens, sequence_ids, enc.offsets, strict=True):
        if seq is None:
            assert (start, end) == (0, 0)
        else:
            assert (question if seq == 0 else context)[start:end].lower() == token
    assert tok.encode("Hamlet").tokens == ["[CLS]", "hamlet", "[SEP]"]
    assert tok.encode("Hamlet").type_ids == [0, 0, 0]


def test_question_token_is_special_and_never_split():
    tok = load_tokenizer("minilm")
    enc = tok.encode("a[QUESTION]b [QUESTION]", add_special_tokens=False)
    assert enc.tokens == ["a", "[QUESTION]", "b", "[QUESTION]"]
    assert tok.decode(tok.encode("a [QUESTION] b").ids) == "a b"  # special: skipped when decoding


def test_save_round_trip_ours_and_transformers(tmp_path):
    tok = load_tokenizer("minilm")
    save_tokenizer_files(tok, tmp_path / "saved")
    files = {p.name for p in (tmp_path / "saved").iterdir()}
    assert files == {"tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}
    config = json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())
    assert config["do_lower_case"] is True and config["tokenizer_class"] == "SplinterTokenizer"
    special = json.loads((tmp_path / "saved" / "special_tokens_map.json").read_text())
    assert special["question_token"] == QUESTION_TOKEN
    vocab_lines = (tmp_path / "saved" / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab_lines[104] == QUESTION_TOKEN and len(vocab_lines) - 1 == tok.get_vocab_size()

    again = load_tokenizer(tmp_path / "saved")
    assert again.to_str() == tok.to_str()
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "saved"))
    assert auto.question_token_id == 104
    _assert_parity(tok, auto)


def test_save_round_trip_cased(tmp_path):
    tok = load_tokenizer(_write_dir(tmp_path / "src", _vocab_tokens(), False))
    save_tokenizer_files(tok, tmp_path / "saved")
    assert json.loads((tmp_path / "saved" / "tokenizer_config.json").read_text())["do_lower_case"] is False
    assert load_tokenizer(tmp_path / "saved").to_str() == tok.to_str()
    (tmp_path / "saved" / "vocab.txt").unlink()  # tokenizer.json alone must be enough for us
    assert load_tokenizer(tmp_path / "saved").to_str() == tok.to_str()
    _assert_parity(tok, transformers.SplinterTokenizerFast.from_pretrained(str(tmp_path / "saved")))


def test_a_failed_save_never_leaves_a_truncated_file_under_a_final_name(tmp_path, monkeypatch):
    import errno

    import splinter.files
    from splinter.files import WriteError

    saved = tmp_path / "saved"
    save_tokenizer_files(load_tokenizer("minilm"), saved)
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    cased = load_tokenizer(_write_dir(tmp_path / "src", _vocab_tokens(), False))
    calls = []

    def disk_full_at_the_second_file(fd):
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(splinter.files.os, "fsync", disk_full_at_the_second_file)
    with pytest.raises(WriteError) as error:
        save_tokenizer_files(cased, saved)
    assert str(error.value) == (f"{saved / 'vocab.txt'}: could not be written (the disk is full); "
                                "the previous version, if any, is kept")
    # tokenizer.json was written whole, vocab.txt is the previous one, and no temporary file is left
    assert sorted(p.name for p in saved.iterdir()) == sorted(before)
    assert (saved / "tokenizer.json").read_text(encoding="utf-8") == cased.to_str(pretty=True)
    assert (saved / "vocab.txt").read_bytes() == before["vocab.txt"]


def test_stored_tokenizer_json_padding_is_ignored():
    # MiniLM's tokenizer.json pads/truncates to 128; the Splinter pipeline must not inherit that.
    tok = load_tokenizer("minilm")
    assert len(tok.encode("short").ids) == 3
    assert len(tok.encode("word " * 300).ids) == 302


def test_hub_id_offline_error_is_one_clear_line():
    with pytest.raises(CheckpointError) as info:
        load_tokenizer("tau/no-such-splinter-tokenizer")
    message = str(info.value)
    assert "\n" not in message
    assert "tau/no-such-splinter-tokenizer" in message and "Hugging Face Hub" in message
    assert "local directory" in message


def test_missing_directory_and_unrenameable_vocab(tmp_path):
    with pytest.raises(CheckpointError, match=r"tokenizer '.*missing': local directory .* not found; pass a local"):
        load_tokenizer(tmp_path / "missing")
    tokens = _vocab_tokens()
    tokens[104] = "word"  # a real entry must never be renamed to [QUESTION]
    with pytest.raises(CheckpointError, match="104"):
        load_tokenizer(_write_dir(tmp_path / "bad", tokens, False))


BROKEN = "the tokenizer file is damaged: restore or re-download it"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tokenizer_config.json", b'{"do_lower_case": true,\n "model_max_length": }',
         f":2: malformed JSON: Expecting value (column 22); {BROKEN}"),
        ("tokenizer_config.json", b"", f":1: malformed JSON: Expecting value (column 1); {BROKEN}"),
        ("tokenizer_config.json", b'["do_lower_case"]', f": expected a JSON object, got list; {BROKEN}"),
        ("tokenizer_config.json", b'{"do_lower_case": "false"}', ": 'do_lower_case' should be true, false or null, "
         "got 'false'"),
        ("tokenizer_config.json", b'{\n"do_lower_case": "caf\xe9"}', f":2: not UTF-8; {BROKEN}"),
        ("tokenizer.json", b'{"model": {"type": "WordPiece", "vocab": {"a": 0,', ":1: malformed JSON: "
         f"Expecting property name enclosed in double quotes (column 50); {BROKEN}"),
        ("tokenizer.json", b'{"model": {"type": "WordPiece", "vocab": ["a", "b"]}}',
         f": 'model.vocab' should map tokens to integer ids; {BROKEN}"),
        ("tokenizer.json", b'{"model": "WordPiece"}', ": expected a WordPiece (BERT) tokenizer, found str"),
        ("vocab.txt", b"[PAD]\n[UNK]\n\xff\n", f":3: not UTF-8; {BROKEN}"),
    ],
)
def test_a_damaged_tokenizer_file_is_one_line_naming_it(tmp_path, name, content, message):
    directory = _write_dir(tmp_path / "tok", _vocab_tokens(), True)
    if name == "tokenizer.json":
        (directory / "vocab.txt").unlink()  # tokenizer.json is then the vocabulary
    (directory / name).write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_tokenizer(directory)
    assert str(info.value) == f"{directory / name}{message}"


def test_a_tokenizer_config_with_bom_and_crlf_loads(tmp_path):
    directory = _write_dir(tmp_path / "tok", _vocab_tokens(), None)
    (directory / "tokenizer_config.json").write_bytes(b'\xef\xbb\xbf{\r\n"do_lower_case": false\r\n}\r\n')
    assert load_tokenizer(directory).encode("Hello").tokens[1] == "Hello"  # cased, as the config says
