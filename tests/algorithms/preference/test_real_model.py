"""The preference game on a real causal LM, end to end: a tokenizer trained in code, a GPT-2-format
checkpoint written and loaded back, generation with EOS / temperature / top-p and a key/value
cache, one SPPO and one DPO iteration that beat the reference under a judge written in code, and
`gigastep-jax prefgame --model DIR --prompts FILE`, resumed."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.cli import main
from algorithms.preference import generation, hf_format, metrics, synthetic
from algorithms.preference.learners import LearnerConfig, make_learner
from algorithms.preference.policy import CausalPolicy
from algorithms.preference.run import make_judge

L = 16  # max new tokens


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    model, loss = synthetic.make_tiny_model(folder, "gpt2", sft_steps=300, max_new_tokens=L)
    policy = CausalPolicy.from_texts(model, synthetic.prompts(), generation.SamplingConfig(max_new_tokens=L))
    return folder, model, policy, loss


@pytest.fixture(scope="module")
def sampled(tiny):
    _, model, policy, _ = tiny
    x = jnp.arange(64, dtype=jnp.int32) % policy.n_prompts
    return x, jax.jit(policy.sample)(model.params, jax.random.PRNGKey(0), x)


def test_the_checkpoint_is_in_the_real_format_and_learned_the_corpus(tiny):
    folder, model, policy, loss = tiny
    assert {p.name for p in folder.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert json.loads((folder / "config.json").read_text())["model_type"] == "gpt2"
    # the corpus's entropy per token: n ~ U{1..MAX} words, each one of 8, then EOS
    n = np.arange(1, synthetic.MAX_WORDS + 1)
    entropy = (n.mean() * np.log(8) + np.log(n.size)) / (n.mean() + 1)
    assert all(len(model.tokenizer.encode(" " + w).ids) == 1 for words in synthetic.WORDS.values() for w in words)
    assert entropy - 0.1 < loss < entropy + 0.15, (loss, entropy)  # uniform over the vocabulary: log(400) = 6.0
    text = synthetic.prompts()[0] + " red blue"
    assert model.tokenizer.decode(model.tokenizer.encode(text).ids) == text


def test_generation_stops_at_eos_and_reports_its_log_probabilities(tiny, sampled):
    _, model, policy, _ = tiny
    x, s = sampled
    y, mask = np.asarray(s.tokens), np.asarray(s.mask)
    lengths = mask.sum(1).astype(int)
    assert (lengths < L).mean() > 0.95 and len(set(lengths.tolist())) >= 4  # they stop, at varied lengths
    for row, n in zip(y, lengths):
        if n < L:
            assert row[n - 1] == policy.eos_id and (row[n:] == policy.pad_id).all()
        assert (row[: n - 1] != policy.eos_id).all()
    np.testing.assert_array_equal(mask, np.asarray(policy.mask(s.tokens)))
    # the cached sampler's log-probabilities are the full forward pass's, 0 after the end
    np.testing.assert_allclose(s.logp, policy.token_logprobs(model.params, x, s.tokens), atol=2e-5)
    assert (np.asarray(s.logp)[mask == 0] == 0).all()
    np.testing.assert_allclose(s.sample_logp, s.logp, atol=1e-6)  # top_p = 1: the sampler is π
    # the words it writes are the prompt's kind (the corpus's one rule)
    kinds = list(synthetic.WORDS)
    texts = policy.decode(s.tokens)
    right = [w in synthetic.WORDS[kinds[int(i) // 2]] for i, t in zip(x, texts) for w in t.split()]
    assert np.mean(right) > 0.8


def test_temperature_and_top_p(tiny):
    _, model, policy, _ = tiny
    hot = CausalPolicy(policy.config, policy.prompt_tokens, policy.prompt_mask,
                       generation.SamplingConfig(max_new_tokens=L, temperature=0.7, top_p=0.8), policy.tokenizer)
    x = jnp.arange(32, dtype=jnp.int32) % policy.n_prompts
    s = jax.jit(hot.sample)(model.params, jax.random.PRNGKey(1), x)
    # logp is under π = softmax(logits / 0.7); the nucleus renormalises, so it gives each token more
    np.testing.assert_allclose(s.logp, hot.token_logprobs(model.params, x, s.tokens), atol=2e-5)
    assert (np.asarray(s.sample_logp) >= np.asarray(s.logp) - 1e-6).all()
    assert float((s.sample_logp - s.logp).sum()) > 0


def test_nucleus_is_the_sorted_definition():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(64, 50)) * 2
    logp = jax.nn.log_softmax(jnp.asarray(logits, jnp.float32))
    for top_p in (0.3, 0.9, 0.999):
        got = np.asarray(generation.nucleus(logp, top_p))
        for row, out in zip(np.exp(np.asarray(logp, np.float64)), got):
            order = np.argsort(-row)
            k = int(np.searchsorted(np.cumsum(row[order]), top_p) + 1)  # fewest top tokens holding top_p
            keep = np.zeros(row.size, bool)
            keep[order[:k]] = True
            np.testing.assert_array_equal(np.isfinite(out), keep)
            np.testing.assert_allclose(np.exp(out[keep]), row[keep] / row[keep].sum(), rtol=1e-4)


@pytest.mark.parametrize("algorithm, hyper", [("sppo", dict(eta=4.0)), ("dpo", dict(beta=0.1, pairs_from="policy"))])
def test_one_iteration_beats_the_reference(tiny, algorithm, hyper):
    """Under a Bradley–Terry judge written in code (per-token weights, pad ignored), one iteration
    of SPPO or DPO on the real model's own samples wins more than half its games against ρ."""
    _, model, policy, _ = tiny
    judge = make_judge("bt", policy.vocab, policy.length, pad_id=policy.pad_id)
    cfg = LearnerConfig(algorithm=algorithm, prompts=8, k_samples=4, epochs=4, minibatches=2, **hyper)
    learner = make_learner(policy, judge, cfg)
    state, out = learner.update(learner.init(model.params), jax.random.PRNGKey(1))
    assert np.isfinite(float(out["loss"])) and 0 < float(out["sample_length"]) < L
    before = metrics.win_rate(policy, model.params, model.params, judge, jax.random.PRNGKey(5), 64)
    after = metrics.win_rate(policy, state.params, model.params, judge, jax.random.PRNGKey(5), 64)
    assert before == pytest.approx(0.5, abs=0.03) and after > 0.55, (before, after)


def test_prefgame_cli_on_the_model_resumes(tiny, tmp_path, capsys):
    folder = tiny[0]
    prompts = synthetic.write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    args = ["prefgame", "--model", str(folder), "--prompts", str(prompts), "--algo", "sppo", "--judge", "cycle",
            "--lora-rank", "4",
            "--batch-prompts", "4", "--k", "4", "--epochs", "1", "--minibatches", "2", "--max-new-tokens", str(L),
            "--eval-samples", "64", "--payoff-games", "16", "--payoff-iterates", "2", "--out", str(out)]
    assert main([*args, "--iterations", "1"]) == 0
    first = (out / "metrics.jsonl").read_text().splitlines()
    assert main([*args, "--iterations", "2"]) == 0  # resumes at iteration 2
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in rows] == [1, 2] and json.loads(first[0]) == rows[0]
    for r in rows:
        assert 0.0 <= r["exploitability"] <= 0.5 and 0 < r["response_length"] <= L
        assert "lc_win_rate_vs_reference" in r and len(r["class_marginal"]) == 3
        assert 0.0 <= r["lc_even_share"] <= 1.0 and 1 <= r["sample_length"] <= L
    data = [json.loads(line) for line in (out / "data" / "iteration_0002.jsonl").read_text().splitlines()]
    assert len(data) == 4 and all(len(d["responses"]) == 4 and isinstance(d["responses"][0], str) for d in data)
    assert data[0]["prompt"] in synthetic.prompts()
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["model"] == str(folder) and summary["final"]["iteration"] == 2
    assert (out / "report.json").exists() and (out / "curves.png").exists()
    # LoRA: only the adapters moved; the final policy is exported merged, in the model's format
    from algorithms.preference import causal_lm, lora, run

    base = hf_format.load_causal_lm(folder)  # the model folder itself is untouched
    iterates, _ = run.load_iterates(out / "iterates")
    for a, b in zip(jax.tree_util.tree_leaves(iterates[-1]["base"]), jax.tree_util.tree_leaves(base.params)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert any(np.abs(np.asarray(v["b"])).max() > 0 for v in iterates[-1]["adapters"].values())
    exported = hf_format.load_causal_lm(out / "model")
    merged = lora.merge(base.params, iterates[-1]["adapters"], 16.0)
    tokens = jnp.asarray(base.tokenizer.encode(synthetic.prompts()[0] + " red cat").ids)[None]
    np.testing.assert_allclose(exported.logits(tokens), causal_lm.logits(base.config, merged, tokens), atol=1e-5)
    assert np.abs(np.asarray(exported.logits(tokens)) - np.asarray(base.logits(tokens))).max() > 1e-4


def test_simpo_normalises_by_each_responses_own_length(tiny, sampled):
    """With an EOS, responses differ in length, and SimPO's per-token average must divide each
    response's log-probability by its own length: a longer response is not penalised for its
    extra tokens. Checked against the formula, and against dividing by L (what a fixed-length model
    would do), which gives a different loss."""
    from algorithms.preference import learners, losses

    _, model, policy, _ = tiny
    x, s = sampled
    cfg = LearnerConfig(algorithm="simpo", prompts=2, k_samples=4, minibatches=1, beta=2.0, gamma=0.5)
    y = np.asarray(s.tokens)[:8].reshape(2, 4, L)
    mb = dict(x=jnp.asarray([0, 1]), y=jnp.asarray(y), mask=policy.mask(jnp.asarray(y).reshape(8, L)).reshape(2, 4, L),
              ref=jnp.zeros((2, 4)), old=jnp.zeros((2, 4)), w=jnp.asarray(np.tile(1 - np.eye(4), (2, 1, 1)) / 2),
              tie=jnp.zeros((2, 4, 4)))
    loss, _ = learners._pair_loss(cfg, policy, model.params, mb)
    logp = np.asarray(policy.token_logprobs(model.params, jnp.repeat(mb["x"], 4), jnp.asarray(y).reshape(8, L)))
    lengths = np.asarray(mb["mask"]).reshape(8, L).sum(1)
    assert len(set(lengths.tolist())) > 1
    avg = (logp.sum(1) / lengths).reshape(2, 4)
    pairs = [(b, i, j) for b in range(2) for i in range(4) for j in range(4) if i != j]
    expect = np.mean([-np.log(1 / (1 + np.exp(-(2.0 * (avg[b, i] - avg[b, j]) - 0.5)))) for b, i, j in pairs])
    assert float(loss) == pytest.approx(expect, rel=1e-5)
    fixed = (logp.sum(1) / L).reshape(2, 4)
    wrong = float(losses.simpo_loss(*[jnp.asarray(np.array([fixed[b, i] for b, i, j in pairs])),
                                      jnp.asarray(np.array([fixed[b, j] for b, i, j in pairs]))], 2.0, 0.5))
    assert abs(wrong - expect) > 0.05


def test_prompt_files_and_models_that_cannot_work_are_refused(tiny, tmp_path):
    from algorithms.preference.policy import read_prompts

    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "list some colours:"}\n\n{"prompt": "name a few foods:"}\n')
    assert read_prompts(path) == ["list some colours:", "name a few foods:"]
    for text, message in [('{"prompt": "a"}\nnot json\n', r"p.jsonl:2 is not JSON"),
                          ('{"text": "a"}\n', r'p.jsonl:1 must be an object with a "prompt" string'),
                          ("\n", "holds no prompts")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            read_prompts(path)
    with pytest.raises(ValueError, match="does not exist"):
        read_prompts(tmp_path / "missing.jsonl")
    _, model, _, _ = tiny
    with pytest.raises(ValueError, match="exceed the model's 64 positions"):
        CausalPolicy.from_texts(model, ["a b c"], generation.SamplingConfig(max_new_tokens=63))
    with pytest.raises(ValueError, match=r"top_p must be a finite number in \(0, 1\]"):
        generation.SamplingConfig(top_p=1.5)


SHARDED_ITERATION = """
import json, sys, jax, numpy as np
from algorithms.preference import generation, synthetic
from algorithms.preference.causal_lm import shard_params
from algorithms.preference.learners import LearnerConfig, make_learner
from algorithms.preference.policy import CausalPolicy
from algorithms.preference.run import make_judge
model, _ = synthetic.make_tiny_model(sys.argv[1], "llama", sft_steps=50)
policy = CausalPolicy.from_texts(model, synthetic.prompts(), generation.SamplingConfig(max_new_tokens=8))
judge = make_judge("bt", policy.vocab, policy.length, pad_id=policy.pad_id)
learner = make_learner(policy, judge, LearnerConfig(prompts=4, k_samples=4, epochs=1, minibatches=2, eta=4.0))
mesh = jax.make_mesh((2,), ("model",), axis_types=(jax.sharding.AxisType.Auto,))
plain, _ = learner.update(learner.init(model.params), jax.random.PRNGKey(1))
sharded, _ = learner.update(learner.init(shard_params(model.config, model.params, mesh)), jax.random.PRNGKey(1))
q = sharded.params["layers_0"]["self_attn"]["q_proj"]["kernel"]
diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in
           zip(jax.tree_util.tree_leaves(plain.params), jax.tree_util.tree_leaves(sharded.params)))
moved = max(float(np.abs(np.asarray(a) - np.asarray(b)).max()) for a, b in
            zip(jax.tree_util.tree_leaves(plain.params), jax.tree_util.tree_leaves(model.params)))
print(json.dumps(dict(devices=len(jax.devices()), q_shards=[list(s.data.shape) for s in q.addressable_shards],
                      diff=diff, moved=moved)))
"""


@pytest.mark.slow  # a fresh interpreter with 2 host devices and a model made there: ~30 s
def test_an_sppo_iteration_on_a_sharded_model_equals_the_unsharded_one(tmp_path):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SHARDED_ITERATION, str(tmp_path / "m")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2 and out["q_shards"] == [[32, 16], [32, 16]]  # heads split over the two devices
    assert out["moved"] > 1e-3 and out["diff"] < 1e-4 * max(1.0, out["moved"]), out
