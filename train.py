"""Fine-tune (or pretrain) Splinter.   python train.py --help  ·  README.md has the tour."""

import hydra
from hydra.utils import get_method
from omegaconf import DictConfig

from splinter.run.cli import friendly_errors, main_with_one_line_errors
from splinter.selection import objective


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@friendly_errors
def main(cfg: DictConfig) -> float | None:
    results = get_method(cfg.task.run)(cfg)
    # Returned to Hydra for sweepers that optimise a value (hparams_search=optuna): the selection score,
    # computed on the training questions only, never the evaluation-set F1 (unless selection.oracle=true).
    return objective(results)


if __name__ == "__main__":
    main_with_one_line_errors(main)
