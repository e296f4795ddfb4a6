"""The data pipeline: examples (readers, splits) → windows → batches, and the Lightning datamodule.

Each step is its own module (see docs/ARCHITECTURE.md): `examples` defines the example schema,
`readers` and `splits` produce examples, `windows` cuts them into model features with labels or
offsets, `batches` pads features into tensors, `samplers` orders them (resumable), `evaluation_set`
holds what decoding needs, `datamodule` wires it together for Lightning. `questions` reads predict.py's
inputs; `fetch`, `archive`, `mrqa_hub` and `manifest` download, install and vouch for the data root.
"""
