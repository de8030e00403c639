"""Plotly figures and tables for the app: pure functions of traces, decisions and evaluation results.

- ``style``: colours, escaping, the layer axis, and the exit, skipped-layers and threshold markers;
- ``traces``: per-layer figures of one trace (probabilities, a signal against a threshold, a method's panel);
- ``panels``: the figures that explain one decision (``decision_panels``) and the per-layer table;
- ``attention``: layers x tokens heatmaps;
- ``compare``: one sentence through several checkpoints;
- ``playback``, ``playback_compare``: the same, layer by layer, as Plotly animations (a slider, a play button);
- ``dataset``: evaluation sweeps (accuracy against speed-up per checkpoint, where examples exit, per-layer
  scores, a summary table).

Conventions shared by every per-layer figure: layers are 1-based on the x axis (on the y axis for the
layers x tokens heatmaps); the exit layer is a dashed line (or a row outline) in a layout shape named
``"exit"``, the layers true early exit never runs a band named ``"skipped"``, and threshold lines are shapes
named ``"threshold"``. Tests and the app find the markers by these names.

Which figures a decision gets depends only on what its rule and method declare (``RuleSpec``, ``panels``,
``figure_inputs``): nothing here names a method, so a new method's signals show up without changes.
"""

from ..analysis import examples_table, is_overthinking, overthinking_examples
from .attention import token_heatmap
from .compare import compare_exit_figure, compare_layers_figure, compare_table
from .dataset import exit_histogram_figure, exit_share_figure, per_layer_figure, summary_table, tradeoff_panels
from .panels import Panel, decision_panels, is_flag, layer_table, threshold_series
from .playback import layer_sentences, playback_figure
from .playback_compare import compare_playback_figure
from .style import (
    CLASS_COLORS,
    EXIT,
    EXIT_COLOR,
    OFF_FILL,
    SERIES_COLORS,
    SKIPPED,
    THRESHOLD,
    THRESHOLD_COLOR,
    ZONE_COLOR,
    class_color,
    escape,
    fires,
    mark_exit,
)
from .traces import (
    exit_distribution_figure,
    flags_figure,
    lines_figure,
    panel_figure,
    probability_heatmap,
    probability_lines,
    reward_figure,
    signal_figure,
)

__all__ = [
    "CLASS_COLORS",
    "EXIT",
    "EXIT_COLOR",
    "SERIES_COLORS",
    "SKIPPED",
    "THRESHOLD",
    "THRESHOLD_COLOR",
    "OFF_FILL",
    "ZONE_COLOR",
    "Panel",
    "class_color",
    "compare_exit_figure",
    "compare_layers_figure",
    "compare_playback_figure",
    "compare_table",
    "decision_panels",
    "is_flag",
    "escape",
    "examples_table",
    "exit_distribution_figure",
    "exit_histogram_figure",
    "exit_share_figure",
    "fires",
    "flags_figure",
    "is_overthinking",
    "layer_table",
    "layer_sentences",
    "lines_figure",
    "mark_exit",
    "overthinking_examples",
    "panel_figure",
    "per_layer_figure",
    "playback_figure",
    "probability_heatmap",
    "probability_lines",
    "reward_figure",
    "signal_figure",
    "summary_table",
    "threshold_series",
    "token_heatmap",
    "tradeoff_panels",
]
