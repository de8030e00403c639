"""Section 3 of ``eeviz bench`` on a GPU: per-layer costs timed on the path early exit really runs.

On a GPU, kernels run asynchronously: a synchronisation around every layer, head and rule call would time
each launch plus a sync, a cost ``early_exit`` never pays (it syncs once per layer, reading the stop mask).
So here whole layer-by-layer passes are timed, and a part's cost is the difference between passes with and
without it.
"""

from __future__ import annotations

import torch

from .bench import Timer, layer_signals_per_sentence, rule_row, synchronize


def real_path_costs(model, batches, rule_names, repeats, device) -> tuple[Timer, int]:
    """Per-layer costs on the path early exit really runs (for a GPU), from whole passes timed end to end.

    Synchronising around every layer, head and rule call would time each launch plus a sync; early exit
    pays one sync per layer (reading the stop mask). So each sentence runs three kinds of pass through all
    L layers, each with one sync per layer: layers alone, layers + heads, layers + heads + ``rule.step``
    (its sync: reading the stop mask, as early exit does). Heads and a rule step cost the differences.
    Returns the timer (medians over ``repeats``) and the layer steps each variant ran per repeat.
    """
    L = model.num_layers
    timer = Timer(device)

    def layers(hidden, mask, heads: bool, rule_name: str | None = None) -> None:
        mstate = model.method.init_state(1, device)
        rule = model.make_rule(rule_name) if rule_name else None
        rstate = rule.start(1, device) if rule else None
        for i in range(1, L + 1):
            hidden, _ = model.runner.layer(i - 1, hidden, mask)
            sig = model.layer_signals(i, hidden, mask, mstate) if heads else None
            if rule is not None:
                stop, _ = rule.step(rstate, i, sig)
                stop.tolist()  # early exit's one sync per layer
            else:
                synchronize(device)

    with torch.inference_mode():
        embedded = [model._embed(b) for b in batches]
        signals = layer_signals_per_sentence(model, batches)

        def alone(rule_name: str) -> None:
            for per_layer in signals:
                rule = model.make_rule(rule_name)
                state = rule.start(1, device)
                for i, sig in enumerate(per_layer, start=1):
                    rule.step(state, i, sig)

        for _ in range(repeats + 1):  # the first pass warms up
            for hidden, mask in embedded:
                timer.run("layer", lambda: layers(hidden, mask, heads=False))
                timer.run("heads", lambda: layers(hidden, mask, heads=True))
                for rule_name in rule_names:
                    timer.run(f"{rule_name} in place", lambda: layers(hidden, mask, True, rule_name))
            for rule_name in rule_names:
                timer.run(f"{rule_name} alone", lambda: alone(rule_name))
            timer.end_repeat()
        timer.totals = {k: v[1:] for k, v in timer.totals.items()}
    return timer, len(batches) * L


def real_path_rows(models, texts, repeats, device) -> list[dict]:
    """Section 3's rows from ``real_path_costs`` (differences of whole passes; noise can make them negative)."""
    rows = []
    for name, model in models.items():
        batches = [model.tokenize([t]) for t in texts]
        rule_names = [r for r, cls in model.method.rules.items() if not cls.spec.needs_labels]
        timer, steps = real_path_costs(model, batches, rule_names, repeats, device)
        layer_us = 1e6 * timer.median("layer") / steps
        heads_us = 1e6 * (timer.median("heads") - timer.median("layer")) / steps
        for rule_name in rule_names:
            in_place_us = 1e6 * (timer.median(f"{rule_name} in place") - timer.median("heads")) / steps
            alone_us = 1e6 * timer.median(f"{rule_name} alone") / steps
            rows.append(rule_row(name, rule_name, alone_us, in_place_us, layer_us, heads_us))
    return rows
