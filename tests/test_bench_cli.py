"""``eeviz bench``'s command line: every bad value is refused in one argparse-style line (exit 2) before any model
loads, so no timing work is lost to it; section 4 runs with a --texts file of a few sentences; --json makes its
folder; --help names the browser benchmark (--app). Figures are never asserted, only what the run reports."""

from __future__ import annotations

import json

import pytest

from eeviz.tools import bench
from eeviz.tools.bench_args import trace_sentences


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "two.txt"
    path.write_text("the movie is good\n\nbad plot\n")
    return path


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fails the test if the run got as far as loading models (a refusal must come before that)."""

    def load_models(*_):
        raise AssertionError("models were loaded before the bad argument was refused")

    monkeypatch.setattr(bench, "load_models", load_models)


def run_bench(argv) -> int:
    try:
        return bench.main(argv, prog="eeviz bench")
    except SystemExit as done:  # argparse's own refusals (a value that is not a number) exit
        return done.code


# (arguments, what the message says); each gave a traceback, some after minutes of timing
BAD_ARGUMENTS = [
    (["--sentences", "0"], "--sentences must be at least 1, got 0"),
    (["--sentences", "-3"], "--sentences must be at least 1, got -3"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--exit-at", "0"], "--exit-at must be at least 1"),
    (["--sections", "9"], "--sections: '9' is not a section"),
    (["--sections", "1,,2"], "--sections: '' is not a section"),
    (["--texts", "{tmp}/missing.txt"], "--texts: no file at '{tmp}/missing.txt'"),
    (["--texts", "{tmp}/blank.txt"], "holds no sentence (every line is blank)"),
    (["--texts", "{tmp}/latin1.txt"], "is not UTF-8 text"),
    (["--texts", "{tmp}"], "is a folder"),
    (["--json", "{tmp}"], "--json: '{tmp}' is a folder"),
    (["--json", "{tmp}/blank.txt/out.json"], "blank.txt' is a file, not a folder"),
]


@pytest.mark.parametrize("argv, message", BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_a_bad_argument_is_refused_in_one_line_before_any_model_loads(tmp_path, capsys, no_model_loads, argv,
                                                                      message):
    (tmp_path / "blank.txt").write_text("\n   \n")
    (tmp_path / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert run_bench(["--backbone", "unused", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("eeviz bench: error: ") and message.replace("{tmp}", str(tmp_path)) in err[-1], err
    assert not list(tmp_path.glob(".*write-test"))  # the trial write of --json leaves nothing behind


def test_section_4_runs_with_a_few_texts_and_json_makes_its_folder(tiny_bert, texts_file, tmp_path, capsys):
    out = tmp_path / "new" / "folder" / "bench.json"
    argv = ["--backbone", tiny_bert, "--texts", str(texts_file), "--repeats", "2", "--device", "cpu",
            "--max-length", "32", "--json", str(out)]
    assert run_bench(argv) == 0  # every section, on a file of two sentences (section 4 once raised IndexError)
    printed = capsys.readouterr().out
    for header in ("### 1. Batch 1", "### 2. Batched", "### 3. Exit rules", "### 4. Traces", "### 5. Peak memory"):
        assert header in printed
    results = json.loads(out.read_text())
    assert results["env"]["sentences"] == 2
    assert results["traces"]["sentences"] == 2  # one per repeat, after a warm-up
    assert any(n.startswith("--sentences 64 asked, 2 given") for n in results["notes"])
    assert any(n.startswith("section 4 wanted 3 new sentences") for n in results["notes"])


def test_section_4_takes_unseen_sentences_when_there_are_enough():
    pool = [f"sentence {i}" for i in range(10)]
    assert trace_sentences(pool, timed=4, repeats=3) == (pool[4:8], None)
    chosen, note = trace_sentences(pool, timed=8, repeats=3)  # 2 unseen left for 4 wanted
    assert chosen == ["sentence 8", "sentence 9", "sentence 0", "sentence 1"]
    assert "2 were left of 10" in note and "traced 2 of those again" in note
    assert trace_sentences(["only"], timed=1, repeats=2)[0] == ["only"] * 3


def test_only_the_sections_asked_for_run(tiny_bert, texts_file, capsys):
    argv = ["--backbone", tiny_bert, "--texts", str(texts_file), "--repeats", "1", "--device", "cpu",
            "--max-length", "32", "--sections", "4"]
    assert run_bench(argv) == 0
    printed = capsys.readouterr().out
    assert "### 4. Traces" in printed and "### 5. Peak memory" in printed
    assert "### 1. Batch 1" not in printed and "### 3. Exit rules" not in printed


def test_help_names_the_browser_benchmark(capsys):
    assert run_bench(["--help"]) == 0
    shown = capsys.readouterr().out
    assert "--app" in shown and "browser" in shown and "app_bench" in shown
