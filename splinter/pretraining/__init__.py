"""Recurring span selection pretraining (PROTOCOL §5): corpus → passages → masked rows → model.

- `corpus`: text/jsonl/hub text → documents → passages of up to `max_seq_length` tokens
- `recurring_spans`: find recurring spans, replace them with [QUESTION], label the kept occurrence
- `datamodule`: `PretrainDataModule` (cached `datasets.map` preprocessing, padded batches)
- `module`: `PretrainModule` (LightningModule around `SplinterForPreTraining`)

Submodules are imported on use, so that data preprocessing workers do not import the model.
"""
