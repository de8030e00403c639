"""The plug-in contract: everything outside ``eeviz/methods/`` learns about methods from the methods' files.

A new exit method is one new file plus its registration line; so no code outside ``eeviz/methods/`` (the
app's pages included) may name a method or an exit rule. Docstrings and comments may cite papers.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from eeviz.methods import METHOD_MODULES, available_methods, get_method
from eeviz.trace import Trace

ROOT = Path(__file__).resolve().parent.parent
METHODS_DIR = ROOT / "eeviz" / "methods"


def code_files() -> list[Path]:
    files = [p for p in (ROOT / "eeviz").rglob("*.py") if METHODS_DIR not in p.parents]
    return sorted(files + [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))])


def method_names() -> set[str]:
    names = set(METHOD_MODULES) | {get_method(m).name for m in available_methods()}
    return {n.lower() for n in names}


def rule_names() -> set[str]:
    """Rule names, less those that are also quantities every trace has (entropy, puzzlement, ...)."""
    generic = {name for name in dir(Trace) if not name.startswith("_")}
    rules = {r for m in available_methods() for r in get_method(m).rules}
    return {r.lower() for r in rules} - generic


def docstring_nodes(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                out.add(id(first.value))
    return out


def identifiers_and_strings(path: Path):
    """(kind, text, line) of every identifier and every string literal that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = docstring_nodes(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield "string", node.value, node.lineno
        elif isinstance(node, ast.Name):
            yield "name", node.id, node.lineno
        elif isinstance(node, ast.Attribute):
            yield "name", node.attr, node.lineno
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            yield "name", node.name, node.lineno
        elif isinstance(node, ast.alias):
            yield "name", node.asname or node.name, getattr(node, "lineno", 0)
        elif isinstance(node, ast.keyword) and node.arg:
            yield "name", node.arg, node.value.lineno


def mentions(text: str, methods: set[str], rules: set[str]) -> list[str]:
    lowered = text.lower()
    words = set(re.findall(r"[a-z0-9]+", lowered)) | set(re.findall(r"[a-z0-9_]+", lowered))
    found = sorted(m for m in methods if m in words)
    found += sorted(r for r in rules if r == lowered.strip() or r in re.findall(r"[a-z0-9_]+", lowered) and "_" in r)
    return found


def test_the_check_itself_finds_names():
    methods, rules = method_names(), rule_names()
    assert mentions("PonderNet sampling", methods, rules) == ["pondernet"]
    assert mentions("q_exit", methods, rules) and mentions("two_stage threshold", methods, rules)
    assert not mentions("the entropy of p_i", methods, rules)


@pytest.mark.parametrize("path", code_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_method_or_rule_named_outside_the_methods_package(path):
    methods, rules = method_names(), rule_names()
    hits = [f"line {line}: {kind} {text[:60]!r} names {found}"
            for kind, text, line in identifiers_and_strings(path)
            if (found := mentions(text, methods, rules))]
    assert not hits, "\n".join(hits)


def test_a_core_module_never_imports_streamlit():
    app_dir = ROOT / "eeviz" / "app"
    for path in (ROOT / "eeviz").rglob("*.py"):
        if app_dir in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "streamlit" for a in node.names), path
            elif isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "streamlit", path


def test_every_rule_says_what_it_compares():
    """The app draws a rule's threshold against the series its spec names: the names must be real."""
    for method in available_methods():
        cls = get_method(method)
        for name, rule_cls in cls.rules.items():
            spec = rule_cls.spec
            assert spec.display, (method, name)
            if spec.series is not None:
                assert spec.side in ("below", "above", "at_least"), (method, name)
            if spec.stochastic:
                assert spec.integer, f"{method}.{name}: a random rule's parameter is its seed"
