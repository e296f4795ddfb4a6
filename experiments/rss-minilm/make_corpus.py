"""Unlabelled pretraining text for the recurring-span experiment: the contexts of the shared SQuAD
few-shot training splits (MRQA SQuAD *train* paragraphs), never the dev text.

    python experiments/rss-minilm/make_corpus.py ../shared/data OUT.txt

Every distinct paragraph of the 35 split files becomes one document (blank-line separated). The script
checks that no paragraph occurs in the MRQA SQuAD dev set and prints the counts.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path


def paragraphs(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    return [row["context"] for row in rows if "context" in row]


def main(shared: Path, out: Path) -> None:
    splits = sorted((shared / "mrqa-few-shot" / "squad").glob("squad-train-seed-*-num-examples-*.jsonl"))
    seen: dict[str, None] = {}
    for split in splits:
        for text in paragraphs(split):
            seen.setdefault(" ".join(text.split()), None)
    dev = {" ".join(text.split()) for text in paragraphs(shared / "mrqa-dev" / "SQuAD.jsonl.gz")}
    leaked = [text for text in seen if text in dev]
    if leaked:
        raise SystemExit(f"{len(leaked)} training paragraphs also occur in the dev set: refusing to write")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n\n".join(seen) + "\n", encoding="utf-8")
    words = sum(len(text.split()) for text in seen)
    print(f"{out}: {len(seen)} distinct training paragraphs from {len(splits)} split files, {words} words; "
          f"0 of them in the {len(dev)} dev paragraphs")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
