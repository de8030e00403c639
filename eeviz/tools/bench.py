"""Does early exit pay off in wall-clock time? One run, every figure side by side on the same inputs.

``eeviz bench [--checkpoints DIR | --backbone minilm] [--repeats N] [--device cpu|cuda] [--json OUT]``
(``eeviz bench --app`` times the app in a browser instead: ``eeviz.tools.app_bench``)

Five sections, each a markdown table; times are medians over ``--repeats`` of a pass over all sentences, and
the variants of a row are timed interleaved (sentence by sentence) so machine noise hits them alike:

1. batch 1: true early exit vs the same model run through every layer vs a plain Hugging Face
   ``AutoModelForSequenceClassification`` forward of the same backbone (eager attention), as wall-clock
   speed-ups beside the layer speed-up L / mean exit layer (PALBERT's form, not PABEE's 1 - mean/L);
2. batch 32: batched early exit (finished rows leave; padding trimmed, and not) vs the full batch;
3. exit rules: one ``rule.step`` on real signals (alone, and in place after a layer), and one layer's heads,
   as fractions of one encoder layer (on a GPU from whole layer-by-layer passes with the one sync per layer
   that early exit pays, not from syncs around every call, which would time launch + sync latency);
4. traces: ``catalog.trace_all`` over every loaded model for a sentence not seen before (the app's path);
5. memory: peak RSS (CPU) or peak allocated GPU memory, per section.

Untrained models (``--backbone``) have random heads whose default rules exit degenerately (all early or
never), so sections 1 and 2 also force exits with ``FixedExitRule``: at layer ``--exit-at`` for every row,
and "staggered" (row r of a batch at layer 1 + r mod L) so that rows leave a batch one group at a time.
Tokenization is outside the timings of sections 1-3 and inside section 4. Everything runs in one inference
precision (``--inference-precision``, fp32 unless asked: ``eeviz.precision``), printed in the header.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..methods.base import ExitRule, RuleSpec, Signals, State
from ..precision import DEFAULT_INFERENCE_PRECISION, inference_autocast, inference_precision
from ..messages import plural

from .bench_args import (
    argument_problem,
    build_parser,
    check_json_path,
    read_texts,
    trace_sentences,
)


class FixedExitRule(ExitRule):
    """Benchmark-only rule: exit at a set layer whatever the signals (``layer`` = L: the full model).

    ``staggered=True``: row r of the starting batch exits at layer 1 + r mod L instead, so batched runs
    drop rows at every layer.
    """

    spec = RuleSpec(
        name="fixed",
        param="layer",
        default=1,
        sweep=(1,),
        label="exit layer",
        description="exit at a set layer, whatever the signals (benchmarks only)",
        minimum=1,
        maximum=48,
        step=1,
        integer=True,
    )

    @classmethod
    def allowed_params(cls) -> set[str]:
        return {"layer", "staggered"}

    def start(self, batch_size: int, device: torch.device) -> State:
        if self.params.get("staggered", False):
            target = 1 + torch.arange(batch_size, device=device) % self.num_layers
        else:
            target = torch.full((batch_size,), int(self.threshold), device=device)
        return {"target": target}

    def step(self, state: State, i: int, sig: Signals):
        stop = state["target"] <= i
        return stop, {}


# --------------------------------------------------------------------------------------------- timing
def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timer:
    """Accumulates seconds per named variant within a repeat, and keeps every repeat's total."""

    device: torch.device
    totals: dict[str, list[float]] = field(default_factory=dict)
    _current: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, fn: Callable[[], object]):
        synchronize(self.device)
        start = time.perf_counter()
        out = fn()
        synchronize(self.device)
        self._current[name] = self._current.get(name, 0.0) + time.perf_counter() - start
        return out

    def end_repeat(self) -> None:
        for name, seconds in self._current.items():
            self.totals.setdefault(name, []).append(seconds)
        self._current = {}

    def median(self, name: str) -> float:
        return statistics.median(self.totals[name])


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated since the last reset, or the process's peak RSS (never reset) on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports kB


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# --------------------------------------------------------------------------------------------- inputs
def load_models(args, device: torch.device) -> tuple[dict, list[str]]:
    """(name -> EarlyExitModel in eval mode, notes about what could not be loaded)."""
    from ..checkpoint import CheckpointError, load_checkpoint
    from ..config import ModelConfig
    from ..model import build_model

    models, notes = {}, []
    if args.backbone:
        from ..methods import available_methods

        for method in available_methods():
            torch.manual_seed(0)
            try:
                cfg = ModelConfig(backbone=args.backbone, method=method, max_length=args.max_length)
                models[method] = build_model(cfg).to(device).eval()
            except (ValueError, TypeError) as err:
                notes.append(f"{method}: not built ({err})")
        return models, notes
    from ..catalog import checkpoints_root, find_checkpoints

    found, problems = find_checkpoints(args.checkpoints or checkpoints_root())
    notes.extend(problems)
    for info in found:
        if info.cfg.is_pair:  # every section times single sentences, which such a model was never trained on
            notes.append(f"{info.name}: left out: it reads sentence pairs and the bench times single sentences")
            continue
        try:
            models[info.name] = load_checkpoint(info.path, device=device, merge=True)
        except CheckpointError as err:
            notes.append(str(err))
    return models, notes


def reference_classifier(model, device: torch.device):
    """A plain HF sequence classifier with ``model``'s backbone architecture (weights do not matter here)."""
    from transformers import AutoModelForSequenceClassification

    config = model.runner.config.__class__.from_dict(model.runner.config.to_dict())
    config.num_labels = model.cfg.num_labels
    return AutoModelForSequenceClassification.from_config(config, attn_implementation="eager").to(device).eval()


def fixed_layer(exit_at: int | None, num_layers: int) -> int:
    """The fixed-exit rows' layer: ``--exit-at`` within 1..L, by default L // 3 (a 3x layer speed-up)."""
    return min(num_layers, max(1, exit_at or num_layers // 3))


def rule_label(rule: ExitRule) -> str:
    label = f"{rule.spec.name} {rule.spec.param}={rule.threshold:g}"
    return label + " staggered" if rule.params.get("staggered") else label


# --------------------------------------------------------------------------------------------- sections
def bench_batch1(models, texts, repeats, exit_at, device) -> list[dict]:
    """Section 1: per model, its default rule and a fixed exit, against full and HF forwards at batch 1."""
    rows = []
    references: dict[str, torch.nn.Module] = {}  # one HF model per backbone architecture
    for name, model in models.items():
        L = model.num_layers
        k = fixed_layer(exit_at, L)
        batches = [model.tokenize([t]) for t in texts]
        arch = model.runner.config.to_json_string() + str(model.cfg.num_labels)
        if arch not in references:
            references[arch] = reference_classifier(model, device)
        reference = references[arch]
        variants = {
            "early exit": lambda b: model.early_exit(b, model.make_rule()),
            "fixed exit": lambda b: model.early_exit(b, FixedExitRule(L, layer=k)),
            "full": lambda b: model.early_exit(b, FixedExitRule(L, layer=L)),
            "hf": lambda b: reference(**b),
        }
        exits = {"early exit": [int(model.early_exit(b, model.make_rule()).exit_layer[0]) for b in batches]}
        exits["fixed exit"] = [k] * len(batches)
        with torch.inference_mode():
            for b in batches[:4]:  # warm-up: allocator, kernels, lazy imports
                for fn in variants.values():
                    fn(b)
            timer = Timer(device)
            for _ in range(repeats):
                for b in batches:
                    for key, fn in variants.items():
                        timer.run(key, lambda: fn(b))
                timer.end_repeat()
        for key, rule in (("early exit", model.make_rule()), ("fixed exit", FixedExitRule(L, layer=k))):
            mean_exit = statistics.fmean(exits[key])
            layer_speedup = L / mean_exit
            wall_speedup = timer.median("full") / timer.median(key)
            rows.append(
                {
                    "model": name,
                    "rule": rule_label(rule),
                    "mean_exit": mean_exit,
                    "layer_speedup": layer_speedup,
                    "wall_speedup": wall_speedup,
                    "wall_over_layer": wall_speedup / layer_speedup,
                    "hf_speedup": timer.median("hf") / timer.median(key),
                    "ms_exit": 1e3 * timer.median(key) / len(batches),
                    "ms_full": 1e3 * timer.median("full") / len(batches),
                    "ms_hf": 1e3 * timer.median("hf") / len(batches),
                }
            )
    return rows


def bench_batched(models, texts, repeats, exit_at, batch_size, device) -> list[dict]:
    """Section 2: batched early exit (rows leave; padding trimmed or not) vs the full batch."""
    rows = []
    for name, model in models.items():
        L = model.num_layers
        batches = [model.tokenize(texts[s : s + batch_size]) for s in range(0, len(texts), batch_size)]
        rules = {
            "default": model.make_rule,
            "fixed": lambda: FixedExitRule(L, layer=fixed_layer(exit_at, L)),
            "staggered": lambda: FixedExitRule(L, layer=1, staggered=True),
        }
        variants = {"full": lambda b: model.early_exit(b, FixedExitRule(L, layer=L))}
        for key, make in rules.items():
            variants[key] = lambda b, make=make: model.early_exit(b, make(), trim_padding=True)
            variants[f"{key} no trim"] = lambda b, make=make: model.early_exit(b, make(), trim_padding=False)
        layers_run = {key: sum(model.early_exit(b, make()).layers_run for b in batches) for key, make in rules.items()}
        with torch.inference_mode():
            for fn in variants.values():  # warm-up
                fn(batches[0])
            timer = Timer(device)
            for _ in range(repeats):
                for b in batches:
                    for key, fn in variants.items():
                        timer.run(key, lambda: fn(b))
                timer.end_repeat()
        for key, make in rules.items():
            layer_speedup = len(texts) * L / layers_run[key]
            wall_speedup = timer.median("full") / timer.median(key)
            rows.append(
                {
                    "model": name,
                    "rule": rule_label(make()),
                    "batch": batch_size,
                    "layer_speedup": layer_speedup,
                    "wall_speedup": wall_speedup,
                    "wall_over_layer": wall_speedup / layer_speedup,
                    "wall_speedup_no_trim": timer.median("full") / timer.median(f"{key} no trim"),
                    "ms_exit": 1e3 * timer.median(key) / len(texts),
                    "ms_full": 1e3 * timer.median("full") / len(texts),
                }
            )
    return rows


def bench_rules(models, texts, repeats, device, real_path: bool | None = None) -> list[dict]:
    """Section 3: per layer at batch 1, one ``rule.step`` and the method's heads, against one encoder layer.

    Each step is timed twice: alone (steps back to back on recorded signals, caches warm) and in place, as
    early exit runs it: right after a layer and the heads, whose weights have just pushed the rule's tensors
    and code out of the caches. In place is the figure that adds to early exit's wall-clock time.

    ``real_path`` (default: on a GPU) times whole passes instead of each call: see ``gpu_timing``.
    """
    if real_path is None:
        real_path = device.type == "cuda"
    if real_path:
        from .gpu_timing import real_path_rows

        return real_path_rows(models, texts, repeats, device)
    rows = []
    for name, model in models.items():
        L = model.num_layers
        batches = [model.tokenize([t]) for t in texts]
        rule_names = [r for r, cls in model.method.rules.items() if not cls.spec.needs_labels]
        timer = Timer(device)
        with torch.inference_mode():
            embedded = [model._embed(b) for b in batches]
            signals = layer_signals_per_sentence(model, batches)

            def in_place(rule_name: str) -> None:
                for hidden, mask in embedded:
                    rule = model.make_rule(rule_name)
                    rstate, mstate = rule.start(1, device), model.method.init_state(1, device)
                    for i in range(1, L + 1):
                        hidden, _ = timer.run("layer", lambda: model.runner.layer(i - 1, hidden, mask))
                        sig = timer.run("heads", lambda: model.layer_signals(i, hidden, mask, mstate))
                        timer.run(f"{rule_name} in place", lambda: rule.step(rstate, i, sig))

            def alone(rule_name: str) -> None:
                for per_layer in signals:
                    rule = model.make_rule(rule_name)
                    state = rule.start(1, device)
                    for i, sig in enumerate(per_layer, start=1):
                        rule.step(state, i, sig)

            for _ in range(repeats + 1):  # the first pass warms up
                for rule_name in rule_names:
                    in_place(rule_name)
                    timer.run(f"{rule_name} alone", lambda: alone(rule_name))
                timer.end_repeat()
            timer.totals = {k: v[1:] for k, v in timer.totals.items()}
        steps = len(texts) * L
        layer_us = 1e6 * timer.median("layer") / (steps * len(rule_names))
        heads_us = 1e6 * timer.median("heads") / (steps * len(rule_names))
        for rule_name in rule_names:
            in_place_us = 1e6 * timer.median(f"{rule_name} in place") / steps
            alone_us = 1e6 * timer.median(f"{rule_name} alone") / steps
            rows.append(rule_row(name, rule_name, alone_us, in_place_us, layer_us, heads_us))
    return rows


def layer_signals_per_sentence(model, batches: list[dict]) -> list[list[dict]]:
    """Realistic rule inputs: what each layer really produced for each sentence (a list of L signal dicts)."""
    signals = []
    for b in batches:
        stacked, _ = model.forward_all(b)
        signals.append([{k: v[i] for k, v in stacked.items()} for i in range(model.num_layers)])
    return signals


def rule_row(model: str, rule: str, alone_us: float, step_us: float, layer_us: float, heads_us: float) -> dict:
    """One row of section 3: a rule step's cost (alone and inside the layer loop) against a layer's and the heads'."""
    return {
        "model": model,
        "rule": rule,
        "us_step_alone": alone_us,
        "us_step": step_us,
        "us_layer": layer_us,
        "step_over_layer": step_us / layer_us,
        "us_heads": heads_us,
        "heads_over_layer": heads_us / layer_us,
    }


def bench_traces(models, texts, device) -> dict:
    """Section 4: every model's full trace (with attentions) of a new sentence per repeat, end to end."""
    from ..catalog import trace_all

    trace_all(models, texts[0])  # warm-up on a sentence the timed runs never see
    timer = Timer(device)
    tokens = []
    for text in texts[1:]:
        traces = timer.run("trace_all", lambda: trace_all(models, text))
        timer.end_repeat()
        tokens.append(len(next(iter(traces.values())).tokens))
    return {
        "models": len(models),
        "sentences": len(texts) - 1,
        "mean_tokens": statistics.fmean(tokens),
        "s_trace_all": timer.median("trace_all"),
        "s_max": max(timer.totals["trace_all"]),
    }


# --------------------------------------------------------------------------------------------- report
def markdown_table(rows: list[dict], columns: dict[str, tuple[str, str]]) -> str:
    """``columns``: row key -> (header, format spec)."""
    lines = ["| " + " | ".join(h for h, _ in columns.values()) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(format(row[k], f) for k, (_, f) in columns.items()) + " |")
    return "\n".join(lines)


# section key -> (title, columns: row key -> (header, format spec))
TABLES = {
    "batch1": (
        "1. Batch 1",
        {
            "model": ("model", "s"),
            "rule": ("rule", "s"),
            "mean_exit": ("mean exit", ".2f"),
            "layer_speedup": ("layer speed-up", ".2f"),
            "wall_speedup": ("wall speed-up", ".2f"),
            "wall_over_layer": ("efficiency", ".2f"),
            "hf_speedup": ("vs HF", ".2f"),
            "ms_exit": ("ms exit", ".2f"),
            "ms_full": ("ms full", ".2f"),
            "ms_hf": ("ms HF", ".2f"),
        },
    ),
    "batched": (
        "2. Batched",
        {
            "model": ("model", "s"),
            "rule": ("rule", "s"),
            "batch": ("batch", "d"),
            "layer_speedup": ("layer speed-up", ".2f"),
            "wall_speedup": ("wall speed-up", ".2f"),
            "wall_over_layer": ("efficiency", ".2f"),
            "wall_speedup_no_trim": ("wall, no pad trim", ".2f"),
            "ms_exit": ("ms/sentence exit", ".2f"),
            "ms_full": ("ms/sentence full", ".2f"),
        },
    ),
    "rules": (
        "3. Exit rules per layer (batch 1)",
        {
            "model": ("model", "s"),
            "rule": ("rule", "s"),
            "us_step_alone": ("µs step alone", ".1f"),
            "us_step": ("µs step in place", ".1f"),
            "us_layer": ("µs layer", ".0f"),
            "step_over_layer": ("rule / layer", ".2%"),
            "us_heads": ("µs heads", ".1f"),
            "heads_over_layer": ("heads / layer", ".2%"),
        },
    ),
    "traces": (
        "4. Traces of a new sentence (trace_all, with attentions)",
        {
            "models": ("models", "d"),
            "sentences": ("sentences", "d"),
            "mean_tokens": ("mean tokens", ".1f"),
            "s_trace_all": ("median s", ".3f"),
            "s_max": ("max s", ".3f"),
        },
    ),
}


def report(results: dict) -> str:
    """The markdown the README can include: a header, one table per section run, then notes."""
    env = results["env"]
    out = [
        f"## eeviz benchmark: {env['source']} on {env['device']} ({plural(env['threads'], 'thread')}, "
        f"{env.get('precision', DEFAULT_INFERENCE_PRECISION)}), "
        f"{env['sentences']} sentences, "
        + (f"median of {env['repeats']} repeats" if env["repeats"] != 1 else "timed once"),
        "",
        "Speed-ups are time(full) / time(early exit); layer speed-up = L / mean exit layer; "
        "efficiency = wall / layer speed-up. 'full' is the same model through every layer; 'HF' a plain "
        "AutoModelForSequenceClassification forward (eager attention).",
    ]
    for key, (title, columns) in TABLES.items():
        if key in results:
            rows = results[key] if isinstance(results[key], list) else [results[key]]
            out += ["", f"### {title}", markdown_table(rows, columns)]
    memory = [{"section": k, "mb": v} for k, v in results["memory"].items()]
    columns = {"section": ("after", "s"), "mb": (env["memory_kind"] + " MiB", ".0f")}
    out += ["", "### 5. Peak memory", markdown_table(memory, columns)]
    if results["notes"]:
        out += ["", "Notes:"] + [f"- {n}" for n in results["notes"]]
    return "\n".join(out)


def parse_args(argv, prog: str = "eeviz bench"):
    """Parsed and checked arguments: a bad value stops here, in one argparse-style line (exit 2), before any
    model loads or any timing runs."""
    parser = build_parser(prog, __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    problem = argument_problem(args)
    if problem:
        parser.error(problem)
    return args


def refuse(parser, message: str) -> int:
    """parser.error's usage line and one-line message, as main's return value (2) instead of SystemExit."""
    parser.print_usage(sys.stderr)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None, prog: str = "eeviz bench") -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--app" in argv:  # the app in a browser: its own benchmark (eeviz.tools.app_bench)
        from .app_bench import main as app_main

        return app_main([a for a in argv if a != "--app"], prog=f"{prog} --app")
    parser = build_parser(prog, __doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    from ..catalog import checkpoints_root

    device = torch.device(args.device)
    try:  # everything that can refuse the run does so before the models load and the timing starts
        problem = argument_problem(args)
        if problem:
            raise ValueError(problem)
        precision = inference_precision(device, args.inference_precision)
        test = read_texts(args.texts)
        json_out = check_json_path(args.json) if args.json else None
    except ValueError as err:
        return refuse(parser, str(err))
    if args.threads:
        torch.set_num_threads(args.threads)
    models, notes = load_models(args, device)
    cores = os.cpu_count() or 1
    if device.type == "cpu" and torch.get_num_threads() > 1 and os.getloadavg()[0] > cores / 2:
        notes.append(
            f"load average {os.getloadavg()[0]:.1f} on {cores} cores with {torch.get_num_threads()} intra-op threads: "
            "threads that wait for a busy core stall every op; --threads 1 gives steadier figures"
        )
    where = args.checkpoints or str(checkpoints_root())
    if not models:
        print(f"error: no model to benchmark from {args.backbone or where}; try --backbone minilm", file=sys.stderr)
        for note in notes:
            print(f"  {note}", file=sys.stderr)
        return 2
    texts = test[: args.sentences]
    if len(texts) < args.sentences:
        notes.append(f"--sentences {args.sentences} asked, {len(texts)} given: sections 1-3 time those {len(texts)}")
    chosen = {part.strip() for part in args.sections.split(",")}
    trace_texts, trace_note = trace_sentences(test, len(texts), args.repeats)
    if trace_note and "4" in chosen:
        notes.append(trace_note)

    memory: dict[str, float] = {"models loaded": peak_memory_mb(device)}
    sections = {}
    for number, section, run in (
        ("1", "batch1", lambda: bench_batch1(models, texts, args.repeats, args.exit_at, device)),
        ("2", "batched", lambda: bench_batched(models, texts, args.repeats, args.exit_at, args.batch_size, device)),
        ("3", "rules", lambda: bench_rules(models, texts, args.repeats, device)),
        ("4", "traces", lambda: bench_traces(models, trace_texts, device)),
    ):
        if number not in chosen:
            continue
        reset_peak_memory(device)
        with inference_autocast(device, precision):
            sections[section] = run()
        memory[section] = peak_memory_mb(device)
    source = f"backbone {args.backbone} (untrained heads)" if args.backbone else f"checkpoints in {where}"
    results = {
        "env": {
            "source": source,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "threads": torch.get_num_threads(),
            "sentences": len(texts),
            "repeats": args.repeats,
            "exit_at": args.exit_at,
            "precision": precision,
            "memory_kind": "peak allocated" if device.type == "cuda" else "peak RSS",
        },
        **sections,
        "memory": memory,
        "notes": notes,
    }
    print(report(results))
    if json_out is not None:
        json_out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
