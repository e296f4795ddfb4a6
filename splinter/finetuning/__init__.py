"""Extractive question answering with Lightning: the QAModule, the fine-tuning run and the evaluation run."""
