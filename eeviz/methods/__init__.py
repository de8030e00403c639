"""Registry of early-exit methods: every module of this package that defines ``METHOD`` (its ExitMethod subclass)
is a method, found on first use. Adding a method is adding its file; nothing here lists them."""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from functools import lru_cache

from .base import ExitMethod, ExitRule, Phase, RuleSpec

# what a model config that names no method means (configs written before they named one): PABEE, the first
# method eeviz had. Fixed by name, so that a new method file listed before it changes no old checkpoint.
DEFAULT_METHOD = "pabee"


@lru_cache(maxsize=1)
def method_modules() -> dict[str, str]:
    """Method name -> its module under ``eeviz.methods``, in the methods' ``listing_order`` (then by name): the
    order of every list a user sees (``--method``, the app's pickers, the Learn tabs, reports)."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name == "base":
            continue
        try:
            loaded = importlib.import_module(f"{__name__}.{module.name}")
        except Exception as err:  # noqa: BLE001 - a broken method file must not take every other method down
            warnings.warn(f"eeviz/methods/{module.name}.py could not be imported, so its method is left out: "
                          f"{type(err).__name__}: {err}", stacklevel=2)
            continue
        method = getattr(loaded, "METHOD", None)
        if isinstance(method, type) and issubclass(method, ExitMethod):
            found.append((method.listing_order, method.name, module.name))
    return {name: module for _, name, module in sorted(found)}


def available_methods() -> list[str]:
    """Names of the methods this install has (every method file under ``eeviz/methods/``)."""
    return list(method_modules())


def get_method(name: str) -> type[ExitMethod]:
    key = name.strip().lower()
    modules = method_modules()
    if key not in modules:
        raise ValueError(f"unknown method '{name}' (known: {', '.join(modules)})")
    return importlib.import_module(f"{__name__}.{modules[key]}").METHOD


__all__ = ["ExitMethod", "ExitRule", "Phase", "RuleSpec", "available_methods", "get_method", "method_modules"]
