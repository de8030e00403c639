"""Precision (issue 13, items 2-4): bf16 only where the GPU has it natively, one inference precision for every
tool (fp32 unless asked, recorded in eval.json, metrics.json and the benchmark), fp16 refused on the CPU.

GPUs are mocked here (``torch.cuda`` functions monkeypatched); tests/test_cuda.py runs on a real one.
"""

import json

import numpy as np
import pytest
import torch

from eeviz import precision
from eeviz.checkpoint import load_checkpoint, save_checkpoint
from eeviz.evaluate import evaluate_checkpoint
from eeviz.evaluate_cli import main as evaluate_main
from eeviz.precision import inference_precision
from eeviz.methods import available_methods, get_method
from eeviz.trace import replay
from eeviz.train import train
from eeviz.training import run as training_run

from test_evaluate import TEXTS, random_model
from test_train import quick_args, reviews  # noqa: F401  (fixture)

CUDA = torch.device("cuda")


@pytest.fixture
def gpu(monkeypatch):
    """A mocked GPU: ``gpu(native_bf16)`` makes torch report CUDA, with bf16 native or only emulated
    (``is_bf16_supported()`` says yes for both, as torch does; only ``including_emulation=False`` tells)."""

    def make(native_bf16: bool):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                            lambda including_emulation=True: native_bf16 or including_emulation)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: "Mock T4" if not native_bf16 else "Mock A100")

    return make


class FakeAccelerator:
    """Records what ``make_accelerator`` asks for (a real one cannot start CUDA here)."""

    def __init__(self, cpu=False, mixed_precision=None, **kwargs):
        self.cpu, self.mixed_precision, self.kwargs = cpu, mixed_precision, kwargs


# ------------------------------------------------------------------------------------------ item 2: native bf16
@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp16")])
def test_training_chooses_bf16_only_where_the_gpu_has_it_natively(gpu, monkeypatch, tmp_path, native, expected):
    import accelerate

    gpu(native)
    monkeypatch.delenv("ACCELERATE_MIXED_PRECISION", raising=False)
    monkeypatch.setattr(accelerate, "Accelerator", FakeAccelerator)
    args = quick_args("unused", "unused", tmp_path, device="auto")
    accelerator = training_run.make_accelerator(args)
    assert not accelerator.cpu and accelerator.mixed_precision == expected  # T4/V100: fp16 with loss scaling


def test_explicit_bf16_on_a_gpu_without_native_bf16_is_refused(gpu):
    gpu(native_bf16=False)
    with pytest.raises(ValueError, match="no native bf16.*fp16"):
        precision.training_precision("bf16", cuda=True)
    assert precision.training_precision("bf16", cuda=False) == "bf16"  # CPU autocast really runs bf16


def test_inference_auto_is_bf16_only_where_the_gpu_has_it_natively(gpu):
    gpu(native_bf16=False)
    assert inference_precision(CUDA, "auto") == "fp32"
    with pytest.raises(ValueError, match="no native bf16"):
        inference_precision(CUDA, "bf16")
    gpu(native_bf16=True)
    assert inference_precision(CUDA, "auto") == "bf16" and inference_precision(CUDA, "bf16") == "bf16"


# ------------------------------------------------------------------------------------------ item 3: one setting
def test_inference_is_fp32_by_default_on_every_device(gpu):
    gpu(native_bf16=True)  # a bf16 GPU: evaluation used to switch to bf16 there, while the app ran fp32
    assert inference_precision(CUDA) == "fp32" and inference_precision(torch.device("cpu")) == "fp32"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU"):
        inference_precision(torch.device("cpu"), "fp16")


def test_metrics_json_records_the_inference_precision(tiny_bert, reviews, tmp_path):  # noqa: F811
    out = tmp_path / "ck"
    metrics = train(quick_args(tiny_bert, reviews, out, max_steps=1))
    assert metrics["inference_precision"] == "fp32" and metrics["mixed_precision"] == "no"
    assert json.loads((out / "metrics.json").read_text())["inference_precision"] == "fp32"


def test_evaluate_cli_records_and_checks_the_precision(tiny_bert, tmp_path, capsys):
    save_checkpoint(random_model(tiny_bert, available_methods()[0]), tmp_path / "ck")
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "\n".join(f"{t},{'pos' if i % 2 else 'neg'}" for i, t in enumerate(TEXTS)))
    args = ["--checkpoint", str(tmp_path / "ck"), "--data", str(data), "--device", "cpu", "--timing", "none",
            "--json", str(tmp_path / "ck" / "eval.json")]  # a --data sweep is written only where asked
    assert evaluate_main(args + ["--inference-precision", "fp16"]) == 2
    assert "fp16 needs a CUDA GPU" in capsys.readouterr().err
    assert evaluate_main(args + ["--inference-precision", "bf16"]) == 0
    assert json.loads((tmp_path / "ck" / "eval.json").read_text())["precision"] == "bf16"
    assert evaluate_main(args) == 0
    assert json.loads((tmp_path / "ck" / "eval.json").read_text())["precision"] == "fp32"


@pytest.mark.parametrize("method", available_methods())
def test_eval_json_exits_are_the_apps_replays(tiny_bert, tmp_path, method):
    """Same checkpoint, same precision: every deterministic rule's exit in eval.json is what the app shows
    (``model.trace`` + ``replay``, one sentence at a time)."""
    save_checkpoint(random_model(tiny_bert, method), tmp_path / "ck")
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "\n".join(f"{t},{'pos' if i % 2 else 'neg'}" for i, t in enumerate(TEXTS)))
    result = evaluate_checkpoint(tmp_path / "ck", data=str(data), batch_size=4, device="cpu", timing="none")
    assert result.precision == "fp32"
    model = load_checkpoint(tmp_path / "ck")
    rules = [n for n, cls in get_method(method).rules.items() if not cls.spec.stochastic]
    for example in result.examples:
        trace = model.trace(example.text, attentions=False)
        for name in rules:
            decision = replay(trace, model.make_rule(name))
            assert example.exit[name]["layer"] == decision.exit_layer, (name, example.text)
            assert example.exit[name]["pred"] == int(np.argmax(decision.probs)), (name, example.text)


def test_bench_records_its_precision(tiny_bert, tmp_path, capsys):
    from eeviz.tools.bench import main as bench_main

    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "bench.json"
    args = ["--backbone", tiny_bert, "--texts", str(texts), "--sentences", "2", "--repeats", "1", "--sections", "1",
            "--device", "cpu", "--threads", "1", "--json", str(out)]
    assert bench_main(args + ["--inference-precision", "fp16"]) == 2
    assert "fp16 needs a CUDA GPU" in capsys.readouterr().err
    assert bench_main(args) == 0
    assert "1 thread, fp32)" in capsys.readouterr().out  # one thread, not "1 threads"
    assert json.loads(out.read_text())["env"]["precision"] == "fp32"


# ------------------------------------------------------------------------------------------ item 4: fp16 on CPU
def test_fp16_on_the_cpu_is_refused_not_run_in_fp32(tiny_bert, reviews, tmp_path):  # noqa: F811
    out = tmp_path / "ck"
    with pytest.raises(ValueError, match="fp16 needs a CUDA GPU.*bf16 or no"):
        train(quick_args(tiny_bert, reviews, out, device="cpu", mixed_precision="fp16"))
    assert not out.exists()


def test_fp16_from_an_accelerate_config_on_the_cpu_is_refused(monkeypatch, tmp_path):
    import accelerate

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "fp16")
    monkeypatch.setattr(accelerate, "Accelerator", lambda cpu, mixed_precision: FakeAccelerator(cpu, "fp16"))
    with pytest.raises(ValueError, match="fp16 mixed precision needs a CUDA GPU"):
        training_run.make_accelerator(quick_args("unused", "unused", tmp_path, device="cpu"))
