"""Registry of early-exit methods: one module per method, imported on first use."""

from __future__ import annotations

import importlib

from .base import ExitMethod, ExitRule, Phase, RuleSpec

# method name -> module under eeviz.methods (each defines ``METHOD``, its ExitMethod subclass)
METHOD_MODULES = {
    "pabee": "pabee",
    "deebert": "deebert",
    "pondernet": "pondernet",
    "palbert": "palbert",
    "elbert": "elbert",
    "consistentee": "consistentee",
    "berxit": "berxit",
}


# what a model config names when it names none: the first method registered
DEFAULT_METHOD = next(iter(METHOD_MODULES))


def available_methods() -> list[str]:
    """Names of the methods whose module is present in this install."""
    out = []
    for name, module in METHOD_MODULES.items():
        if importlib.util.find_spec(f"{__name__}.{module}") is not None:
            out.append(name)
    return out


def get_method(name: str) -> type[ExitMethod]:
    key = name.strip().lower()
    if key not in METHOD_MODULES:
        raise ValueError(f"unknown method '{name}' (known: {', '.join(METHOD_MODULES)})")
    try:
        module = importlib.import_module(f"{__name__}.{METHOD_MODULES[key]}")
    except ModuleNotFoundError as err:
        raise ValueError(f"method '{name}' is not implemented in this version of eeviz") from err
    return module.METHOD


__all__ = ["ExitMethod", "ExitRule", "Phase", "RuleSpec", "available_methods", "get_method"]
