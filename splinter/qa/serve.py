"""`serve.py`: a live demo of a trained model, a small Gradio page on 127.0.0.1.

Paste or upload (.txt) a passage, type questions (one a line), and see each best answer highlighted in
the passage, the answers, and every question's n-best list with probabilities. The answers come from
`QuestionAnswerer` with the checkpoint's window and decoding settings, so they are evaluation's; a
passage longer than one window is cut into windows as in evaluation.

`answer_request` and `read_upload` do the work without a server (the tests call them); `build_app` lays
out the page; `run` loads the model (a bad checkpoint is one line before any server starts) and serves.
Nothing is sent anywhere: Gradio's analytics are off, no share link, the server binds 127.0.0.1 only,
and the theme uses the system's fonts (Gradio's default theme loads Google Fonts).

The page shows data only through components that render text (a Textbox, HighlightedText, Dataframe
cells of type "str"): no passage, question, answer or file name is ever put into HTML or Markdown.
"""

from __future__ import annotations

import itertools
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from splinter.data.formats.file_io import decode
from splinter.errors import ConfigError, DataError, SplinterError, one_line
from splinter.qa.answerer import QuestionAnswerer, Skipped
from splinter.qa.predict import answerer_settings, load_answerer
from splinter.run.config_checks import check_config, integer

log = logging.getLogger("splinter")

HOST = "127.0.0.1"  # never another interface: the demo has no authentication
SERVE_RULES = {"port": integer(0, maximum=65535), "top_k": integer(1), "max_passage_chars": integer(1),
               "max_questions": integer(1)}
# A question is cut to max_query_length tokens anyway; a longer one is surely a passage in the wrong box.
MAX_QUESTION_CHARS = 1000
INSTALL_HINT = "pip install -e '.[demo]'"
# HighlightedText lays each piece out as a block in a wrapping flex row: the passage then breaks before
# and after every answer. Inline pieces read as running text, answers marked where they stand.
CSS = """
#highlighted .textfield { display: block; line-height: 1.8; }
#highlighted .token-container { display: inline; }
#highlighted .text { word-break: normal; overflow-wrap: anywhere; }
"""
ANSWER_HEADERS = ["#", "question", "answer", "probability"]  # scores: in the n-best table
N_BEST_HEADERS = ["#", "rank", "answer", "probability", "score", "start", "end"]


@dataclass(frozen=True)
class Limits:
    """What one request may hold, and how many answers each question lists (serve.yaml's keys)."""

    max_passage_chars: int = 100_000
    max_questions: int = 16
    top_k: int = 5


@dataclass
class Reply:
    """What the page shows for one request; `message` alone when the request was refused."""

    message: str
    highlights: list[tuple[str, str | None]] = field(default_factory=list)  # the passage, cut at the answers
    answers: list[list] = field(default_factory=list)  # one row per question (ANSWER_HEADERS)
    n_best: list[list] = field(default_factory=list)  # top_k rows per question (N_BEST_HEADERS)


def questions_of(text: str | None) -> list[str]:
    """The questions typed in the box: one a line, blank lines ignored."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def answer_request(qa: QuestionAnswerer, passage: str | None, questions_text: str | None, limits: Limits) -> Reply:
    """Answer the questions about the passage, or say on one line why not."""
    passage = passage or ""
    if not passage.strip():
        return Reply("Paste a passage or upload a .txt file first.")
    if len(passage) > limits.max_passage_chars:
        return Reply(f"The passage has {len(passage):,} characters; this server takes at most "
                     f"{limits.max_passage_chars:,} (serve.py max_passage_chars=...).")
    questions = questions_of(questions_text)
    if not questions:
        return Reply("Type a question (one a line).")
    if len(questions) > limits.max_questions:
        return Reply(f"{len(questions)} questions; this server takes at most {limits.max_questions} at once "
                     "(serve.py max_questions=...).")
    for number, question in enumerate(questions, 1):
        if len(question) > MAX_QUESTION_CHARS:
            return Reply(f"Question {number} has {len(question):,} characters; a question may have at most "
                         f"{MAX_QUESTION_CHARS:,}.")
    started = time.perf_counter()
    results = list(qa.answer_stream([(q, passage) for q in questions], top_k=limits.top_k, probability=True))
    seconds = time.perf_counter() - started
    reply = Reply("")
    best_spans, problems = [], []
    for number, (question, result) in enumerate(zip(questions, results, strict=True), 1):
        label = f"Q{number}"
        if isinstance(result, Skipped):
            problems.append(f"question {number}: {result.reason}")
            reply.answers.append([label, question, "", None])
            continue
        best = result[0] if result else None
        if best is None:  # no window has a valid span (evaluation predicts "" too)
            problems.append(f"question {number}: no answer span found")
        reply.answers.append([label, question, best["answer"] if best else "", _rounded(best, "probability", 4)])
        reply.n_best += [[label, rank, a["answer"], _rounded(a, "probability", 4), _rounded(a, "score", 3),
                          a["start"], a["end"]] for rank, a in enumerate(result, 1)]
        if best is not None:
            best_spans.append((best["start"], best["end"], label))
    reply.highlights = highlight(passage, best_spans)
    plural = "s" if len(questions) > 1 else ""
    reply.message = (f"Answered {len(questions) - len(problems)} of {len(questions)} question{plural} in "
                     f"{seconds:.2f} s ({qa.device}).")
    if problems:
        reply.message += " Not answered: " + "; ".join(problems) + "."
    return reply


def respond(qa: QuestionAnswerer, passage: str | None, questions_text: str | None, limits: Limits) -> tuple:
    """The page's outputs for a click on Answer: status, highlighted passage, answers, n-best. An
    unexpected failure is a status line too (its traceback goes to the console, not to the page)."""
    try:
        reply = answer_request(qa, passage, questions_text, limits)
    except Exception as error:  # noqa: BLE001 - the page says what failed; the console has the traceback
        log.exception("answering failed")
        reply = Reply(f"Error while answering: {one_line(error)}")
    return reply.message, reply.highlights, reply.answers, reply.n_best


def _rounded(answer: dict | None, key: str, digits: int) -> float | None:
    value = answer.get(key) if answer else None
    return None if value is None else round(float(value), digits)


def highlight(passage: str, spans: list[tuple[int, int, str]]) -> list[tuple[str, str | None]]:
    """The passage as (text, label) pieces for HighlightedText: each answer span labelled with its
    question ("Q1"); where answers overlap, the piece carries both labels ("Q1, Q2")."""
    cuts = sorted({0, len(passage), *(s for s, _, _ in spans), *(e for _, e, _ in spans)})
    pieces = []
    for begin, end in itertools.pairwise(cuts):
        labels = [label for s, e, label in spans if s <= begin and end <= e]
        pieces.append((passage[begin:end], ", ".join(labels) or None))
    return pieces


def read_upload(path: str | os.PathLike | None, max_chars: int) -> tuple[str | None, str]:
    """An uploaded .txt file's text and a message; the text is None (and the message says why) when the
    file is not UTF-8 text, is empty or too long."""
    if path is None:
        return None, ""
    path = Path(path)
    name = path.name
    limit = 4 * max_chars  # UTF-8: at most 4 bytes a character
    try:
        size = path.stat().st_size
        if size > limit:
            return None, f"{name}: {size:,} bytes; this server takes passages of at most {max_chars:,} characters."
        raw = path.read_bytes()
    except OSError as error:
        return None, f"{name}: cannot read ({one_line(error)})."
    if b"\x00" in raw:  # UTF-16 or a binary file: NUL bytes decode as UTF-8 but are no passage
        return None, f"{name}: a binary file (NUL bytes), not a UTF-8 text file."
    try:
        text = decode(raw, Path(name), 1)
    except DataError as error:
        return None, f"{error}."
    if not text.strip():
        return None, f"{name}: empty file."
    if len(text) > max_chars:
        return None, f"{name}: {len(text):,} characters; this server takes at most {max_chars:,}."
    return text, f"Read {name}: {len(text):,} characters."


# ------------------------------------------------------------------------------------------------ page


def import_gradio():
    """gradio, with its analytics off (set before the import: Gradio reads the variable then)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError:
        raise SplinterError(f"serve.py needs gradio, which is not installed: {INSTALL_HINT}") from None
    return gradio


def build_app(qa: QuestionAnswerer, limits: Limits, title: str):
    """The page: passage and questions on the left, the highlighted passage and the tables on the right."""
    gr = import_gradio()

    def on_ask(passage, questions):
        return respond(qa, passage, questions, limits)

    def on_upload(path, passage):
        text, message = read_upload(path, limits.max_passage_chars)
        return (passage if text is None else text), message

    with gr.Blocks(analytics_enabled=False, title=f"Splinter QA: {title}") as app:
        gr.Markdown("## Extractive question answering\n"
                    "Paste a passage or upload a .txt file, type one or more questions (one a line), press "
                    "**Answer**. Each answer is highlighted in the passage; the table below lists the "
                    f"{limits.top_k} best answers of every question with their probabilities.")
        with gr.Row():
            with gr.Column(scale=1):
                passage = gr.Textbox(label="Passage", lines=12, max_lines=20, elem_id="passage",
                                     placeholder="Paste the text to read here")
                upload = gr.File(label="or upload a .txt file", file_types=[".txt"], type="filepath",
                                 elem_id="upload", height=120)
                questions = gr.Textbox(label="Questions (one a line)", lines=3, elem_id="questions",
                                       placeholder="Who wrote Hamlet?")
                ask = gr.Button("Answer", variant="primary", elem_id="ask")
            with gr.Column(scale=1):
                message = gr.Textbox(label="Status", interactive=False, elem_id="message", lines=1,
                                     value=model_line(qa, title))
                marked = gr.HighlightedText(label="Answers in the passage", elem_id="highlighted",
                                            show_legend=True, combine_adjacent=False)
                answers = gr.Dataframe(headers=ANSWER_HEADERS, datatype="str", interactive=False,
                                       label="Answers", elem_id="answers", wrap=True,
                                       column_widths=["9%", "43%", "30%", "18%"])
        n_best = gr.Dataframe(headers=N_BEST_HEADERS, datatype="str", interactive=False,
                              label=f"n-best answers (top {limits.top_k} per question)", elem_id="n-best",
                              wrap=True)
        ask.click(on_ask, inputs=[passage, questions], outputs=[message, marked, answers, n_best])
        questions.submit(on_ask, inputs=[passage, questions], outputs=[message, marked, answers, n_best])
        upload.upload(on_upload, inputs=[upload, passage], outputs=[passage, message])
    return app


def model_line(qa: QuestionAnswerer, title: str) -> str:
    """What the page says about the model before the first question (a Textbox: shown as text)."""
    return (f"Model {title}: windows of {qa.windows.max_seq_length} tokens (stride {qa.windows.doc_stride}), "
            f"answers of at most {qa.decoding.max_answer_length} tokens, on {qa.device}.")


def theme(gr):
    """Gradio's default look on the system's fonts: its own theme would load Google Fonts."""
    return gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "monospace"])


def free_port() -> int:
    """A port nobody listens on at the moment (port=0): asked of the system, then handed to Gradio,
    which needs a number to print and open."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def run(cfg: DictConfig) -> None:
    if not cfg.get("checkpoint"):
        raise ConfigError("checkpoint", "is required: python serve.py checkpoint=<dir|hub id|run.ckpt|minilm> "
                          "[port=7860]")
    check_config(cfg, SERVE_RULES)
    settings = answerer_settings(cfg)
    gr = import_gradio()  # before the model: a missing extra is found at once
    limits = Limits(max_passage_chars=cfg.max_passage_chars, max_questions=cfg.max_questions, top_k=cfg.top_k)
    qa = load_answerer(cfg, settings)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's start-up requests to its own server
    app = build_app(qa, limits, title=str(cfg.checkpoint))
    port = cfg.port or free_port()
    try:
        app.launch(server_name=HOST, server_port=port, share=False, inbrowser=False, quiet=True,
                   prevent_thread_lock=True, show_error=False, ssr_mode=False, mcp_server=False, pwa=False,
                   enable_monitoring=False, footer_links=[], max_file_size=4 * limits.max_passage_chars,
                   theme=theme(gr), css=CSS)
    except OSError as error:  # the port is taken (Gradio: "Cannot find empty port in range")
        raise ConfigError("port", f"cannot serve on {HOST}:{port} ({one_line(error)}); pick another, or port=0 "
                          "for a free one") from None
    print(f"serving {cfg.checkpoint} on http://{HOST}:{port}/  (Ctrl-C stops)", flush=True)
    app.block_thread()  # until Ctrl-C, on which Gradio closes the server
