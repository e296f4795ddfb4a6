"""What every command shares (fine-tuning, pretraining, evaluation, prediction): one-line errors for the
entry points (`cli`), the config rules table (`config_checks`), failed sweep jobs (`sweeps`), the optimiser
and schedule (`optim`), the run skeleton (`job`), its output directory and explicit resumption
(`output_dir`), what a resume must keep (`resume_check`) and restore exactly mid-epoch (`resume`), how
checkpoints are written and read (`checkpointing`), and the Lightning trainer with its logger and
callbacks (`trainer`)."""
