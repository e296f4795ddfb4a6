"""Pretraining (docs/protocol.md §5): corpus → passages → masked rows → model; recurring span selection (rss)
or BERT's masked LM (mlm), one pipeline.

- `corpus`: text/jsonl/hub text → documents → passages of up to `max_seq_length` tokens
- `objectives`: `task.objective` (rss | mlm): the masking, label columns, statistics and model class
- `recurring_spans`: find recurring spans, replace them with [QUESTION], label the kept occurrence
- `masked_lm`: BERT's masking (15 % of pieces, 80/10/10)
- `datamodule`: `PretrainDataModule` (cached `datasets.map` preprocessing, padded batches)
- `module`: `PretrainModule` (LightningModule around the objective's model)
- `run`: `train.py task=pretrain`

Submodules are imported on use, so that data preprocessing workers do not import the model.
"""
