"""``--device`` checked before anything loads, with the same words in every command that takes it.

Without this check ``eeviz evaluate --device cuda`` on a machine without CUDA said "cannot load checkpoint ...:
AssertionError: Torch not compiled with CUDA enabled", blaming the checkpoint in an exception's words.
"""

from __future__ import annotations

from .messages import plural


def device_problem(device: str | None) -> str | None:
    """Why ``--device DEVICE`` cannot run on this machine, in one line; None when it can (``auto``, ``cpu``, or a
    CUDA device that is there). ``device`` has been checked to be auto, cpu, cuda or cuda:N."""
    if not device or not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return (f"--device {device}: CUDA is not available on this machine (torch.cuda.is_available() is False): "
                "use --device cpu")
    _, _, index = device.partition(":")
    count = torch.cuda.device_count()
    if index.isdigit() and int(index) >= count:
        return (f"--device {device}: this machine has {plural(count, 'CUDA device')} "
                f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return None
