"""The browser benchmark's load test: when each session starts moving its slider, and the sessions that run
without a browser (``eeviz.app.wire``)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest

from eeviz.tools.app_bench import parse_args, start_offsets
from eeviz.tools.app_session import AppBenchConfig, BenchLog


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


def _rerun(widgets: dict, query: str = ""):
    from streamlit.proto.BackMsg_pb2 import BackMsg

    msg = BackMsg()
    msg.rerun_script.query_string = query
    for wid, value in widgets.items():
        state = msg.rerun_script.widget_states.widgets.add()
        state.id = wid
        if isinstance(value, str):
            state.string_value = value
        else:
            state.double_array_value.data.append(value)
    return msg


def test_the_recorded_slider_is_the_number_widget_that_changed():
    from eeviz.app.wire import _changed_widget

    typed = _rerun({"$$ID-a-text": "hi", "$$ID-b-t_entropy": 0.5, "$$ID-c-t_patience": 2.0})
    moved = _rerun({"$$ID-a-text": "hi", "$$ID-b-t_entropy": 0.5, "$$ID-c-t_patience": 3.0})
    assert _changed_widget(typed, moved) == "$$ID-c-t_patience"
    with pytest.raises(RuntimeError, match="changed no slider"):
        _changed_widget(typed, typed)


def test_a_wire_session_sends_its_own_sentence_and_sweeps_its_slider():
    import asyncio

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    from eeviz.app.wire import Recording, WireSession

    recorded = "the recorded sentence"
    typed = _rerun({"$$ID-a-text": recorded, "$$ID-b-t_entropy": 0.5}, f"ckpt=x&text={recorded}")
    moved = _rerun({"$$ID-a-text": recorded, "$$ID-b-t_entropy": 0.51}, f"ckpt=x&text={recorded}&t_entropy=0.51")
    recording = Recording("Explore", b"", typed.SerializeToString(), moved.SerializeToString(), recorded)

    class Socket:  # answers every request with a finished run whose slider runs 0.4..0.52 by 0.01
        def __init__(self):
            self.sent, self.inbox = [], []

        async def send(self, frame):
            self.sent.append(frame)
            slider = ForwardMsg()
            element = slider.delta.new_element.slider
            element.id, element.min, element.max, element.step = "$$ID-b-t_entropy", 0.4, 0.52, 0.01
            done = ForwardMsg()
            done.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
            self.inbox += [slider.SerializeToString(), done.SerializeToString()]

        async def recv(self):
            return self.inbox.pop(0)

    session = WireSession("http://127.0.0.1:1", recording, "s", BenchLog(), AppBenchConfig())
    session.socket = Socket()

    async def actions():
        await session.type_sentence("my own review")
        return [round(session.slider_value, 2) for _ in range(4) if await session.move_slider() >= 0]

    # a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with ThreadPoolExecutor(1) as pool:
        steps = pool.submit(asyncio.run, actions()).result()
    assert steps == [0.51, 0.52, 0.51, 0.5]  # up to the end, then back
    last = BackMsg()
    last.ParseFromString(session.socket.sent[-1])
    values = {w.id: w.string_value or list(w.double_array_value.data) for w in last.rerun_script.widget_states.widgets}
    assert values == {"$$ID-a-text": "my own review", "$$ID-b-t_entropy": [0.5]}
    assert parse_qs(last.rerun_script.query_string) == {"ckpt": ["x"], "text": ["my own review"], "t_entropy": ["0.5"]}
