"""transformers' `pipeline("question-answering")`, rewritten for the inference benchmark (bench only).

transformers 5 removed that pipeline (its registry now answers "Use the `text-generation` pipeline"), so,
as `bench/reference.py` does for run_qa.py, this file re-implements what the transformers 4.x
`QuestionAnsweringPipeline` did for one question with a fast tokenizer and its default arguments, on
transformers' own model and tokenizer classes:

* the argument handler builds a `SquadExample` per question, whose constructor splits the context into
  whitespace words with a per-character loop (kept here: the pipeline paid it on every call);
* `preprocess`: one tokenizer call with ``truncation="only_second"``, ``max_length=384``, ``stride=128``
  (run_qa's meaning: 128 tokens of overlap), no padding, overflowing windows, offsets; ``p_mask`` marks
  every token outside the context except ``[CLS]``;
* `_forward`: each window through the model on its own (the pipeline's default ``batch_size=1``: no
  padding, one forward per window);
* `postprocess`: per window, logits outside the context set to -10000, start and end softmaxed, ``[CLS]``
  zeroed, the outer product of the two cut to ``0 <= end - start < max_answer_len`` (15), the ``top_k``
  best pairs kept when both tokens are context tokens, the token span widened to whole words
  (``token_to_word`` / ``word_to_chars``); all windows' answers sorted by that probability product.
"""

from __future__ import annotations

import numpy as np
import torch


def _whitespace_words(context: str) -> tuple[list[str], list[int]]:
    """The context's whitespace-separated words and each character's word index (SquadExample's loop)."""
    words: list[str] = []
    char_to_word: list[int] = []
    previous_is_space = True
    for char in context:
        if char in " \t\r\n" or ord(char) == 0x202F:
            previous_is_space = True
        else:
            if previous_is_space:
                words.append(char)
            else:
                words[-1] += char
            previous_is_space = False
        char_to_word.append(len(words) - 1)
    return words, char_to_word


class PipelineReference:
    """`qa(question, context)` → ``{"score", "start", "end", "answer"}`` the way the 4.x pipeline does."""

    def __init__(self, model_dir: str, device: str = "cpu", autocast_dtype: torch.dtype | None = None):
        from transformers import SplinterForQuestionAnswering, SplinterTokenizerFast

        self.tokenizer = SplinterTokenizerFast.from_pretrained(model_dir)
        self.model = SplinterForQuestionAnswering.from_pretrained(model_dir).to(device).eval()
        self.device = torch.device(device)
        self.autocast_dtype = autocast_dtype

    def __call__(self, question: str, context: str, top_k: int = 1, max_answer_len: int = 15,
                 max_seq_len: int = 384, doc_stride: int = 128) -> dict | list[dict]:
        _whitespace_words(context)  # the SquadExample the argument handler builds
        encoded = self.tokenizer(
            text=question, text_pair=context, padding="do_not_pad", truncation="only_second",
            max_length=max_seq_len, stride=doc_stride, return_tensors="np", return_token_type_ids=True,
            return_overflowing_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True,
        )
        answers = []
        for window in range(len(encoded["input_ids"])):
            ids = encoded["input_ids"][window]
            p_mask = np.array([sequence != 1 for sequence in encoded.sequence_ids(window)])
            p_mask[ids == self.tokenizer.cls_token_id] = False
            inputs = {name: torch.as_tensor(encoded[name][window][None]).long().to(self.device)
                      for name in ("input_ids", "attention_mask", "token_type_ids")}
            with torch.inference_mode(), self._autocast():
                output = self.model(**inputs)
            start = output.start_logits.float().cpu().numpy()
            end = output.end_logits.float().cpu().numpy()
            answers += self._window_answers(start, end, p_mask, encoded["attention_mask"][window],
                                            encoded[window], context, top_k, max_answer_len)
        answers = sorted(answers, key=lambda a: a["score"], reverse=True)[:top_k]
        return answers[0] if len(answers) == 1 else answers

    def _window_answers(self, start, end, p_mask, attention_mask, encoding, context, top_k, max_answer_len):
        allowed = (~p_mask).astype(np.int64) & attention_mask
        start = np.where(allowed == 0, -10000.0, start)
        end = np.where(allowed == 0, -10000.0, end)
        start = np.exp(start - start.max(axis=-1, keepdims=True))
        start /= start.sum(axis=-1, keepdims=True)
        end = np.exp(end - end.max(axis=-1, keepdims=True))
        end /= end.sum(axis=-1, keepdims=True)
        start[0, 0] = end[0, 0] = 0.0  # [CLS] is not an answer (handle_impossible_answer=False)
        pairs = np.tril(np.triu(start[:, :, None] * end[:, None, :]), max_answer_len - 1)
        flat = pairs.reshape(-1)
        if top_k == 1:
            best = np.array([np.argmax(flat)])
        elif len(flat) < top_k:
            best = np.argsort(-flat)
        else:
            best = np.argpartition(-flat, top_k)[:top_k]
            best = best[np.argsort(-flat[best])]
        starts, ends = np.unravel_index(best, pairs.shape)[1:]
        context_tokens = allowed.nonzero()
        keep = np.isin(starts, context_tokens) & np.isin(ends, context_tokens)
        out = []
        for s, e in zip(starts[keep].tolist(), ends[keep].tolist(), strict=True):
            try:  # whole words, as the pipeline's align_to_words
                first = encoding.word_to_chars(encoding.token_to_word(s), sequence_index=1)[0]
                last = encoding.word_to_chars(encoding.token_to_word(e), sequence_index=1)[1]
            except Exception:  # noqa: BLE001 - tokens without a word: the pipeline falls back to offsets
                first, last = encoding.offsets[s][0], encoding.offsets[e][1]
            out.append({"score": float(pairs[0, s, e]), "start": first, "end": last, "answer": context[first:last]})
        return out

    def _autocast(self):
        if self.autocast_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)
