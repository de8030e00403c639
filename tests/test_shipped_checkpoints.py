"""The checkpoints the app ships with: each loads, and its test accuracy matches checkpoints/README.md."""


import pytest

from eeviz.catalog import DEFAULT_ROOT, find_checkpoints
from eeviz.checkpoint import load_checkpoint
from eeviz.data import load_task
from eeviz.evaluate import DATA_SPLIT_SEED
from eeviz.methods import available_methods
from eeviz.tools.report import parse_table, checkpoint_scores

README = DEFAULT_ROOT / "README.md"
pytestmark = pytest.mark.slow


def table_rows():
    if not README.is_file():
        return []
    return parse_table(README.read_text())


def test_every_method_is_shipped():
    infos, problems = find_checkpoints(DEFAULT_ROOT)
    assert not problems
    assert sorted(i.cfg.method for i in infos) == sorted(available_methods())
    assert sorted(r["method"] for r in table_rows()) == sorted(available_methods())
    size = sum(f.stat().st_size for f in DEFAULT_ROOT.rglob("*") if f.is_file())
    assert size < 60e6, f"shipped checkpoints take {size / 1e6:.1f} MB"


@pytest.fixture(scope="module")
def test_split():
    return load_task("rotten_tomatoes", seed=DATA_SPLIT_SEED).test


@pytest.mark.parametrize("row", table_rows(), ids=lambda r: r["checkpoint"])
def test_recorded_test_accuracy(row, test_split):
    model = load_checkpoint(DEFAULT_ROOT / row["checkpoint"])
    assert model.cfg.backbone == "minilm" and model.cfg.task == "rotten_tomatoes"
    got = checkpoint_scores(model, test_split)
    assert abs(100 * got["full"] - float(row["test acc (full)"])) <= 0.5
    assert abs(100 * got["rule"] - float(row["test acc (rule)"])) <= 0.5
    assert abs(got["mean_exit_layer"] - float(row["mean exit layer"])) <= 0.05
    assert got["full"] > 0.75
