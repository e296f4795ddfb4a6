"""The `[QUESTION]` token: its text and the id it has in BERT vocabularies, defined once.

Splinter's question-aware span selection reads the question's representation at this token. In BERT
vocabularies id 104 is an unused entry ([unused100] in BERT-cased, which Splinter itself uses;
[unused99] in BERT-uncased); Splinter renamed it to `[QUESTION]`, and so do the tokenizer loader for
vocabularies that lack one and the BERT checkpoint conversion (docs/protocol.md §1). RoBERTa-family
vocabularies have no unused slot and give it a new id instead (splinter/tokenization/byte_level_bpe.py).

No imports: the model config, the tokenizers and the pretraining code all read it.
"""

QUESTION_TOKEN = "[QUESTION]"
QUESTION_TOKEN_ID = 104
