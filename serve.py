"""A live demo of a trained model on http://127.0.0.1:<port>.   python serve.py --help  ·  README.md has the tour."""

import hydra
from omegaconf import DictConfig

from splinter.run.cli import friendly_errors, main_with_one_line_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
@friendly_errors
def main(cfg: DictConfig) -> None:
    from splinter.qa.serve import run

    run(cfg)


if __name__ == "__main__":
    main_with_one_line_errors(main)
