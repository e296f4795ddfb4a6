"""serve.py, the live demo: its request handling (no server), its start-up errors, and the page itself in a
real headless Chromium (tests/browser.py) against `python serve.py` on a free loopback port."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from run_helpers import REPO
from tiny_config import TINY, perturbed

from splinter.errors import CheckpointError, ConfigError, SplinterError
from splinter.model.config import SplinterConfig
from splinter.model.qa import SplinterForQuestionAnswering
from splinter.qa import serve
from splinter.qa.answerer import QuestionAnswerer
from splinter.qa.serve import Limits, answer_request, read_upload, respond
from splinter.tokenization.tokenizer import load_tokenizer

# Windows of 96 tokens: the long passages below need several (the answerer cuts them as evaluation does).
WINDOWS = {"max_seq_length": 96, "doc_stride": 32, "max_query_length": 32}
SCRIPT = "<script>window.__pwned=1</script>"
HAMLET = "Hamlet is a tragedy written by William Shakespeare sometime between 1599 and 1601."
# ~700 tokens: eight windows of 96
LONG = (f"The Globe Theatre {SCRIPT} was a theatre in London associated with William Shakespeare. " * 3
        + " ".join(f"Sentence {i} says that the company played in Southwark in the year {1590 + i}." for i in range(40))
        + " " + HAMLET)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny perturbed model (a fresh head scores every span alike) saved with the MiniLM tokenizer."""
    torch.manual_seed(0)
    model = perturbed(SplinterForQuestionAnswering(SplinterConfig(**{**TINY, "vocab_size": 30522,
                                                                    "max_position_embeddings": 512})))
    directory = tmp_path_factory.mktemp("serve") / "model"
    model.save_pretrained(directory, tokenizer=load_tokenizer("minilm"))
    return directory


@pytest.fixture(scope="module")
def qa(model_dir) -> QuestionAnswerer:
    return QuestionAnswerer.from_pretrained(model_dir, device="cpu", **WINDOWS)


def test_answers_are_the_answerers_with_n_best_lists_and_probabilities(qa):
    questions = ["Who wrote Hamlet?", "Where did the company play?"]
    reply = answer_request(qa, LONG, "\n".join(questions) + "\n\n", Limits(top_k=4))
    assert len(qa.tokenizer.encode(LONG).ids) > 5 * WINDOWS["max_seq_length"]  # several windows
    assert reply.message.startswith("Answered 2 of 2 questions in ")
    for number, (question, row) in enumerate(zip(questions, reply.answers, strict=True), 1):
        best = qa(question=question, context=LONG, probability=True)  # evaluation's answer
        assert best["answer"] and LONG[best["start"]:best["end"]] == best["answer"]
        assert row == [f"Q{number}", question, best["answer"], round(best["probability"], 4)]
        expected = qa(question=question, context=LONG, top_k=4, probability=True)
        rows = [r for r in reply.n_best if r[0] == f"Q{number}"]
        assert [r[1:3] + r[5:] for r in rows] == [[k, a["answer"], a["start"], a["end"]]
                                                  for k, a in enumerate(expected, 1)]
        assert [r[3] for r in rows] == [round(a["probability"], 4) for a in expected]
        assert [r[3] for r in rows] == sorted((r[3] for r in rows), reverse=True) and sum(r[3] for r in rows) <= 1
    # the passage comes back whole, as text, with each best answer's piece labelled by its question
    assert "".join(text for text, _ in reply.highlights) == LONG
    for label, _, answer, *_ in reply.answers:
        assert "".join(text for text, labels in reply.highlights if label in (labels or "").split(", ")) == answer


def test_overlapping_answers_share_a_piece_and_markup_stays_text():
    passage = f"A {SCRIPT} B"
    pieces = serve.highlight(passage, [(2, 10, "Q1"), (2, 35, "Q2")])
    assert pieces == [("A ", None), ("<script>", "Q1, Q2"), ("window.__pwned=1</script>", "Q2"), (" B", None)]


@pytest.mark.parametrize(("passage", "questions", "limits", "message"), [
    ("", "Who?", Limits(), "Paste a passage or upload a .txt file first."),
    (" \n\t", "Who?", Limits(), "Paste a passage or upload a .txt file first."),
    (None, "Who?", Limits(), "Paste a passage or upload a .txt file first."),
    (HAMLET, " \n \n", Limits(), "Type a question (one a line)."),
    (HAMLET, None, Limits(), "Type a question (one a line)."),
    ("x" * 101, "Who?", Limits(max_passage_chars=100),
     "The passage has 101 characters; this server takes at most 100 (serve.py max_passage_chars=...)."),
    (HAMLET, "a\nb\nc", Limits(max_questions=2),
     "3 questions; this server takes at most 2 at once (serve.py max_questions=...)."),
    (HAMLET, "Who?\n" + "w" * 1001, Limits(), "Question 2 has 1,001 characters; a question may have at most 1,000."),
])
def test_bad_input_is_a_message_on_the_page(qa, passage, questions, limits, message):
    status, highlights, answers, n_best = respond(qa, passage, questions, limits)
    assert (status, highlights, answers, n_best) == (message, [], [], [])


def test_a_passage_without_readable_tokens_is_reported_per_question(qa):
    status, _, answers, n_best = respond(qa, "\x00\x01", "Who?", Limits())
    assert status.startswith("Answered 0 of 1 question in ")
    assert status.endswith("Not answered: question 1: context has no tokens the model can read.")
    assert answers == [["Q1", "Who?", "", None]] and n_best == []


def test_a_failure_while_answering_is_a_line_not_a_traceback(qa, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")

    monkeypatch.setattr(qa, "answer_stream", broken)
    status, *outputs = respond(qa, HAMLET, "Who?", Limits())
    assert status == "Error while answering: CUDA out of memory. Tried to allocate 2 GiB"
    assert outputs == [[], [], []]


def test_uploads_are_utf8_text_or_a_message(tmp_path):
    good = tmp_path / "hamlet.txt"
    good.write_bytes(b"\xef\xbb\xbf" + HAMLET.encode())  # a byte order mark is dropped
    assert read_upload(good, 1000) == (HAMLET, f"Read hamlet.txt: {len(HAMLET)} characters.")
    cases = {
        "latin1.txt": (b"caf\xe9 au lait", "latin1.txt:1: not UTF-8: byte 0xe9 at column 4."),
        "image.txt": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image.txt: a binary file (NUL bytes), not a UTF-8 text file."),
        "empty.txt": (b" \n", "empty.txt: empty file."),
        "long.txt": ("é" * 1001, "long.txt: 1,001 characters; this server takes at most 1,000."),
        "huge.txt": (b"x" * 4001, "huge.txt: 4,001 bytes; this server takes passages of at most 1,000 characters."),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        assert read_upload(path, 1000) == (None, message)
    assert read_upload(None, 1000) == (None, "")


def test_the_page_shows_data_only_through_text_components(qa):
    """No passage, question, answer or file name reaches HTML or Markdown: the outputs are a Textbox,
    HighlightedText and Dataframes of text cells (which Gradio renders as text), and no component is HTML."""
    app = serve.build_app(qa, Limits(), title=f"model {SCRIPT}")
    kinds = {block.elem_id: type(block).__name__ for block in app.blocks.values() if getattr(block, "elem_id", None)}
    assert kinds == {"passage": "Textbox", "upload": "File", "questions": "Textbox", "ask": "Button",
                     "message": "Textbox", "highlighted": "HighlightedText", "answers": "Dataframe",
                     "n-best": "Dataframe"}
    assert not [b for b in app.blocks.values() if type(b).__name__ == "HTML"]
    markdown = [b.value for b in app.blocks.values() if type(b).__name__ == "Markdown"]
    assert markdown and not any(SCRIPT in str(text) for text in markdown)  # the title is in a Textbox
    assert all(b.datatype == "str" for b in app.blocks.values() if type(b).__name__ == "Dataframe")


# ------------------------------------------------------------------------------------------- start-up


def _serve_config(*overrides: str):
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("serve", overrides=list(overrides))


@pytest.mark.parametrize(("overrides", "error", "message"), [
    ([], ConfigError, "config key 'checkpoint': is required: python serve.py checkpoint=<dir|hub id|run.ckpt|minilm> "
                      "[port=7860]"),
    (["checkpoint=x", "port=70000"], ConfigError, "config key 'port': got 70000, allowed: an integer >= 0 and <= 65535"),
    (["checkpoint=x", "top_k=0"], ConfigError, "config key 'top_k': got 0, allowed: an integer >= 1"),
    (["checkpoint=x", "+settings.stride=3"], ConfigError, "config key 'settings.stride': not a QuestionAnswerer setting"),
    (["checkpoint=no-such-owner/no-such-model"], CheckpointError, "checkpoint 'no-such-owner/no-such-model': "),
])
def test_bad_settings_and_checkpoints_stop_before_any_server(overrides, error, message, monkeypatch):
    monkeypatch.setattr(serve, "build_app", lambda *a, **k: pytest.fail("the server was built"))
    with pytest.raises(error) as raised:
        serve.run(_serve_config(*overrides))
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_without_gradio_one_line_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "gradio", None)  # as if not installed
    monkeypatch.setattr(serve, "load_answerer", lambda *a, **k: pytest.fail("the model was loaded first"))
    with pytest.raises(SplinterError) as error:
        serve.run(_serve_config("checkpoint=x"))
    assert str(error.value) == "serve.py needs gradio, which is not installed: pip install -e '.[demo]'"


def test_a_bad_checkpoint_is_one_line_on_stderr_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "serve.py"), "checkpoint=./no-such-dir", "port=0"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert list(tmp_path.iterdir()) == []  # no .hydra/, log or error.json in the user's folder
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: ") and "no-such-dir" in result.stderr and "serving" not in result.stdout


def test_a_port_in_use_is_one_line_and_serving_imports_no_lightning(model_dir, tmp_path):
    """The whole command up to the server (Hydra and its callbacks, the model, the page) imports no
    Lightning: `-X importtime` lists every module the process imported."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-X", "importtime", str(REPO / "serve.py"), f"checkpoint={model_dir}",
                                 f"port={port}", "device=cpu"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: config key 'port': cannot serve on 127.0.0.1:{port} (")
    assert last.endswith("); pick another, or port=0 for a free one")
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert {"gradio", "splinter.qa.serve", "splinter.qa.answerer"} <= modules
    assert [m for m in modules if m.split(".")[0] in ("lightning", "pytorch_lightning", "lightning_fabric")
            or m.startswith(("splinter.finetuning", "splinter.pretraining", "splinter.run.resume_check"))] == []
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------- the page


@pytest.fixture
def server(model_dir):
    """`python serve.py` on a free loopback port (port=0); its URL. Stopped with Ctrl-C (SIGINT) at the
    end, killed if it does not stop: no process outlives the test, whatever happens in it."""
    overrides = [f"+settings.{key}={value}" for key, value in WINDOWS.items()]
    process = subprocess.Popen([sys.executable, str(REPO / "serve.py"), f"checkpoint={model_dir}", "port=0",
                                "device=cpu", *overrides], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    try:
        seen = []
        while True:
            try:
                line = lines.get(timeout=120)
            except queue.Empty:
                pytest.fail("serve.py printed no URL in 120 s:\n" + "".join(seen))
            seen.append(line)
            match = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if match:
                break
            if process.poll() is not None:
                pytest.fail("serve.py ended:\n" + "".join(seen))
        yield match.group(1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_page_answers_as_the_answerer_and_shows_markup_as_text(server, browser_page, qa, tmp_path):
    page = browser_page
    hosts = set()
    page.on("request", lambda request: hosts.add(re.sub(r"^(\w+://[^/]+).*$", r"\1", request.url)))
    page.goto(server)
    question = "Who wrote Hamlet?"
    page.locator("#passage textarea").fill(LONG)
    page.locator("#questions textarea").fill(question)
    page.locator("#ask").click()
    page.wait_for_function("document.querySelector('#message textarea').value.startsWith('Answered')",
                           timeout=60_000)
    expected = qa(question=question, context=LONG)
    assert page.locator("#message textarea").input_value().startswith("Answered 1 of 1 question in ")
    assert page.locator('#answers [data-testid="cell-0-2"]').inner_text() == expected["answer"] != ""
    # the passage is on the page as text: its pieces joined are the passage, <script> included
    pieces = page.locator("#highlighted .text").all_text_contents()
    assert "".join(pieces) == LONG and SCRIPT in page.locator("#highlighted").inner_text()
    assert page.locator("#highlighted .highlighted .text").all_text_contents() == [expected["answer"]]
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("script", has_text="__pwned").count() == 0
    rows = page.locator('#n-best [data-testid^="cell-"][data-testid$="-2"]').all_inner_texts()
    assert rows[0] == expected["answer"] and len(rows) == 5
    assert hosts == {server.rstrip("/")}  # nothing fetched from anywhere else (fonts, analytics)
    page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
    assert (tmp_path / "serve.png").stat().st_size > 10_000

    page.locator("#passage textarea").fill("")
    page.locator("#ask").click()
    page.wait_for_function("document.querySelector('#message textarea').value.startsWith('Paste')", timeout=60_000)

