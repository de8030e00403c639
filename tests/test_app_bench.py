"""The browser benchmark's load test: when each session starts moving its slider."""

from __future__ import annotations

from eeviz.tools.app_bench import parse_args, start_offsets
from eeviz.tools.app_session import AppBenchConfig


def test_sessions_start_at_their_own_random_moment_within_one_interval():
    cfg = AppBenchConfig(sessions=16, interval_s=2.0, seed=3)
    offsets = start_offsets(cfg)
    assert len(offsets) == 16
    assert all(0.0 <= o < 2.0 for o in offsets)
    assert len(set(offsets)) == 16  # not in step
    assert max(offsets) - min(offsets) > 1.0  # spread over the interval, not bunched at one end
    assert start_offsets(cfg) == offsets  # seeded: the same run twice
    assert start_offsets(AppBenchConfig(sessions=16, interval_s=2.0, seed=4)) != offsets


def test_lockstep_starts_every_session_at_once():
    assert start_offsets(AppBenchConfig(sessions=5, lockstep=True)) == [0.0] * 5


def test_command_line_options():
    cfg = parse_args(["--lockstep", "--seed", "7", "--sessions", "4"], "eeviz bench --app")
    assert (cfg.lockstep, cfg.seed, cfg.sessions) == (True, 7, 4)
    assert parse_args([], "eeviz bench --app").lockstep is False
