"""Tokenizers: `load_tokenizer` / `special_token_ids` (tokenizer.py) for WordPiece (BERT family) and
byte-level BPE (RoBERTa family, byte_level_bpe.py), both with the question token (question_token.py)."""
