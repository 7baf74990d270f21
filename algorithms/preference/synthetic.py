"""A small real language model made in code: a synthetic corpus, its tokenizer, a checkpoint in the
Hugging Face format, and supervised fine-tuning of a causal LM on (prompt, response) pairs.

    model = make_tiny_model("out/tiny-gpt2", family="gpt2")   # trained, saved, loaded back
    write_prompts("out/prompts.jsonl")                          # the corpus's prompts, one JSON object per line
    gigastep-jax prefgame --model out/tiny-gpt2 --prompts out/prompts.jsonl --algo sppo

Nothing is downloaded: the corpus is lists of words written below; each prompt asks for a list of
one kind of word and a response lists 1 to `MAX_WORDS` of them, so after SFT the model answers
with responses of varying length that end with its end-of-sequence token: what the length
judges and the length-controlled win rate need. `make_tiny_model` is what the tests, the notebook
and users without a model of their own use; `sft` works on any `CausalPolicy`.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

from algorithms import validate
from algorithms.preference import generation, hf_format
from algorithms.preference.policy import CausalPolicy

WORDS = {
    "colours": ("red", "blue", "green", "black", "white", "yellow", "brown", "pink"),
    "animals": ("cat", "dog", "horse", "bird", "fish", "mouse", "lion", "bear"),
    "numbers": ("one", "two", "three", "four", "five", "six", "seven", "eight"),
    "foods": ("bread", "rice", "apple", "cheese", "soup", "egg", "milk", "cake"),
}
MAX_WORDS = 5


def prompts() -> list[str]:
    """The corpus's prompts: two phrasings for each kind of word."""
    return [f"{lead} {kind}:" for kind in WORDS for lead in ("list some", "name a few")]


def responses(prompt_index: int, rng: np.random.Generator, n: int) -> list[str]:
    """n responses to prompt `prompt_index`: 1 to MAX_WORDS words of the prompt's kind, space-separated."""
    kind = list(WORDS)[prompt_index // 2]
    words = WORDS[kind]
    return [" " + " ".join(rng.choice(words, rng.integers(1, MAX_WORDS + 1))) for _ in range(n)]


def corpus(rng: np.random.Generator, per_prompt: int = 50) -> list[str]:
    """Texts to train the tokenizer on: every prompt followed by its responses."""
    return [p + r for i, p in enumerate(prompts()) for r in responses(i, rng, per_prompt)]


def write_prompts(path, texts=None) -> Path:
    """Write `texts` (default `prompts()`) as a JSON-lines file of {"prompt": ...}, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(dict(prompt=t)) + "\n" for t in (texts or prompts())))
    os.replace(tmp, path)
    return path


def encode_responses(policy: CausalPolicy, texts: list[str]) -> np.ndarray:
    """int32[N, L]: each text's tokens then EOS, padded with pad_id (cut to L = max_new_tokens)."""
    out = np.full((len(texts), policy.length), policy.pad_id, np.int32)
    for i, text in enumerate(texts):
        ids = policy.tokenizer.encode(text).ids[: policy.length - 1] + [policy.eos_id]
        out[i, : len(ids)] = ids
    return out


def sft_loss(policy: CausalPolicy, params, x: jax.Array, y: jax.Array) -> jax.Array:
    """Mean negative log-likelihood per response token (EOS included) of responses y int32[B, L] to prompts x int32[B]."""
    logp = policy.token_logprobs(params, x, y)
    return -logp.sum() / jnp.maximum(policy.mask(y).sum(), 1.0)


@functools.partial(jax.jit, static_argnames=("policy", "steps", "batch", "learning_rate"))
def _sft(policy, params, x, y, key, steps, batch, learning_rate):
    tx = optax.adam(learning_rate)

    def step(carry, k):
        params, opt = carry
        idx = jax.random.randint(k, (batch,), 0, x.shape[0])
        loss, grads = jax.value_and_grad(lambda p: sft_loss(policy, p, x[idx], y[idx]))(params)
        updates, opt = tx.update(grads, opt, params)
        return (optax.apply_updates(params, updates), opt), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jax.random.split(key, steps))
    return params, losses


def sft(policy: CausalPolicy, params, x, y, key: jax.Array, *, steps: int = 300, batch: int = 32,
        learning_rate: float = 3e-3):
    """Supervised fine-tuning of the policy's model on responses y int32[N, L] (`encode_responses`)
    to prompts x int32[N] (ids into the policy's prompt table): `steps` Adam steps on random batches.
    Returns (params, losses float32[steps])."""
    validate.integer("sft steps", steps, 1)
    validate.integer("sft batch", batch, 1)
    x, y = jnp.asarray(x, jnp.int32), jnp.asarray(y, jnp.int32)
    if y.ndim != 2 or y.shape[1] != policy.length or x.shape != y.shape[:1]:
        raise ValueError(f"sft needs x int32[N] and y int32[N, {policy.length}], got {x.shape} and {y.shape}")
    return _sft(policy, params, x, y, key, int(steps), int(batch), float(learning_rate))


def make_tiny_model(path, family: str = "gpt2", *, seed: int = 0, sft_steps: int = 300, max_new_tokens: int = 16,
                    d_model: int = 32, n_layers: int = 2, n_heads: int = 4, vocab_size: int = 400,
                    examples: int = 2048):
    """Make, fine-tune and save a small causal LM of `family` ("gpt2" or "llama") at `path`.

    A tokenizer trained on `corpus`, a random model (`hf_format.write_tiny_checkpoint`), then `sft`
    on `examples` generated (prompt, response) pairs, saved again in the Hugging Face format and
    loaded back. Returns (the loaded `CausalLM`, final SFT loss)."""
    rng = np.random.default_rng(seed)
    key = jax.random.PRNGKey(seed)
    model = hf_format.write_tiny_checkpoint(path, family, key, texts=corpus(rng), vocab_size=vocab_size,
                                            d_model=d_model, n_layers=n_layers, n_heads=n_heads, max_positions=64)
    policy = CausalPolicy.from_texts(model, prompts(), generation.SamplingConfig(max_new_tokens=max_new_tokens))
    x = rng.integers(0, policy.n_prompts, examples)
    texts = [responses(int(i), rng, 1)[0] for i in x]
    params, losses = sft(policy, model.params, x, encode_responses(policy, texts), jax.random.fold_in(key, 1),
                         steps=sft_steps)
    hf_format.save_causal_lm(path, model.config, params, model.tokenizer)
    return hf_format.load_causal_lm(path), float(np.mean(np.asarray(losses)[-20:]))

