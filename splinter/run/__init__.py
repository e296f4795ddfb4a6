"""What every run shares (fine-tuning, pretraining, evaluation): the run skeleton (`job`), its output
directory and explicit resumption (`output_dir`), what a resume must keep (`resume_check`) and restore
exactly mid-epoch (`resume`), how checkpoints are written and read (`checkpointing`), the Lightning
trainer with its logger and callbacks (`trainer`), what it prints (`console`), a diverged loss
(`divergence`), `_target_` instantiation with one-line errors (`instantiate`) and sweep job names
(`names`)."""
