"""Bad data rows and bad rule values: clear ValueErrors naming the file and line, or the rule and its range."""

import json

import pytest

from eeviz.data import MAX_TEXT_CHARS, load_examples_file, load_task
from eeviz.methods import available_methods, get_method
from eeviz.methods.base import check_rule_params


# ------------------------------------------------------------------------------------------------ data rows
@pytest.mark.parametrize(
    "line,match",
    [("5", "line 2: expected an object .* got a number 5"), ("null", "line 2: expected an object .* got null"),
     ("[1, 2]", "line 2: expected an object .* got an array"), ('"text"', "line 2: .* got a string"),
     ('{"text": ["a"], "label": 1}', "line 2: 'text' must be a string"),
     ('{"text": "a", "label": {"x": 1}}', "line 2: the label must be a number or a string")],
)
def test_jsonl_rows_that_are_not_objects(tmp_path, line, match):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"text": "good", "label": 1}\n' + line + "\n")
    with pytest.raises(ValueError, match=match) as info:
        load_task(str(path))
    assert "rows.jsonl" in str(info.value)


def test_json_array_items_that_are_not_objects(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"text": "good", "label": 1}, 5]))
    with pytest.raises(ValueError, match="rows.json.*item 2"):
        load_examples_file(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="item 1"):
        load_task(str(path))


@pytest.mark.parametrize("name", ["latin1.csv", "latin1.jsonl"])
def test_non_utf8_file_is_named(tmp_path, name):
    path = tmp_path / name
    body = b"text,label\ncaf\xe9,1\n" if name.endswith(".csv") else b'{"text": "caf\xe9", "label": 1}\n'
    path.write_bytes(body)
    with pytest.raises(ValueError, match=f"{name}.*not UTF-8.*line") as info:
        load_task(str(path))
    assert not isinstance(info.value, UnicodeDecodeError)


def test_utf8_bom_is_fine(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufefftext,label\ncafé,1\nbad,0\n".encode("utf-8"))
    examples, names = load_examples_file(str(path))
    assert [e.text for e in examples] == ["café", "bad"] and names == ["0", "1"]


def test_long_texts_are_cut_with_a_warning(tmp_path):
    path = tmp_path / "long.csv"
    huge = "good " * 400_000  # 2 MB on one line
    path.write_text(f"text,text_b,label\n{huge},short,1\nfine,{huge},0\nok,ok,1\n")
    with pytest.warns(UserWarning, match=f"long.csv: 2 example.*longer than {MAX_TEXT_CHARS}"):
        examples, _ = load_examples_file(str(path))
    assert [len(e.text) for e in examples] == [MAX_TEXT_CHARS, 4, 2]
    assert [len(e.text_b) for e in examples] == [5, MAX_TEXT_CHARS, 2]
    with pytest.warns(UserWarning, match="longer than"):
        task = load_task(str(path))
    assert max(len(e.text) for split in (task.train, task.dev, task.test) for e in split) <= MAX_TEXT_CHARS


def test_non_finite_label(tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_text('{"text": "a", "label": 1.5}\n{"text": "b", "label": Infinity}\n')
    with pytest.raises(ValueError, match="line 2.*not a finite number"):
        load_task(str(path))


@pytest.mark.parametrize("label", ["nan", "NaN", "inf", "-Infinity", "1e309", pytest.param("9" * 400, id="400-digits")])
def test_non_finite_csv_label_is_refused_naming_the_row(tmp_path, label):
    """A CSV's labels are strings: "nan" or "1e309" must be refused as JSON's Infinity is, not read as a
    regression target that makes the training loss nan."""
    path = tmp_path / "reg.csv"
    path.write_text(f"text,label\na,0.5\nb,1.5\nc,{label}\n")
    with pytest.raises(ValueError, match=r"reg.csv', row 3 \(line 4\): the label .* is not a finite number") as info:
        load_task(str(path))
    assert "\n" not in str(info.value) and len(str(info.value)) < 200
    path.write_text("text,label\na,0.5\nb,1e308\nc,-2\n")  # large but finite: a regression target
    examples, names = load_examples_file(str(path))
    assert names == [] and [e.label for e in examples] == [0.5, 1e308, -2.0]


def test_a_number_past_pythons_digit_limit_names_the_file_and_line(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "good", "label": 1}\n{"text": ' + "1" * 5000 + ', "label": 0}\n')
    with pytest.raises(ValueError, match=r"big.jsonl', line 2: a number has more than \d+ digits") as info:
        load_task(str(path))
    assert len(str(info.value)) < 200
    path = tmp_path / "big.json"  # one JSON array: read line by line after it fails whole
    path.write_text('[{"text": "good", "label": ' + "7" * 5000 + "}]")
    with pytest.raises(ValueError, match=r"big.json', line 1: a number has more than"):
        load_examples_file(str(path))


def test_labels_quoted_in_a_message_are_cut_and_the_first_bad_ones_line_named(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"text": "a", "label": "fresh"}\n{"text": "", "label": "x"}\n{"text": "b", "label": 1e300}\n')
    with pytest.raises(ValueError, match="labels unknown to the model") as info:  # 1e300 reads as a class index
        load_examples_file(str(path), labels=["rotten", "fresh"])
    message = str(info.value)
    assert "(first at line 3)" in message and "…" in message and len(message) < 250, message
    path.write_text('{"text": "a", "label": 0.5}\n{"text": "b", "label": "' + "w" * 300 + '"}\n')
    with pytest.raises(ValueError, match=r"mixes numeric .* text labels \['w{39}…'\] \(first at line 2\)"):
        load_task(str(path))


def test_a_pair_file_with_a_row_lacking_its_second_text_is_refused_naming_the_row(tmp_path):
    """A model reads pairs or single sentences: a blank text_b in a pair file failed in the tokenizer
    ("TextInputSequence must be str") when the batch held both."""
    path = tmp_path / "pairs.csv"
    path.write_text("text,text_b,label\na,b,1\nc,,0\nd,e,1\n")
    with pytest.raises(ValueError, match=r"pairs.csv', row 2 \(line 3\): no second text \('text_b'\)"):
        load_task(str(path))
    path.write_text("text,text_b,label\na,,1\nc,,0\n")  # an empty column: single sentences
    examples, _ = load_examples_file(str(path))
    assert [e.text_b for e in examples] == [None, None]


def test_encode_texts_says_a_pair_batch_lacks_second_texts(tiny_bert):
    from transformers import AutoTokenizer

    from eeviz.model import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    with pytest.raises(ValueError, match=r"lacks the second text of 1 of 3 rows \(row 2\)"):
        encode_texts(tokenizer, ["a", "b", "c"], ["x", None, "z"])
    assert encode_texts(tokenizer, ["a", "b"], [None, None])["input_ids"].shape[0] == 2  # single sentences


# ------------------------------------------------------------------------------------------------ rule values
PABEE = get_method("pabee")


@pytest.mark.parametrize(
    "params,match",
    [({"patience": {"patience": "1e309"}}, r"patience.patience=1e309: not a finite number; .* from 0 to 24"),
     ({"patience": {"patience": float("nan")}}, "not a finite number"),
     ({"patience": {"patience": 99}}, "out of range; .* from 0 to 24"),
     ({"patience": {"patience": 2.5}}, "not a whole number"),
     ({"patience": {"patience": "abc"}}, "not a finite number"),
     ({"patience": {"tolerance": "inf"}}, "tolerance=inf: not a finite number"),
     ({"patience": {"nope": 1}}, r"no parameter 'nope' \(parameters: patience, tolerance\)"),
     ({"entropy": {"entropy": 0.2}}, r"no exit rule 'entropy' \(rules: patience\)")],
)
def test_rule_params_are_checked_against_their_spec(params, match):
    with pytest.raises(ValueError, match=match):
        check_rule_params("pabee", PABEE.rules, params)


def test_every_problem_is_listed_and_good_values_are_typed():
    with pytest.raises(ValueError) as info:
        check_rule_params("pabee", PABEE.rules, {"patience": {"patience": -1, "x": 1}, "nope": {}})
    assert all(part in str(info.value) for part in ("patience=-1", "'x'", "'nope'"))
    assert check_rule_params("pabee", PABEE.rules, {"patience": {"patience": "3"}}) == {"patience": {"patience": 3}}
    for method in map(get_method, available_methods()):  # every default and swept value of every rule passes
        for name, rule in method.rules.items():
            for value in (rule.spec.default, *rule.spec.sweep, *rule.sweep_for(12)):
                check_rule_params(method.name, method.rules, {name: {rule.spec.param: value}})


def test_trace_cli_refuses_bad_rule_values(tiny_bert, tmp_path):
    import subprocess
    import sys

    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    ck = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee")), tmp_path / "ck")

    def run(*sets):
        cmd = [sys.executable, "-m", "eeviz.trace", "--checkpoint", str(ck), "--text", "the movie is good"]
        return subprocess.run(cmd + [a for s in sets for a in ("--set", s)], capture_output=True, text=True, timeout=120)

    for sets, match in [(["patience.patience=1e309"], "not a finite number; patience t takes a whole number from 0 to 24"),
                        (["patience.patience=99"], "out of range"),
                        (["nope.x=1"], "no exit rule 'nope' (rules: patience)"),
                        (["patience.nope=1"], "no parameter 'nope'")]:
        out = run(*sets)
        assert out.returncode == 2 and match in out.stderr and "Traceback" not in out.stderr, out.stderr
    ok = run("patience.patience=1")
    assert ok.returncode == 0 and "rule patience (patience=1" in ok.stdout, ok.stderr


def test_the_python_api_checks_rule_values_too(tiny_bert):
    from eeviz.config import ModelConfig
    from eeviz.model import build_model
    from eeviz.trace import replay_all

    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee"))
    for params, match in [({"patience": 2.5}, "not a whole number"),  # was truncated to 2 without a word
                          ({"patience": float("nan")}, "not a finite number"),  # was a raw ValueError
                          ({"patience": 99}, "out of range"),
                          ({"patiense": 2}, "no parameter 'patiense'")]:
        with pytest.raises(ValueError, match=match):
            model.make_rule("patience", **params)
    assert model.make_rule("patience", patience="3").params["patience"] == 3  # typed, as the CLI's --set
    five = build_model(ModelConfig(backbone=tiny_bert, method="deebert", labels=list("abcde")))
    assert five.make_rule("entropy", entropy=1.6).params["entropy"] == 1.6  # up to log 5, as the app's slider
    with pytest.raises(ValueError, match="from 0 to 1.61"):
        five.make_rule("entropy", entropy=1.8)
    trace = model.trace("the movie is good")
    with pytest.raises(ValueError, match=r"no exit rule 'patiense' \(rules: patience\)"):
        replay_all(trace, {"patiense": {"patience": 3}})  # a typo used to return the defaults' decisions
    assert replay_all(trace, {"patience": {"patience": 1}})["patience"].params["patience"] == 1
    # replay_all checks values as make_rule does (2.5 was used as it came, "3" stayed a string)
    with pytest.raises(ValueError, match="not a whole number"):
        replay_all(trace, {"patience": {"patience": 2.5}})
    assert replay_all(trace, {"patience": {"patience": "3"}})["patience"].params["patience"] == 3


@pytest.mark.parametrize("text,text_b,match", [
    ("", None, "empty"),
    ("\u200b\u200b \u2060", None, "empty"),  # zero-width characters only: the model saw [CLS] [SEP] alone
    ("the movie", "is good", "single sentence, not a pair"),  # was run as a pair without a word
])
def test_model_trace_checks_its_text_as_the_app_and_cli_do(tiny_bert, text, text_b, match):
    from eeviz.config import ModelConfig
    from eeviz.inputs import InputError
    from eeviz.model import build_model

    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee"))
    with pytest.raises(InputError, match=match):
        model.trace(text, text_b)
    pair = build_model(ModelConfig(backbone=tiny_bert, method="pabee", is_pair=True))
    with pytest.raises(InputError, match="second sentence"):
        pair.trace("a premise", "\u200b")
    assert model.trace("caf\u0065\u0301 \x00good").text == "café good"  # cleaned as check_inputs cleans


def test_trace_cli_says_when_the_input_was_cut_and_names_the_second_text_flag(tiny_bert, tmp_path):
    import subprocess
    import sys

    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    single = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee", max_length=16)), tmp_path / "s")
    pair = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee", is_pair=True)), tmp_path / "p")

    def run(ck, *args):
        cmd = [sys.executable, "-m", "eeviz.trace", "--checkpoint", str(ck), *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    long = run(single, "--text", "the movie is good " * 10)
    assert long.returncode == 0 and "the input was cut" in long.stderr and "reads its first 16 tokens" in long.stderr
    short = run(single, "--text", "the movie is good")
    assert short.returncode == 0 and "cut" not in short.stderr
    missing = run(pair, "--text", "a premise")
    assert missing.returncode == 2 and "second sentence" in missing.stderr and "--text-b" in missing.stderr
    assert "Traceback" not in missing.stderr


# ------------------------------------------------------------------------------------------------ surrogates
def test_clean_text_replaces_lone_surrogates_and_joins_escaped_pairs():
    from eeviz.inputs import check_inputs, clean_text

    assert clean_text("bad \udcff byte") == "bad \ufffd byte"  # a non-UTF-8 argv byte (surrogateescape)
    assert clean_text("a \ud800") == "a \ufffd" and clean_text("\ude00\ud83d x") == "\ufffd\ufffd x"
    assert clean_text("smile \ud83d\ude00") == "smile \U0001F600"  # an escaped pair is its character
    assert check_inputs("x \udcff", "y \ud800", is_pair=True) == ("x \ufffd", "y \ufffd")
    clean_text("a \ud800 b").encode("utf-8")  # the result can be written out


def test_model_trace_and_batches_take_lone_surrogates(tiny_bert, tmp_path):
    """The tokenizer refuses a str with a surrogate (TypeError): the API replaces them first, CLI and app too."""
    import subprocess
    import sys

    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model, encode_texts

    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee"))
    model.eval()
    trace = model.trace("good \ud800 movie", text_b=None)
    assert trace.text == "good \ufffd movie" and trace.tokens == model.trace("good \ufffd movie").tokens
    batch = encode_texts(model.tokenizer, ["good \udcff", "fine"], [None, None], 16)
    assert batch["input_ids"].shape[0] == 2
    pairs = encode_texts(model.tokenizer, ["a", "b"], ["c \ud800", "d"], 16)
    assert pairs["input_ids"].shape[0] == 2

    ck = save_checkpoint(model, tmp_path / "ck")
    out = subprocess.run([sys.executable, "-m", "eeviz.trace", "--checkpoint", str(ck), "--text", b"bad \xff byte"],
                         capture_output=True, timeout=120)
    assert out.returncode == 0 and b"exit at layer" in out.stdout, out.stderr.decode(errors="replace")


def test_rows_with_an_empty_text_are_left_out_with_a_warning_naming_them(tmp_path):
    """A score over fewer rows than the file has must not pass unnoticed (evaluate said "1 examples" of 2)."""
    path = tmp_path / "gaps.csv"
    path.write_text("text,label\na good film,1\n,0\n   ,1\nbad,0\n")
    with pytest.warns(UserWarning, match=r"gaps.csv: 2 row\(s\) with an empty text left out \(row 2 \(line 3\), "
                                         r"row 3 \(line 4\)\); 2 read"):
        examples, _ = load_examples_file(str(path))
    assert [e.text for e in examples] == ["a good film", "bad"]


def test_an_upload_says_which_rows_it_left_out():
    from eeviz.uploads import read_upload

    sentences = read_upload("gaps.jsonl", b'{"text": "fine"}\n{"text": ""}\n{"text": "also fine"}\n')
    assert sentences.texts == ("fine", "also fine")
    assert any("1 row(s) with an empty text left out (line 2)" in n for n in sentences.notices), sentences.notices


def test_rows_of_invisible_characters_only_are_left_out_as_empty(tmp_path):
    """A zero-width space or a direction mark alone reaches a model as [CLS] [SEP]: such a row was scored (an
    upload) or counted (evaluate) as a sentence, with a prediction from no text at all."""
    from eeviz.uploads import read_pasted, read_upload

    path = tmp_path / "marks.csv"
    path.write_text("text,label\n\u200b,1\na good film,1\n\u200e \u2060,0\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"2 row\(s\) with an empty text left out \(row 1 \(line 2\), row 3"):
        examples, _ = load_examples_file(str(path))
    assert [e.text for e in examples] == ["a good film"]
    sentences = read_upload("marks.csv", path.read_bytes())
    assert sentences.texts == ("a good film",) and sentences.places == ("row 2 (line 3)",)
    assert any("2 row(s) with an empty text left out" in n for n in sentences.notices), sentences.notices
    assert read_pasted("fine\n\u200b\nalso fine").texts == ("fine", "also fine")
