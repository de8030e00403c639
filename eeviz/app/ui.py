"""The helpers the pages call, under one name (``from eeviz.app import ui``); see ``eeviz.app`` for the modules.

Widgets are synced with URL query parameters (the checkpoint by hand, the others with ``bind="query-params"``),
so a view's checkpoint, sentence, rule and thresholds travel in its link and survive a reload; they keep their
values across pages (``persist_state="session"``).
"""

from .inputs import (
    BUILTIN_EXAMPLES,
    BUILTIN_PAIRS,
    DEFAULT_TEXT,
    DEFAULT_TEXT_B,
    example_choices,
    forget_stale,
    gold_of,
    sentence_inputs,
    sidebar_hint,
)
from .loading import (
    get_trace,
    get_traces,
    list_checkpoints,
    load_eval,
    load_model,
    load_models,
    pick_checkpoint,
    pick_checkpoints,
    titles,
)
from .downloads import compare_export_buttons, export_buttons, export_payload, figure_config
from .live_chart import live_chart
from .output import pair_boundary, show_compare_cut_notice, show_cut_notice, show_decision
from .playback import COMPARE_HOW, playback_box
from .reproduce import show_result_check
from .page import EVALUATE_COMMAND, PAGE_ICON, PAGES, TRAIN_COMMAND, md_escape, setup_page, write_link
from .rules import (
    all_rules_table, gold_input, method_extras, rule_controls, sampled_exits, short_title, short_title_of,
    threshold_input,
    threshold_key,
)

__all__ = [
    "BUILTIN_EXAMPLES",
    "BUILTIN_PAIRS",
    "COMPARE_HOW",
    "DEFAULT_TEXT",
    "DEFAULT_TEXT_B",
    "EVALUATE_COMMAND",
    "PAGES",
    "PAGE_ICON",
    "TRAIN_COMMAND",
    "all_rules_table",
    "compare_export_buttons",
    "example_choices",
    "export_buttons",
    "export_payload",
    "figure_config",
    "forget_stale",
    "get_trace",
    "get_traces",
    "gold_input",
    "gold_of",
    "list_checkpoints",
    "live_chart",
    "load_eval",
    "load_model",
    "load_models",
    "md_escape",
    "method_extras",
    "pair_boundary",
    "pick_checkpoint",
    "pick_checkpoints",
    "playback_box",
    "rule_controls",
    "sampled_exits",
    "sentence_inputs",
    "setup_page",
    "show_compare_cut_notice",
    "show_cut_notice",
    "show_decision",
    "short_title",
    "short_title_of",
    "sidebar_hint",
    "show_result_check",
    "threshold_input",
    "threshold_key",
    "write_link",
    "titles",
]
