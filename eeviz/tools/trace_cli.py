"""``eeviz trace`` / ``python -m eeviz.trace``: the per-layer trace of one sentence and every exit rule's decision."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..trace import Decision, Trace, replay_all


def format_trace(trace: Trace, decisions: dict[str, Decision]) -> str:
    """A plain-text per-layer table plus each rule's decision."""
    frame = trace.to_frame()
    lines = [f"method: {trace.method}   text: {trace.text!r}" + (f"   text_b: {trace.text_b!r}" if trace.text_b else "")]
    lines.append(f"tokens ({len(trace.tokens)}): {' '.join(trace.tokens)}")
    lines.append(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    for name, d in decisions.items():
        params = ", ".join(f"{k}={v}" for k, v in d.params.items())
        lines.append(f"rule {name} ({params}): exit at layer {d.exit_layer}/{trace.num_layers} -> {d.label}")
    return "\n".join(lines)


def build_parser(prog: str = "eeviz trace") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description="Per-layer trace of one sentence and every exit rule's decision."
    )
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder (config.json + model.safetensors)")
    parser.add_argument("--text", required=True, help="the sentence (first sentence for pair tasks)")
    parser.add_argument("--text-b", default=None, help="second sentence for pair tasks (RTE, MRPC, NLI)")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON (trace + decisions) instead of a table")
    output.add_argument("--csv", action="store_true",
                        help="print the per-layer table as CSV, one block of rows per exit rule, with the sentence, "
                             "checkpoint, rule and threshold on every row (the app's \"Layers as CSV\")")
    parser.add_argument("--no-attentions", action="store_true", help="leave attention weights out of the JSON")
    parser.add_argument(
        "--set", action="append", default=[], metavar="RULE.PARAM=VALUE",
        help="override a parameter of one exit rule (repeatable); the table lists each rule's parameters",
    )
    return parser


def main(argv: list[str] | None = None, prog: str = "eeviz trace") -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.no_attentions and not args.json:
        parser.error("--no-attentions leaves attention weights out of --json's output; give --json too")

    from ..checkpoint import CheckpointError, load_checkpoint
    from ..inputs import InputError, check_inputs
    from ..truncation import find_cut

    from ..methods import get_method
    from ..methods.base import check_rule_params

    typed: dict[str, dict[str, str]] = {}  # values as typed: check_rule_params reads them against each rule's spec
    for item in args.set:
        key, has_value, value = item.partition("=")
        rule, has_param, param = key.partition(".")
        if not (has_value and has_param and rule.strip() and param.strip()):
            parser.error(f"--set expects RULE.PARAM=VALUE, got {item!r}")
        typed.setdefault(rule.strip(), {})[param.strip()] = value.strip()
    try:
        model = load_checkpoint(args.checkpoint)
        method = get_method(model.cfg.method)
        params = check_rule_params(method.name, method.rules, typed)  # ValueError naming the valid range
        if not model.cfg.is_pair and (args.text_b or "").strip():  # said in the command's words, not the app's
            raise ValueError("this checkpoint takes a single sentence, not a pair: drop --text-b")
        text, text_b = check_inputs(args.text, args.text_b, model.cfg.is_pair)
        trace = model.trace(text, text_b)
        decisions = replay_all(trace, params)  # at the checkpoint's own thresholds, as the app shows it
    except InputError as err:
        flag = " (--text-b)" if model.cfg.is_pair and not (args.text_b or "").strip() else ""
        print(f"error: {err}{flag}", file=sys.stderr)
        return 2
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cut = find_cut(model.tokenizer, text, text_b, model.cfg.max_length)
    if cut.unread_tokens:  # said as the app says it: the result is for the part the model read
        print(f"note: the input was cut: this model reads its first {model.cfg.max_length} tokens and the input has "
              f"{cut.total_tokens}, so the last {cut.unread_tokens} were never read", file=sys.stderr)
    if args.json:
        out = trace.to_dict(attentions=not args.no_attentions)
        out["decisions"] = {k: d.to_dict() for k, d in decisions.items()}
        print(json.dumps(out))
    elif args.csv:
        import pandas as pd

        from ..csv_safe import csv_text
        from ..layer_export import layers_frame

        name = Path(args.checkpoint).resolve().name
        frames = [layers_frame(name, trace, d) for d in decisions.values()]
        print(csv_text(pd.concat(frames, ignore_index=True)), end="")
    else:
        print(format_trace(trace, decisions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
