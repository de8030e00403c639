"""Sessions without a browser for ``eeviz bench --app --browsers K``: the rest of a class, on the wire.

Why: with every session of the load test in its own Chromium on the server's 2 cores, the browsers' drawing
(0.15-0.2 s of CPU per slider move, three quarters of the machine) is what the class waits for; in a class
each browser draws on its student's own computer, and what the students share is the server. With
``--browsers K``, K sessions stay in Chromium (timed and checked as before: what a student feels) and the
others load the server the way a browser does: they send what a browser sends and wait for the run to end.

What a browser sends is recorded from a real Chromium session on the same page first (``record``): the
load, a typed sentence and a slider move, as Streamlit ``BackMsg`` frames (widget ids, page and fragment
ids). A ``WireSession`` replays them with its own sentence and its own slider values (swept between the
slider's ends by its step, as the browser sessions do), times each run from sending to the server's
"script finished", and keeps the result summaries the run sent (the page's "Reproduce this result" box) to
check them against this process's traces afterwards, like the browser sessions'.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from ..tools.app_session import AppBenchConfig, BenchLog, Session, check_results, parse_summaries, sweep_direction

# the "script finished" statuses that end a run (an early finish for a rerun is followed by that rerun)
_DONE_STATUSES = ("FINISHED_SUCCESSFULLY", "FINISHED_FRAGMENT_RUN_SUCCESSFULLY", "FINISHED_WITH_COMPILE_ERROR")
RECORD_SENTENCE = "a sentence typed once to record what a browser sends"


@dataclass
class Recording:
    """What one browser sent on one page: its first run, a typed sentence, a slider move (``BackMsg`` bytes)."""

    page_name: str
    load: bytes
    typed: bytes
    moved: bytes
    sentence: str = RECORD_SENTENCE


async def record(browser, url: str, page_name: str, query: str, cfg: AppBenchConfig, log: BenchLog) -> Recording:
    """Opens ``page_name`` in Chromium, types a sentence and moves the threshold slider once, keeping every
    frame the page sent on its websocket."""
    sent: list[bytes] = []
    marks: dict[str, int] = {}
    session = Session(browser, url, page_name, f"recording {page_name}", log, cfg)
    session.on_websocket = lambda ws: ws.on("framesent", lambda p: sent.append(p if isinstance(p, bytes) else p.encode()))
    try:
        await session.open(query)
        marks["typed"] = len(sent)
        await session.type_sentence(RECORD_SENTENCE)
        marks["moved"] = len(sent)
        await session.move_slider()
        marks["end"] = len(sent)
    finally:
        await session.close()
    load = _last_rerun(sent[: marks["typed"]], "the page's first run")
    typed = _last_rerun(sent[marks["typed"] : marks["moved"]], "the typed sentence")
    moved = _last_rerun(sent[marks["moved"] : marks["end"]], "the slider move")
    return Recording(page_name, load, typed, moved)


def _last_rerun(frames: list[bytes], what: str) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg

    for frame in reversed(frames):
        msg = BackMsg()
        try:
            msg.ParseFromString(frame)
        except Exception:  # noqa: BLE001 - not a BackMsg: skip it
            continue
        if msg.WhichOneof("type") == "rerun_script":
            return frame
    raise RuntimeError(f"recording: the browser sent no rerun for {what}")


@dataclass
class RunResult:
    seconds: float
    summaries: list[dict] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    sliders: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # widget id -> (min, max, step)


class WireSession:
    """One session on Streamlit's websocket, replaying a ``Recording`` with its own sentence and slider."""

    def __init__(self, base_url: str, recording: Recording, name: str, log: BenchLog, cfg: AppBenchConfig):
        from streamlit.proto.BackMsg_pb2 import BackMsg

        self.base_url, self.recording, self.name, self.log, self.cfg = base_url, recording, name, log, cfg
        self.page_name = recording.page_name
        self.socket = None
        self.sentence: str | None = None
        self.summaries: list[dict] = []
        self.sliders: dict[str, tuple[float, float, float]] = {}
        self.direction = 1
        moved, typed = BackMsg(), BackMsg()
        moved.ParseFromString(recording.moved)
        typed.ParseFromString(recording.typed)
        self.moved, self.typed = moved, typed
        self.slider_id = _changed_widget(typed, moved)
        self.slider_value: float | None = None

    async def open(self, query: str = "") -> float:
        import websockets

        ws_url = self.base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.socket = await websockets.connect(ws_url, subprotocols=["streamlit"], origin=self.base_url,
                                               max_size=None, open_timeout=self.cfg.timeout_s)
        return (await self._run(self.recording.load)).seconds

    async def type_sentence(self, sentence: str) -> float:
        self.sentence = sentence
        msg = self._with_own_sentence(self.typed)
        if self.slider_value is None:  # the slider starts where the recorded browser's stood
            self.slider_value = next(float(w.double_array_value.data[0])
                                     for w in msg.rerun_script.widget_states.widgets if w.id == self.slider_id)
        return (await self._run(msg.SerializeToString())).seconds

    async def move_slider(self) -> float:
        """One step of the threshold slider, sweeping from one end to the other and back."""
        low, high, step = self.sliders.get(self.slider_id, (0.0, 1.0, 0.01))
        now = self.slider_value if self.slider_value is not None else low
        self.direction = sweep_direction(now, low, high, self.direction)
        value = round(min(high, max(low, now + self.direction * step)), 10)
        msg = self._with_own_sentence(self.moved)
        for widget in msg.rerun_script.widget_states.widgets:
            if widget.id == self.slider_id:
                del widget.double_array_value.data[:]
                widget.double_array_value.data.append(value)
        key = self.slider_id.rsplit("-", 1)[-1]  # "$$ID-<hash>-t_deebert_entropy": its query parameter
        query = dict(parse_qsl(msg.rerun_script.query_string, keep_blank_values=True))
        query[key] = f"{value:g}"
        msg.rerun_script.query_string = urlencode(query)
        self.slider_value = value
        return (await self._run(msg.SerializeToString())).seconds

    def _with_own_sentence(self, template):
        """A copy of a recorded rerun with the recorded sentence replaced by this session's, in the widgets'
        values and in the URL's query string."""
        from streamlit.proto.BackMsg_pb2 import BackMsg

        msg = BackMsg()
        msg.CopyFrom(template)
        if self.sentence is None:
            return msg
        recorded = self.recording.sentence
        for widget in msg.rerun_script.widget_states.widgets:
            if widget.WhichOneof("value") == "string_value" and widget.string_value == recorded:
                widget.string_value = self.sentence
        pairs = parse_qsl(msg.rerun_script.query_string, keep_blank_values=True)
        msg.rerun_script.query_string = urlencode([(k, self.sentence if v == recorded else v) for k, v in pairs])
        return msg

    async def _run(self, frame: bytes) -> RunResult:
        """Sends one rerun request; returns when the server says the run finished."""
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        started = time.perf_counter()
        await self.socket.send(frame)
        result = RunResult(0.0)
        deadline = started + self.cfg.timeout_s
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no finished run after {self.cfg.timeout_s:.0f} s")
            raw = await asyncio.wait_for(self.socket.recv(), timeout=remaining)
            msg = ForwardMsg()
            msg.ParseFromString(raw)
            kind = msg.WhichOneof("type")
            if kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                _read_element(msg.delta.new_element, result)
            elif kind == "script_finished":
                status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                if status in _DONE_STATUSES:
                    break
        result.seconds = time.perf_counter() - started
        self.sliders.update(result.sliders)
        if result.summaries:
            self.summaries = result.summaries
        for text in result.exceptions:
            self.log.errors.append(f"{self.name}: traceback: {text[:300]}")
        return result

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()
            self.socket = None


def _read_element(element, result: RunResult) -> None:
    kind = element.WhichOneof("type")
    if kind == "code":  # the result box's summaries; other code blocks (the tokens) are no JSON lines
        try:
            summaries = parse_summaries(element.code.code_text)
        except ValueError:
            summaries = []
        result.summaries += [s for s in summaries if isinstance(s, dict) and "checkpoint" in s]
    elif kind == "exception":
        result.exceptions.append(f"{element.exception.type}: {element.exception.message}")
    elif kind == "slider":
        slider = element.slider
        result.sliders[slider.id] = (float(slider.min), float(slider.max), float(slider.step))


def _changed_widget(before, after) -> str:
    """The id of the number widget whose value differs between two recorded reruns: the slider moved."""
    old = {w.id: list(w.double_array_value.data) for w in before.rerun_script.widget_states.widgets
           if w.WhichOneof("value") == "double_array_value"}
    for widget in after.rerun_script.widget_states.widgets:
        if widget.WhichOneof("value") == "double_array_value" and list(widget.double_array_value.data) != old.get(widget.id):
            return widget.id
    raise RuntimeError("recording: the slider move changed no slider value")


async def verify_wire(session: WireSession, expected, log: BenchLog) -> None:
    """The last results the server sent this session equal this process's traces of its own sentence, one of
    them with the threshold the session set (as ``app_session.verify`` checks a page)."""
    if not session.summaries:
        log.mismatches.append(f"{session.name}: no result summary came back")
    await check_results(session.name, session.summaries, session.sentence, session.slider_value, expected, log)
