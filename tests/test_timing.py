"""Timing on a GPU (issue 13, item 6): evaluation warms up for every larger batch shape, and the benchmark's
per-layer figures come from whole passes (the path early exit runs), not from a sync around every call."""

import math
import types

import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.passes import time_points
from eeviz.methods import available_methods
from eeviz.model import build_model
from eeviz.tools import bench

from test_evaluate import TEXTS


class CountingModel:
    """Stands in for a model in ``time_points``: records the input shape of every pass."""

    device = torch.device("cpu")

    def __init__(self):
        self.full, self.exits = [], []

    def forward_all(self, batch):
        self.full.append(tuple(batch["input_ids"].shape))

    def early_exit(self, batch, rule):
        self.exits.append(tuple(batch["input_ids"].shape))


def test_time_points_warms_up_before_every_larger_shape():
    shapes = [(2, 5), (2, 9), (2, 7), (1, 9), (3, 4), (3, 9)]
    batches = [{"input_ids": torch.zeros(s, dtype=torch.long), "labels": torch.zeros(s[0])} for s in shapes]
    model = CountingModel()
    time_points(model, batches, {"rule": object()}, repeats=2)
    # warm-ups: the first batch, more tokens (2, 9), more rows (3, 4); (3, 9) is no larger than what came before
    warmed = [(2, 5), (2, 9), (3, 4)]
    expected = []
    for shape in shapes:
        expected += [shape] * ((shape in warmed) + 2)
    assert model.full == expected and model.exits == expected


def test_bench_real_path_times_whole_passes(tiny_bert, monkeypatch):
    """On the real path every timed run is a whole pass (L layers per sentence, or none: rule steps on recorded
    signals), never one call between two syncs."""
    torch.manual_seed(0)
    method = available_methods()[0]
    model = build_model(ModelConfig(backbone=tiny_bert, method=method, labels=["neg", "pos"])).eval()
    L = model.num_layers
    counts = types.SimpleNamespace(layers=0, runs=[])
    real_layer, real_run = model.runner.layer, bench.Timer.run

    def layer(*args, **kwargs):
        counts.layers += 1
        return real_layer(*args, **kwargs)

    def run(self, name, fn):
        before = counts.layers
        out = real_run(self, name, fn)
        counts.runs.append((name, counts.layers - before))
        return out

    monkeypatch.setattr(model.runner, "layer", layer)
    monkeypatch.setattr(bench.Timer, "run", run)
    rows = bench.bench_rules({method: model}, TEXTS[:2], repeats=1, device=torch.device("cpu"), real_path=True)
    assert counts.runs and all(layers in (0, L) for _, layers in counts.runs), counts.runs
    assert {name for name, layers in counts.runs if layers == 0} == {f"{r['rule']} alone" for r in rows}
    assert {r["rule"] for r in rows} == {n for n, c in model.method.rules.items() if not c.spec.needs_labels}
    for row in rows:
        assert all(math.isfinite(v) for k, v in row.items() if k not in ("model", "rule")), row
    # the CPU path, for contrast, times each layer call on its own
    counts.runs.clear()
    bench.bench_rules({method: model}, TEXTS[:2], repeats=1, device=torch.device("cpu"), real_path=False)
    assert any(name == "layer" and layers == 1 for name, layers in counts.runs)
