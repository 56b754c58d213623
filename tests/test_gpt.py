"""Module 06's models and measurements: the tiny GPT, the designs it is raced against, their
training loop, the shipped checkpoints and the script that makes them."""

import copy
import importlib.util
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # `make compat` runs without torch; `make test` with it

from course import ROOT  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from genlab import gpt, text  # noqa: E402


@pytest.fixture(scope="module")
def emma():
    corpus = text.prose_corpus()
    train_text, test_text = text.train_test_text(corpus)
    vocab = text.Vocab.from_text(corpus)
    return vocab, vocab.encode(train_text), vocab.encode(test_text)


# ---------------------------------------------------------------------------
# The transformer


def test_attention_is_torchs_multi_head_attention_with_the_stated_layout():
    torch.manual_seed(0)
    attn = gpt.CausalSelfAttention(16, 4)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(attn.qkv.weight)
        mha.in_proj_bias.copy_(attn.qkv.bias)
        mha.out_proj.weight.copy_(attn.proj.weight)
        mha.out_proj.bias.copy_(attn.proj.bias)
        x = torch.randn(2, 9, 16)
        mask = torch.ones(9, 9, dtype=torch.bool).triu(1)
        want, want_weights = mha(x, x, x, attn_mask=mask, average_attn_weights=False)
        assert torch.allclose(attn(x), want, atol=1e-5)
        assert torch.allclose(attn.weights(x), want_weights, atol=1e-5)


def test_no_position_of_any_design_sees_a_later_character():
    torch.manual_seed(0)
    ids = torch.randint(0, 20, (1, 30))
    later = ids.clone()
    later[0, 20:] = (later[0, 20:] + 1) % 20
    for design in gpt.DESIGNS:
        net = gpt.build(design, 20)
        with torch.no_grad():
            a, b = net(ids), net(later)
        assert torch.allclose(a[0, :20], b[0, :20], atol=1e-6), design
        assert not torch.allclose(a[0, 20:], b[0, 20:], atol=1e-3), design


def test_the_window_model_reads_eight_characters_and_the_others_read_them_all():
    torch.manual_seed(0)
    ids = torch.randint(0, 20, (1, 30))
    early = ids.clone()
    early[0, 5] = (early[0, 5] + 1) % 20  # 24 positions before the last
    for design, reaches in [("window", False), ("recurrent", True), ("transformer", True)]:
        net = gpt.build(design, 20)
        with torch.no_grad():
            moved = (net(ids)[0, -1] - net(early)[0, -1]).abs().max().item()
        assert (moved > 1e-6) == reaches, (design, moved)
    # and the window model does see the character 7 back
    net = gpt.build("window", 20)
    near = ids.clone()
    near[0, 22] = (near[0, 22] + 1) % 20
    with torch.no_grad():
        assert (net(ids)[0, -1] - net(near)[0, -1]).abs().max() > 1e-6


def test_the_three_designs_have_the_same_number_of_weights_within_1_percent():
    counts = {d: gpt.parameters(gpt.build(d, 68)) for d in gpt.DESIGNS}
    assert max(counts.values()) / min(counts.values()) < 1.01, counts
    assert gpt.parameters(gpt.build("transformer", 68)) == 112_964


def test_a_window_longer_than_the_context_is_refused():
    net = gpt.TinyGPT(10, context=8, d_model=8, n_heads=2, n_layers=1)
    with pytest.raises(ValueError, match="at most 8"):
        net(torch.zeros(1, 9, dtype=torch.int64))
    with pytest.raises(ValueError, match="multiple of n_heads"):
        gpt.CausalSelfAttention(10, 4)


def test_attention_maps_and_probabilities_are_the_models_own():
    torch.manual_seed(1)
    net = gpt.TinyGPT(12, context=16, d_model=16, n_heads=4, n_layers=2)
    ids = np.array([1, 5, 3, 3, 7, 0, 2])
    maps = gpt.attention_maps(net, ids)
    assert maps.shape == (2, 4, 7, 7)
    assert np.allclose(maps.sum(-1), 1) and np.all(np.triu(maps, 1) == 0)
    with torch.no_grad():
        x = net.tok(torch.tensor(ids)[None]) + net.pos(torch.arange(7))
        first = net.blocks[0].attn.weights(net.blocks[0].ln1(x))[0]
        second = net.blocks[1].attn.weights(net.blocks[1].ln1(net.blocks[0](x)))[0]
    assert np.allclose(maps[0], first.numpy(), atol=1e-6)
    assert np.allclose(maps[1], second.numpy(), atol=1e-6)
    probs = gpt.next_probabilities(net, ids)
    assert probs.shape == (7, 12) and np.allclose(probs.sum(1), 1)
    with torch.no_grad():
        assert np.allclose(probs, net(torch.tensor(ids)[None])[0].softmax(-1).numpy(), atol=1e-6)


# ---------------------------------------------------------------------------
# Training and measuring


def test_training_lowers_the_loss_and_is_seeded(emma):
    vocab, ids, held_out = emma
    before = gpt.held_out_loss(gpt.build("transformer", len(vocab)), held_out, count=64)
    runs = [
        gpt.train(gpt.build("transformer", len(vocab)), ids, steps=60, progress=False)
        for _ in range(2)
    ]
    after = gpt.held_out_loss(runs[0].net, held_out, count=64)
    assert abs(before - np.log(len(vocab))) < 0.1  # untrained: about a uniform guess
    assert after < before - 0.8, (before, after)
    assert runs[0].steps == 60 and runs[0].history[0][0] == 1 and runs[0].history[-1][0] == 60
    for a, b in zip(runs[0].net.parameters(), runs[1].net.parameters(), strict=True):
        assert torch.equal(a, b)
    assert not runs[0].net.training  # left in eval mode


def test_training_uses_the_forward_and_loss_it_is_given(emma):
    vocab, ids, _ = emma
    seen = {"forward": 0, "loss": 0}

    def forward(net, x):
        seen["forward"] += 1
        assert x.shape == (4, 16) and x.dtype == torch.int64
        return net(x)

    def loss(logits, y):
        seen["loss"] += 1
        assert logits.shape == (4, 16, len(vocab)) and y.shape == (4, 16)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    gpt.train(gpt.build("recurrent", len(vocab)), ids, steps=3, window=16, batch_size=4,
              forward=forward, loss=loss, progress=False)  # fmt: skip
    assert seen == {"forward": 3, "loss": 3}


def test_a_processor_time_budget_stops_training(emma):
    vocab, ids, _ = emma
    run = gpt.train(
        gpt.build("window", len(vocab)), ids, steps=100_000, seconds=0.5, progress=False
    )
    assert 1 <= run.steps < 100_000 and 0.5 <= run.cpu_seconds < 3
    assert run.history[-1][0] == run.steps


def test_a_race_gives_each_network_the_same_processor_time(emma):
    vocab, ids, _ = emma
    nets = {d: gpt.build(d, len(vocab)) for d in gpt.DESIGNS}
    records = gpt.race(nets, ids, seconds=0.6, window=32, batch_size=8)
    assert list(records) == list(gpt.DESIGNS)
    for name, r in records.items():
        assert 0.6 <= r.cpu_seconds < 1.5 and r.history[-1][0] == r.steps, name
        assert r.net is nets[name] and not r.net.training
    # the window model's steps are the cheapest, so it takes the most of them in the same time
    assert records["window"].steps > records["transformer"].steps


def test_loss_by_position_is_the_mean_loss_at_each_position(emma):
    vocab, _, held_out = emma
    net = gpt.build("transformer", len(vocab))
    curve = gpt.loss_by_position(net, held_out, window=16, count=8)
    assert curve.shape == (16,)
    # 4 stretches of 2 consecutive starts, the first at 0 and the last at the end of the text
    last = len(held_out) - 2 - 17
    starts = [0, 1, last // 3, last // 3 + 1, 2 * last // 3, 2 * last // 3 + 1, last, last + 1]
    batch = torch.as_tensor(np.stack([held_out[s : s + 17] for s in starts]))
    with torch.no_grad():
        losses = F.cross_entropy(net(batch[:, :-1]).transpose(1, 2), batch[:, 1:], reduction="none")
    assert np.allclose(curve, losses.mean(0).numpy(), atol=1e-6)
    assert gpt.held_out_loss(net, held_out, window=16, count=8) == pytest.approx(curve[8:].mean())
    with pytest.raises(ValueError, match="too few"):
        gpt.loss_by_position(net, held_out[:100], window=16, count=64)


def test_step_seconds_times_a_step_and_restores_the_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(3)  # not 1 or 2, so that a restore can be told from no restore
    try:
        net = gpt.build("recurrent", 30)
        weights = copy.deepcopy(net.state_dict())
        seconds = gpt.step_seconds(net, 16, batch_size=4, threads=1, repeats=2)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert 0 < seconds < 1
    assert any(not torch.equal(weights[k], v) for k, v in net.state_dict().items())  # it trains


# ---------------------------------------------------------------------------
# The checkpoints and their script


def test_trained_networks_come_back_from_a_file(tmp_path, emma):
    vocab, ids, held_out = emma
    trained = {
        d: gpt.train(gpt.build(d, len(vocab)), ids, steps=3, progress=False, name=d)
        for d in gpt.DESIGNS
    }
    path = tmp_path / "nets.pt"
    gpt.save_trained(trained, vocab.chars, path)
    back = gpt.load_trained(vocab.chars, path)
    assert list(back) == list(gpt.DESIGNS)
    for d in gpt.DESIGNS:
        assert back[d].steps == 3 and back[d].history == trained[d].history
        assert back[d].cpu_seconds == trained[d].cpu_seconds and not back[d].net.training
        assert gpt.held_out_loss(back[d].net, held_out, count=8) == gpt.held_out_loss(
            trained[d].net, held_out, count=8
        )
    with pytest.raises(ValueError, match="another vocabulary"):
        gpt.load_trained(vocab.chars[::-1], path)


def test_the_shipped_checkpoints_are_a_fair_race(emma):
    vocab, _, held_out = emma
    assert gpt.CHECKPOINTS.stat().st_size < 5e6
    raced = gpt.load_trained(vocab.chars)
    assert list(raced) == list(gpt.DESIGNS)
    cpu = [r.cpu_seconds for r in raced.values()]
    assert max(cpu) - min(cpu) < 2, cpu  # the same processor time, to a step or so
    for name, r in raced.items():
        assert r.steps > 1000 and r.history[-1][0] == r.steps, name
        assert gpt.held_out_loss(r.net, held_out) < 2.0, name  # trained, far below ln 68 = 4.2


def test_the_script_trains_every_design_for_the_same_time(tmp_path):
    spec = importlib.util.spec_from_file_location("train_gpt", ROOT / "scripts" / "train_gpt.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    trained, chars = script.train_all(seconds=0.3, max_steps=10_000)
    assert list(trained) == list(gpt.DESIGNS)
    assert all(0.3 <= t.cpu_seconds < 2 for t in trained.values())
    gpt.save_trained(trained, chars, tmp_path / "nets.pt")
    assert list(gpt.load_trained(chars, tmp_path / "nets.pt")) == list(gpt.DESIGNS)


def test_cores_are_the_affinity_less_the_containers_quota(monkeypatch):
    allowed = len(os.sched_getaffinity(0))
    assert gpt.cores() <= allowed
    monkeypatch.setattr(gpt.model, "_cgroup_quota", lambda: 1)
    assert gpt.cores() == 1
    monkeypatch.setattr(gpt.model, "_cgroup_quota", lambda: allowed + 8)
    assert gpt.cores() == allowed
    monkeypatch.setattr(gpt.model, "_cgroup_quota", lambda: None)
    assert gpt.cores() == allowed
