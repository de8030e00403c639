"""The plug-in contract: everything outside ``eeviz/methods/`` learns about methods from the methods' files.

A new exit method is one new file (the registry finds it); so no code outside ``eeviz/methods/`` (the app's
pages included) may name a method or an exit rule. Docstrings and comments may cite papers.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import eeviz.methods
from eeviz.config import ModelConfig
from eeviz.methods import available_methods, get_method, method_modules
from eeviz.model import build_model
from eeviz.trace import Trace, replay

ROOT = Path(__file__).resolve().parent.parent
METHODS_DIR = ROOT / "eeviz" / "methods"


def code_files() -> list[Path]:
    files = [p for p in (ROOT / "eeviz").rglob("*.py") if METHODS_DIR not in p.parents]
    return sorted(files + [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))])


def method_names() -> set[str]:
    names = set(method_modules()) | {get_method(m).name for m in available_methods()}
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


def test_every_rule_compares_a_series_its_decisions_have(tiny_bert):
    """A rule's ``series`` names a series of the method's trace, of the rule's own state or of its figure inputs
    (a misspelt one dropped the threshold line from every figure without a word)."""
    for method in available_methods():
        cls = get_method(method)
        model = build_model(ModelConfig(backbone=tiny_bert, method=method, labels=["a", "b"])).eval()
        trace = model.trace("the movie is good")
        for name, rule_cls in cls.rules.items():
            if rule_cls.spec.series is None:
                continue
            decision = replay(trace, model.make_rule(name))
            inputs = cls.figure_inputs(model.method.args, trace, decision, 0)
            series = {k for k, v in trace.signals.items() if np.asarray(v).ndim == 1}
            series |= set(decision.info) | set(inputs.series)
            assert rule_cls.spec.series in series, (method, name, sorted(series))


TOY_METHOD = """
from eeviz.methods.deebert import DeebertMethod


class ToyMethod(DeebertMethod):
    name = "toyexit"
    title = "Toy exit (entropy)"


METHOD = ToyMethod
"""


@pytest.fixture
def extra_method_folder(tmp_path, monkeypatch):
    """A folder that ``eeviz.methods`` reads method files from too, as if they were in ``eeviz/methods/``."""
    monkeypatch.setattr(eeviz.methods, "__path__", [*eeviz.methods.__path__, str(tmp_path)])
    method_modules.cache_clear()
    yield tmp_path
    for module in ("toyexit", "broken"):
        sys.modules.pop(f"eeviz.methods.{module}", None)
    monkeypatch.undo()
    method_modules.cache_clear()


def test_a_new_method_file_is_all_it_takes(extra_method_folder, tiny_bert):
    (extra_method_folder / "toyexit.py").write_text(TOY_METHOD, encoding="utf-8")
    names = available_methods()
    assert "toyexit" in names and names.index("toyexit") == names.index("deebert") + 1  # its listing_order, then name
    cls = get_method("ToyExit")
    assert cls.name == "toyexit"
    model = build_model(ModelConfig(backbone=tiny_bert, method="toyexit", labels=["a", "b"])).eval()
    decision = replay(model.trace("the movie is good"), model.make_rule(cls.default_rule))
    assert 1 <= decision.exit_layer <= model.num_layers


def test_a_broken_method_file_leaves_the_others_working(extra_method_folder):
    (extra_method_folder / "broken.py").write_text("raise RuntimeError('half-written')\n", encoding="utf-8")
    with pytest.warns(UserWarning, match=r"broken\.py could not be imported.*half-written"):
        names = available_methods()
    assert "broken" not in names and "pabee" in names
    with pytest.raises(ValueError, match="unknown method 'broken'"):
        get_method("broken")


def readme_training_table() -> dict[str, dict[str, str]]:
    """The README's training-defaults table, by method."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(k for k, line in enumerate(lines) if line.startswith("| method | lr | batch |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|"))))
        rows[cells["method"]] = cells
    return rows


def test_the_readme_lists_every_method_with_its_training_defaults():
    """The README's table of training defaults says what each method's file says (a method added without its
    row, or a default changed in the file only, fails here)."""
    rows = readme_training_table()
    assert sorted(rows) == sorted(available_methods())
    for method, row in rows.items():
        defaults = get_method(method).train_defaults
        assert float(row["lr"]) == defaults.lr, method
        assert int(row["batch"]) == defaults.batch_size, method
        assert int(row["epochs"].split()[0]) == defaults.epochs, method
        assert ("constant" in row["schedule"]) == (defaults.schedule == "constant"), method
        warmup = re.search(r"(\d+)% warmup", row["schedule"])
        assert (int(warmup.group(1)) / 100 if warmup else 0.0) == defaults.warmup_ratio, method
        stop = re.match(r"(\d+) epochs", row["early stop"])
        assert (int(stop.group(1)) if stop else None) == defaults.patience_epochs, method
