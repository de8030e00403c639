"""``eeviz train`` / ``python -m eeviz.train``: one run, or a named preset that trains and evaluates every method."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..checkpoint import CheckpointLayout
from ..methods import available_methods
from ..presets import Preset, get_preset
from .args import resolve_args
from .resume import finished_run
from .run import train


def run_preset(name: str, out_dir: str, flags: dict[str, Any], method_arg_pairs: list[str],
               methods: list[str] | None = None) -> list[Path]:
    """Train every available method (or ``methods``) with preset ``name`` into OUT_DIR/METHOD, then evaluate each."""
    from accelerate import PartialState

    preset = get_preset(name)
    methods = preset.training_order(list(methods or available_methods()))
    start = preset.warm_start(list(available_methods()))  # the others start from its backbone weights
    if start and start not in methods and flags.get("init_from") is None:
        # a partial run (--method a,b) still starts from the warm-start method's weights: the ones trained earlier
        if not CheckpointLayout(Path(out_dir) / start).weights.is_file():
            raise ValueError(f"preset '{name}' starts every method from {start}'s backbone, and "
                             f"{Path(out_dir) / start} holds no checkpoint: train it too (--method {start},...) "
                             "or pass --init-from")
    outs = []
    for method in methods:
        train_values, method_values = preset.settings(method)
        if start and method != start:
            train_values.setdefault("init_from", str(Path(out_dir) / start))
        out = Path(out_dir) / method
        args = resolve_args(method, str(out), flags, train_values, method_arg_pairs, method_values)
        layout = CheckpointLayout(out)
        evaluated = args.resume and finished_run(out) is not None and layout.eval.is_file()
        train(args, asked_max_length=flags.get("max_length") is not None)
        if not evaluated and PartialState().is_main_process:
            evaluate_preset(preset, out, args, layout, method)
        outs.append(out)
    return outs


def evaluate_preset(preset: Preset, out: Path, args, layout: CheckpointLayout, method: str) -> None:
    """Choose a freshly trained checkpoint's defaults on dev (if the preset does), then sweep its eval split:
    at the preset's evaluation batch size, timing repeats and CPU threads, the same for every method (not the
    method's training batch size: wall speed-ups measured at different batch sizes do not compare).

    A ``--limit`` run (a smoke test) sweeps the first N rows and prints them only, as ``eeviz evaluate --limit``
    does: defaults chosen on 64 dev rows were stored as if chosen on the whole split, and a 64-row eval.json made
    ``eeviz report`` skip every checkpoint."""
    import torch

    from ..checkpoint import set_rule_defaults
    from ..default_thresholds import choose_default_rule, choose_defaults
    from ..evaluate import evaluate_checkpoint
    from ..evaluate_cli import format_table
    from ..methods import get_method

    threads = torch.get_num_threads()
    if args.device == "cpu" or (args.device == "auto" and not torch.cuda.is_available()):
        torch.set_num_threads(preset.eval_cpu_threads)
    try:
        keep = args.limit is None  # a part of a split is printed, never stored (see above)
        if preset.choose_defaults:  # default thresholds from the dev split, before the test sweep
            dev = evaluate_checkpoint(out, split="dev", json_path=layout.dev_eval, write=keep, limit=args.limit,
                                      batch_size=preset.eval_batch_size, device=args.device, timing="none")
            chosen = choose_defaults(dev)
            rule = choose_default_rule(dev, get_method(method).default_rule, chosen)
            if keep:
                set_rule_defaults(out, chosen, rule)
            print(f"{method}: defaults " + ("chosen on dev: " if keep else
                                            f"the first {args.limit} dev rows would choose (not stored): ")
                  + (", ".join(f"{k}={v:g}" for k, v in chosen.items()) or "none (the papers' kept)")
                  + (f"; default rule {rule}" if rule else ""))
        result = evaluate_checkpoint(out, split=preset.eval_split, write=keep, limit=args.limit,
                                     batch_size=preset.eval_batch_size, device=args.device,
                                     timing_repeats=preset.eval_timing_repeats)
        print(format_table(result))
        if not keep:
            print(f"{method}: not written: a --limit run sweeps the first {args.limit} rows of each split; "
                  "train without --limit for the eval.json that the app and `eeviz report` read")
    finally:
        torch.set_num_threads(threads)


def build_parser(prog: str = "eeviz train") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Train an early-exit model (any method) and save an eeviz checkpoint. Hyperparameters not "
        "given come from the method's paper (its train_defaults in eeviz/methods/METHOD.py).",
    )
    run = parser.add_argument_group("what to train")
    run.add_argument("--method", help=f"one of: {', '.join(available_methods())} (with --preset: a comma list)")
    run.add_argument("--backbone", help="alias (minilm), HF hub name (albert-base-v2) or local folder [minilm]")
    run.add_argument("--task", help="task name (rotten_tomatoes, sst2, rte, ...) or a .csv/.jsonl file [rotten_tomatoes]")
    run.add_argument("--out", help="checkpoint folder to write (not with --preset: see --out-dir)")
    run.add_argument("--preset", help="train every method with a named preset (demo) into --out-dir/METHOD")
    run.add_argument("--out-dir", help="with --preset only: parent folder of the METHOD folders [checkpoints]")
    hp = parser.add_argument_group("hyperparameters (default: the method's train_defaults)")
    hp.add_argument("--finetune", choices=["full", "lora"], help="train every weight, or LoRA adapters [full]")
    hp.add_argument("--lora-rank", type=int, help="LoRA rank (alpha = 2 x rank) [8]")
    hp.add_argument("--max-length", type=int, help="max tokens per input [128]")
    hp.add_argument("--pooling", choices=["cls", "mean"],
                    help="sentence vector the heads read: [CLS] state (the papers) or mean over tokens [cls]")
    hp.add_argument("--lr", type=float, help="peak learning rate")
    hp.add_argument("--batch-size", type=int, help="examples per step and process")
    hp.add_argument("--epochs", type=int, help="epochs per phase (a phase may fix its own)")
    hp.add_argument("--warmup-ratio", type=float, help="fraction of a phase's steps spent in linear warmup")
    hp.add_argument("--weight-decay", type=float, help="AdamW weight decay (not on biases and LayerNorms)")
    hp.add_argument("--schedule", choices=["linear", "constant"], help="after warmup: linear decay to 0, or constant")
    hp.add_argument("--max-grad-norm", type=float, help="gradient clipping (0: off)")
    hp.add_argument("--dropout", type=float, help="classifier dropout")
    hp.add_argument("--patience-epochs", type=int,
                    help="stop a phase after N epochs without a better dev score (0: never stop early)")
    hp.add_argument("--seed", type=int, help="seed of initialisation, data order and dropout [42]")
    hp.add_argument("--method-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="a field of the method's Args dataclass (repeatable), e.g. --method-arg beta=0.5")
    ctl = parser.add_argument_group("run control")
    ctl.add_argument("--max-steps", type=int, help="stop after N optimizer steps in total (quick runs)")
    ctl.add_argument("--limit", type=int, help="keep only the first N examples of each split")
    ctl.add_argument("--train-limit", type=int, help="keep only the first N training examples (dev/test stay whole)")
    ctl.add_argument("--init-from", help="checkpoint whose backbone weights (adapters, LayerNorms, pooler) start this run")
    ctl.add_argument("--cached-features", action="store_true", default=None,
                     help="freeze the encoder (start it with --init-from; without, it stays as pretrained) and "
                          "train the method's heads and exit machinery on its per-layer sentence vectors, "
                          "computed once: many epochs on a CPU")
    ctl.add_argument("--keep-epoch", choices=["best", "last"],
                     help="which epoch of each phase the checkpoint keeps: the best on dev, or the last [best]")
    ctl.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    ctl.add_argument("--overwrite", action="store_true", help="delete an earlier run in --out and start over")
    ctl.add_argument("--device", choices=["auto", "cpu", "cuda"], help="auto: CUDA when present [auto]")
    ctl.add_argument("--mixed-precision", choices=["auto", "no", "bf16", "fp16"],
                     help="auto: bf16 on GPUs with native bf16, else fp16 with loss scaling; none on CPU, where "
                          "fp16 is refused [auto]")
    ctl.add_argument("--num-workers", type=int, help="DataLoader worker processes for tokenisation [0]")
    return parser


FLAG_NAMES = (
    "backbone", "task", "finetune", "lora_rank", "max_length", "pooling", "lr", "batch_size", "epochs", "warmup_ratio",
    "weight_decay", "schedule", "max_grad_norm", "dropout", "patience_epochs", "seed", "limit", "train_limit",
    "init_from", "cached_features", "keep_epoch", "max_steps",
    "device", "mixed_precision", "num_workers",
)


def main(argv: list[str] | None = None, prog: str = "eeviz train") -> int:
    parser = build_parser(prog)
    ns = parser.parse_args(argv)
    flags = {name: getattr(ns, name) for name in FLAG_NAMES}
    flags["resume"] = ns.resume or None
    flags["overwrite"] = ns.overwrite or None
    from ..backbone import BackboneError

    # before anything loads: a flag the chosen mode would ignore points somewhere the run would not write
    # (one line, as argparse words its errors, without the long usage)
    if ns.preset and ns.out:
        parser.exit(2, f"{parser.prog}: error: --out names one run's folder; --preset {ns.preset} writes "
                       "OUT_DIR/METHOD: use --out-dir\n")
    if ns.out_dir and not ns.preset:
        parser.exit(2, f"{parser.prog}: error: --out-dir is the parent folder of a --preset's runs; one run "
                       "writes --out\n")
    if not ns.preset and (not ns.method or not ns.out):
        parser.error("--method and --out are required (or use --preset)")
    try:
        if ns.preset:
            methods = [m.strip() for m in ns.method.split(",")] if ns.method else None
            run_preset(ns.preset, ns.out_dir or "checkpoints", flags, ns.method_arg, methods)
            return 0
        train(resolve_args(ns.method.strip().lower(), ns.out, flags, method_arg_pairs=ns.method_arg),
              asked_max_length=ns.max_length is not None)
    except (ValueError, FileNotFoundError, RuntimeError, BackboneError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
