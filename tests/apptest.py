"""Running the app's pages under Streamlit's AppTest, the way every app test does."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # s: the first run of a page imports transformers and loads models


def run_app(page: str | None = None, *, expect_no_exception: bool = True, **query):
    """AppTest of ``app.py`` with ``query`` as URL parameters, switched to ``page`` (a path such as
    "pages/1_Compare.py") and run once; by default it asserts the run raised nothing."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    if page:
        at.switch_page(page)
    at.run()
    if expect_no_exception:
        assert not at.exception, [e.value for e in at.exception]
    return at


def run_pasted(text: str):
    """The Your sentences page with ``text`` pasted (one sentence a line) and Run pressed; asserts the runs
    raised nothing."""
    at = run_app("pages/5_Your_sentences.py")
    at.segmented_control(key="up_source").set_value("paste").run()
    at.text_area(key="up_paste").set_value(text).run()
    at.button(key="up_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@dataclass
class Chart:
    """A Plotly chart on the page, drawn by ``st.plotly_chart`` or by the app's live chart component."""

    id: str
    spec: dict
    config: dict


def charts(at, key_part: str = "") -> list[Chart]:
    """The page's Plotly charts, in page order, both kinds (those whose key contains ``key_part``)."""
    from eeviz.app.live_chart import COMPONENT_NAME

    found = []
    for element in at.get("plotly_chart") + at.get("bidi_component"):
        proto = element.proto
        if element.type == "plotly_chart":
            found.append(Chart(proto.id, json.loads(proto.spec), json.loads(proto.config or "{}")))
        elif proto.component_name == COMPONENT_NAME:
            data = json.loads(proto.json)
            found.append(Chart(proto.id, json.loads(data["figure"]), data["config"]))
    return [chart for chart in found if key_part in chart.id]


def write_tiny_checkpoints(backbone: str, root: Path, methods) -> Path:
    """One untrained two-class checkpoint per method in ``root/METHOD-tiny`` on the tiny ``backbone``."""
    from eeviz.checkpoint import save_checkpoint
    from eeviz.config import ModelConfig
    from eeviz.model import build_model

    for method in methods:
        cfg = ModelConfig(backbone=backbone, method=method, task="toy", labels=["neg", "pos"], max_length=32)
        save_checkpoint(build_model(cfg), root / f"{method}-tiny")
    return root
