"""Fine-tune (or pretrain) Splinter.   python train.py --help  ·  README.md has the tour."""

import hydra
from hydra.utils import get_method
from omegaconf import DictConfig

from splinter.cli import friendly_errors, main_with_one_line_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@friendly_errors
def main(cfg: DictConfig) -> float | None:
    results = get_method(cfg.task.run)(cfg)
    # Returned to Hydra so sweepers that optimise a value (e.g. Optuna) can use it.
    return (results or {}).get("f1")


if __name__ == "__main__":
    main_with_one_line_errors(main)
