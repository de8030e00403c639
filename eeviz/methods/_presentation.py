"""What a method gives the app besides its rules: its paper, its figure panels and their inputs, and its tab of
the Learn page (lesson, toy and the toy's knobs), all plain data.

Part of the method contract: import it from ``eeviz.methods.base``, which re-exports every name here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Paper:
    """The paper a method follows, as the app cites it."""

    title: str
    authors: str  # e.g. "Zhou et al."
    venue: str  # e.g. "NeurIPS 2020"
    url: str


@dataclass(frozen=True)
class PanelSpec:
    """A figure that draws several per-layer series of a method together (e.g. p(i|x), its CDF and λ_i).

    Series names are the trace's signals, the rule's state, or the ``series`` of ``ExitMethod.figure_inputs``.
    The rule's threshold is drawn on the panel that holds the rule's ``series``.
    """

    title: str
    bars: tuple[str, ...] = ()
    lines: tuple[str, ...] = ()
    caption: str = ""  # markdown, formulas in LaTeX: the app shows it as is
    y_range: tuple[float, float] | None = None
    y_title: str = ""
    hides: tuple[str, ...] = ()  # series this panel stands for without drawing them (log p(i|x) next to p(i|x))


@dataclass(frozen=True)
class LayerMarker:
    """A labelled vertical line at one layer of one panel (e.g. ConsistentEE's memorized layer)."""

    panel: str  # the PanelSpec title it belongs to
    layer: int
    label: str
    name: str = "marker"  # the layout shape's name (tests and the app find markers by it)


@dataclass(frozen=True)
class LayerBand:
    """A labelled span of layers on one panel (e.g. ELBERT's confidence window); ``ok`` colours it."""

    panel: str
    first: int
    last: int
    label: str
    ok: bool = True
    name: str = "band"  # the layout shape's name


@dataclass
class FigureInputs:
    """Plain data a method adds to its figures: extra per-layer series, markers, bands, captions."""

    series: dict[str, Any] = field(default_factory=dict)  # name -> (L,) array
    markers: list[LayerMarker] = field(default_factory=list)
    bands: list[LayerBand] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # captions under the figures: markdown, LaTeX formulas
    titles: dict[str, str] = field(default_factory=dict)  # PanelSpec title -> the figure's title (with a number)
    highlight: dict[str, list[int]] = field(default_factory=dict)  # series -> layers drawn green (the best one)


# --------------------------------------------------------------------------------------------- Learn page
@dataclass(frozen=True)
class Lesson:
    """A method's tab of the Learn page.

    ``blocks`` are markdown paragraphs; a block written as ``$$...$$`` is a display formula (LaTeX).
    ``key`` prefixes the tab's chart keys (default: the method's name).
    """

    summary: str
    blocks: tuple[str, ...] = ()
    key: str = ""


@dataclass(frozen=True)
class Knob:
    """One control of a method's toy: a slider (numbers; integers when all four numbers are), a toggle (a bool
    ``default``) or a select box (``choices``). ``key`` names its value in ``ExitMethod.toy``'s ``knobs``."""

    key: str
    label: str
    default: Any
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 0.01
    help: str = ""
    choices: tuple = ()


@dataclass
class Toy:
    """What a method's toy shows, as plain data.

    ``signals`` are added to the toy trace (per-layer arrays, as a model's signals); the rule ``rule`` with
    ``params`` is replayed over it, and ``args`` (the method's ``Args``; None = the defaults) feed
    ``figure_inputs``. ``metrics`` (label -> formatted value) and ``notes`` are shown with the figures;
    ``loss_weights`` is each layer's weight in the training loss, if the method has such weights.
    """

    rule: str
    params: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, Any] = field(default_factory=dict)
    args: Any = None
    metrics: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    loss_weights: Any = None
    loss_weights_title: str = "Loss weight of each layer"
