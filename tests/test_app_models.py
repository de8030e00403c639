"""Models shared by the app's sessions (``eeviz.app.models``, issue 15 §2): each loaded once, one load at a
time, transformers imported once under the lock; a broken folder is not retried by every session."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from eeviz.checkpoint import CheckpointError, save_checkpoint
from eeviz.config import ModelConfig
from eeviz.model import build_model

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def registry(monkeypatch):
    from eeviz.app import models

    monkeypatch.setattr(models, "_models", {})
    monkeypatch.setattr(models, "_failed", {})
    return models


def test_sessions_asking_at_once_load_each_model_once(registry, monkeypatch, tmp_path):
    calls, running, overlap = [], [0], [False]

    def slow_load(path):
        running[0] += 1
        overlap[0] |= running[0] > 1
        calls.append(path)
        time.sleep(0.05)
        running[0] -= 1
        return object()

    monkeypatch.setattr("eeviz.checkpoint.load_checkpoint", slow_load)
    paths = [str(tmp_path / "a"), str(tmp_path / "b")]
    got, errors = [[] for _ in paths], []

    def session(k):
        try:
            got[k % 2].append(registry.get_model(paths[k % 2], 1))
        except Exception as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=session, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(calls) == sorted(paths)  # once each
    assert not overlap[0]  # one load at a time
    assert all(len({id(m) for m in models}) == 1 for models in got)


def test_a_failed_load_is_remembered_until_the_folder_changes(registry, monkeypatch, tmp_path):
    calls = []

    def failing_load(path):
        calls.append(path)
        raise CheckpointError(f"'{path}' is broken")

    monkeypatch.setattr("eeviz.checkpoint.load_checkpoint", failing_load)
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    for _ in range(3):
        with pytest.raises(CheckpointError):
            registry.get_model(str(folder), 1)
    assert len(calls) == 1 and registry.known_failure(str(folder), 1)
    with pytest.raises(CheckpointError):
        registry.get_model(str(folder), 2)  # rewritten weights: tried again
    assert len(calls) == 2


def test_threads_loading_in_a_fresh_process_all_get_their_model(tiny_bert, tmp_path):
    """The first import of transformers happens inside the threads (as in a server that just started)."""
    folder = save_checkpoint(build_model(ModelConfig(backbone=tiny_bert, method="pabee")), tmp_path / "ck")
    script = textwrap.dedent(
        f"""
        import sys, threading
        assert "transformers" not in sys.modules
        from eeviz.app import models
        results, errors = [], []
        def session():
            try:
                results.append(id(models.get_model({str(folder)!r}, 1)))
            except Exception as err:
                errors.append(repr(err))
        threads = [threading.Thread(target=session) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(len(results), len(set(results)), errors)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "8 1 []"


def test_a_checkpoint_title_names_its_own_default_rule(tmp_path):
    # a method's title names the paper's rule; a checkpoint whose config picked another rule says which
    from eeviz.catalog import CheckpointInfo
    from eeviz.config import ModelConfig
    from eeviz.methods import available_methods, get_method

    method = next(m for m in available_methods() if len(get_method(m).rules) > 1)
    cls = get_method(method)
    other = next(r for r in cls.rules if r != cls.default_rule)
    for rule, expected in ((None, cls.title), (cls.default_rule, cls.title),
                           (other, f"{cls.title.split(' (')[0]} ({cls.rules[other].spec.title})")):
        cfg = ModelConfig(backbone="minilm", method=method, task="rotten_tomatoes", default_rule=rule)
        info = CheckpointInfo(name="x", path=tmp_path, cfg=cfg, metrics={}, has_eval=False)
        assert info.title == f"{expected} · minilm · rotten_tomatoes"
