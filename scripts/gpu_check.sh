#!/usr/bin/env bash
# Device check on a machine with a CUDA GPU (issue 13), in one go, offline:
#   1. the CUDA tests: python3 -m pytest -m cuda tests/test_cuda.py (tiny random models on the GPU);
#   2. the benchmark on the MiniLM shape with random weights (the real weights need not travel), at batch 1
#      and 32, then a summary of wall speed-up against layer speed-up.
# Needs python3 with torch (CUDA), transformers, accelerate, safetensors, pandas, tqdm and pytest; nothing of
# the app (streamlit, plotly, bertviz) nor datasets, nor a network.
#   3. with GPU_CHECK_REAL=DIR (a folder written here by `python -m eeviz.tools.gpu_carry pack DIR`): the demo
#      preset on the real backbone (all-MiniLM-L6-v2, float16-rounded weights) and Rotten Tomatoes on the GPU,
#      for the methods in GPU_CHECK_METHODS (default: all; PABEE first, the others start from its weights), timed
#      (GPU_CHECK_TRAIN_LIMIT_S bounds it), then each one's test table.
# Usage: scripts/gpu_check.sh [OUT_DIR]   (default: $OUT, else /tmp/eeviz-gpu-check); logs and bench.json go there.
# Exit status: 0 all passed, 1 a test or the benchmark failed, 3 no CUDA GPU here (nothing was checked).
# GPU_CHECK_DRY_RUN=1 runs the same steps on the CPU, tiny and quick (the CUDA tests then skip): a check of
# the script itself on a machine without a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
OUT_DIR="${1:-${OUT:-/tmp/eeviz-gpu-check}}"
mkdir -p "$OUT_DIR"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export EEVIZ_CACHE="$OUT_DIR/cache"
DEVICE=cuda SHAPE=minilm SENTENCES=64 BATCH=32 REPEATS=5 REAL_LIMITS=()
if [ "${GPU_CHECK_DRY_RUN:-0}" = 1 ]; then
    DEVICE=cpu SHAPE=tiny SENTENCES=4 BATCH=2 REPEATS=1 REAL_LIMITS=(--limit 48 --epochs 1)
    echo "gpu_check: dry run on the CPU (tiny shape, $SENTENCES sentences): checks the script, measures nothing"
elif ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "gpu_check: no CUDA GPU is visible to PyTorch on this machine ($("$PY" -c 'import torch; print("torch", torch.__version__)' 2>&1 | tail -1)); nothing was checked. Run it where nvidia-smi lists a GPU." >&2
    exit 3
else
    "$PY" - <<'PYEOF'
import torch, transformers
p = torch.cuda.get_device_properties(0)
print(f"GPU: {p.name} (compute capability {p.major}.{p.minor}, {p.total_memory / 2**30:.0f} GiB), "
      f"native bf16: {torch.cuda.is_bf16_supported(including_emulation=False)}; torch {torch.__version__} "
      f"(CUDA {torch.version.cuda}), transformers {transformers.__version__}")
PYEOF
fi

status=0
STEPS=",${GPU_CHECK_STEPS:-1,2,3},"  # which of the steps to run (a rerun need not repeat the others)
if [[ $STEPS == *,1,* ]]; then
echo "== 1. CUDA tests"
"$PY" -m pytest -q -m cuda -p no:cacheprovider tests/test_cuda.py 2>&1 | tee "$OUT_DIR/cuda_tests.log" || status=1
fi

if [[ $STEPS == *,2,* ]]; then
echo "== 2. Benchmark: $SHAPE shape, random weights, batch 1 and $BATCH"
"$PY" -m eeviz.tools.random_backbone "$OUT_DIR/$SHAPE" --shape "$SHAPE" --sentences 96 || exit 1
"$PY" -m eeviz.bench --backbone "$OUT_DIR/$SHAPE/backbone" --texts "$OUT_DIR/$SHAPE/texts.txt" --device "$DEVICE" \
    --sentences "$SENTENCES" --batch-size "$BATCH" --repeats "$REPEATS" --sections 1,2,3 --json "$OUT_DIR/bench.json" \
    2>"$OUT_DIR/bench.err" | tee "$OUT_DIR/bench.md" || { status=1; tail -20 "$OUT_DIR/bench.err"; }

if [ -s "$OUT_DIR/bench.json" ]; then
    echo "== Summary: wall speed-up / layer speed-up (1.00 = early exit saves all the time its layers promise)"
    "$PY" - "$OUT_DIR/bench.json" <<'PYEOF' | tee "$OUT_DIR/summary.md"
import json, sys
results = json.load(open(sys.argv[1]))
env = results["env"]
print(f"{env['device']}, {env['precision']}, {env['sentences']} sentences, median of {env['repeats']} repeats\n")
print("| batch | model | rule | layer speed-up | wall speed-up | wall / layer |")
print("|---|---|---|---|---|---|")
for key, batch in (("batch1", 1), ("batched", None)):
    for row in results.get(key, []):
        print(f"| {row.get('batch', batch)} | {row['model']} | {row['rule']} | {row['layer_speedup']:.2f} | "
              f"{row['wall_speedup']:.2f} | {row['wall_over_layer']:.2f} |")
PYEOF
fi
fi

if [ -n "${GPU_CHECK_REAL:-}" ] && [[ $STEPS == *,3,* ]]; then
    echo "== 3. Demo preset on the real backbone (MiniLM, float16-rounded weights) + Rotten Tomatoes, $DEVICE"
    REAL="$OUT_DIR/real"
    rm -rf "$REAL/checkpoints"
    "$PY" -m eeviz.tools.gpu_carry unpack "$GPU_CHECK_REAL" "$REAL" || exit 1
    start=$(date +%s)
    # GPU_CHECK_TRAIN_LIMIT_S bounds this step (0: no bound); methods not reached by then are left out
    EEVIZ_BACKBONE_ROOT="$REAL" timeout "${GPU_CHECK_TRAIN_LIMIT_S:-0}" "$PY" -m eeviz.cli train --preset demo --method "${GPU_CHECK_METHODS:-$("$PY" -c \
        'from eeviz.methods import available_methods; print(",".join(available_methods()))')}" \
        --backbone "$REAL/minilm" --task "$REAL/rotten_tomatoes.jsonl" --device "$DEVICE" \
        --out-dir "$REAL/checkpoints" --overwrite "${REAL_LIMITS[@]}" 2>"$OUT_DIR/train.err" \
        | tee "$OUT_DIR/train.log" || { status=1; tail -20 "$OUT_DIR/train.err"; }
    echo "demo preset: $(( $(date +%s) - start )) s in all, training, feature caching and evaluation included"
    "$PY" - "$REAL/checkpoints" <<'PYEOF' | tee "$OUT_DIR/train_summary.md"
import json, sys
from pathlib import Path
from eeviz.eval_result import EvalResult
from eeviz.methods import get_method
print("| method | device, precision | training s | epochs | full model (test) | default rule | its score | mean exit layer | adaptive gain (pts) |")
print("|---|---|---|---|---|---|---|---|---|")
for folder in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "metrics.json").is_file()):
    m = json.loads((folder / "metrics.json").read_text())
    config = json.loads((folder / "config.json").read_text())["model"]
    row = f"| {m['method']} | {m.get('device')}, {m.get('mixed_precision')} | {m['wall_time_s']:.0f} | {m['epochs_run']} |"
    if not (folder / "eval.json").is_file():
        print(row + " not evaluated | | | | |")
        continue
    ev = EvalResult.load(folder / "eval.json")
    name = config.get("default_rule") or get_method(m["method"]).default_rule
    sweep = ev.rules.get(name) or next(iter(ev.rules.values()))
    point = sweep.default_point
    gain = "-" if point is None or point.adaptive_gain is None else f"{point.adaptive_gain:+.1f}"
    print(row + f" {ev.full_model.score:.3f} | {sweep.label} = {sweep.default:g} | "
          + ("- | - |" if point is None else f"{point.score:.3f} | {point.mean_exit_layer:.2f} |") + f" {gain} |")
PYEOF
fi
exit $status
