"""Encoders beyond Splinter/BERT: the native RoBERTa family (parity with transformers both ways, the
byte-level BPE tokenizer, windows), SpanBERT through the BERT conversion, training on them, the
transformers backend (tiny DeBERTa-v2 and ELECTRA), and the head initialisation setting.

Every checkpoint and tokenizer is built here, tiny and random: nothing is downloaded.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from run_helpers import compose_config, run_train
from safetensors.torch import load_file
from tiny_config import TINY, perturbed
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from splinter import SplinterConfig, SplinterForQuestionAnswering, SplinterModel
from splinter.data.windows import WindowSettings, build_windows
from splinter.errors import ConfigError
from splinter.model.factory import load_model
from splinter.tokenization.tokenizer import (
    QUESTION_TOKEN,
    load_tokenizer,
    save_tokenizer_files,
    special_token_ids,
)

# transformers is the reference for every parity test here, and the transformers backend needs it.
transformers = pytest.importorskip("transformers")

HARD_STRINGS = [
    "Who wrote Hamlet?",
    " leading space",
    "   three leading spaces and  double  gaps ",
    "trailing\n\nnewlines\n",
    "Héllo Wörld, café naïve Ångström Straße İstanbul e\u0301",
    "日本語のテキスト 中文字符 한국어 مرحبا Привет ＡＢＣ ﬁ",
    "emoji 😀👍🏽 party 🎉 ♥",
    "zero\u200bwidth nbsp\xa0ideo\u3000space\ttab",
    "Pneumonoultramicroscopicsilicovolcanoconiosis " + "x" * 150 + " supercalifragilistic",
    "Don't stop: U.S.A. costs $1,000.50 (approx.) -- 'quoted' \"double\"",
    # (<mask> typed in the text is left out: transformers 4 strips the space before it, 5 does not)
    "a <s> and </s> in text",  # (a literal [QUESTION]: see the question-token test)
    "",
    " ",
]
CORPUS = [
    "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601.",
    "The Normans were the people who in the 10th and 11th centuries gave their name to Normandy.",
    "Who wrote Hamlet? When was it written? Where is Normandy?",
] + HARD_STRINGS


# ---- a tiny RoBERTa-style tokenizer and checkpoint -----------------------------------------------


@pytest.fixture(scope="module")
def bpe_dir(tmp_path_factory) -> Path:
    """vocab.json + merges.txt in RoBERTa's layout: <s> <pad> </s> <unk> first, <mask> last."""
    directory = tmp_path_factory.mktemp("bpe")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(CORPUS * 3, trainer)
    tokenizer.model.save(str(directory))
    vocab = json.loads((directory / "vocab.json").read_text(encoding="utf-8"))
    vocab["<mask>"] = len(vocab)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    return directory


@pytest.fixture(scope="module")
def theirs_tokenizer(bpe_dir):
    return transformers.RobertaTokenizerFast.from_pretrained(bpe_dir)


def roberta_config(vocab_size: int) -> transformers.RobertaConfig:
    sizes = {k: v for k, v in TINY.items() if k not in ("vocab_size", "max_position_embeddings")}
    # 130 positions: 2 (padding_idx + 1) before the first, 128 usable, as 514 = 2 + 512 in roberta-base
    return transformers.RobertaConfig(vocab_size=vocab_size, max_position_embeddings=130, type_vocab_size=1,
                                      pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5,
                                      **sizes)


@pytest.fixture(scope="module")
def hf_roberta_qa(bpe_dir):
    torch.manual_seed(0)
    vocab_size = len(json.loads((bpe_dir / "vocab.json").read_text(encoding="utf-8")))
    return perturbed(transformers.RobertaForQuestionAnswering(roberta_config(vocab_size)))


@pytest.fixture(scope="module")
def roberta_dir(hf_roberta_qa, bpe_dir, tmp_path_factory) -> Path:
    """A RobertaForQuestionAnswering checkpoint with its vocab.json/merges.txt, as on the Hub."""
    directory = tmp_path_factory.mktemp("roberta")
    hf_roberta_qa.save_pretrained(directory)
    for name in ("vocab.json", "merges.txt"):
        (directory / name).write_bytes((bpe_dir / name).read_bytes())
    return directory


def batch(vocab_size: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(5, vocab_size, (3, 40), generator=generator)
    input_ids[:, 0] = 0
    input_ids[1, 25:] = 1  # right padding with <pad>, as the collator pads
    input_ids[2, 33:] = 1
    return {"input_ids": input_ids, "attention_mask": (input_ids != 1).long()}


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    assert actual.shape == expected.shape
    assert (actual - expected).abs().max().item() < 1e-5


# ---- RoBERTa: the model ------------------------------------------------------------------------


def test_roberta_qa_checkpoint_gives_transformers_logits(hf_roberta_qa, roberta_dir):
    ours, info = SplinterForQuestionAnswering.from_pretrained(roberta_dir, head_type="linear",
                                                             output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
    inputs = batch(hf_roberta_qa.config.vocab_size)
    real = inputs["attention_mask"].bool()
    with torch.no_grad():
        theirs = hf_roberta_qa(**inputs)
        mine = ours(**inputs)
    assert_close(mine.start_logits[real], theirs.start_logits[real])
    assert_close(mine.end_logits[real], theirs.end_logits[real])
    # the pooler-free encoder too, on every position (padding included: RoBERTa's pad positions)
    encoder = SplinterModel.from_pretrained(roberta_dir)
    with torch.no_grad():
        assert_close(encoder(**inputs).last_hidden_state, hf_roberta_qa.roberta(**inputs).last_hidden_state)


def test_roberta_config_and_question_row(hf_roberta_qa, roberta_dir):
    ours = SplinterForQuestionAnswering.from_pretrained(roberta_dir)
    vocab_size = hf_roberta_qa.config.vocab_size
    config = ours.config
    assert (config.encoder_family, config.vocab_size, config.question_token_id) == ("roberta", vocab_size + 1,
                                                                                   vocab_size)
    assert (config.pad_token_id, config.type_vocab_size, config.layer_norm_eps) == (1, 1, 1e-5)
    words = ours.splinter.embeddings.word_embeddings.weight
    mask_row = hf_roberta_qa.roberta.embeddings.word_embeddings.weight[vocab_size - 1]
    assert torch.equal(words[vocab_size], mask_row)  # [QUESTION] starts as <mask>
    assert torch.equal(words[:vocab_size], hf_roberta_qa.roberta.embeddings.word_embeddings.weight)


def test_transformers_loads_what_we_save_for_roberta(roberta_dir, tmp_path):
    ours = perturbed(SplinterForQuestionAnswering.from_pretrained(roberta_dir, head_type="linear"), seed=3)
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "roberta" and config["question_token_id"] == ours.config.question_token_id
    assert all(k.startswith(("roberta.", "qa_outputs.")) for k in load_file(tmp_path / "model.safetensors"))
    theirs = transformers.RobertaForQuestionAnswering.from_pretrained(tmp_path).eval()
    inputs = batch(ours.config.vocab_size)
    inputs["input_ids"][:, 5] = ours.config.question_token_id  # the new row travels too
    real = inputs["attention_mask"].bool()
    with torch.no_grad():
        mine, other = ours(**inputs), theirs(**inputs)
    assert_close(mine.start_logits[real], other.start_logits[real])
    assert_close(mine.end_logits[real], other.end_logits[real])
    # and back: our saved checkpoint reloads as it was (no second [QUESTION] row)
    again = SplinterForQuestionAnswering.from_pretrained(tmp_path)
    assert again.config.vocab_size == ours.config.vocab_size and again.config.head_type == "linear"
    with torch.no_grad():
        assert_close(again(**inputs).start_logits[real], mine.start_logits[real])


def test_roberta_qass_model_encoder_loads_into_transformers(roberta_dir, tmp_path):
    ours = perturbed(SplinterForQuestionAnswering.from_pretrained(roberta_dir), seed=4)
    ours.save_pretrained(tmp_path)
    theirs = transformers.RobertaModel.from_pretrained(tmp_path, add_pooling_layer=False).eval()
    inputs = batch(ours.config.vocab_size)
    with torch.no_grad():
        assert_close(ours.splinter(**inputs).last_hidden_state, theirs(**inputs).last_hidden_state)


def test_roberta_sequence_longer_than_positions_is_one_clear_error(roberta_dir):
    model = SplinterModel.from_pretrained(roberta_dir)
    with pytest.raises(ValueError, match="sequence length 129 exceeds max_position_embeddings 128"):
        model(input_ids=torch.zeros(1, 129, dtype=torch.long))


# ---- RoBERTa: the tokenizer --------------------------------------------------------------------


@pytest.mark.parametrize("text", HARD_STRINGS)
def test_roberta_tokenizer_ids_and_offsets_match_transformers(bpe_dir, theirs_tokenizer, text):
    ours = load_tokenizer(bpe_dir)
    theirs = theirs_tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    mine = ours.encode(text, add_special_tokens=False)  # what the windows encode
    assert mine.ids == theirs["input_ids"]
    assert [tuple(o) for o in mine.offsets] == [tuple(o) for o in theirs["offset_mapping"]]
    with_specials = theirs_tokenizer(text, return_offsets_mapping=True)
    mine = ours.encode(text)
    assert mine.ids == with_specials["input_ids"]
    assert [tuple(o) for o in mine.offsets] == [tuple(o) for o in with_specials["offset_mapping"]]


def test_roberta_tokenizer_question_token_and_pair_layout(bpe_dir):
    ours = load_tokenizer(bpe_dir)
    theirs_tokenizer = transformers.RobertaTokenizerFast.from_pretrained(bpe_dir)
    theirs_tokenizer.add_special_tokens({"additional_special_tokens": [QUESTION_TOKEN]})
    question_id = theirs_tokenizer.convert_tokens_to_ids(QUESTION_TOKEN)
    vocab_size = len(json.loads((bpe_dir / "vocab.json").read_text(encoding="utf-8")))
    assert ours.token_to_id(QUESTION_TOKEN) == question_id == vocab_size  # the model's new row
    special = special_token_ids(ours)
    dot = ours.token_to_id(".")
    assert (special.cls, special.sep, special.pad, special.question, special.dot) == (0, 2, 1, question_id, dot)
    assert special.separator == (2, 2) and special.token_types == 1
    question, context = "Who wrote Hamlet?", " Hamlet was written by Shakespeare."
    pair = ours.encode(question, context)
    q = theirs_tokenizer(question, add_special_tokens=False)["input_ids"]
    c = theirs_tokenizer(context, add_special_tokens=False)["input_ids"]
    assert pair.ids == [0, *q, question_id, dot, 2, 2, *c, 2]
    assert set(pair.type_ids) == {0}
    # "[QUESTION]" typed in the text is the special token, as in transformers with it added
    literal = "is [QUESTION] here"
    assert ours.encode(literal, add_special_tokens=False).ids == theirs_tokenizer(
        literal, add_special_tokens=False)["input_ids"]


def test_roberta_tokenizer_files_round_trip_and_load_in_transformers(bpe_dir, tmp_path):
    ours = load_tokenizer(bpe_dir)
    save_tokenizer_files(ours, tmp_path)
    # exactly these: the BPE files are staged in a temporary directory that is gone afterwards
    assert {p.name for p in tmp_path.iterdir()} == {"tokenizer.json", "vocab.json", "merges.txt",
                                                    "tokenizer_config.json", "special_tokens_map.json"}
    assert (tmp_path / "merges.txt").read_bytes() == (bpe_dir / "merges.txt").read_bytes()
    again = load_tokenizer(tmp_path)  # from tokenizer.json this time
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path)
    for text in HARD_STRINGS:
        assert again.encode(text).ids == ours.encode(text).ids
        assert again.encode(text).offsets == ours.encode(text).offsets
        assert theirs(text, add_special_tokens=False)["input_ids"] == ours.encode(text, add_special_tokens=False).ids
    assert again.token_to_id(QUESTION_TOKEN) == theirs.convert_tokens_to_ids(QUESTION_TOKEN) == ours.token_to_id(
        QUESTION_TOKEN)


def test_roberta_tokenizer_lacking_specials_is_one_clear_error(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1, "ab": 2, ".": 3}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    from splinter.errors import CheckpointError

    with pytest.raises(CheckpointError, match=r"the vocabulary lacks <s>, </s>, <unk>, <pad>, <mask>$"):
        load_tokenizer(tmp_path)


# ---- RoBERTa: windows and offsets back into the text ------------------------------------------


def test_roberta_windows_layout_labels_and_offsets(bpe_dir):
    tokenizer = load_tokenizer(bpe_dir)
    context = "  Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601. " * 3
    answer = "William Shakespeare"
    start = context.index(answer)
    examples = Dataset.from_dict({
        "id": ["q1"], "question": [" Who wrote Hamlet?"], "context": [context],
        "answer_texts": [[answer]], "answer_starts": [[start]], "gold_answers": [[answer]],
    })
    settings = WindowSettings(max_seq_length=48, doc_stride=16, max_query_length=16, zero_token_type_ids=False)
    train = build_windows(examples, tokenizer, settings, training=True)
    evaluation = build_windows(examples, tokenizer, settings, training=False)
    special = special_token_ids(tokenizer)
    assert len(train) == len(evaluation) > 1
    for row, eval_row in zip(train, evaluation, strict=True):
        ids = row["input_ids"]
        first_sep = ids.index(2)
        assert ids[0] == 0 and ids[first_sep:first_sep + 2] == [2, 2] and ids[-1] == 2
        assert ids[row["question_position"]] == special.question and ids[row["question_position"] + 1] == special.dot
        assert set(row["token_type_ids"]) == {0}  # one token type, whatever zero_token_type_ids says
        hidden = [i for i, seen in enumerate(row["attention_mask"]) if not seen]
        assert hidden == [first_sep, first_sep + 1, len(ids) - 1]  # every </s> hidden (hide_sep)
        if row["start_position"]:
            spans = eval_row["offsets"]
            text = context[spans[row["start_position"]][0]:spans[row["end_position"]][1]]
            assert text == answer  # no leading space from the byte-level "ĠWilliam"
    labelled = [r for r in train if r["start_position"]]
    assert labelled
    # every context token's offsets give back its own text, without the folded-in space
    row = evaluation[0]
    for (begin, end), token_id in zip(row["offsets"], row["input_ids"], strict=True):
        if begin >= 0 and end > begin:
            piece = tokenizer.decode([token_id], skip_special_tokens=False)
            assert piece.strip() == context[begin:end].strip() and not context[begin:end].startswith(" ")


# ---- SpanBERT: a cased BERT checkpoint in SpanBERT's layout ------------------------------------


SPANBERT_CONFIG = {  # SpanBERT's config.json has BERT's fields and no model_type
    "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "hidden_size": 32, "initializer_range": 0.2, "intermediate_size": 37, "max_position_embeddings": 128,
    "num_attention_heads": 4, "num_hidden_layers": 2, "type_vocab_size": 2, "vocab_size": 140,
}


@pytest.fixture(scope="module")
def spanbert_dir(tmp_path_factory):
    """pytorch_model.bin with bert.* + pooler + cls.* (MLM) keys, and BERT-cased's vocab.txt layout."""
    directory = tmp_path_factory.mktemp("spanbert")
    torch.manual_seed(0)
    reference = perturbed(transformers.BertForPreTraining(
        transformers.BertConfig(**SPANBERT_CONFIG, layer_norm_eps=1e-12)))
    torch.save(reference.state_dict(), directory / "pytorch_model.bin")
    (directory / "config.json").write_text(json.dumps(SPANBERT_CONFIG))
    # BERT-cased: [PAD], [unused1..99], [UNK], [CLS], [SEP], [MASK], [unused100] (id 104), words
    tokens = ["[PAD]", *[f"[unused{i}]" for i in range(1, 100)], "[UNK]", "[CLS]", "[SEP]", "[MASK]",
              "[unused100]", ".", "?", "Who", "wrote", "Hamlet", "was", "written", "by", "Shakespeare", "who"]
    tokens += [f"w{i}" for i in range(SPANBERT_CONFIG["vocab_size"] - len(tokens))]
    (directory / "vocab.txt").write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return directory, reference


def test_spanbert_checkpoint_loads_through_the_bert_conversion(spanbert_dir):
    directory, reference = spanbert_dir
    ours, info = SplinterForQuestionAnswering.from_pretrained(directory, head_type="linear",
                                                             output_loading_info=True)
    assert info["unexpected_keys"] == [] and info["missing_keys"] == ["qa_outputs.bias", "qa_outputs.weight"]
    assert ours.config.encoder_family == "bert" and ours.config.question_token_id == 104
    inputs = batch(SPANBERT_CONFIG["vocab_size"])
    inputs["input_ids"][inputs["input_ids"] == 1] = 0  # BERT pads with [PAD] = 0
    inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
    with torch.no_grad():
        theirs = reference.bert(**inputs).last_hidden_state
        mine = ours.splinter(**inputs).last_hidden_state
    assert_close(mine, theirs)
    tokenizer = load_tokenizer(directory)  # cased (capitalised entries), [unused100] → [QUESTION]
    assert tokenizer.token_to_id(QUESTION_TOKEN) == 104
    assert tokenizer.encode("Who wrote Hamlet?", add_special_tokens=False).tokens == ["Who", "wrote", "Hamlet", "?"]


# ---- training end to end on the new families ----------------------------------------------------


@pytest.mark.parametrize("family", ["roberta", "spanbert"])
def test_fine_tunes_and_evaluates(family, roberta_dir, spanbert_dir, tmp_path):
    directory = roberta_dir if family == "roberta" else spanbert_dir[0]
    results = run_train(tmp_path, f"model={family}-base", f"model.checkpoint={directory}",
                        f"model.tokenizer={directory}", "task.max_steps=2", "data.max_seq_length=96",
                        "data.doc_stride=32", "data.max_eval_examples=8")
    assert results["model_name"] == f"{family}-base" and results["steps"] == 2 and results["num_questions"] == 8
    saved = SplinterForQuestionAnswering.from_pretrained(tmp_path / "model")
    assert saved.config.head_type == "linear"
    assert saved.config.encoder_family == ("roberta" if family == "roberta" else "bert")
    assert load_tokenizer(tmp_path / "model").get_vocab() == load_tokenizer(directory).get_vocab()


# ---- model.backend=transformers: AutoModel encoders under our heads --------------------------------

MINILM_VOCAB = 30522  # the tokenizer of the training runs below is MiniLM's (BERT-uncased)


def tiny_encoder_config(kind: str):
    sizes = dict(vocab_size=MINILM_VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                 intermediate_size=37, max_position_embeddings=128, initializer_range=0.2, pad_token_id=0)
    if kind == "deberta-v2":  # DeBERTa-v3's shape: relative attention, no absolute positions, no types
        return transformers.DebertaV2Config(
            **sizes, type_vocab_size=0, relative_attention=True, position_buckets=16,
            pos_att_type=["p2c", "c2p"], position_biased_input=False, norm_rel_ebd="layer_norm",
            share_att_key=True)
    return transformers.ElectraConfig(**sizes, embedding_size=16)


@pytest.fixture(scope="module", params=["deberta-v2", "electra"])
def auto_encoder_dir(request, tmp_path_factory):
    torch.manual_seed(0)
    encoder = perturbed(transformers.AutoModel.from_config(tiny_encoder_config(request.param)))
    directory = tmp_path_factory.mktemp(request.param)
    encoder.save_pretrained(directory)
    return request.param, directory, encoder


def test_transformers_backend_wraps_automodel_under_our_heads(auto_encoder_dir, tmp_path):
    from splinter.model.transformers_backend import HEAD_WEIGHTS, TransformersQAModel

    kind, directory, encoder = auto_encoder_dir
    model, info = TransformersQAModel.from_pretrained(directory, head_type="qass", output_loading_info=True)
    assert info["missing_keys"] and all(k.startswith("splinter_qass.") for k in info["missing_keys"])
    inputs = batch(MINILM_VOCAB)
    inputs["input_ids"][inputs["input_ids"] == 1] = 0
    inputs["attention_mask"] = (inputs["input_ids"] != 0).long()
    real = inputs["attention_mask"].bool()
    with torch.no_grad():
        hidden = model.splinter(**inputs).last_hidden_state
        assert_close(hidden, encoder(**inputs).last_hidden_state)  # the AutoModel itself, unchanged
        perturbed(model.head, seed=5)
        out = model(**inputs, question_positions=torch.tensor([[3], [4], [5]]))
    assert out.start_logits.shape == (3, 1, 40)
    assert torch.isfinite(out.start_logits[real[:, None, :]]).all()
    # save → reload: the same logits; transformers reads the saved encoder as is
    model.save_pretrained(tmp_path)
    assert (tmp_path / HEAD_WEIGHTS).is_file() and json.loads((tmp_path / "config.json").read_text())[
        "model_type"] == kind
    again = TransformersQAModel.from_pretrained(tmp_path, head_type="qass")
    with torch.no_grad():
        assert_close(again(**inputs, question_positions=torch.tensor([[3], [4], [5]])).start_logits,
                     out.start_logits)
        reread = transformers.AutoModel.from_pretrained(tmp_path).eval()
        assert_close(reread(**inputs).last_hidden_state, hidden)
    with pytest.raises(Exception, match="the saved head is 'qass', model.head_type is 'linear'"):
        TransformersQAModel.from_pretrained(tmp_path, head_type="linear")


def test_transformers_backend_fine_tunes_and_evaluates(auto_encoder_dir, tmp_path):
    kind, directory, _ = auto_encoder_dir
    results = run_train(tmp_path, "model=minilm", "model.backend=transformers", f"model.checkpoint={directory}",
                        "model.head_type=linear", "task.max_steps=2", "data.max_seq_length=96",
                        "data.doc_stride=32", "data.max_eval_examples=8")
    assert results["steps"] == 2 and results["num_questions"] == 8
    saved = tmp_path / "model"
    assert json.loads((saved / "config.json").read_text())["model_type"] == kind
    assert json.loads((saved / "span_head.json").read_text())["head_type"] == "linear"
    assert (saved / "vocab.txt").is_file()


def test_transformers_backend_errors_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match=r"^config key 'model.backend': unknown backend 'jax' "
                                          r"\(valid: native, transformers\)$"):
        load_model("minilm", backend="jax")
    with pytest.raises(ConfigError, match=r"^config key 'model.checkpoint': model.backend=transformers needs"):
        load_model(None, backend="transformers")
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"^config key 'model.backend': 'transformers' needs the transformers "
                                          r"package, which is not installed: pip install -e \"\.\[hf\]\"$"):
        load_model("some/encoder", backend="transformers")


def test_a_checkpoint_with_its_own_code_never_runs_it_whatever_stdin_says(tmp_path):
    """config.json with an unknown model_type and an auto_map: transformers, left to decide, asks on stdin
    and a "y" runs the checkpoint's Python. It must never run: one error line, exit 2."""
    import os
    import subprocess

    from run_helpers import REPO
    from run_helpers import TINY as TINY_RUN

    checkpoint, marker = tmp_path / "evil", tmp_path / "RAN"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({
        "model_type": "evil_net", "hidden_size": 32,
        "auto_map": {"AutoConfig": "evil_code.EvilConfig", "AutoModel": "evil_code.EvilModel"}}))
    (checkpoint / "evil_code.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil_net'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), *TINY_RUN, f"hydra.run.dir={tmp_path / 'run'}",
         "model.backend=transformers", f"model.checkpoint={checkpoint}"],
        input="y\ny\ny\n", capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
    assert not marker.exists()
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "[y/N]" not in result.stdout + result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: model.backend=transformers: {str(checkpoint)!r} needs its own Python code (config.json "
        "auto_map), which is never run; only architectures transformers ships load")
    with pytest.raises(ConfigError, match=r"^config key 'model.config.trust_remote_code': a checkpoint's own"):
        load_model(str(checkpoint), config={"trust_remote_code": True}, backend="transformers")
    assert not marker.exists()


def test_native_model_never_imports_transformers(roberta_dir):
    """The native model, its loaders and tokenizers need no transformers (Lightning itself may import it)."""
    import subprocess

    code = ("import sys; from splinter import SplinterForQuestionAnswering, load_tokenizer; "
            "import splinter.model.transformers_backend; "
            f"SplinterForQuestionAnswering.from_pretrained({str(roberta_dir)!r}); load_tokenizer({str(roberta_dir)!r}); "
            "print('transformers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "False", result.stderr[-2000:]


# ---- head initialisation: model.head_init=paper|zero ----------------------------------------------


def test_head_init_paper_is_random_and_zero_is_zero():
    torch.manual_seed(0)
    paper = SplinterForQuestionAnswering(SplinterConfig(**TINY, head_init="paper"))
    zero = SplinterForQuestionAnswering(SplinterConfig(**TINY))
    for name in ("start_classifier", "end_classifier"):
        weight = getattr(paper.splinter_qass, name).weight
        assert weight.std().item() == pytest.approx(TINY["initializer_range"], rel=0.15)
        assert not getattr(zero.splinter_qass, name).weight.any()
    linear = SplinterForQuestionAnswering(SplinterConfig(**TINY, head_type="linear", head_init="paper"))
    assert linear.qa_outputs.weight.std().item() == pytest.approx(TINY["initializer_range"], rel=0.3)
    with pytest.raises(ConfigError, match=r"^config key 'head_init': unknown head initialisation 'xavier' "
                                          r"\(valid: zero, paper\)$"):
        SplinterConfig(head_init="xavier")


def test_experiment_paper_uses_the_paper_head_init(tmp_path):
    cfg = compose_config("train", tmp_path, "experiment=paper", "model=tiny", "trainer=cpu")
    assert cfg.model.head_init == "paper"
    assert compose_config("train", tmp_path).model.head_init == "zero"
    model = load_model(None, config=dict(TINY), head_init=cfg.model.head_init)
    assert model.config.head_init == "paper" and model.splinter_qass.start_classifier.weight.any()


def test_tokenizer_larger_than_the_model_is_one_clear_error(roberta_dir, tmp_path):
    # the RoBERTa tokenizer (ids up to its [QUESTION]) with a model of fewer embeddings
    with pytest.raises(ConfigError, match=r"^config key 'model.tokenizer': the tokenizer has ids up to \d+, the "
                                          r"model only 300 embeddings \(do model.tokenizer and model.checkpoint "
                                          r"match\?\)$"):
        run_train(tmp_path, f"model.tokenizer={roberta_dir}", "model.config.vocab_size=300")


# ---- experiment=paper_baselines: every family of the sweep, one report row each ---------------------


def test_paper_baselines_sweep_runs_every_model_into_its_own_report_row(roberta_dir, spanbert_dir, tmp_path):
    from hydra import compose, initialize_config_dir

    from splinter.finetuning.finetune import run
    from splinter.reporting.report import main as report

    repo = Path(__file__).resolve().parents[1]
    with initialize_config_dir(config_dir=str(repo / "conf"), version_base="1.3"):
        sweep = compose("train", overrides=["experiment=paper_baselines"], return_hydra_config=True)
    models = sweep.hydra.sweeper.params["model"].split(",")
    assert models == ["roberta-base", "roberta-base-qass", "spanbert-base", "spanbert-base-qass",
                      "splinter-base-qass"]
    assert sweep.hydra.sweeper.params["data.seed"] == "42,43,44,45,46"
    # tiny local stand-ins for the Hub checkpoints; Splinter's shares SpanBERT's (BERT-cased) vocabulary
    splinter_dir = tmp_path / "splinter-stand-in"
    SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": SPANBERT_CONFIG["vocab_size"],
                                                   "max_position_embeddings": 128})).save_pretrained(
        splinter_dir, tokenizer=load_tokenizer(spanbert_dir[0]))
    stand_ins = {"roberta": roberta_dir, "spanbert": spanbert_dir[0], "splinter": splinter_dir}
    for number, model in enumerate(models):
        directory = stand_ins[model.split("-")[0]]
        cfg = compose_config("train", tmp_path / "sweep" / f"{number}-{model}", "experiment=paper_baselines",
                             f"model={model}", f"model.checkpoint={directory}", f"model.tokenizer={directory}",
                             "trainer=cpu", "task.max_steps=1", "data.max_seq_length=96", "data.doc_stride=32",
                             "data.max_eval_examples=8", "data.batch_size=4")
        assert cfg.model.head_init == "paper" and cfg.task.min_steps == 200  # the paper's protocol
        results = run(cfg)
        assert results["steps"] == 1 and results["num_questions"] == 8
    assert report([str(tmp_path / "sweep")]) == 0
    table = (tmp_path / "sweep" / "results.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ")]
    for model in models:
        assert rows.count(model) == 2  # one row in the EM table, one in the F1 table


def test_roberta_inputs_are_padded_with_pad_not_bos(roberta_dir):
    """issue 20: the answerer and the pretraining data took the pad id from token_to_id("[PAD]") with a
    fallback of 0, which is <s> for RoBERTa; evaluation pads with <pad> (special_token_ids().pad)."""
    from splinter.pretraining.datamodule import PretrainDataModule
    from splinter.qa.answerer import QuestionAnswerer

    tokenizer = load_tokenizer(roberta_dir)
    pad = tokenizer.token_to_id("<pad>")
    assert pad == 1 and tokenizer.token_to_id("<s>") == 0
    model = SplinterForQuestionAnswering.from_pretrained(roberta_dir)
    answerer = QuestionAnswerer(model, tokenizer, windows=WindowSettings(max_seq_length=128, doc_stride=64,
                                                                         max_query_length=32))
    rows = [{"input_ids": [0, 5, 2], "token_type_ids": [0, 0, 0], "attention_mask": [1, 1, 1],
             "question_position": 1},
            {"input_ids": [0, 5, 6, 7, 2], "token_type_ids": [0] * 5, "attention_mask": [1] * 5,
             "question_position": 1}]
    assert answerer.collator(rows)["input_ids"][0].tolist() == [0, 5, 2, pad, pad, pad, pad, pad]
    sample = Path(__file__).parent / "fixtures" / "pretrain" / "sample.txt"
    assert PretrainDataModule(str(sample), tokenizer).pad_id == pad
