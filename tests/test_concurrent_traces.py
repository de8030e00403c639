"""Traces on one shared model from many threads at once: each equals a single-threaded trace of its sentence.

The app caches one model per checkpoint and serves every browser session from it, so a trace must be a pure
function of its inputs: no per-call hooks on the shared model, no results handed through shared attributes.
"""

import threading

import numpy as np
import pytest
import torch

from eeviz.config import ModelConfig
from eeviz.model import build_model

SENTENCES = [
    "the movie is good",
    "bad plot",
    "not very funny and a dull story",
    "great acting",
    "the worst film",
    "a boring and awful movie but the acting was fun",
    "love it",
    "it is the best story and the best plot this film was very great",
]


def assert_same_trace(got, want):
    assert got.text == want.text and got.tokens == want.tokens
    np.testing.assert_array_equal(got.logits, want.logits)
    assert set(got.signals) == set(want.signals)
    for name in want.signals:
        np.testing.assert_array_equal(got.signals[name], want.signals[name])
    assert want.attentions is not None and got.attentions is not None
    np.testing.assert_array_equal(got.attentions, want.attentions)


@pytest.mark.parametrize("kind", ["bert", "albert"])
def test_threads_tracing_one_model_get_their_own_traces(tiny_backbones, kind):
    torch.manual_seed(0)
    model = build_model(ModelConfig(backbone=tiny_backbones[kind], method="pabee")).eval()
    expected = {s: model.trace(s) for s in SENTENCES}
    threads_n, rounds = 8, 6
    failures: list[str] = []
    start = threading.Barrier(threads_n)

    def work(t: int) -> None:
        start.wait()
        for r in range(rounds):
            sentence = SENTENCES[(t + r) % len(SENTENCES)]
            try:
                assert_same_trace(model.trace(sentence), expected[sentence])
            except BaseException as err:  # noqa: BLE001 - every failure is reported below
                failures.append(f"thread {t} round {r} {sentence!r}: {type(err).__name__}: {err}")

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, f"{len(failures)} of {threads_n * rounds} traces wrong:\n" + "\n".join(failures[:5])


def test_trace_leaves_no_hooks_on_the_shared_model(tiny_bert):
    model = build_model(ModelConfig(backbone=tiny_bert, method="pabee")).eval()
    seen = []
    for i in range(model.num_layers):
        # the attention submodule runs in every layer, whether or not weights are asked for
        model.runner.layer_module(i).attention.register_forward_pre_hook(
            lambda mod, args: seen.append(sum(len(m._forward_hooks) for m in model.runner.model.modules()))
        )
    trace = model.trace("the movie is good")
    assert trace.attentions is not None and seen == [0] * model.num_layers
    assert not hasattr(model.runner, "_last_attention")


def test_threads_sharing_a_tokenizer_with_different_lengths(tiny_bert):
    from transformers import AutoTokenizer

    from eeviz.model import encode_texts

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert)
    texts = {t: ["the movie is good " * (t + 1)] for t in range(8)}
    expected = {(t, n): encode_texts(tokenizer, texts[t], max_length=n)["input_ids"] for t in texts for n in (16, 32)}
    wrong: list[tuple] = []

    def work(t: int) -> None:
        for r in range(200):
            n = 16 if (t + r) % 2 else 32
            got = encode_texts(tokenizer, texts[t], max_length=n)["input_ids"]
            if not torch.equal(got, expected[t, n]):
                wrong.append((t, n, tuple(got.shape)))

    threads = [threading.Thread(target=work, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong, f"{len(wrong)} tokenizations got another call's length, e.g. {wrong[:3]}"
