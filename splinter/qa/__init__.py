"""Extractive question answering without Lightning: decoding (spans, stable_topk), scoring (metrics,
span_metric), the answerer (QuestionAnswerer), predict.py's run (predict), the train .ckpt reader
(checkpoint) and evaluation's memory hand-back (memory)."""
