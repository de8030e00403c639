"""Training steps read nothing back from the device (issue 13, item 5): every method's loss returns its parts
as detached tensors without a host read, PonderNet builds its prior once per device, ConsistentEE looks its
memorized layers up on the device; the trainer reads the parts once per epoch.

On the CPU a host read costs nothing, so the tests make every read that would sync a GPU raise instead
(tests/test_cuda.py checks the same on a GPU with ``torch.cuda.set_sync_debug_mode("error")``).
"""

import contextlib

import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.methods import available_methods, get_method
from eeviz.model import build_model
from eeviz.train import train

from test_evaluate import TEXTS
from test_train import quick_args, reviews  # noqa: F401  (fixture)

HOST_READS = ("__float__", "__int__", "__bool__", "item", "tolist", "cpu", "numpy")


@contextlib.contextmanager
def no_host_reads(monkeypatch):
    """Inside: any read of a tensor's value into Python, or copy to the CPU, raises."""
    with monkeypatch.context() as patch:
        for name in HOST_READS:
            def refuse(self, *args, _name=name, **kwargs):
                raise AssertionError(f"host read Tensor.{_name} during the loss")

            patch.setattr(torch.Tensor, name, refuse)
        yield


def phase_batches(model, size: int = 4):
    batch = model.tokenize(TEXTS[:size])
    batch["labels"] = torch.tensor([i % 2 for i in range(size)])
    batch["index"] = torch.arange(size)
    return batch


@pytest.mark.parametrize("method", available_methods())
def test_every_loss_returns_detached_parts_without_a_host_read(tiny_bert, monkeypatch, method):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method=method, labels=["neg", "pos"])).train()
    batch = phase_batches(model)
    for phase in model.method.phases():
        if phase.prepare is not None:  # e.g. stored memorized layers: the loss then reads them
            model.method.memorized = None
            phase.prepare(model, [batch])
        signals, _ = model.forward_all(batch)
        with no_host_reads(monkeypatch):
            loss, parts = model.method.loss(signals, batch["labels"], phase=phase.name, batch=batch)
        assert loss.requires_grad and parts, phase.name
        for key, value in parts.items():
            assert torch.is_tensor(value) and not value.requires_grad and value.numel() == 1, (phase.name, key)


def test_pondernet_builds_its_prior_once_per_device(tiny_bert, monkeypatch):
    module = get_method("pondernet").__module__
    import importlib

    pondernet = importlib.import_module(module)
    real, calls = pondernet.geometric_prior, []
    monkeypatch.setattr(pondernet, "geometric_prior", lambda *a: calls.append(a) or real(*a))
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method="pondernet", labels=["neg", "pos"])).train()
    batch = phase_batches(model)
    for _ in range(3):
        signals, _ = model.forward_all(batch)
        model.method.loss(signals, batch["labels"])
    assert len(calls) == 1
    assert torch.equal(model.method.prior(), real(model.num_layers, model.method.args.prior_lambda))


def test_consistentee_keeps_memorized_layers_on_the_model_device(tiny_bert):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_bert, method="consistentee", labels=["neg", "pos"]))
    batch = phase_batches(model)
    model.method.compute_memorized(model, [batch])
    assert model.method.memorized.device == model.device


def test_trainer_records_each_epochs_mean_loss_parts(tiny_bert, reviews, tmp_path):  # noqa: F811
    metrics = train(quick_args(tiny_bert, reviews, tmp_path / "ck", "pabee", epochs=2))
    for entry in metrics["history"]:
        parts = entry["train_parts"]
        assert set(parts) == {"loss", "ce_1", "ce_2", "ce_3"}
        assert all(isinstance(v, float) for v in parts.values())
        assert parts["loss"] == pytest.approx(entry["train_loss"], rel=1e-5)  # the mean of the same losses
