"""What every run shares (fine-tuning, pretraining, evaluation): the run skeleton (`job`), its output
directory and explicit resumption (`output_dir`), how checkpoints are written and read (`checkpointing`),
and the Lightning trainer with its logger and callbacks (`trainer`)."""
