"""eeviz: early exit in transformer encoders, layer by layer.

The package is split by concern:
- ``backbone``: walks any HF encoder one layer at a time (BERT, RoBERTa, ALBERT's shared layers).
- ``methods/``: one file per early-exit method (heads, training loss, incremental exit rule).
- ``model``: ``EarlyExitModel`` = backbone + method; true early exit and full per-layer traces.
- ``trace``: the per-layer trace (plain numpy data) and the replay of exit rules over it.
- ``checkpoint``: safetensors + JSON checkpoints.
"""

__version__ = "0.1.0"
