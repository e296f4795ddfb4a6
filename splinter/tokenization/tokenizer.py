"""The Splinter tokenizer: a `tokenizers.Tokenizer` (Rust) with `[QUESTION]` and the pair template.

`load_tokenizer` always *rebuilds* the pipeline from the WordPiece vocabulary and the casing settings,
the way `transformers.SplinterTokenizer(Fast)` does, instead of trusting a stored `tokenizer.json`
as is: such files carry fixed padding/truncation (MiniLM's pads everything to 128) and the plain BERT
pair template without `[QUESTION] .`. The pipeline is BertNormalizer → BertPreTokenizer → WordPiece
(words longer than 100 characters become `[UNK]`), the BERT special tokens plus `[QUESTION]` as
special added tokens (matched in the raw text, never split or normalised), and the template

    single: [CLS] A [SEP]                       type ids 0 0 0
    pair:   [CLS] A [QUESTION] . [SEP] B [SEP]  type ids 0 ... 0 (through the first [SEP]), then 1

which is what SplinterTokenizerFast builds for the default right padding side (the `.` id is looked
up in the vocabulary). Parity with transformers is pinned by tests/test_tokenizer.py.

Byte-level BPE tokenizers (the RoBERTa family) go to splinter/tokenization/byte_level_bpe.py; code that needs
the special ids of either family asks `special_token_ids(tokenizer)`.
"""

from __future__ import annotations

import codecs
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece

from splinter.errors import CheckpointError, ConfigError
from splinter.files import write_json, write_text
from splinter.hub import resolve_directory
from splinter.tokenization.question_token import QUESTION_TOKEN, QUESTION_TOKEN_ID

BERT_SPECIAL_TOKENS = {
    "unk_token": "[UNK]",
    "sep_token": "[SEP]",
    "pad_token": "[PAD]",
    "cls_token": "[CLS]",
    "mask_token": "[MASK]",
}
_BROKEN = "the tokenizer file is damaged: restore or re-download it"
_SPECIAL_TEXTS = frozenset([*BERT_SPECIAL_TOKENS.values(), QUESTION_TOKEN])
_TOKENIZER_FILES = ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                    "vocab.json", "merges.txt"]


@dataclass(frozen=True)
class SpecialTokenIds:
    """The ids a window is built from, for either tokenizer family."""

    cls: int
    sep: int
    pad: int
    unk: int
    question: int
    dot: int
    # Between the question part and the context: ([SEP],) for BERT, (</s>, </s>) for RoBERTa.
    separator: tuple[int, ...]
    # Token types the encoder knows: 2 for BERT (0 then 1), 1 for RoBERTa (all 0).
    token_types: int


def special_token_ids(tokenizer: Tokenizer) -> SpecialTokenIds:
    """The special ids of a tokenizer from `load_tokenizer` (BERT WordPiece or RoBERTa byte-level BPE)."""
    from splinter.tokenization.byte_level_bpe import ROBERTA_SPECIAL_TOKENS, is_roberta_tokenizer

    roberta = is_roberta_tokenizer(tokenizer)
    names = ROBERTA_SPECIAL_TOKENS if roberta else BERT_SPECIAL_TOKENS
    ids = {key: tokenizer.token_to_id(names[f"{key}_token"]) for key in ("cls", "sep", "pad", "unk")}
    ids.update(question=question_token_id(tokenizer), dot=tokenizer.token_to_id("."))
    missing = [key for key, value in ids.items() if value is None]
    if missing:
        raise CheckpointError(f"this tokenizer lacks the {', '.join(missing)} token(s): load it with load_tokenizer()")
    separator = (ids["sep"], ids["sep"]) if roberta else (ids["sep"],)
    return SpecialTokenIds(**ids, separator=separator, token_types=1 if roberta else 2)


def load_tokenizer(path_or_hub_id: str | Path, do_lower_case: bool | None = None) -> Tokenizer:
    """Load the Splinter tokenizer from a directory, a Hub id, or "minilm" (the bundled MiniLM vocab).

    A byte-level BPE directory (vocab.json + merges.txt, or a BPE tokenizer.json) gives the RoBERTa
    pipeline of splinter/tokenization/byte_level_bpe.py; `do_lower_case` does not apply to it.

    The directory needs `vocab.txt` (or a WordPiece `tokenizer.json`); casing comes from, in order,
    `do_lower_case`, `tokenizer_config.json`, the `tokenizer.json` normaliser, and finally the
    vocabulary itself (one with capitalised entries is cased: lower-casing would make them
    unreachable). A vocabulary without `[QUESTION]` gets its `[unusedN]` entry at `QUESTION_TOKEN_ID`
    (104) renamed to it.
    """
    directory = _resolve_directory(str(path_or_hub_id))
    from splinter.tokenization.byte_level_bpe import is_byte_level_bpe_directory, load_roberta_tokenizer

    if is_byte_level_bpe_directory(directory):  # RoBERTa family: casing is the BPE's own business
        return load_roberta_tokenizer(directory, source=str(path_or_hub_id))
    vocab, settings = _read_directory(directory)
    if do_lower_case is not None:
        settings["do_lower_case"] = do_lower_case
    if "do_lower_case" not in settings:
        settings["do_lower_case"] = not any(any(c.isupper() for c in tok) for tok in vocab
                                            if not tok.startswith("["))
    return build_tokenizer(vocab, **settings, source=str(path_or_hub_id))


def build_tokenizer(
    vocab: dict[str, int],
    do_lower_case: bool,
    strip_accents: bool | None = None,
    tokenize_chinese_chars: bool = True,
    source: str = "vocabulary",
) -> Tokenizer:
    """The Splinter pipeline over a WordPiece vocabulary (token → id); `vocab` is not modified."""
    vocab = _with_question_token(vocab, source)
    missing = [t for t in [*BERT_SPECIAL_TOKENS.values(), "."] if t not in vocab]
    if missing:
        raise CheckpointError(f"tokenizer from {source}: the vocabulary lacks {', '.join(missing)}")
    tokenizer = Tokenizer(WordPiece(vocab, unk_token=BERT_SPECIAL_TOKENS["unk_token"],
                                    max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=tokenize_chinese_chars,
        strip_accents=strip_accents, lowercase=do_lower_case,
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece(prefix="##")
    # normalized=False: special tokens are matched in the raw text, so a literal "[QUESTION]" in a
    # lower-cased pipeline still becomes the special token, exactly as in transformers.
    tokenizer.add_special_tokens([
        AddedToken(t, special=True, normalized=False)
        for t in [*BERT_SPECIAL_TOKENS.values(), QUESTION_TOKEN]
    ])
    cls, sep, q = BERT_SPECIAL_TOKENS["cls_token"], BERT_SPECIAL_TOKENS["sep_token"], QUESTION_TOKEN
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0",
        pair=f"{cls}:0 $A:0 {q}:0 .:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(t, vocab[t]) for t in (cls, sep, q, ".")],
    )
    return tokenizer


def check_fits_model(tokenizer: Tokenizer, vocab_size: int, question_token_id: int | None = None) -> None:
    """One clear line, instead of an index error inside the embeddings, when the tokenizer's ids (the
    [QUESTION] id included) go past the model's `vocab_size` embedding rows (e.g. a RoBERTa tokenizer
    with a BERT checkpoint); and, given the model's `question_token_id`, when the tokenizer's
    [QUESTION] is another id (the model would read the question at another token's embedding and
    silently answer differently)."""
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size > vocab_size:
        raise ConfigError("model.tokenizer", f"the tokenizer has ids up to {size - 1}, the model only "
                          f"{vocab_size} embeddings (do model.tokenizer and model.checkpoint match?)")
    question = tokenizer.token_to_id(QUESTION_TOKEN)
    if question_token_id is not None and question is not None and question != question_token_id:
        raise ConfigError("model.tokenizer", f"the tokenizer's {QUESTION_TOKEN} id is {question}, the model's "
                          f"question_token_id is {question_token_id} (do model.tokenizer and model.checkpoint "
                          "match?)")


def question_token_id(tokenizer: Tokenizer) -> int:
    """The id of `[QUESTION]` (`QUESTION_TOKEN_ID`, 104, for Splinter and converted BERT vocabularies)."""
    token_id = tokenizer.token_to_id(QUESTION_TOKEN)
    if token_id is None:
        raise CheckpointError(f"this tokenizer has no {QUESTION_TOKEN} token: load it with load_tokenizer()")
    return token_id


def tokenizer_settings(tokenizer: Tokenizer) -> dict:
    """Casing settings of a tokenizer built by `build_tokenizer` (read back from its normaliser)."""
    normalizer = json.loads(tokenizer.to_str()).get("normalizer") or {}
    if normalizer.get("type") != "BertNormalizer":
        raise CheckpointError(f"expected a BERT-style tokenizer (BertNormalizer), found {normalizer.get('type')}")
    return {
        "do_lower_case": bool(normalizer["lowercase"]),
        "strip_accents": normalizer["strip_accents"],
        "tokenize_chinese_chars": bool(normalizer["handle_chinese_chars"]),
    }


def save_tokenizer_files(tokenizer: Tokenizer, directory: str | Path) -> None:
    """Write tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json.

    The set loads with `load_tokenizer(directory)` and with transformers'
    `AutoTokenizer` / `SplinterTokenizerFast.from_pretrained(directory)`. A RoBERTa-family tokenizer
    writes its own set (see splinter/tokenization/byte_level_bpe.py).
    """
    from splinter.tokenization.byte_level_bpe import is_roberta_tokenizer, save_roberta_tokenizer_files

    if is_roberta_tokenizer(tokenizer):
        save_roberta_tokenizer_files(tokenizer, directory)
        return
    vocab = tokenizer.get_vocab(with_added_tokens=False)
    by_id = sorted(vocab.items(), key=lambda item: item[1])
    if [i for _, i in by_id] != list(range(len(by_id))):
        raise CheckpointError("cannot write vocab.txt: the tokenizer's vocabulary ids are not 0..n-1")
    special = {**BERT_SPECIAL_TOKENS, "question_token": QUESTION_TOKEN}
    config = {
        **tokenizer_settings(tokenizer),  # validates before anything is written
        **special,
        "tokenizer_class": "SplinterTokenizer",
        "model_max_length": 512,
    }
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # every file through a temporary name: a crash never leaves a truncated one (splinter.files)
    write_text(directory / "tokenizer.json", tokenizer.to_str(pretty=True))  # as Tokenizer.save writes it
    write_text(directory / "vocab.txt", "".join(f"{tok}\n" for tok, _ in by_id))
    write_json(directory / "tokenizer_config.json", config)
    write_json(directory / "special_tokens_map.json", special)


def _resolve_directory(name: str) -> Path:
    # A registered model name ("minilm") carries its tokenizer files in its checkpoint directory.
    from splinter.registry import alias_directory

    return alias_directory(name) or resolve_directory(
        name,
        what="tokenizer",
        files=_TOKENIZER_FILES,
        local_hint="pass a local directory containing vocab.txt (and tokenizer_config.json) or tokenizer.json",
    )


def _read_directory(directory: Path) -> tuple[dict[str, int], dict]:
    """(vocabulary, casing settings found in the files) of a tokenizer directory."""
    settings: dict = {}
    tokenizer_json = directory / "tokenizer.json"
    if (directory / "vocab.txt").is_file():
        vocab = _read_vocab_txt(directory / "vocab.txt")
        if tokenizer_json.is_file():
            settings.update(_settings_from_tokenizer_json(tokenizer_json)[1])
    elif tokenizer_json.is_file():
        vocab, found = _settings_from_tokenizer_json(tokenizer_json)
        settings.update(found)
    else:
        raise CheckpointError(f"tokenizer directory {directory} has neither vocab.txt nor tokenizer.json")
    config_file = directory / "tokenizer_config.json"
    if config_file.is_file():
        config = _read_json(config_file)
        # tokenizer_config.json wins over tokenizer.json, as in transformers; a null strip_accents is a
        # real value there ("follow do_lower_case"), a null do_lower_case is not.
        for key in ("do_lower_case", "tokenize_chinese_chars", "strip_accents"):
            if key in config and not isinstance(config[key], (bool, type(None))):
                raise CheckpointError(f"{config_file}: '{key}' should be true, false or null, got {config[key]!r}")
        for key in ("do_lower_case", "tokenize_chinese_chars"):
            if config.get(key) is not None:
                settings[key] = config[key]
        if "strip_accents" in config:
            settings["strip_accents"] = config["strip_accents"]
    return vocab, settings


def _read_json(path: Path) -> dict:
    """A tokenizer file's JSON object; anything else is one line naming the file (and line)."""
    raw = _read_bytes(path)
    try:
        data = json.loads(raw.removeprefix(codecs.BOM_UTF8).decode("utf-8"))
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}:{_line_of(raw, e.start)}: not UTF-8; {_BROKEN}") from None
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{path}:{e.lineno}: malformed JSON: {e.msg} (column {e.colno}); {_BROKEN}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}; {_BROKEN}")
    return data


def _read_vocab_txt(path: Path) -> dict[str, int]:
    raw = _read_bytes(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CheckpointError(f"{path}:{_line_of(raw, e.start)}: not UTF-8; {_BROKEN}") from None
    # Same reading as transformers' load_vocab (text mode, readlines): one token per line, line number = id.
    lines = io.StringIO(text, newline=None).readlines()
    vocab: dict[str, int] = {}
    for index, line in enumerate(lines):
        token = line.rstrip("\n")
        if token in vocab and token in _SPECIAL_TEXTS:
            # The later line would win (as in transformers) and silently move the token to another id.
            raise CheckpointError(f"{path}:{index + 1}: {token} is defined again (first at line {vocab[token] + 1}); "
                                  f"each special token must appear once: {_BROKEN}")
        vocab[token] = index
    return vocab


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e.strerror or e}") from None


def _line_of(raw: bytes, position: int) -> int:
    return raw.count(b"\n", 0, position) + 1


def _settings_from_tokenizer_json(path: Path) -> tuple[dict[str, int], dict]:
    data = _read_json(path)
    model = data.get("model") or {}
    if not isinstance(model, dict) or model.get("type") != "WordPiece":
        found = model.get("type") if isinstance(model, dict) else type(model).__name__
        raise CheckpointError(f"{path}: expected a WordPiece (BERT) tokenizer, found {found}")
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not all(isinstance(i, int) and not isinstance(i, bool) for i in vocab.values()):
        raise CheckpointError(f"{path}: 'model.vocab' should map tokens to integer ids; {_BROKEN}")
    normalizer = data.get("normalizer") or {}
    settings = {}
    if isinstance(normalizer, dict) and normalizer.get("type") == "BertNormalizer":
        settings = {
            "do_lower_case": bool(normalizer.get("lowercase", True)),
            "strip_accents": normalizer.get("strip_accents"),
            "tokenize_chinese_chars": bool(normalizer.get("handle_chinese_chars", True)),
        }
    return dict(vocab), settings


def _with_question_token(vocab: dict[str, int], source: str) -> dict[str, int]:
    if QUESTION_TOKEN in vocab:
        return vocab
    by_id = {i: tok for tok, i in vocab.items()}
    old = by_id.get(QUESTION_TOKEN_ID)
    # Only an unused slot may be renamed: renaming a real word would silently change the text model.
    if old is None or not re.fullmatch(r"\[unused\d+\]", old):
        raise CheckpointError(
            f"tokenizer from {source}: the vocabulary has no {QUESTION_TOKEN} and id "
            f"{QUESTION_TOKEN_ID} is {old!r}, not an [unusedN] entry that could become one"
        )
    renamed = {tok: i for tok, i in vocab.items() if tok != old}
    renamed[QUESTION_TOKEN] = QUESTION_TOKEN_ID
    return renamed

