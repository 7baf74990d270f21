"""Causal LMs in the Hugging Face format: configs, save/load, the key/value cache, errors, sharding,
and (with transformers and torch installed) logits against the reference implementation."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from algorithms.preference import causal_lm as C
from algorithms.preference import hf_format as H
from tests.conftest import REPO

TEXTS = ["the quick brown fox jumps over the lazy dog", "hello world, this is a tiny corpus of words",
         "a language model reads tokens and predicts the next one"] * 4
SENTENCES = ["the lazy fox", "hello world, a quick dog jumps"]
FAMILIES = {"gpt2": dict(), "llama": dict(n_kv_heads=2)}  # llama: grouped-query attention, untied head


def spiced(params, seed):
    """params with O(1) logits: the N(0, 0.02) init gives logits ~0.5, too flat to test agreement on."""
    rng = np.random.default_rng(seed)  # numpy: no per-shape compilation of random ops
    leaves, tree = jax.tree_util.tree_flatten_with_path(params)
    out = []
    for path, x in leaves:
        name = str(path[-1].key)
        noise = rng.standard_normal(x.shape).astype(np.float32)
        out.append(jnp.asarray(1 + 0.2 * noise if name == "scale" else noise * (1.0 if name == "embedding" else 0.3)))
    return jax.tree_util.tree_unflatten(tree, out)


def left_padded(model, sentences=SENTENCES):
    """(tokens int32[B, T], mask int32[B, T]) of sentences left-padded with the model's pad id."""
    ids = [model.tokenizer.encode(s).ids for s in sentences]
    t = max(map(len, ids))
    tokens = np.full((len(ids), t), model.config.pad_id, np.int32)
    mask = np.zeros((len(ids), t), np.int32)
    for i, row in enumerate(ids):
        tokens[i, t - len(row):], mask[i, t - len(row):] = row, 1
    return tokens, mask


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{family: CausalLM} saved with spiced params and loaded back (one tokenizer for both)."""
    root = tmp_path_factory.mktemp("causal_lm")
    out = {}
    for i, (family, kw) in enumerate(FAMILIES.items()):
        tiny = H.write_tiny_checkpoint(root / family, family, jax.random.PRNGKey(i), texts=TEXTS, vocab_size=300, **kw)
        H.save_causal_lm(root / family, tiny.config, spiced(tiny.params, 10 + i), tiny.tokenizer)
        out[family] = H.load_causal_lm(root / family)
    return out


# ----------------------------------------------------------------------------- configs and tokenizer
def test_config_round_trip_through_hf_dicts():
    for config in (C.CausalLMConfig("gpt2", 300, 2, 32, 4, max_positions=64, bos_id=0, eos_id=0, pad_id=1),
                   C.CausalLMConfig("llama", 300, 2, 32, 4, n_kv_heads=2, d_ff=96, rope_theta=5e5, eos_id=0),
                   C.CausalLMConfig("llama", 300, 1, 32, 4, tie_embeddings=True)):
        hf = config.to_hf()
        assert hf["model_type"] == config.family and hf["architectures"][0].endswith(("LMHeadModel", "CausalLM"))
        assert C.CausalLMConfig.from_hf(json.loads(json.dumps(hf))) == config
    gpt2 = C.CausalLMConfig.from_hf(dict(model_type="gpt2", vocab_size=50257, n_embd=768, n_layer=12, n_head=12,
                                         n_inner=None, n_positions=1024, layer_norm_epsilon=1e-5,
                                         bos_token_id=50256, eos_token_id=50256, activation_function="gelu_new"))
    assert (gpt2.d_ff, gpt2.n_kv_heads, gpt2.tie_embeddings, gpt2.eos_id, gpt2.pad_id) == (3072, 12, True, 50256, None)
    llama = C.CausalLMConfig.from_hf(dict(  # transformers 5 style: theta inside rope_parameters; Llama 3's eos list
        model_type="llama", vocab_size=128256, hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, intermediate_size=8192, max_position_embeddings=131072, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0}, tie_word_embeddings=True,
        bos_token_id=128000, eos_token_id=[128001, 128009], hidden_act="silu"))
    assert (llama.head_dim, llama.n_kv_heads, llama.rope_theta, llama.eos_id) == (64, 8, 5e5, 128001)
    base = C.CausalLMConfig("llama", 300, 2, 32, 4).to_hf()
    for bad, needle in ((dict(rope_scaling={"type": "linear", "factor": 2.0}), "rope_scaling"),
                        (dict(hidden_act="gelu"), "hidden_act"), (dict(model_type="bert"), "bert"),
                        (dict(attention_bias=True), "attention_bias"), (dict(num_key_value_heads=3), "n_kv_heads")):
        with pytest.raises(ValueError, match=needle):
            C.CausalLMConfig.from_hf({**base, **bad})
    with pytest.raises(ValueError, match="gelu_fast"):
        C.CausalLMConfig.from_hf({**C.CausalLMConfig("gpt2", 300, 2, 32, 4).to_hf(),
                                  "activation_function": "gelu_fast"})
    with pytest.raises(ValueError, match="eos_id"):
        C.CausalLMConfig("gpt2", 300, 2, 32, 4, eos_id=300)


def test_tokenizer_trained_in_code_round_trips():
    tok = H.train_tokenizer(TEXTS, 300)
    assert tok.get_vocab_size() == 300
    assert (tok.token_to_id("<|endoftext|>"), tok.token_to_id("<pad>")) == (0, 1)
    text = "Hello wörld, the quick fox! 123"  # unseen words and a non-ASCII byte: byte fallback
    ids = tok.encode(text).ids
    assert tok.decode(ids) == text
    assert len(tok.encode("the quick brown fox").ids) < len("the quick brown fox")  # merges were learned
    with pytest.raises(ValueError, match="texts"):
        H.train_tokenizer("not a list", 300)


# ----------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("family", FAMILIES)
def test_save_load_round_trip(models, family, tmp_path):
    model = models[family]
    other = models["llama" if family == "gpt2" else "gpt2"]
    assert isinstance(model, C.CausalLM) and model == models[family] and model != other  # identity: hashable
    assert len({model, other, models[family]}) == 2
    assert model.config.eos_id == model.tokenizer.token_to_id("<|endoftext|>")
    assert model.config.pad_id == model.tokenizer.token_to_id("<pad>")
    # write sharded this time: a second loader path, the same tensors
    H.save_causal_lm(tmp_path / "m", model.config, model.params, model.tokenizer, max_shard_bytes=20_000)
    assert (tmp_path / "m" / H.INDEX).is_file() and not (tmp_path / "m" / H.WEIGHTS).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind
    again = H.load_causal_lm(tmp_path / "m")
    assert again.config == model.config and again.param_count() == model.param_count()
    jax.tree_util.tree_map(np.testing.assert_array_equal, again.params, model.params)
    tokens, mask = left_padded(model)
    np.testing.assert_array_equal(again.logits(tokens, mask), model.logits(tokens, mask))
    # bf16 on disk (what most hub checkpoints are) loads as float32, rounded to bf16 precision
    bf16 = jax.tree_util.tree_map(lambda x: np.asarray(x).astype(jnp.bfloat16), model.params)
    H.save_causal_lm(tmp_path / "m", model.config, bf16, model.tokenizer)  # replaces the sharded folder
    assert json.loads((tmp_path / "m" / H.CONFIG).read_text())["torch_dtype"] == "bfloat16"
    loaded = H.load_causal_lm(tmp_path / "m")
    assert {x.dtype for x in jax.tree_util.tree_leaves(loaded.params)} == {jnp.dtype(jnp.float32)}
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_array_equal(a, b.astype(np.float32)), loaded.params, bf16)
    generation = json.loads((tmp_path / "m" / H.GENERATION_CONFIG).read_text())
    assert generation == {"bos_token_id": model.config.bos_id, "eos_token_id": model.config.eos_id,
                          "pad_token_id": model.config.pad_id}


@pytest.mark.parametrize("family", FAMILIES)
def test_cached_decoding_equals_the_full_forward(models, family):
    """Prefill a left-padded prompt into the cache, then feed the rest one token at a time: the same
    logits as one full forward pass, and as the same sentences right-padded (no padding before them)."""
    model = models[family]
    c, params = model.config, model.params
    tokens, mask = left_padded(model)
    b, t = tokens.shape
    full = np.asarray(model.logits(tokens, mask))
    assert np.abs(full).max() > 3  # spiced: agreement below means something
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0)
    kv_mask = jnp.asarray(np.concatenate([mask, np.zeros((b, 2), np.int32)], 1), bool)  # 2 spare slots
    run = jax.jit(lambda cache, token, pos, start: C.forward(c, params, token, pos, kv_mask, cache, start))
    prefill = t - 4
    out, cache = run(C.init_cache(c, b, t + 2), tokens[:, :prefill], positions[:, :prefill], jnp.int32(0))
    outs = [out]
    for i in range(prefill, t):
        out, cache = run(cache, tokens[:, i:i + 1], positions[:, i:i + 1], jnp.int32(i))
        outs.append(out)
    assert cache["k"].shape == (c.n_layers, b, t + 2, c.n_kv_heads, c.head_dim)
    cached = np.concatenate(outs, 1)
    real = mask.astype(bool)
    np.testing.assert_allclose(cached[real], full[real], atol=1e-4)
    assert np.isfinite(full).all()  # padding queries see no key: finfo.min keeps them finite
    n = mask.sum(1)
    right = np.stack([np.roll(row, -(t - k)) for row, k in zip(tokens, n)])
    right_mask = np.arange(t)[None] < n[:, None]
    moved = np.asarray(model.logits(right, right_mask))  # the same compiled function: same shapes
    np.testing.assert_allclose(moved[right_mask], full[real], atol=1e-4)


# ----------------------------------------------------------------------------- bad input
def test_bad_folders_raise_value_errors_naming_the_problem(models, tmp_path):
    src = models["llama"].path
    up = "model.layers.1.mlp.up_proj.weight"

    def broken(name, edit):
        folder = tmp_path / name
        shutil.copytree(src, folder)
        edit(folder)
        return folder

    def edit_tensors(folder, drop=(), add=None):
        import safetensors.numpy
        tensors = safetensors.numpy.load_file(str(folder / H.WEIGHTS))
        for name in drop:
            tensors.pop(name)
        tensors.update({k: np.asarray(v, np.float32) for k, v in (add or {}).items()})
        safetensors.numpy.save_file(tensors, str(folder / H.WEIGHTS), metadata={"format": "pt"})

    def set_config(folder, **changes):
        hf = json.loads((folder / H.CONFIG).read_text())
        (folder / H.CONFIG).write_text(json.dumps({**hf, **changes}))

    cases = [
        (broken("no_config", lambda f: (f / H.CONFIG).unlink()), "config.json"),
        (broken("bad_json", lambda f: (f / H.CONFIG).write_text("{not json")), "config.json"),
        (broken("model_type", lambda f: set_config(f, model_type="mistral")), "'mistral'.*allowed: gpt2, llama"),
        (broken("missing", lambda f: edit_tensors(f, drop=[up])), up),
        (broken("shape", lambda f: edit_tensors(f, add={up: np.zeros((3, 4))})),
         r"model.layers.1.mlp.up_proj.weight has shape \(3, 4\), the config needs \(128, 32\)"),
        (broken("extra", lambda f: edit_tensors(f, add={"model.layers.0.self_attn.q_proj.bias": np.zeros(32)})),
         "model.layers.0.self_attn.q_proj.bias"),  # a bias this model lacks: an error, not silently dropped
        (broken("corrupt", lambda f: (f / H.WEIGHTS).write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage")),
         "model.safetensors"),
        (broken("no_weights", lambda f: (f / H.WEIGHTS).unlink()), "model.safetensors"),
        (broken("no_tokenizer", lambda f: (f / H.TOKENIZER).unlink()), "tokenizer.json"),
        (tmp_path / "nowhere", "nowhere"),
    ]
    for folder, needle in cases:
        with pytest.raises(ValueError, match=needle):
            H.load_causal_lm(folder)
    model = models["llama"]
    with pytest.raises(ValueError, match="q_proj"):
        bad = jax.tree_util.tree_map(lambda x: x, model.params)
        bad["layers_0"]["self_attn"]["q_proj"]["kernel"] = jnp.zeros((32, 16))
        H.save_causal_lm(tmp_path / "out", model.config, bad, model.tokenizer)
    (tmp_path / "precious").mkdir()
    (tmp_path / "precious" / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="not a model folder"):
        H.save_causal_lm(tmp_path / "precious", model.config, model.params, model.tokenizer)
    assert (tmp_path / "precious" / "notes.txt").read_text() == "keep"


# ----------------------------------------------------------------------------- sharding
SHARDING_SCRIPT = textwrap.dedent("""
    import json, jax, jax.numpy as jnp, numpy as np
    from algorithms.preference import causal_lm as C
    mesh = jax.make_mesh((2,), ("model",), axis_types=(jax.sharding.AxisType.Auto,))
    shards = lambda x: [list(s.data.shape) for s in x.addressable_shards]
    out = {"devices": len(jax.devices())}
    gpt2 = C.CausalLMConfig("gpt2", 300, 2, 32, 4, max_positions=64)
    zeros = jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), C.param_shapes(gpt2))
    p = C.shard_params(gpt2, zeros, mesh)
    out["gpt2"] = {"q": shards(p["h_0"]["attn"]["c_attn"]["kernel"]),
                   "down": shards(p["h_0"]["mlp"]["c_proj"]["kernel"]), "norm": shards(p["ln_f"]["scale"])}
    llama = C.CausalLMConfig("llama", 300, 2, 32, 4, n_kv_heads=2, max_positions=64)
    params = jax.tree_util.tree_map(lambda x: x * 3, C.init_params(llama, jax.random.PRNGKey(0)))
    tokens = jax.random.randint(jax.random.PRNGKey(1), (2, 12), 0, 300)
    mask = jnp.ones((2, 12), bool).at[0, :3].set(False)
    fn = jax.jit(C.logits, static_argnums=0)
    plain = fn(llama, params, tokens, mask)
    sharded = C.shard_params(llama, params, mesh)
    out["llama"] = {"q": shards(sharded["layers_0"]["self_attn"]["q_proj"]["kernel"]),
                    "down": shards(sharded["layers_0"]["mlp"]["down_proj"]["kernel"]),
                    "norm": shards(sharded["norm"]["scale"]),
                    "diff": float(jnp.abs(fn(llama, sharded, tokens, mask) - plain).max()),
                    "scale": float(jnp.abs(plain).max())}
    print(json.dumps(out))
""")


@pytest.mark.slow  # a fresh interpreter with 2 host devices: ~4 s idle, 10+ s on a loaded 2-core machine
def test_sharded_logits_equal_unsharded():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run([sys.executable, "-c", SHARDING_SCRIPT], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["devices"] == 2
    # heads and d_ff split in two, norms replicated
    assert out["gpt2"] == {"q": [[32, 3, 16]] * 2, "down": [[64, 32]] * 2, "norm": [[32]] * 2}
    llama = out["llama"]
    assert (llama["q"], llama["down"], llama["norm"]) == ([[32, 16]] * 2, [[64, 32]] * 2, [[32]] * 2)
    assert llama["scale"] > 1 and llama["diff"] < 1e-5 * llama["scale"], llama  # float32 sums, another order


# ----------------------------------------------------------------------------- reference implementation
@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_logits_match_transformers(models, family, tmp_path):
    """transformers' own GPT2LMHeadModel / LlamaForCausalLM on the saved folder: same token ids, same
    logits on a left-padded batch; and what transformers saves, we load (pip install -e '.[reference]',
    with torch's CPU wheel)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    model = models[family]
    reference = transformers.AutoModelForCausalLM.from_pretrained(str(model.path), dtype=torch.float32).eval()
    hf_tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=str(model.path / H.TOKENIZER))
    auto_tokenizer = transformers.AutoTokenizer.from_pretrained(str(model.path))
    for sentence in SENTENCES + ["Hello wörld!"]:
        ids = model.tokenizer.encode(sentence).ids
        assert hf_tokenizer(sentence)["input_ids"] == ids == auto_tokenizer(sentence)["input_ids"]
    assert auto_tokenizer.pad_token_id == model.config.pad_id and auto_tokenizer.eos_token_id == model.config.eos_id
    tokens, mask = left_padded(model)
    positions = np.maximum(np.cumsum(mask, 1) - 1, 0)  # what generate() passes for left padding
    with torch.no_grad():
        expected = reference(input_ids=torch.tensor(tokens, dtype=torch.long), attention_mask=torch.tensor(mask),
                             position_ids=torch.tensor(positions, dtype=torch.long)).logits.numpy()
    ours = np.asarray(model.logits(tokens, mask))
    real = mask.astype(bool)
    diff = float(np.abs(ours[real] - expected[real]).max())
    print(f"{family}: max |logits - transformers {transformers.__version__}| = {diff:.2e} "
          f"(logits up to {np.abs(expected[real]).max():.1f})")
    assert diff < 1e-4
    reference.save_pretrained(str(tmp_path / "hf"))  # transformers' own writer: names, tying, sharding
    shutil.copy(model.path / H.TOKENIZER, tmp_path / "hf" / H.TOKENIZER)
    again = H.load_causal_lm(tmp_path / "hf")
    assert again.config == model.config
    jax.tree_util.tree_map(np.testing.assert_array_equal, again.params, model.params)
