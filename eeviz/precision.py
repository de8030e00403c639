"""Numeric precision, chosen in one place: mixed precision for training, and the one inference setting.

Inference (evaluation, dev model selection, ConsistentEE's memorized layers, the app's traces and replays,
the benchmark) runs in float32 unless a tool is asked otherwise (``--inference-precision``): the app replays
its rules on float32 traces, and a lower precision moves exits (a bf16 regression output near 4 moves in
steps of 1/32, coarser than PABEE's tolerance of 0.1), so eval.json would no longer say what the app shows.
Every file that reports figures records the precision they were computed in (eval.json ``precision``,
metrics.json ``inference_precision``, the benchmark's header).

bf16 counts only where the GPU computes it natively (compute capability 8.0+): ``torch.cuda.is_bf16_supported()``
also says yes where it is emulated (T4, V100), which is slow; there training uses fp16 with loss scaling.
"""

from __future__ import annotations

import contextlib

import torch

INFERENCE_PRECISIONS = ("fp32", "bf16", "fp16", "auto")
DEFAULT_INFERENCE_PRECISION = "fp32"
MIXED_PRECISIONS = ("auto", "no", "bf16", "fp16")
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` is a GPU that computes bf16 natively (emulation does not count)."""
    device = torch.device(device)
    return device.type == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False)


def training_precision(requested: str, cuda: bool) -> str:
    """What ``--mixed-precision requested`` trains in: "no", "bf16" or "fp16". Raises ValueError when the
    device cannot do it (rather than silently training in float32 while metrics.json says otherwise).

    "auto": bf16 on a GPU with native bf16, fp16 (with loss scaling) on other GPUs, float32 on the CPU.
    """
    if requested not in MIXED_PRECISIONS:
        raise ValueError(f"--mixed-precision must be one of {', '.join(MIXED_PRECISIONS)}, not {requested!r}")
    bf16 = cuda and native_bf16("cuda")
    if requested == "auto":
        return ("bf16" if bf16 else "fp16") if cuda else "no"
    if requested == "fp16" and not cuda:
        raise ValueError("--mixed-precision fp16 needs a CUDA GPU (fp16 with loss scaling); on the CPU use "
                         "--mixed-precision bf16 or no")
    if requested == "bf16" and cuda and not bf16:
        raise ValueError(f"--mixed-precision bf16: this GPU ({torch.cuda.get_device_name()}) has no native bf16 "
                         "(it would be emulated, slowly); use --mixed-precision fp16 or auto")
    return requested


def inference_precision(device: torch.device | str, requested: str = DEFAULT_INFERENCE_PRECISION) -> str:
    """The precision inference on ``device`` runs in for ``requested`` ("fp32", "bf16", "fp16" or "auto").

    "auto": bf16 on a GPU with native bf16, else fp32. Raises ValueError for a precision the device lacks
    (fp16 on the CPU, bf16 on a GPU without native bf16).
    """
    device = torch.device(device)
    if requested not in INFERENCE_PRECISIONS:
        raise ValueError(f"inference precision must be one of {', '.join(INFERENCE_PRECISIONS)}, not {requested!r}")
    if requested == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if requested == "fp16" and device.type != "cuda":
        raise ValueError("inference in fp16 needs a CUDA GPU; use fp32 or bf16 on the CPU")
    if requested == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise ValueError("this GPU has no native bf16 (it would be emulated, slowly): use fp32 or fp16")
    return requested


def inference_autocast(device: torch.device | str, requested: str = DEFAULT_INFERENCE_PRECISION):
    """The autocast context of ``inference_precision(device, requested)`` (none for fp32)."""
    device = torch.device(device)
    precision = inference_precision(device, requested)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])
