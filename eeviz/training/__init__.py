"""Training an early-exit model: ``eeviz train`` (several GPUs: ``accelerate launch -m eeviz.train``).

- Generic over the method: its ``phases()`` say what trains when (``Phase.trainable``, ``prepare``, ``epochs``,
  ``lr``), ``lr_overrides()`` give parameter groups their own rates, ``loss`` reads the signals of all layers.
- One ``accelerate.Accelerator`` runs everything: CPU, one GPU (bf16 autocast, or fp16 with a GradScaler where
  bf16 is not native: ``eeviz.precision``), several GPUs or nodes (DDP; ``--batch-size`` is per process; the
  recorded train loss is averaged over processes). Only the main process prints and writes.
- Resume: data order and random numbers are a function of (seed, phase, epoch), reseeded every epoch, so a
  resumed run writes the same checkpoint as one that never stopped. ``--max-steps`` only cuts a run short
  (the LR schedule is planned over the full epochs), so a run stopped by it can be resumed to completion.

Modules: ``args`` (TrainArgs, flags, checks), ``batches`` (data order, loaders), ``optim`` (AdamW groups, LR
schedule), ``selection`` (dev scores, best epoch), ``resume`` (run files, crash recovery), ``warm_start``,
``trainer`` (the Trainer), ``run`` (``train``), ``cli`` (parser, ``main``, presets).
"""

from .args import TrainArgs, check_args, method_args_dict, parse_field_value, resolve_args
from .run import train
from .trainer import Trainer, TrainingDiverged

__all__ = ["TrainArgs", "Trainer", "TrainingDiverged", "check_args", "method_args_dict", "parse_field_value",
           "resolve_args", "train"]
