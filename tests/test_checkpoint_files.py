"""Checkpoints given by the user are read safely and fail in one line; checkpoints written survive a full disk."""

from __future__ import annotations

import errno
import io
import os

import pytest
import torch
from run_helpers import REPO, run_evaluate, run_train

from splinter.errors import CheckpointError
from splinter.files import WriteError, load_torch_file


class RunsCode:
    """Unpickling this object calls a function: what weights_only loading must refuse to do."""

    def __reduce__(self):
        return (os.makedirs, ("/tmp/splinter-pickle-ran-code",))


@pytest.fixture(scope="module")
def last_ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    run_train(out, "task.max_steps=2", "task.checkpoint_every_n_steps=2")
    return out / "checkpoints" / "last.ckpt"


def test_missing_and_directory_checkpoints_are_one_line(tmp_path):
    with pytest.raises(CheckpointError) as error:
        run_train(tmp_path / "a", f"ckpt_path={tmp_path / 'nope.ckpt'}")
    assert str(error.value) == f"{tmp_path / 'nope.ckpt'}: checkpoint not found"
    with pytest.raises(CheckpointError) as error:
        run_train(tmp_path / "b", f"ckpt_path={tmp_path}")
    assert str(error.value) == f"{tmp_path}: is a directory, not a checkpoint file"


def test_a_truncated_checkpoint_is_reported_as_truncated(last_ckpt, tmp_path):
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(last_ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError) as error:
        run_train(tmp_path / "run", f"ckpt_path={truncated}")
    assert str(error.value).startswith(f"{truncated}: cannot read the checkpoint: truncated or corrupt (")
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.parametrize("zip_format", [True, False])
def test_a_pickle_with_code_is_refused_and_never_run(tmp_path, zip_format):
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "global_step": 1, "payload": RunsCode()}, evil,
               _use_new_zipfile_serialization=zip_format)
    with pytest.raises(CheckpointError) as error:
        run_train(tmp_path / "run", f"ckpt_path={evil}")
    message = str(error.value)
    assert message.startswith(f"{evil}: REFUSED: the checkpoint contains Python objects or code, which "
                              "weights_only loading never runs (")
    assert "corrupt" not in message and "\n" not in message
    assert not os.path.exists("/tmp/splinter-pickle-ran-code")


def test_a_checkpoint_of_another_model_config_is_one_line(last_ckpt, tmp_path):
    with pytest.raises(CheckpointError) as error:
        run_train(tmp_path, f"ckpt_path={last_ckpt}", "model.config.hidden_size=64", "model.config.intermediate_size=128")
    assert str(error.value) == (f"{last_ckpt}: does not match the configured model (model.splinter.embeddings."
                                "word_embeddings.weight has shape (30522, 32), the model expects (30522, 64))")


def _three_layer_config(last_ckpt, tmp_path):
    """A copy of the 2-layer run's checkpoint whose stored config says 3 layers."""
    checkpoint = torch.load(last_ckpt, weights_only=True)
    checkpoint["splinter_config"]["num_hidden_layers"] = 3
    edited = tmp_path / "edited.ckpt"
    torch.save(checkpoint, edited)
    return edited


def test_evaluate_a_ckpt_whose_stored_config_does_not_match_its_weights(last_ckpt, tmp_path):
    edited = _three_layer_config(last_ckpt, tmp_path)
    with pytest.raises(CheckpointError) as error:
        run_evaluate(tmp_path / "eval", f"checkpoint={edited}")
    assert str(error.value).startswith(f"{edited}: its stored config does not match its weights (")
    assert str(error.value).endswith("(16 weights missing, e.g. splinter.encoder.layer.2.attention.output.LayerNorm.bias)")


def test_the_answerer_reads_a_ckpt_with_evaluations_reader_and_its_errors(last_ckpt, tmp_path):
    from splinter.qa.answerer import QuestionAnswerer

    edited = _three_layer_config(last_ckpt, tmp_path)
    with pytest.raises(CheckpointError) as error:
        QuestionAnswerer.from_pretrained(edited)
    assert str(error.value) == (f"{edited}: its stored config does not match its weights "
                                "(16 weights missing, e.g. splinter.encoder.layer.2.attention.output.LayerNorm.bias)")
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": RunsCode()}, evil)
    with pytest.raises(CheckpointError, match="REFUSED: the checkpoint contains Python objects or code"):
        QuestionAnswerer.from_pretrained(evil)
    assert not os.path.exists("/tmp/splinter-pickle-ran-code")
    with pytest.raises(CheckpointError) as error:
        QuestionAnswerer.from_pretrained(tmp_path / "nope.ckpt")
    assert str(error.value) == f"{tmp_path / 'nope.ckpt'}: checkpoint not found"


def test_a_full_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    real_save, saves = torch.save, []

    def save_until_the_disk_is_full(payload, file, *args, **kwargs):
        saves.append(payload["global_step"])
        if len(saves) == 1:
            return real_save(payload, file, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(payload, buffer)
        file.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])  # half of it reaches the disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_until_the_disk_is_full)
    checkpoints = tmp_path / "checkpoints"
    with pytest.raises(WriteError) as error:
        run_train(tmp_path, "task.max_steps=6", "task.checkpoint_every_n_steps=2")
    assert str(error.value) == (f"{checkpoints / 'last.ckpt'}: could not be written (the disk is full); "
                                "the previous version, if any, is kept")
    monkeypatch.undo()
    assert saves == [2, 4]  # no interrupted.ckpt attempted on a full disk
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"]  # no temporary file left behind
    assert load_torch_file(checkpoints / "last.ckpt")["global_step"] == 2
    assert not (tmp_path / "results.json").exists()


def test_a_pytorch_model_bin_with_code_is_refused_too(tmp_path):
    from splinter.model.checkpoints import read_state_dict

    torch.save({"weight": torch.zeros(2), "payload": RunsCode()}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError) as error:
        read_state_dict(tmp_path)
    assert str(error.value).startswith(f"{tmp_path / 'pytorch_model.bin'}: REFUSED: the weights file contains "
                                       "Python objects or code")
    assert not os.path.exists("/tmp/splinter-pickle-ran-code")


def test_answering_from_a_training_ckpt_imports_no_training_code(last_ckpt):
    """The answerer builds a .ckpt's model through splinter.model (the factory), never through the
    Lightning modules or the run package: loading one imported 273 such modules before."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from splinter import QuestionAnswerer\n"
        f"qa = QuestionAnswerer.from_pretrained({str(last_ckpt)!r}, device='cpu')\n"
        "qa(question='Who?', context='Ann wrote it.')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning', "
        "'lightning_fabric') or m.startswith(('splinter.run.', 'splinter.finetuning', 'splinter.pretraining'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(REPO))
    assert result.returncode == 0, result.stderr[-2000:]
    # the one documented exception (pyproject.toml ignore_imports): the decoding keys' rules table
    assert result.stdout.strip().splitlines()[-1] == "['splinter.run.config_checks']"
