"""Shared fixtures: tiny random backbones saved to temp folders (no network, ever)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# cached features of test runs go to a throwaway folder, not the user's ~/.cache/eeviz
os.environ.setdefault("EEVIZ_CACHE", __import__("tempfile").mkdtemp(prefix="eeviz-test-cache-"))

import pytest

from tiny_backbones import make_tiny_backbone  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def backbone_root_is_pytest_tmp(tmp_path_factory):
    """Checkpoints may name backbone folders only inside a backbone root: the tests' tiny backbones live in
    pytest's temporary folders (set in os.environ so that CLI subprocesses see it too)."""
    os.environ["EEVIZ_BACKBONE_ROOT"] = str(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory):
    """{"bert": path, "roberta": path, "albert": path} of tiny random encoders."""
    root = tmp_path_factory.mktemp("backbones")
    return {kind: make_tiny_backbone(root / kind, kind) for kind in ("bert", "roberta", "albert")}


@pytest.fixture(scope="session")
def tiny_bert(tiny_backbones):
    return tiny_backbones["bert"]
