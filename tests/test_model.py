"""The native Splinter model against transformers' implementation (the oracle), plus its own contracts.

Every transformers model here is tiny and has all parameters perturbed away from their initial values
(biases non-zero, LayerNorm weights not 1), so that a weight that fails to load or a swapped
projection shows up in the logits.
"""

from __future__ import annotations

import math

import pytest
import torch
import transformers
from tiny_config import TINY, perturbed

from splinter import SplinterConfig, SplinterForPreTraining, SplinterForQuestionAnswering, SplinterModel
from splinter.errors import CheckpointError, ConfigError
from splinter.model.config import HIDDEN_ACTS
from splinter.model.encoder import ACTIVATIONS

QUESTION = 104
ATOL = 1e-5


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> str:
    """A tiny transformers SplinterForQuestionAnswering saved with its save_pretrained."""
    torch.manual_seed(0)
    model = perturbed(transformers.SplinterForQuestionAnswering(transformers.SplinterConfig(**TINY)))
    directory = tmp_path_factory.mktemp("hf_splinter")
    model.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="module")
def batch() -> dict[str, torch.Tensor]:
    """3 sequences of 12 tokens: [QUESTION] at different places, rows 1 and 2 padded."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, 100, (3, 12), generator=generator)
    input_ids[0, 3] = input_ids[1, 5] = input_ids[2, 2] = QUESTION
    input_ids[0, 9] = QUESTION  # a second question token: the first one must be used
    attention_mask = torch.ones(3, 12, dtype=torch.long)
    attention_mask[1, 9:] = 0
    attention_mask[2, 6:] = 0
    input_ids[attention_mask == 0] = 0
    token_type_ids = torch.zeros(3, 12, dtype=torch.long)
    token_type_ids[:, 6:] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("with_mask", [True, False])
@pytest.mark.parametrize("with_token_types", [True, False])
def test_qa_logits_and_loss_match_transformers(hf_dir, batch, with_mask, with_token_types):
    theirs = transformers.SplinterForQuestionAnswering.from_pretrained(hf_dir).eval()
    ours = SplinterForQuestionAnswering.from_pretrained(hf_dir)
    inputs = {"input_ids": batch["input_ids"]}
    if with_mask:
        inputs["attention_mask"] = batch["attention_mask"]
    if with_token_types:
        inputs["token_type_ids"] = batch["token_type_ids"]
    # Label 30 lies outside the sequence: both implementations must ignore it.
    starts, ends = torch.tensor([4, 30, 3]), torch.tensor([6, 30, 5])
    with torch.no_grad():
        expected = theirs(**inputs, start_positions=starts.clone(), end_positions=ends.clone())
        actual = ours(**inputs, start_positions=starts, end_positions=ends)
    assert actual.start_logits.shape == (3, 12)
    assert_close(actual.start_logits, expected.start_logits)
    assert_close(actual.end_logits, expected.end_logits)
    assert_close(actual.loss, expected.loss)
    assert starts.tolist() == [4, 30, 3], "labels must not be clamped in place"


def test_qa_with_question_positions_matches_transformers(hf_dir, batch):
    """[B, Q] positions give [B, Q, L]; transformers' pretraining class masks those correctly."""
    theirs = transformers.SplinterForPreTraining.from_pretrained(hf_dir).eval()
    ours = SplinterForQuestionAnswering.from_pretrained(hf_dir)
    positions = torch.tensor([[3, 9], [5, 0], [2, 1]])
    with torch.no_grad():
        expected = theirs(**batch, question_positions=positions)
        actual = ours(**batch, question_positions=positions)
    assert actual.start_logits.shape == (3, 2, 12)
    assert_close(actual.start_logits, expected.start_logits)
    assert_close(actual.end_logits, expected.end_logits)


def test_qa_question_positions_without_mask_match_transformers_qa(hf_dir, batch):
    theirs = transformers.SplinterForQuestionAnswering.from_pretrained(hf_dir).eval()
    ours = SplinterForQuestionAnswering.from_pretrained(hf_dir)
    positions = torch.tensor([[3, 9], [5, 0], [2, 1]])
    with torch.no_grad():
        expected = theirs(input_ids=batch["input_ids"], question_positions=positions)
        actual = ours(batch["input_ids"], question_positions=positions)
    assert_close(actual.start_logits, expected.start_logits)
    assert_close(actual.end_logits, expected.end_logits)


def test_pretraining_logits_and_loss_match_transformers(hf_dir, batch):
    theirs = transformers.SplinterForPreTraining.from_pretrained(hf_dir).eval()
    ours = SplinterForPreTraining.from_pretrained(hf_dir)
    # Row 1's second question is padding (position 0, labels 0); row 2's labels run past the end.
    positions = torch.tensor([[3, 9], [5, 0], [2, 1]])
    starts = torch.tensor([[1, 4], [2, 0], [3, 40]])
    ends = torch.tensor([[2, 5], [2, 0], [4, 40]])
    with torch.no_grad():
        expected = theirs(
            **batch, question_positions=positions, start_positions=starts.clone(), end_positions=ends.clone()
        )
        actual = ours(**batch, question_positions=positions, start_positions=starts, end_positions=ends)
    assert_close(actual.start_logits, expected.start_logits)
    assert_close(actual.end_logits, expected.end_logits)
    assert_close(actual.loss, expected.loss)


def test_encoder_matches_transformers(hf_dir, batch):
    theirs = transformers.SplinterModel.from_pretrained(hf_dir).eval()
    ours = SplinterModel.from_pretrained(hf_dir)
    with torch.no_grad():
        expected = theirs(**batch).last_hidden_state
        actual = ours(**batch).last_hidden_state
    assert_close(actual, expected)


def test_explicit_position_ids_are_used(hf_dir, batch):
    theirs = transformers.SplinterModel.from_pretrained(hf_dir).eval()
    ours = SplinterModel.from_pretrained(hf_dir)
    position_ids = torch.arange(12).flip(0).expand(3, -1)
    with torch.no_grad():
        expected = theirs(**batch, position_ids=position_ids).last_hidden_state
        actual = ours(**batch, position_ids=position_ids).last_hidden_state
        default = ours(**batch).last_hidden_state
    assert_close(actual, expected)
    assert not torch.allclose(actual, default)


def tiny_model(cls=SplinterForQuestionAnswering, **overrides):
    """A tiny model whose head scores are random too (a fresh head's start at zero), so that logits
    depend on every input the way a trained model's do."""
    torch.manual_seed(0)
    model = cls(SplinterConfig(**{**TINY, **overrides})).eval()
    for name, parameter in model.head.named_parameters():
        if "classifier" in name or model.head_name == "qa_outputs":
            torch.nn.init.normal_(parameter, std=0.02)
    return model


def test_padding_logits_are_dtype_minimum(batch):
    output = tiny_model()(**batch)
    padding = batch["attention_mask"] == 0
    minimum = torch.finfo(torch.float32).min
    assert (output.start_logits[padding] == minimum).all()
    assert (output.end_logits[padding] == minimum).all()
    assert (output.start_logits[~padding] > minimum / 2).all()


def test_default_question_position_is_first_question_token_or_zero(batch):
    model = tiny_model()
    input_ids = batch["input_ids"].clone()
    input_ids[2, 2] = 7  # row 2 has no question token left: position 0 is used
    default = model(input_ids).start_logits
    explicit = model(input_ids, question_positions=torch.tensor([[3], [5], [0]])).start_logits
    assert default.shape == (3, 12)
    assert explicit.shape == (3, 1, 12)
    torch.testing.assert_close(default, explicit.squeeze(1))
    other = model(input_ids, question_positions=torch.tensor([[9], [5], [0]])).start_logits
    assert not torch.allclose(default[0], other[0, 0])


def test_qa_loss_accepts_labels_per_question(batch):
    """With explicit positions [B, 1] the logits keep Q; labels [B] or [B, 1] give the same loss."""
    model = tiny_model()
    positions = torch.tensor([[3], [5], [2]])
    flat = model(
        **batch,
        question_positions=positions,
        start_positions=torch.tensor([4, 2, 3]),
        end_positions=torch.tensor([6, 2, 5]),
    ).loss
    per_question = model(
        **batch,
        question_positions=positions,
        start_positions=torch.tensor([[4], [2], [3]]),
        end_positions=torch.tensor([[6], [2], [5]]),
    ).loss
    squeezed = model(
        **batch, start_positions=torch.tensor([4, 2, 3]), end_positions=torch.tensor([6, 2, 5])
    ).loss
    torch.testing.assert_close(flat, per_question)
    torch.testing.assert_close(flat, squeezed)


def test_pretraining_ignores_padded_questions(batch):
    model = tiny_model(SplinterForPreTraining)
    one = model(
        **batch,
        question_positions=torch.tensor([[3], [5], [2]]),
        start_positions=torch.tensor([[1], [2], [3]]),
        end_positions=torch.tensor([[2], [2], [4]]),
    )
    padded = model(
        **batch,
        question_positions=torch.tensor([[3, 0], [5, 0], [2, 0]]),
        start_positions=torch.tensor([[1, 0], [2, 0], [3, 0]]),
        end_positions=torch.tensor([[2, 0], [2, 0], [4, 0]]),
    )
    torch.testing.assert_close(one.loss, padded.loss)
    torch.testing.assert_close(one.start_logits, padded.start_logits[:, :1])


def test_pretraining_requires_question_positions(batch):
    with pytest.raises(ValueError, match="question_positions"):
        tiny_model(SplinterForPreTraining)(**batch)


def test_linear_head_shapes_keys_and_ignores_question_positions(batch):
    model = tiny_model(head_type="linear")
    head_keys = {k for k in model.state_dict() if not k.startswith("splinter.")}
    assert head_keys == {"qa_outputs.weight", "qa_outputs.bias"}
    assert model.state_dict()["qa_outputs.weight"].shape == (2, 32)
    default = model(**batch, start_positions=torch.tensor([4, 2, 3]), end_positions=torch.tensor([6, 2, 5]))
    assert default.start_logits.shape == (3, 12)
    assert torch.isfinite(default.loss)
    many = model(**batch, question_positions=torch.tensor([[3, 9], [5, 0], [2, 1]]))
    assert many.start_logits.shape == (3, 2, 12)
    torch.testing.assert_close(many.start_logits[:, 0], default.start_logits)
    torch.testing.assert_close(many.end_logits[:, 1], default.end_logits)


def test_state_dict_keys_match_transformers():
    theirs = transformers.SplinterForQuestionAnswering(transformers.SplinterConfig(**TINY))
    ours = SplinterForQuestionAnswering(SplinterConfig(**TINY))
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }


def test_initialisation_follows_transformers():
    model = SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "initializer_range": 0.05}))
    query = model.splinter.encoder.layer[0].attention.self.query
    assert abs(query.weight.std().item() - 0.05) < 0.015
    assert (query.bias == 0).all()
    transform = model.splinter_qass.start_transform.dense
    assert abs(transform.weight.std().item() - 0.05) < 0.015 and (transform.bias == 0).all()
    classifier = model.splinter_qass.start_classifier  # zero: a fresh head scores tokens alike
    assert classifier.bias is None and (classifier.weight == 0).all()
    assert (model.splinter.embeddings.word_embeddings.weight[0] == 0).all()  # padding row
    head_norm = model.splinter_qass.start_transform.LayerNorm
    assert head_norm.eps == 1e-5 and (head_norm.weight == 1).all() and (head_norm.bias == 0).all()
    assert model.splinter.embeddings.LayerNorm.eps == 1e-12


def test_attention_dropout_only_in_training(batch):
    model = tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.5)
    with torch.no_grad():
        assert torch.equal(model(**batch).start_logits, model(**batch).start_logits)
        model.train()
        assert not torch.equal(model(**batch).start_logits, model(**batch).start_logits)


def test_backward_reaches_every_parameter(batch):
    model = tiny_model().train()
    model(
        **batch, start_positions=torch.tensor([4, 2, 3]), end_positions=torch.tensor([6, 2, 5])
    ).loss.backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert without_grad == []


def test_too_long_input_is_a_clear_error():
    with pytest.raises(ValueError, match="exceeds max_position_embeddings 64"):
        tiny_model()(torch.ones(1, 65, dtype=torch.long))


# ---- config ---------------------------------------------------------------------------------------


def test_config_defaults_match_transformers():
    theirs = transformers.SplinterConfig()
    ours = SplinterConfig()
    for name in SplinterConfig.field_names():
        if name != "head_type" and hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.question_token_id == 104 and ours.head_type == "qass" and ours.use_cache is True


def test_config_round_trip_and_tolerance(tmp_path):
    config = SplinterConfig(**TINY, head_type="linear")
    assert SplinterConfig(**config.to_dict()) == config
    config.save(tmp_path)
    assert SplinterConfig.from_json_file(tmp_path / "config.json") == config
    legacy = {**TINY, "model_type": "splinter", "architectures": ["X"], "question_token_id": None}
    assert SplinterConfig.from_dict(legacy).question_token_id == 104
    assert (
        SplinterConfig.from_dict(
            {k: v for k, v in legacy.items() if k != "question_token_id"}
        ).question_token_id
        == 104
    )


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="head_type.*valid: qass, linear"):
        SplinterConfig(head_type="pointer")
    with pytest.raises(ConfigError, match="hidden_dropout"):
        SplinterConfig.from_dict({}, hidden_dropout=0.0)
    with pytest.raises(ConfigError, match="num_attention_heads"):
        SplinterConfig(hidden_size=30, num_attention_heads=4)
    path = tmp_path / "config.json"
    path.write_text('{"model_type": "deberta-v2"}')
    with pytest.raises(CheckpointError, match=f"{path}: model_type 'deberta-v2' is not supported .*"
                       "model.backend=transformers"):
        SplinterConfig.from_json_file(path)


def test_activation_table_covers_config_choices():
    assert set(ACTIVATIONS) == set(HIDDEN_ACTS)


# ---- packed tokens (TokenLayout): the same logits, loss and gradients as the padded computation ------


def _packing_batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    input_ids = torch.randint(1, 100, (4, 16), generator=generator)
    attention_mask = torch.ones(4, 16, dtype=torch.long)
    for row, length in enumerate((16, 11, 7, 13)):
        attention_mask[row, length:] = 0
        input_ids[row, length:] = 0
    attention_mask[:, 5] = 0  # a hidden [SEP] inside every sequence
    return {"input_ids": input_ids, "attention_mask": attention_mask,
            "token_type_ids": torch.zeros(4, 16, dtype=torch.long)}


def _logits_and_grads(model, inputs):
    model.zero_grad()
    output = model(**inputs)
    output.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    return output.start_logits.detach(), output.end_logits.detach(), output.loss.detach(), grads


@pytest.mark.parametrize("per_sequence", [True, False])
def test_packed_tokens_match_padded_computation(monkeypatch, per_sequence):
    """Skipping masked tokens (attention per sequence on CPU, or scatter/gather as on GPU) changes no
    logit, loss or gradient; a question position on a masked token is still computed, unattended."""
    from splinter.model import encoder

    model = tiny_model(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0).train()
    inputs = {**_packing_batch(), "question_positions": torch.tensor([[2], [3], [5], [12]]),  # [3, 5]: masked
              "start_positions": torch.tensor([[3], [4], [1], [9]]), "end_positions": torch.tensor([[4], [6], [2], [10]])}
    build = encoder.TokenLayout.build

    def forced(keep, attended=None):  # always pack, with the attention layout under test
        layout = build(keep, attended)
        assert layout is not None
        return encoder.TokenLayout(keep, attended, layout.index, per_sequence=per_sequence)

    monkeypatch.setattr(encoder.TokenLayout, "build", staticmethod(forced))
    packed = _logits_and_grads(model, inputs)
    monkeypatch.setattr(encoder.TokenLayout, "build", staticmethod(lambda keep, attended=None: None))
    padded = _logits_and_grads(model, inputs)
    for a, b in zip(packed[:3], padded[:3], strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=1e-5)
    for name in padded[3]:
        torch.testing.assert_close(packed[3][name], padded[3][name], atol=ATOL, rtol=1e-5)


def test_packing_is_skipped_without_padding():
    from splinter.model.encoder import TokenLayout

    assert TokenLayout.build(torch.ones(2, 40, dtype=torch.bool)) is None
    keep = torch.ones(2, 40, dtype=torch.bool)
    keep[1, 20:] = False
    layout = TokenLayout.build(keep)
    assert layout is not None and layout.counts == [40, 20] and layout.index.numel() == 60


@pytest.mark.parametrize("head_type", ["qass", "linear"])
def test_a_fresh_head_starts_from_uniform_span_distributions(head_type):

    config = SplinterConfig(vocab_size=120, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, head_type=head_type)
    model = SplinterForQuestionAnswering(config).eval()
    ids = torch.randint(5, 120, (2, 17))
    ids[:, 3] = config.question_token_id
    out = model(input_ids=ids, start_positions=torch.tensor([5, 6]), end_positions=torch.tensor([7, 8]))
    assert torch.count_nonzero(out.start_logits) == 0 and torch.count_nonzero(out.end_logits) == 0
    assert out.loss.item() == pytest.approx(math.log(17), rel=1e-6)
    # the hidden layers of the head are still random, so training can move off the zero scores
    if head_type == "qass":
        assert model.splinter_qass.start_transform.dense.weight.std() > 0.01


def test_cpu_attention_with_dropout_is_attention_when_nothing_is_dropped():
    from splinter.model.encoder import attention_with_dropout

    generator = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 4, generator=generator) for _ in range(3))
    mask = torch.ones(2, 1, 1, 7, dtype=torch.bool)
    mask[1, ..., 5:] = False
    for m in (None, mask):
        expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m)
        torch.testing.assert_close(attention_with_dropout(q, k, v, m, 1e-30), expected, atol=ATOL, rtol=1e-5)


def test_cpu_attention_dropout_rate_and_scaling():
    from splinter.model.encoder import attention_with_dropout

    torch.manual_seed(0)
    n, p = 64, 0.25
    q, k = torch.zeros(1, 8, n, n), torch.zeros(1, 8, n, n)  # uniform attention: every prob 1/n
    out = attention_with_dropout(q, k, torch.eye(n).expand(1, 8, n, n), None, p)  # = kept probs / (1 - p)
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < 0.02
    torch.testing.assert_close(out[out != 0], torch.full_like(out[out != 0], 1 / n / (1 - p)))


# ---- the masked-LM head (the control of the recurring-span experiment) ---------------------------


@pytest.fixture(scope="module")
def hf_mlm_dir(tmp_path_factory) -> str:
    """A tiny transformers BertForMaskedLM (keys bert.* and cls.predictions.*) with every weight,
    the MLM bias included, moved off its initial value."""
    torch.manual_seed(0)
    model = perturbed(transformers.BertForMaskedLM(transformers.BertConfig(**TINY)))
    directory = tmp_path_factory.mktemp("hf_bert_mlm")
    model.save_pretrained(directory)
    return str(directory)


@pytest.mark.parametrize("with_mask", [True, False])
def test_masked_lm_logits_and_loss_match_transformers(hf_mlm_dir, batch, with_mask):
    from splinter import SplinterForMaskedLM

    theirs = transformers.BertForMaskedLM.from_pretrained(hf_mlm_dir).eval()
    ours, info = SplinterForMaskedLM.from_pretrained(hf_mlm_dir, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
    inputs = dict(batch) if with_mask else {"input_ids": batch["input_ids"]}
    labels = torch.full_like(batch["input_ids"], -100)
    labels[0, [1, 4]] = torch.tensor([7, 50])
    labels[1, 2] = 99
    labels[2, 0] = 3
    with torch.no_grad():
        expected = theirs(**inputs, labels=labels)
        actual = ours(**inputs, labels=labels)
    assert actual.logits.shape == (3, 12, TINY["vocab_size"])
    assert_close(actual.logits, expected.logits)
    assert_close(actual.loss, expected.loss)


def test_masked_lm_positions_give_the_same_logits_and_loss(hf_mlm_dir, batch):
    """The pretraining path (logits at the masked positions only, padding skipped) equals the full one."""
    from splinter import SplinterForMaskedLM

    model = SplinterForMaskedLM.from_pretrained(hf_mlm_dir)
    positions = torch.tensor([[1, 4], [2, 0], [0, 3]])
    labels = torch.tensor([[7, 50], [99, -100], [3, 11]])
    full_labels = torch.full_like(batch["input_ids"], -100)
    for row in range(3):
        for position, label in zip(positions[row].tolist(), labels[row].tolist(), strict=True):
            if label >= 0:
                full_labels[row, position] = label
    with torch.no_grad():
        full = model(**batch, labels=full_labels)
        gathered = model(**batch, masked_positions=positions, labels=labels)
    assert gathered.logits.shape == (3, 2, TINY["vocab_size"])
    assert_close(gathered.logits, full.logits[torch.arange(3)[:, None], positions])
    assert_close(gathered.loss, full.loss)


def test_masked_lm_decoder_is_tied_fresh_where_missing_and_not_saved(tmp_path, batch):
    from safetensors.torch import load_file

    from splinter import SplinterForMaskedLM

    model = perturbed(SplinterForMaskedLM(SplinterConfig(**TINY)))
    assert model.cls.predictions.decoder.weight is model.splinter.embeddings.word_embeddings.weight
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in saved and "cls.predictions.bias" in saved
    again, info = SplinterForMaskedLM.from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
    assert again.cls.predictions.decoder.weight is again.splinter.embeddings.word_embeddings.weight
    with torch.no_grad():
        assert_close(again(**batch).logits, model(**batch).logits)
    # an encoder-only checkpoint (the QA model's) gives a fresh MLM head: zero bias, tied decoder
    SplinterModel(SplinterConfig(**TINY)).save_pretrained(tmp_path / "encoder")
    fresh, info = SplinterForMaskedLM.from_pretrained(tmp_path / "encoder", output_loading_info=True)
    assert info["missing_keys"] == [
        "cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.dense.weight",
    ]
    assert fresh.cls.predictions.bias.abs().sum() == 0


def test_masked_lm_checkpoint_fine_tunes_with_a_fresh_qass_head(tmp_path, batch):
    from splinter import SplinterForMaskedLM

    model = perturbed(SplinterForMaskedLM(SplinterConfig(**TINY)))
    model.save_pretrained(tmp_path)
    qa, info = SplinterForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] and all(key.startswith("splinter_qass.") for key in info["missing_keys"])
    assert info["unexpected_keys"] == [
        "cls.predictions.bias", "cls.predictions.transform.LayerNorm.bias",
        "cls.predictions.transform.LayerNorm.weight", "cls.predictions.transform.dense.bias",
        "cls.predictions.transform.dense.weight",
    ]
    encoder = {k: v for k, v in model.state_dict().items() if k.startswith("splinter.")}
    loaded = qa.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in encoder.items())
    assert qa.splinter_qass.start_classifier.weight.abs().sum() == 0  # fresh: uniform span scores
