"""LoRA on both families' parameter layouts: a fresh adapter is the identity, only adapters get
gradients and they fit data, and a merged model saves and loads like any other."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from algorithms.preference import causal_lm as C
from algorithms.preference import hf_format as H
from algorithms.preference import lora

IDS = dict(bos_id=0, eos_id=0, pad_id=1)  # train_tokenizer's "<|endoftext|>" and "<pad>"
CONFIGS = {"gpt2": C.CausalLMConfig("gpt2", 300, 2, 32, 4, max_positions=64, **IDS),
           "llama": C.CausalLMConfig("llama", 300, 2, 32, 4, n_kv_heads=2, max_positions=64, **IDS)}


def random_params(config, seed):
    """Random params of `config` drawn with numpy: no compilation (tests here train adapters, not these)."""
    rng = np.random.default_rng(seed)
    leaves, tree = jax.tree_util.tree_flatten_with_path(C.param_shapes(config))
    out = [np.ones(s.shape, np.float32) if path[-1].key == "scale" else
           (rng.standard_normal(s.shape) * (1.0 if path[-1].key == "embedding" else 0.3)).astype(np.float32)
           for path, s in leaves]
    return jax.tree_util.tree_unflatten(tree, [jnp.asarray(x) for x in out])


@pytest.fixture(scope="module")
def params():
    return {family: random_params(config, i) for i, (family, config) in enumerate(CONFIGS.items())}


@pytest.mark.parametrize("family", CONFIGS)
def test_fresh_adapters_leave_the_model_exactly_as_it_was(params, family):
    base = params[family]
    adapters = lora.init_adapters(jax.random.PRNGKey(0), base, rank=4)
    if family == "gpt2":  # q and v are slices 0 and 2 of the fused c_attn kernel [D, 3, D]
        assert sorted(adapters) == [f"h_{i}/attn/c_attn/kernel[{j}]" for i in (0, 1) for j in (0, 2)]
        assert lora.trainable_count(adapters) == 2 * 2 * (32 * 4 + 4 * 32)
    else:  # grouped-query attention: v projects to 2 heads of 8
        assert sorted(adapters) == [f"layers_{i}/self_attn/{n}_proj/kernel" for i in (0, 1) for n in ("q", "v")]
        assert lora.trainable_count(adapters) == 2 * ((32 * 4 + 4 * 32) + (32 * 4 + 4 * 16))
    merged = lora.merge(base, adapters, alpha=8.0)
    jax.tree_util.tree_map(np.testing.assert_array_equal, merged, base)
    a = np.concatenate([np.ravel(v["a"]) for v in adapters.values()])  # 512 draws
    assert a.std() == pytest.approx(1 / np.sqrt(32), rel=0.1)  # N(0, 1/in)
    everything = lora.init_adapters(jax.random.PRNGKey(0), base, 2, targets=lora.TARGETS)
    assert len(everything) == 2 * (7 if family == "llama" else 6)  # gpt2 has no gate (c_fc is "up")
    predicate = lora.init_adapters(jax.random.PRNGKey(0), base, 2, targets=lambda path: path[0] == "layers_1" or
                                   path[0] == "h_1")
    assert predicate and all(k.startswith(("layers_1/", "h_1/")) for k in predicate)


def test_merge_adds_the_scaled_low_rank_update_to_the_targeted_slices(params):
    base = params["gpt2"]
    adapters = lora.init_adapters(jax.random.PRNGKey(1), base, rank=2, targets=("q", "v"))
    rng = np.random.default_rng(0)
    adapters = {k: {"a": v["a"], "b": jnp.asarray(rng.standard_normal(v["b"].shape), jnp.float32)}
                for k, v in adapters.items()}
    merged = lora.merge(base, adapters, alpha=6.0)
    w, w0 = merged["h_1"]["attn"]["c_attn"]["kernel"], base["h_1"]["attn"]["c_attn"]["kernel"]
    q = adapters["h_1/attn/c_attn/kernel[0]"]
    np.testing.assert_allclose(w[:, 0] - w0[:, 0], 3.0 * q["a"] @ q["b"], atol=1e-5)  # alpha / rank = 3
    np.testing.assert_array_equal(w[:, 1], w0[:, 1])  # k untouched
    assert not np.allclose(w[:, 2], w0[:, 2])
    np.testing.assert_array_equal(merged["h_0"]["mlp"]["c_fc"]["kernel"], base["h_0"]["mlp"]["c_fc"]["kernel"])


def test_bad_targets_raise():
    base = random_params(CONFIGS["llama"], 5)
    with pytest.raises(ValueError, match="'query'.*allowed: q, k, v"):
        lora.init_adapters(jax.random.PRNGKey(0), base, 4, targets=("query",))
    with pytest.raises(ValueError, match="rank 40"):
        lora.init_adapters(jax.random.PRNGKey(0), base, 40)
    with pytest.raises(ValueError, match="no kernel"):
        lora.init_adapters(jax.random.PRNGKey(0), base, 4, targets=lambda path: False)
    with pytest.raises(ValueError, match="no kernel in params"):
        lora.merge(base, {"layers_9/self_attn/q_proj/kernel": {"a": jnp.zeros((32, 2)), "b": jnp.zeros((2, 32))}}, 1.0)


def test_adam_on_adapters_alone_fits_data_then_saves_merged(params, tmp_path):
    """Gradients flow to the adapters only (the base is a constant); a few Adam steps lower an SFT loss;
    the merged model, saved in the HF format and loaded back, gives the merged logits."""
    config, base = CONFIGS["llama"], params["llama"]
    tokens = jnp.asarray(np.random.default_rng(3).integers(0, 300, (4, 12)), jnp.int32)

    def loss(adapters):
        logp = jax.nn.log_softmax(C.logits(config, lora.merge(base, adapters, alpha=8.0), tokens[:, :-1]))
        return -jnp.take_along_axis(logp, tokens[:, 1:, None], -1).mean()

    tx = optax.adam(1e-2)

    @jax.jit
    def step(adapters, opt):
        value, grads = jax.value_and_grad(loss)(adapters)
        updates, opt = tx.update(grads, opt, adapters)
        return optax.apply_updates(adapters, updates), opt, value, grads

    adapters = lora.init_adapters(jax.random.PRNGKey(2), base, rank=4, targets=("q", "v", "up"))
    opt = tx.init(adapters)
    losses = []
    for i in range(25):
        adapters, opt, value, grads = step(adapters, opt)
        losses.append(float(value))
        if i == 0:  # B = 0: only B moves first; the pytree of gradients is the adapters'
            assert jax.tree_util.tree_structure(grads) == jax.tree_util.tree_structure(adapters)
            assert all(float(jnp.abs(g["a"]).max()) == 0 and float(jnp.abs(g["b"]).max()) > 0 for g in grads.values())
    assert losses[-1] < 0.8 * losses[0], losses

    merged = lora.merge(base, adapters, alpha=8.0)
    tokenizer = H.train_tokenizer(["a tiny corpus for a tiny model"], 300)
    H.save_causal_lm(tmp_path / "merged", config, merged, tokenizer)
    loaded = H.load_causal_lm(tmp_path / "merged")
    ours, theirs = C.CausalLM(config, merged).logits(tokens), loaded.logits(tokens)
    np.testing.assert_array_equal(ours, theirs)
    assert not np.allclose(ours, C.CausalLM(config, base).logits(tokens), atol=1e-2)
