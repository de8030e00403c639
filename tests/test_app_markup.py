"""Class names come from a checkpoint's config.json: shown on a page, they are text, never markdown or LaTeX.

Streamlit renders a metric's value as markdown, so a class named ``**bold** $x^2$`` was drawn bold with a formula
in Explore's "Prediction" box.
"""

from __future__ import annotations

import pytest

pytest.importorskip("streamlit")

from apptest import run_app  # noqa: E402

from eeviz.app.page import md_escape  # noqa: E402
from eeviz.checkpoint import save_checkpoint  # noqa: E402
from eeviz.config import ModelConfig  # noqa: E402
from eeviz.model import build_model  # noqa: E402

LABELS = ["**bold** $x^2$", "[link](javascript:alert(1))"]


@pytest.fixture
def markup_env(tiny_bert, tmp_path, monkeypatch):
    cfg = ModelConfig(backbone=tiny_bert, method="deebert", task="toy", labels=LABELS, max_length=32)
    save_checkpoint(build_model(cfg), tmp_path / "marked")
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(tmp_path))


def test_a_class_name_in_the_prediction_box_is_text(markup_env):
    at = run_app(ckpt="marked", text="a fine film")
    shown = {m.label: m.value for m in at.metric}["Prediction"]
    assert shown in {md_escape(label) for label in LABELS}, shown  # markdown shows these as the names, plainly
    assert "**" not in shown and "](" not in shown
