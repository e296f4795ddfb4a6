"""File formats → examples: `readers.read_examples` is the one public entry (MRQA jsonl, SQuAD json, Hub
datasets); file_io.py opens and decodes files, records.py holds the row schema and skip rules shared by
mrqa.py, squad.py and hub.py; mrqa_hub.py converts the Hub's MRQA rows to MRQA records."""
