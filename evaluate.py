"""Evaluate a checkpoint or a predictions file.   python evaluate.py --help  ·  README.md has the tour."""

import hydra
from omegaconf import DictConfig

from splinter.run.cli import friendly_errors, main_with_one_line_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@friendly_errors
def main(cfg: DictConfig) -> float:
    from splinter.finetuning.evaluate import run

    return run(cfg)["f1"]


if __name__ == "__main__":
    main_with_one_line_errors(main)
