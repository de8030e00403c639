"""Models shared by every session of the app process, each loaded once, one load at a time.

Why not only ``st.cache_resource``: sessions that start together (a class opening the link at once) each asked
for their models while transformers was still being imported, and three of eight got ``ImportError: cannot
import name 'AutoConfig' from 'transformers'`` (a half-imported lazy module seen from another thread). Here
transformers is imported once, under the lock, before any checkpoint is read; loads are serialised (two
cores gain nothing from loading in parallel), and a session that needs a model another session is loading
waits for it instead of loading it again. After a page's own models are in, the other checkpoints load in
the background, so the next page (Compare needs them all) finds them ready.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from typing import Any, Iterable

LOCK = threading.RLock()  # held while importing the backends and while loading a model
PRELOAD_DELAY_S = 3.0  # let the first page draw before loading the rest

_models: dict[tuple[str, int], Any] = {}
_failed: dict[tuple[str, int, int], Exception] = {}  # (path, stamp, config.json's mtime) -> the load's error
_imported = False
_preloading = False


def import_backends() -> None:
    """Import transformers (and the checkpoint loader) once, under the lock."""
    global _imported
    if _imported:
        return
    with LOCK:
        if _imported:
            return
        import transformers

        # names the loaders use are lazy attributes of transformers: touch them here, in one thread
        for name in ("AutoConfig", "AutoModel", "AutoTokenizer", "PreTrainedModel"):
            getattr(transformers, name, None)
        from .. import checkpoint  # noqa: F401

        _imported = True


def is_loaded(path: str, stamp: int) -> bool:
    return (path, stamp) in _models


def known_failure(path: str, stamp: int) -> bool:
    """The last load of this folder, as it is now, failed (asking again re-raises at once)."""
    return (path, stamp, _config_stamp(path)) in _failed


def _config_stamp(path: str) -> int:
    try:
        return os.stat(os.path.join(path, "config.json")).st_mtime_ns
    except OSError:
        return 0


def get_model(path: str, stamp: int):
    """The model of checkpoint ``path`` (``stamp`` changes when it is rewritten); loads it at most once.

    Raises the ``CheckpointError`` of a failed load. A failure is remembered until the folder's weights or
    config change: every session asking again for a broken checkpoint would otherwise retry the load, one
    after the other under the lock, and hold up every page that needs a model."""
    key = (path, stamp)
    model = _models.get(key)
    if model is not None:
        return model
    failed = (path, stamp, _config_stamp(path))
    if failed in _failed:
        raise _failed[failed]
    import_backends()
    with LOCK:
        if key in _models:
            return _models[key]
        if failed in _failed:
            raise _failed[failed]
        from ..checkpoint import load_checkpoint

        try:
            _models[key] = load_checkpoint(path)
        except Exception as err:
            _failed[failed] = err
            raise
        settle_heap()
        return _models[key]


def settle_heap() -> None:
    """Move every object alive now (the libraries, the loaded models) out of the cyclic garbage collector's
    sight (``gc.freeze``).

    Why: Streamlit runs ``gc.collect()`` after every script run, fragments included, and walking the half
    million objects that transformers and the models bring took 250 ms of a 350 ms threshold move. They live
    as long as the process; frozen objects are still freed when their last reference goes, only cycles among
    them are never collected.
    """
    gc.collect()
    gc.freeze()


def preload(checkpoints: Iterable[tuple[str, int]]) -> None:
    """Load these checkpoints in a background thread (once per process at a time); failures are left for the
    pages to report when they ask."""
    global _preloading
    todo = [key for key in checkpoints if key not in _models and (*key, _config_stamp(key[0])) not in _failed]
    if not todo or _preloading:
        return
    _preloading = True

    def run() -> None:
        global _preloading
        try:
            time.sleep(PRELOAD_DELAY_S)
            for path, stamp in todo:
                try:
                    get_model(path, stamp)
                except Exception:  # noqa: BLE001 - reported by the page that needs it
                    pass
        finally:
            _preloading = False

    threading.Thread(target=run, name="eeviz-preload", daemon=True).start()
