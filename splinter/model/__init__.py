"""The native PyTorch Splinter model.

config.SplinterConfig, encoder.SplinterModel, qa.SplinterForQuestionAnswering and
qa.SplinterForPreTraining (all re-exported by `splinter`); heads.py holds the span-selection heads,
checkpoints.py from_pretrained / save_pretrained, bert.py, roberta.py and minilm.py the BERT, RoBERTa and
MiniLM sources, masked_lm.py the masked-LM model, transformers_backend.py the AutoModel encoder option.
Nothing is imported here, so that `splinter.model.config` stays free of torch.
"""
