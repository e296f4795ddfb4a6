"""train.py given real-world bad files: one `error:` line naming the file, exit status 2, no traceback."""

from __future__ import annotations

import shutil

import pytest
from run_helpers import TINY, run_cli

from splinter.registry.minilm import minilm_model_dir


def _last_error_line(result) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("name", ["tokenizer_config.json", pytest.param("tokenizer.json", marks=pytest.mark.slow)])
def test_a_damaged_tokenizer_file_is_named(tmp_path, name):
    tokenizer = tmp_path / "tokenizer"
    tokenizer.mkdir()
    for file in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(minilm_model_dir() / file, tokenizer / file)
    (tokenizer / name).write_text('{"do_lower_case": true,', encoding="utf-8")  # cut short, as by a failed copy
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path / 'run'}", f"model.tokenizer={tokenizer}")
    assert _last_error_line(result) == (
        f"error: {tokenizer / name}:1: malformed JSON: Expecting property name enclosed in double quotes "
        "(column 24); the tokenizer file is damaged: restore or re-download it")


@pytest.mark.slow  # the same ConfigError is asserted in-process in test_datamodule.py
def test_a_directory_given_as_the_training_file_is_called_a_directory(tmp_path):
    folder = tmp_path / "splits"
    folder.mkdir()
    result = run_cli("train.py", *TINY, f"hydra.run.dir={tmp_path / 'run'}", "data=custom",
                     f"data.train_file={folder}", f"data.eval_file={folder}")
    assert _last_error_line(result) == f"error: config key 'data.train_file': {folder} is a directory, not a data file"
