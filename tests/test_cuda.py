"""On a CUDA GPU (issue 13): ``pytest -m cuda``, run by scripts/gpu_check.sh; skipped on machines without one.

Tiny random models on the GPU:
- true early exit equals the replay of the same pass for every rule of every method (PonderNet's sampling
  included), and the app's path (``trace`` + ``replay``) agrees with it;
- one training step of every phase of every method in bf16 (where the GPU has it natively) and in fp16 with
  loss scaling: a finite loss, no host sync inside the loss, finite gradients, and a non-zero gradient
  wherever the float32 step has one;
- a short run through ``eeviz train`` (auto precision, and fp16) then ``eeviz evaluate`` on the GPU:
  evaluation runs in fp32 (the inference precision of every tool) and its exits are the app's replays.

Only what a bare GPU machine has is imported (torch, transformers, accelerate, safetensors, pandas, tqdm):
no app, plotting or dataset packages (tests/test_bare_imports.py checks that on any machine).
"""

import contextlib

import numpy as np
import pytest
import torch

from eeviz.checkpoint import load_checkpoint
from eeviz.evaluate import evaluate_checkpoint, sweep_values
from eeviz.example_keys import example_keys
from eeviz.methods import available_methods, get_method
from eeviz.model import trainable_names
from eeviz.precision import native_bf16
from eeviz.trace import replay, replay_signals

from test_evaluate import TEXTS, random_model

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda")  # (a CPU rehearsal of these tests may point it elsewhere)


@contextlib.contextmanager
def sync_debug(mode: str = "error"):
    """Inside: an operation that makes the host wait for the GPU raises (``torch.cuda.set_sync_debug_mode``)."""
    before = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode(mode)
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode(before)


def gpu_model(backbone, method):
    torch.backends.cuda.matmul.allow_tf32 = False  # exits are compared across batch shapes: full fp32
    return random_model(backbone, method).to(CUDA).eval()


# ------------------------------------------------------------------------------------------ inference
@pytest.mark.parametrize("method", available_methods())
def test_true_early_exit_equals_replay_on_the_gpu(tiny_bert, method):
    model = gpu_model(tiny_bert, method)
    batch = {k: v.to(CUDA) for k, v in model.tokenize(TEXTS).items()}
    with torch.inference_mode():
        signals, _ = model.forward_all(batch)
    for name, rule_cls in get_method(method).rules.items():
        spec = rule_cls.spec
        if not spec.early_exit or spec.needs_labels:
            continue
        for value in sweep_values(spec, rule_cls.sweep_for(model.num_layers)):  # seeds for sampling rules
            # the rows' token keys: a sampling rule's draws follow the example, not its row (eeviz.example_keys)
            exit_layer, probs, _ = replay_signals(signals, model.make_rule(name, **{spec.param: value}),
                                                  example_keys(batch))
            result = model.early_exit(batch, model.make_rule(name, **{spec.param: value}))
            assert exit_layer.tolist() == result.exit_layer.tolist(), (name, value)
            torch.testing.assert_close(probs, result.probs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", available_methods())
def test_the_apps_replay_equals_true_early_exit_on_the_gpu(tiny_bert, method):
    model = gpu_model(tiny_bert, method)
    for text in TEXTS:
        trace = model.trace(text, attentions=False)  # numbers on the CPU, as the app gets them
        one = {k: v.to(CUDA) for k, v in model.tokenize([text]).items()}
        for name, rule_cls in get_method(method).rules.items():
            spec = rule_cls.spec
            if not spec.early_exit or spec.needs_labels:
                continue
            decision = replay(trace, model.make_rule(name))  # a sampling rule: the trace's key seeds its draws
            assert int(model.early_exit(one, model.make_rule(name)).exit_layer[0]) == decision.exit_layer, (name, text)


# ------------------------------------------------------------------------------------------ training steps
def step_gradients(model, phase, batch, dtype) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One training step of ``phase`` in ``dtype`` (None: float32; fp16 with a GradScaler, as accelerate does).

    Returns the loss and the unscaled gradient of every parameter the phase trains. The loss itself runs
    under ``sync_debug``: it must not make the host wait for the GPU.
    """
    allowed = trainable_names(model)
    params = {n: p for n, p in model.named_parameters() if n in allowed and phase.trainable(n)}
    for name, param in model.named_parameters():
        param.requires_grad_(name in params)
        param.grad = None
    scaler = torch.amp.GradScaler(CUDA.type, init_scale=2.0**10, enabled=dtype is torch.float16)
    optimizer = torch.optim.SGD(list(params.values()), lr=0.0)
    torch.manual_seed(0)
    with torch.autocast(CUDA.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        signals, _ = model.forward_all(batch)
        with sync_debug():
            loss, _ = model.method.loss(signals, batch["labels"], phase=phase.name, batch=batch)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    return loss.detach().float(), {n: p.grad for n, p in params.items()}


@pytest.mark.parametrize("method", available_methods())
def test_one_bf16_and_one_fp16_step_of_every_phase(tiny_bert, method):
    model = random_model(tiny_bert, method).to(CUDA).train()
    batch = {k: v.to(CUDA) for k, v in model.tokenize(TEXTS[:4]).items()}
    batch["labels"] = torch.tensor([0, 1, 0, 1], device=CUDA)
    batch["index"] = torch.arange(4, device=CUDA)
    dtypes = [torch.float16] + ([torch.bfloat16] if native_bf16(CUDA) else [])
    for phase in model.method.phases():
        if phase.prepare is not None:
            with torch.no_grad():
                phase.prepare(model, [batch])
            model.train()
        _, reference = step_gradients(model, phase, batch, None)
        nonzero = {n for n, g in reference.items() if g is not None and bool(g.abs().max() > 0)}
        assert nonzero, f"{phase.name}: no gradient even in float32"
        for dtype in dtypes:
            loss, grads = step_gradients(model, phase, batch, dtype)
            where = f"{method} {phase.name} {dtype}"
            assert torch.isfinite(loss), where
            assert all(g is None or bool(torch.isfinite(g).all()) for g in grads.values()), where
            lost = sorted(n for n in nonzero if grads[n] is None or not bool(grads[n].abs().max() > 0))
            assert not lost, f"{where}: zero gradients where float32 has some: {lost}"


# ------------------------------------------------------------------------------------------ train + evaluate
@pytest.fixture
def fresh_accelerate():
    """accelerate keeps one process-wide state: each run here may choose another mixed precision."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(True)
    yield
    AcceleratorState._reset_state(True)


@pytest.mark.parametrize("mixed_precision", ["auto", "fp16"])
def test_train_and_evaluate_on_the_gpu(tiny_bert, tmp_path, fresh_accelerate, mixed_precision):
    from eeviz.train import train
    from test_train import quick_args, write_reviews

    # a method with several phases and a prepare step (memorized layers), if there is one
    method = next((m for m in available_methods() if any(p.prepare for p in random_model(tiny_bert, m).method.phases())),
                  available_methods()[0])
    reviews = write_reviews(tmp_path / "reviews.csv")
    out = tmp_path / "ck"
    metrics = train(quick_args(tiny_bert, reviews, out, method, device="cuda", mixed_precision=mixed_precision))
    expected = ("bf16" if native_bf16(CUDA) else "fp16") if mixed_precision == "auto" else "fp16"
    assert metrics["finished"] and metrics["mixed_precision"] == expected
    assert metrics["inference_precision"] == "fp32" and metrics["device"].startswith("cuda")
    assert all(np.isfinite(h["train_loss"]) for h in metrics["history"])
    result = evaluate_checkpoint(out, task=reviews, split="dev", device="cuda", batch_size=4)
    assert result.precision == "fp32" and torch.cuda.get_device_name() in result.device
    model = load_checkpoint(out, device="cuda")
    for example in result.examples:
        trace = model.trace(example.text, attentions=False)
        for name, rule_cls in model.method.rules.items():
            if not rule_cls.spec.stochastic:
                assert example.exit[name]["layer"] == replay(trace, model.make_rule(name)).exit_layer, name
