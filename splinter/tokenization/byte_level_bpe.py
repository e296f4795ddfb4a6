"""The RoBERTa-family tokenizer: byte-level BPE through `tokenizers`, with `[QUESTION]` and the pair template.

`load_tokenizer` (splinter/tokenization/tokenizer.py) comes here for a directory whose tokenizer is byte-level BPE:
`vocab.json` + `merges.txt`, or a `tokenizer.json` with a BPE model. From the two plain files the
pipeline is rebuilt the way transformers' `RobertaTokenizerFast` builds it: ByteLevel pre-tokenizer
(add_prefix_space from tokenizer_config.json, False by default), BPE, ByteLevel decoder, and offsets
trimmed of the leading space that byte-level BPE folds into a word (`Ġworld` maps to "world", not
" world"). A `tokenizer.json` keeps its own normaliser/pre-tokeniser, loses any padding and truncation,
and gets the same post-processing. Then:

    [QUESTION]  a new special token with the next free id (= the checkpoint's vocab_size; its
                embedding row is added by splinter/model/roberta.py, initialised from <mask>)
    single: <s> A </s>
    pair:   <s> A [QUESTION] . </s> </s> B </s>     RoBERTa's pair layout, one token type (all 0)

Parity with transformers (ids, offsets, the special tokens' ids) is pinned by tests/test_encoders.py.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
from tokenizers.models import BPE

from splinter.errors import CheckpointError
from splinter.files import atomic_write, write_json, write_text
from splinter.tokenization.question_token import QUESTION_TOKEN

ROBERTA_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "cls_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}
VOCAB_JSON, MERGES_TXT, TOKENIZER_JSON = "vocab.json", "merges.txt", "tokenizer.json"


def is_byte_level_bpe_directory(directory: Path) -> bool:
    """Whether the tokenizer files in `directory` are the RoBERTa kind (and not a BERT vocab.txt)."""
    if (directory / "vocab.txt").is_file():
        return False
    if (directory / VOCAB_JSON).is_file() and (directory / MERGES_TXT).is_file():
        return True
    path = directory / TOKENIZER_JSON
    if not path.is_file():
        return False
    try:
        model = json.loads(path.read_text(encoding="utf-8")).get("model")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return False  # the WordPiece reader reports the unreadable file
    return isinstance(model, dict) and model.get("type") == "BPE"  # anything else: the WordPiece reader says what is wrong


def is_roberta_tokenizer(tokenizer: Tokenizer) -> bool:
    return isinstance(tokenizer.model, BPE)


def load_roberta_tokenizer(directory: Path, source: str) -> Tokenizer:
    """The Splinter pipeline over the byte-level BPE tokenizer in `directory` (`source` names it in errors)."""
    config = _read_json(directory / "tokenizer_config.json") if (directory / "tokenizer_config.json").is_file() else {}
    if (directory / TOKENIZER_JSON).is_file():
        path = directory / TOKENIZER_JSON
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as err:  # the Rust parser's message names what is wrong
            raise CheckpointError(f"{path}: cannot read the tokenizer ({err})") from None
        tokenizer.no_padding()
        tokenizer.no_truncation()
        add_prefix_space = _add_prefix_space(json.loads(tokenizer.to_str()).get("pre_tokenizer"))
    else:
        try:
            model = BPE.from_file(str(directory / VOCAB_JSON), str(directory / MERGES_TXT))
        except Exception as err:
            raise CheckpointError(f"{directory}: cannot read {VOCAB_JSON} / {MERGES_TXT} ({err})") from None
        tokenizer = Tokenizer(model)
        add_prefix_space = bool(config.get("add_prefix_space", False))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
        tokenizer.decoder = decoders.ByteLevel()
    return with_question_template(tokenizer, source, add_prefix_space,
                                  trim_offsets=bool(config.get("trim_offsets", True)))


def with_question_template(
    tokenizer: Tokenizer, source: str, add_prefix_space: bool = False, trim_offsets: bool = True
) -> Tokenizer:
    """Add the special tokens (`[QUESTION]` a new one, the others already in the vocabulary) and the
    post-processor; `tokenizer` is modified and returned."""
    vocab = tokenizer.get_vocab(with_added_tokens=True)
    missing = [t for t in [*dict.fromkeys(ROBERTA_SPECIAL_TOKENS.values()), "."] if t not in vocab]
    if missing:
        raise CheckpointError(f"tokenizer from {source}: the vocabulary lacks {', '.join(missing)}")
    # Specials a tokenizer.json already declares keep their flags. Otherwise <mask> swallows the space
    # before it (lstrip, as in roberta-base's tokenizer.json) and the others match exactly;
    # normalized=False: matched in the raw text.
    declared = {token.content for token in tokenizer.get_added_tokens_decoder().values()}
    tokenizer.add_special_tokens([
        AddedToken(t, special=True, normalized=False, lstrip=t == "<mask>")
        for t in dict.fromkeys([*ROBERTA_SPECIAL_TOKENS.values(), QUESTION_TOKEN]) if t not in declared
    ])
    cls, sep = ROBERTA_SPECIAL_TOKENS["cls_token"], ROBERTA_SPECIAL_TOKENS["sep_token"]
    template = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {QUESTION_TOKEN} . {sep} {sep} $B:0 {sep}:0",
        special_tokens=[(t, tokenizer.token_to_id(t)) for t in (cls, sep, QUESTION_TOKEN, ".")],
    )
    # The ByteLevel step trims the leading space off each word's offsets, also when encoding without
    # special tokens, as the windows do. It is the trimming of RobertaProcessing(trim_offsets=True)
    # (same add_prefix_space: with True, a leading space at offset 0 would count as the added one).
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=add_prefix_space, trim_offsets=trim_offsets), template,
    ])
    return tokenizer


def _add_prefix_space(pre_tokenizer: dict | None) -> bool:
    """add_prefix_space of the ByteLevel step in a tokenizer.json pre_tokenizer (also inside a Sequence)."""
    if not pre_tokenizer:
        return False
    if pre_tokenizer.get("type") == "ByteLevel":
        return bool(pre_tokenizer.get("add_prefix_space", False))
    return any(_add_prefix_space(step) for step in pre_tokenizer.get("pretokenizers") or [])


def save_roberta_tokenizer_files(tokenizer: Tokenizer, directory: str | Path) -> None:
    """Write tokenizer.json, vocab.json, merges.txt, tokenizer_config.json and special_tokens_map.json:
    `load_tokenizer(directory)` and transformers' `AutoTokenizer` both read the set."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    # every file through a temporary name: a crash never leaves a truncated one (splinter.files)
    write_text(directory / TOKENIZER_JSON, tokenizer.to_str(pretty=True))  # as Tokenizer.save writes it
    with tempfile.TemporaryDirectory(dir=directory, prefix=".bpe-") as staging:
        for written in tokenizer.model.save(staging):  # vocab.json + merges.txt
            with atomic_write(directory / Path(written).name) as file:
                file.write(Path(written).read_bytes())
    special = {**ROBERTA_SPECIAL_TOKENS, "additional_special_tokens": [QUESTION_TOKEN]}
    config = {**special, "tokenizer_class": "RobertaTokenizer", "model_max_length": 512,
              "add_prefix_space": False, "trim_offsets": True}
    write_json(directory / "tokenizer_config.json", config)
    write_json(directory / "special_tokens_map.json", special)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: cannot read ({err})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data

