"""The fast paths give the same answers as the plain ones: batched vs one-by-one early exit, padding trim,
attention capture only on demand; and the benchmark CLI runs end to end."""

import itertools
import json
import os
import subprocess
import sys

import pytest
import torch

from eeviz.tools.bench import FixedExitRule
from eeviz.config import ModelConfig
from eeviz.methods import ExitRule, available_methods, get_method
from eeviz.model import build_model, row_lengths

# lengths chosen so that under the staggered rule (row r exits at 1 + r mod 3) the longest live row gets
# shorter after layer 1 and again after layer 2: both trims happen
TEXTS = [
    "the best film and the best acting, but a dull plot and a very boring story",
    "not very funny and a dull story, it was bad",
    "great acting",
    "bad plot",
    "the worst film, the worst plot",
]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # on a busy shared CPU two intra-op threads make tiny models 10-100x slower; one is steady
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def deterministic_rules(method: str) -> list[str]:
    """The method's rules whose decision depends on the signals alone.

    A rule whose parameter is a seed draws random numbers per batch row, so batching changes its draws by
    design; rules that need labels cannot run on unlabeled inputs.
    """
    rules = get_method(method).rules
    return [name for name, cls in rules.items() if cls.spec.param != "seed" and not cls.spec.needs_labels]


def spread_rows(model, factor: float = 10.0):
    """Scale the encoder's weight matrices: a random tiny encoder maps every sentence to nearly the same [CLS]
    vector (0.5% spread), which would hide a row mixed up with another or a wrong mask; at 10x rows differ
    by tens of percent."""
    with torch.no_grad():
        for name, param in model.runner.model.named_parameters():
            if param.dim() == 2 and "embeddings" not in name:
                param.mul_(factor)
    return model


def layer_input_shapes(model) -> list[tuple[int, int]]:
    """Record (rows, tokens) of every layer call from now on."""
    shapes = []
    for i in range(model.num_layers):
        model.runner.layer_module(i).register_forward_pre_hook(lambda mod, a: shapes.append(tuple(a[0].shape[:2])))
    return shapes


class ForcedExit(ExitRule):
    """Test wrapper: ``inner``'s decision, or a stop at each row's own ``targets`` layer, whichever comes first.

    With untrained heads a method's own rule often stops every row of a small batch at the same layer; forcing
    per-row exits makes rows leave at different layers while the method's heads, its state and the rule's
    (both sliced as rows leave) still decide everything else.
    """

    spec = FixedExitRule.spec

    def __init__(self, inner: ExitRule, targets: list[int]):
        self.inner, self.targets = inner, torch.tensor(targets)
        self.num_layers, self.params = inner.num_layers, inner.params

    def start(self, batch_size, device):
        state = self.inner.start(batch_size, device)
        state["forced_target"] = self.targets.to(device)
        return state

    def step(self, state, i, sig):
        stop, info = self.inner.step(state, i, sig)
        return stop | (state["forced_target"] <= i), info

    def probs(self, state, sig):
        return self.inner.probs(state, sig)


@pytest.mark.parametrize("method", available_methods())
def test_batched_early_exit_matches_one_by_one(tiny_bert, method):
    torch.manual_seed(0)
    model = spread_rows(build_model(ModelConfig(backbone=tiny_bert, method=method)).eval())
    rule_names = deterministic_rules(method)
    assert rule_names, f"{method} has no deterministic rule to compare"
    targets = [1 + r % model.num_layers for r in range(len(TEXTS))]
    for rule_name in rule_names:
        spec = model.method.rules[rule_name].spec
        for value, forced in itertools.product(sorted({*spec.sweep, spec.default}), (False, True)):

            def make_rule(rows):
                rule = model.make_rule(rule_name, **{spec.param: value})
                return ForcedExit(rule, [targets[r] for r in rows]) if forced else rule

            single = [model.early_exit(model.tokenize([t]), make_rule([r])) for r, t in enumerate(TEXTS)]
            exits = [int(s.exit_layer[0]) for s in single]
            for trim in (True, False):
                batched = model.early_exit(model.tokenize(TEXTS), make_rule(range(len(TEXTS))), trim_padding=trim)
                where = f"{rule_name} {spec.param}={value} forced={forced} trim={trim}"
                assert batched.exit_layer.tolist() == exits, where
                assert batched.preds.tolist() == [s.preds[0].item() for s in single], where
                assert batched.layers_run == sum(exits), where
                torch.testing.assert_close(
                    batched.probs, torch.cat([s.probs for s in single]), atol=1e-5, rtol=1e-4, msg=where
                )


def test_rows_leave_and_trailing_padding_is_trimmed(tiny_bert):
    model = spread_rows(build_model(ModelConfig(backbone=tiny_bert, method="pabee")).eval())
    batch = model.tokenize(TEXTS)
    lengths = batch["attention_mask"].sum(1).tolist()
    exits = [1 + r % model.num_layers for r in range(len(TEXTS))]  # 1, 2, 3, 1, 2
    shapes = layer_input_shapes(model)
    res = model.early_exit(batch, FixedExitRule(model.num_layers, layer=1, staggered=True))
    assert res.exit_layer.tolist() == exits
    assert res.layers_run == sum(exits) == 9
    # layer i runs on the rows that exit at i or later, cut to the longest of them
    expected = []
    for i in range(1, model.num_layers + 1):
        live = [r for r in range(len(TEXTS)) if exits[r] >= i]
        expected.append((len(live), max(lengths[r] for r in live)))
    assert shapes == expected
    assert expected[0][1] > expected[1][1] > expected[2][1]  # the texts really exercise both trims
    # each row reports the probabilities its own unpadded pass gives at its exit layer
    with torch.no_grad():
        for r, text in enumerate(TEXTS):
            sig, _ = model.forward_all(model.tokenize([text]))
            torch.testing.assert_close(res.probs[r], sig["probs"][exits[r] - 1, 0], atol=1e-5, rtol=1e-4)


def test_left_padded_batches_are_never_trimmed(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee")).eval()
    # ``tokenize`` always pads on the right; a caller may still hand early exit a batch padded on the left
    batch = dict(model.tokenizer(TEXTS, padding=True, padding_side="left", return_tensors="pt"))
    assert row_lengths(batch["attention_mask"]) is None
    shapes = layer_input_shapes(model)
    trimmed = model.early_exit(batch, FixedExitRule(model.num_layers, layer=1, staggered=True), trim_padding=True)
    assert {t for _, t in shapes} == {batch["input_ids"].shape[1]}
    plain = model.early_exit(batch, FixedExitRule(model.num_layers, layer=1, staggered=True), trim_padding=False)
    assert torch.equal(trimmed.probs, plain.probs)


def test_row_lengths():
    right = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert row_lengths(right) == [3, 4, 1]
    assert row_lengths(torch.tensor([[0, 1, 1], [1, 1, 1]])) is None
    assert row_lengths(torch.tensor([[1, 0, 1]])) is None  # a hole is not trailing padding


def test_attention_hooks_only_while_recording(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee")).eval()
    attention_modules = [m for m in model.runner.model.modules() if type(m).__name__ == "BertSelfAttention"]
    assert len(attention_modules) == model.num_layers
    hooks_seen = []  # attention-module hooks present whenever a layer starts
    for i in range(model.num_layers):
        # on the attention submodule: it runs in every layer, also when a layer runs piece by piece for weights
        model.runner.layer_module(i).attention.register_forward_pre_hook(
            lambda mod, args: hooks_seen.append(sum(len(m._forward_hooks) for m in attention_modules))
        )
    batch = model.tokenize(TEXTS[:2])
    model.early_exit(batch, FixedExitRule(model.num_layers, layer=model.num_layers))
    assert hooks_seen == [0] * model.num_layers
    hooks_seen.clear()
    with torch.no_grad():
        _, attentions = model.forward_all(batch, output_attentions=True)
    assert hooks_seen == [0] * model.num_layers  # weights are returned, not captured by hooks (issue 15)
    assert all(len(m._forward_hooks) == 0 for m in attention_modules)
    tokens = batch["input_ids"].shape[1]
    assert [tuple(a.shape) for a in attentions] == [(2, 4, tokens, tokens)] * model.num_layers


def test_bench_cli_prints_every_section(tiny_bert, tmp_path):
    from eeviz.data import load_task

    try:
        load_task("rotten_tomatoes")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "eeviz.bench", "--backbone", tiny_bert, "--repeats", "1", "--sentences", "4"]
    cmd += ["--batch-size", "2", "--max-length", "60", "--threads", "1", "--json", str(out)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for header in ("### 1. Batch 1", "### 2. Batched", "### 3. Exit rules", "### 4. Traces", "### 5. Peak memory"):
        assert header in proc.stdout
    results = json.loads(out.read_text())
    methods = available_methods()
    assert [row["model"] for row in results["batch1"]] == [m for m in methods for _ in range(2)]
    fixed = [row for row in results["batch1"] if row["rule"].startswith("fixed")]
    assert all(row["mean_exit"] == 1 and row["layer_speedup"] == 3 for row in fixed)  # L // 3 = 1 of 3 layers
    staggered = [row for row in results["batched"] if "staggered" in row["rule"]]
    assert all(row["layer_speedup"] == pytest.approx(4 * 3 / (1 + 2 + 1 + 2)) for row in staggered)
    assert results["traces"]["models"] == len(methods) and results["traces"]["s_trace_all"] > 0
