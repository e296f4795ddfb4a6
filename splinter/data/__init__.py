"""The data pipeline: examples (formats, splits) → windows → batches, and the Lightning datamodule.

Each step is its own module (see docs/architecture.md): `examples` defines the example schema,
`formats` (its one entry: `formats.readers.read_examples`) and `splits` produce examples, `windows` cuts
them into model features with labels or offsets, `batches` pads features into tensors, `datamodule`
wires it together for Lightning; `release` downloads and verifies the released data.
"""
