"""What a link or a broken folder can do to the app (issue 15 §7, §10), through ``AppTest``.

- A threshold in the URL that no widget can hold (``?t_palbert_sampling=inf``, ``1e309``) raised OverflowError inside
  Streamlit on Explore, Compare and Attention; now the page drops it and says which values are valid.
- Error messages showed the server's absolute paths; now folders are named relative to the checkpoints folder.
"""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from apptest import run_app  # noqa: E402

from eeviz.checkpoint import save_checkpoint  # noqa: E402
from eeviz.config import ModelConfig  # noqa: E402
from eeviz.model import build_model  # noqa: E402

PAGES = [None, "pages/1_Compare.py", "pages/2_Attention.py"]


@pytest.fixture(scope="module")
def link_checkpoints(tiny_bert, tmp_path_factory):
    """palbert (a whole-number seed and a Q threshold), pondernet (the same Q rule, its own default), a copy with
    unreadable weights, a folder that is no checkpoint."""
    root = tmp_path_factory.mktemp("link_checkpoints")
    cfg = ModelConfig(backbone=tiny_bert, method="palbert", task="toy", labels=["neg", "pos"], max_length=32)
    save_checkpoint(build_model(cfg), root / "palbert-tiny")
    # the same rule as PALBERT's, with another default chosen for it (as the shipped PonderNet's q = 0.15)
    cfg = ModelConfig(backbone=tiny_bert, method="pondernet", task="toy", labels=["neg", "pos"], max_length=32,
                      default_rule="q_exit", rule_defaults={"q_exit": 0.3})
    save_checkpoint(build_model(cfg), root / "pondernet-tiny")
    shutil.copytree(root / "palbert-tiny", root / "unreadable")
    (root / "unreadable" / "model.safetensors").write_bytes(b"not a safetensors file")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{not json")
    return root


@pytest.fixture
def links_env(link_checkpoints, monkeypatch):
    monkeypatch.setenv("EEVIZ_CHECKPOINTS", str(link_checkpoints))
    return link_checkpoints


def run(page: str | None, **query) -> AppTest:
    return run_app(page, expect_no_exception=False, **query)  # a bad link's run is what these tests read


def texts(at: AppTest) -> list[str]:
    """Every message, caption, text and code block on the page and in the sidebar, markdown escapes removed."""
    kinds = ("warning", "error", "info", "success", "caption", "markdown", "text", "code", "exception")
    found = [str(getattr(e, "value", "")) for kind in kinds for e in at.get(kind)]
    found += [str(getattr(e, "help", "") or "") for e in at.selectbox]
    return [t.replace("\\", "") for t in found]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("value", ["inf", "1e309", "-inf"])
def test_an_overflowing_seed_in_the_link_is_refused_with_its_range(links_env, page, value):
    at = run(page, ckpt="palbert-tiny", rule_palbert="sampling", t_palbert_sampling=value)
    assert not at.exception, [e.value for e in at.exception]
    warnings = [w.value for w in at.warning]
    shown = "t\\_palbert\\_sampling=" + value.replace("-", "\\-")  # as md_escape writes it
    assert any(shown in w and "not a finite number" in w for w in warnings), warnings
    assert any("whole number from 0 to" in w for w in warnings), warnings
    assert at.number_input(key="t_palbert_sampling").value == 0  # the default seed
    assert "t_palbert_sampling" not in at.query_params


@pytest.mark.parametrize("page", PAGES)
def test_an_unusable_threshold_in_the_link_is_refused_on_every_page(links_env, page):
    at = run(page, ckpt="palbert-tiny", t_palbert_q_exit="1e309")
    assert not at.exception, [e.value for e in at.exception]
    assert any("t\\_palbert\\_q\\_exit=1e309" in w.value and "from 0 to 1" in w.value for w in at.warning)
    at = run(page, ckpt="palbert-tiny", t_palbert_q_exit="abc")
    assert not at.exception, [e.value for e in at.exception]
    assert any("is not a number" in w.value for w in at.warning)


def test_a_valid_threshold_in_the_link_is_kept_without_a_message(links_env):
    at = run(None, ckpt="palbert-tiny", t_palbert_q_exit="0.25")
    assert not at.exception
    assert at.slider(key="t_palbert_q_exit").value == 0.25
    assert not any("Ignored" in w.value for w in at.warning)


def results(at: AppTest) -> dict[str, dict]:
    """The "Reproduce this result" lines, by checkpoint."""
    import json

    lines = [line for c in at.code if c.language == "json" for line in c.value.splitlines()]
    return {r["checkpoint"]: r for r in map(json.loads, lines)}


def test_two_methods_with_the_same_rule_keep_their_own_thresholds_on_compare(links_env):
    # one t_q_exit widget used to serve both: PonderNet ran silently at PALBERT's q, unlike on Explore
    at = run("pages/1_Compare.py", ckpts="palbert-tiny,pondernet-tiny", text="a fine film")
    assert not at.exception, [e.value for e in at.exception]
    palbert_q = at.slider(key="t_palbert_q_exit").value
    assert at.slider(key="t_pondernet_q_exit").value == 0.3 != palbert_q  # its checkpoint's own default
    assert results(at)["pondernet-tiny"]["params"] == {"q": 0.3}
    assert results(at)["palbert-tiny"]["params"] == {"q": palbert_q}
    at.slider(key="t_pondernet_q_exit").set_value(0.7).run()
    assert at.slider(key="t_palbert_q_exit").value == palbert_q  # moving one leaves the other
    assert results(at)["pondernet-tiny"]["params"] == {"q": 0.7}
    assert results(at)["palbert-tiny"]["params"] == {"q": palbert_q}

    explore = run(None, ckpt="pondernet-tiny", text="a fine film")  # Explore starts where Compare did
    assert explore.slider(key="t_pondernet_q_exit").value == 0.3


def test_every_rules_table_shows_the_thresholds_each_rule_runs_with(links_env):
    at = run(None, ckpt="pondernet-tiny", text="a fine film")
    at.radio(key="rule_pondernet").set_value("expectation").run()
    table = at.dataframe[0].value.set_index("rule")["threshold"]
    # the checkpoint's own default (0.3), which the rule runs with, not the paper's; marked as a default
    assert table["Q-exit"].endswith("= 0.3 (default)"), table.to_dict()
    assert table["sampling (random)"].endswith("= 0 (default)")
    at.radio(key="rule_pondernet").set_value("q_exit").run()
    at.slider(key="t_pondernet_q_exit").set_value(0.6).run()
    table = at.dataframe[0].value.set_index("rule")["threshold"]
    assert table["Q-exit"].endswith("= 0.6"), table.to_dict()  # chosen: no "(default)"


@pytest.mark.parametrize("page", PAGES)
def test_a_link_from_before_per_method_thresholds_still_sets_them(links_env, page):
    at = run(page, ckpt="palbert-tiny", t_q_exit="0.25")
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="t_palbert_q_exit").value == 0.25
    assert "t_q_exit" not in at.query_params  # rewritten in the link, for every method with that rule
    assert at.query_params["t_palbert_q_exit"] == "0.25" == at.query_params["t_pondernet_q_exit"]


@pytest.mark.parametrize("page", [None, "pages/2_Attention.py"])
def test_a_link_to_a_checkpoint_that_is_not_here_says_so(links_env, page):
    at = run(page, ckpt="no-such-folder<b>")
    assert not at.exception, [e.value for e in at.exception]
    shown = [w.value for w in at.sidebar.warning if "no such folder" in w.value]
    assert len(shown) == 1 and "no\\-such\\-folder\\<b\\>" in shown[0], shown  # named, escaped
    assert at.query_params["ckpt"] == at.selectbox(key="ckpt").value  # the link now names what is shown
    at.run()
    assert not any("no such folder" in w.value for w in at.sidebar.warning)  # said once, not on every run


def test_rule_buttons_say_the_rules_in_plain_words_and_old_links_still_choose_them(links_env):
    at = run(None, ckpt="palbert-tiny", rule_palbert="sampling")  # a link from before: the rule's key
    assert not at.exception, [e.value for e in at.exception]
    radio = at.radio(key="rule_palbert")
    assert radio.value == "sampling"
    assert "sampling (random)" in radio.options and "q_exit" not in radio.options  # "Q-exit", not its key
    assert at.query_params["rule_palbert"] == "sampling (random)"  # the words the button reads back
    assert at.number_input(key="t_palbert_sampling").value == 0  # the chosen rule's own widget is drawn


def test_a_rule_in_the_link_that_is_no_rule_is_dropped_with_the_choices(links_env):
    at = run(None, ckpt="palbert-tiny", rule_palbert="nosuch<b>")
    assert not at.exception, [e.value for e in at.exception]
    notes = [w.value.replace("\\", "") for w in at.sidebar.warning if "Ignored a rule from the link" in w.value]
    assert len(notes) == 1 and "rule_palbert=nosuch" in notes[0], notes
    radio = at.radio(key="rule_palbert")
    assert all(o in notes[0] for o in radio.options), notes  # the choices, in the buttons' words
    assert "rule_palbert" not in at.query_params  # removed from the link
    assert radio.value == "q_exit"  # the checkpoint's default rule
    at.run()  # said once
    assert not [w for w in at.sidebar.warning if "Ignored a rule" in w.value]


@pytest.mark.parametrize("page", PAGES)
def test_a_link_with_several_bad_values_names_every_one(links_env, page):
    """Dropping a bad rule or threshold reruns the page; the notes shown before that rerun (a checkpoint
    that is not here) are shown after it too, and each note once."""
    where = {"ckpts": "nope,palbert-tiny"} if page == "pages/1_Compare.py" else {"ckpt": "nope"}
    at = run(page, **where, rule_palbert="nosuch", t_palbert_q_exit="1e309")
    assert not at.exception, [e.value for e in at.exception]
    notes = [w.value.replace("\\", "") for w in at.warning]
    for said in ("nope", "Ignored a rule from the link", "t_palbert_q_exit=1e309"):
        assert sum(said in n for n in notes) == 1, (said, notes)
    at.run()  # said once: the next run is quiet
    assert not [w.value for w in at.warning if "link" in w.value], [w.value for w in at.warning]


def test_messages_name_folders_relative_to_the_checkpoints_folder(links_env):
    root = str(links_env)
    at = run(None, ckpt="unreadable")
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("'unreadable/model.safetensors'" in e for e in errors), errors
    problems = [t.value for t in at.sidebar.get("text")]
    assert any("broken" in p for p in problems), problems
    leaked = [t for t in texts(at) if root in t]
    assert leaked == [], f"absolute server paths shown: {leaked}"

    at = run("pages/1_Compare.py")
    assert not at.exception, [e.value for e in at.exception]
    assert any("unreadable" in e.value for e in at.error)
    assert [t for t in texts(at) if root in t] == []


@pytest.mark.parametrize("page", PAGES)
def test_a_shared_link_fills_the_widgets_without_a_streamlit_warning(links_env, monkeypatch, page):
    """A link's checkpoints and sentence go to their widgets through the session; a default beside them made
    Streamlit log "created with a default value but also had its value set via the Session State API" for
    every shared link."""
    from streamlit.elements.lib import policies

    logged = []
    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # Streamlit says it once per process
    monkeypatch.setattr(policies._LOGGER, "warning", lambda message, *args, **kwargs: logged.append(message % args))
    where = {"ckpts": "pondernet-tiny"} if page == "pages/1_Compare.py" else {"ckpt": "pondernet-tiny"}
    at = run(page, text="a fine film", **where)
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_area(key="text").value == "a fine film"
    if page == "pages/1_Compare.py":
        assert at.multiselect(key="compare").value == ["pondernet-tiny"]
    assert not [m for m in logged if "default value" in m], logged
