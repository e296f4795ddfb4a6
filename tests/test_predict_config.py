"""predict.py's own keys are checked before any question is read or any model loaded."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from run_helpers import REPO

from splinter.errors import ConfigError
from splinter.qa.predict import run


def _run(tmp_path, *overrides: str):
    (tmp_path / "q.jsonl").write_text('{"id": "a", "question": "Who?", "context": "Ann."}\n')
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        cfg = compose("predict", overrides=["checkpoint=no-such-dir/", f"input={tmp_path / 'q.jsonl'}",
                                            f"output={tmp_path / 'a.jsonl'}", *overrides])
    return run(cfg)


@pytest.mark.parametrize(("override", "message"), [
    ("probability=no", "config key 'probability': got 'no', allowed: true or false"),
    ("progress=1", "config key 'progress': got 1, allowed: true or false"),
    ("top_k=0", "config key 'top_k': got 0, allowed: an integer >= 1"),
    ("top_k=true", "config key 'top_k': got True, allowed: an integer >= 1"),
])
def test_a_bad_value_is_one_line_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as error:
        _run(tmp_path, override)
    assert str(error.value) == message


def test_an_output_directory_is_refused_before_the_model_is_loaded(tmp_path):
    # the checkpoint does not exist: reaching the model would fail with another message
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError) as error:
        _run(tmp_path, f"output={tmp_path / 'out'}")
    assert str(error.value) == (f"config key 'output': {tmp_path / 'out'} is a directory: give the answers file, "
                                f"e.g. {tmp_path / 'out' / 'answers.jsonl'}")
