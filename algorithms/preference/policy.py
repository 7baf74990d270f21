"""What a learner needs of a language model: `Policy`, one interface over the toy LM and real ones.

    policy = as_policy(lm.LMConfig())                  # the toy model of `lm` (fixed length, no EOS)
    policy = CausalPolicy.from_jsonl(model, "prompts.jsonl", SamplingConfig(max_new_tokens=32))
    s = policy.sample(params, key, x)                  # x int32[B] prompt ids -> Sample
    policy.token_logprobs(params, x, s.tokens)         # float32[B, L], 0 after each response's end

A prompt is an id in [0, n_prompts); a real model's policy holds the prompts' tokens (left-padded)
and maps ids to them, so learners, judges and measurements index prompts the same way for both. A
response is int32[L]: L = `length` positions, the end-of-sequence token included where it was
emitted, every position after it `pad_id`. `mask(y)` is 1 on the positions that were sampled (the
EOS included: stopping is a choice the policy is trained on) and 0 after.

Log-probabilities are those of π = softmax(logits / temperature) for every loss and ratio, and a
sample also carries the log-probability under the distribution it was drawn from (temperature, then
top-p), so a user can see how far off-policy nucleus sampling is (`Sample.sample_logp`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from algorithms.preference import generation, lm
from algorithms.preference.generation import Sample


@dataclasses.dataclass(frozen=True)
class ToyPolicy:
    """The policy of the toy model `lm.TransformerLM`: every response has exactly L tokens."""

    config: lm.LMConfig

    @property
    def vocab(self) -> int:
        return self.config.vocab

    @property
    def length(self) -> int:
        return self.config.length

    @property
    def n_prompts(self) -> int:
        return self.config.n_prompts

    pad_id = None
    eos_id = None
    tokenizer = None

    def random_prompts(self, key: jax.Array, n: int) -> jax.Array:
        return lm.random_prompts(self.config, key, n)

    def mask(self, y: jax.Array) -> jax.Array:
        return jnp.ones(y.shape, jnp.float32)

    def token_logprobs(self, params, x: jax.Array, y: jax.Array) -> jax.Array:
        return lm.token_logprobs(self.config, params, x, y)

    def sample(self, params, key: jax.Array, x: jax.Array) -> Sample:
        y, logp = lm.sample(self.config, params, key, x)
        return Sample(y, logp, self.mask(y), logp)

    def sample_mixture(self, params, ref_params, weight, key: jax.Array, x: jax.Array) -> Sample:
        """Samples of the token-level geometric mixture π^μ ∝ π^{1−w} ρ^{w}, logp normalised per token."""
        y, logp = lm.sample_mixture(self.config, params, ref_params, weight, key, x)
        return Sample(y, logp, self.mask(y), logp)

    def lengths(self, y: jax.Array) -> jax.Array:
        return jnp.full(y.shape[:-1], y.shape[-1], jnp.int32)

    def judge_view(self, y: jax.Array) -> jax.Array:
        return y

    def decode(self, y) -> list[str]:
        return [" ".join(str(int(t)) for t in row) for row in jax.device_get(y)]

    def describe(self) -> dict[str, Any]:
        return dict(kind="toy", **dataclasses.asdict(self.config))


def as_policy(model) -> Any:
    """A `Policy` from a policy or an `lm.LMConfig` (wrapped in `ToyPolicy`, equal configs giving
    equal policies, so compiled functions keyed on the policy are reused)."""
    if isinstance(model, lm.LMConfig):
        return _toy(model)
    for attr in ("sample", "token_logprobs", "random_prompts", "vocab", "length"):
        if not hasattr(model, attr):
            raise ValueError(f"expected an lm.LMConfig or a Policy (ToyPolicy, CausalPolicy), got {type(model).__name__} "
                             f"without .{attr}")
    return model


@functools.lru_cache(maxsize=None)
def _toy(config: lm.LMConfig) -> ToyPolicy:
    return ToyPolicy(config)


def sequence_logprob(policy, params, x: jax.Array, y: jax.Array) -> jax.Array:
    """float32[B]: log π(y | x), summed over each response's sampled positions."""
    return policy.token_logprobs(params, x, y).sum(-1)


@dataclasses.dataclass(frozen=True, eq=False)  # equal by value (below), arrays included
class CausalPolicy:
    """The policy of a real causal LM (`causal_lm`) over a fixed table of prompts.

    config: the model's `causal_lm.CausalLMConfig`; prompt_tokens int32[N, P] and prompt_mask
    bool[N, P], left-padded; sampling: `generation.SamplingConfig` (L = max_new_tokens);
    tokenizer: the model's `tokenizers.Tokenizer` (to decode); prompts: the N prompt texts.

    Two policies of the same model settings, prompts and sampling are equal, so `jit` functions
    that take the policy as a static argument (learners, measurements) compile once for both: a
    resumed run or a second command in one process reuses the first one's programs.
    """

    config: Any
    prompt_tokens: jax.Array
    prompt_mask: jax.Array
    sampling: generation.SamplingConfig
    tokenizer: Any = None
    prompts: tuple[str, ...] = ()

    def __post_init__(self):
        if self.config.eos_id is None:
            raise ValueError("the model has no end-of-sequence token (eos_token_id in config.json or an EOS "
                             "special token in tokenizer.json); responses cannot end")
        key = (self.config, self.sampling, self.prompts, np.asarray(self.prompt_tokens).tobytes(),
               np.asarray(self.prompt_mask).tobytes(), np.asarray(self.prompt_tokens).shape)
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))
        n, p = self.prompt_tokens.shape
        if p + self.sampling.max_new_tokens > self.config.max_positions:
            raise ValueError(f"prompts of {p} tokens plus max_new_tokens={self.sampling.max_new_tokens} exceed the "
                             f"model's {self.config.max_positions} positions; shorten the prompts or lower max_new_tokens")

    def __eq__(self, other) -> bool:
        return isinstance(other, CausalPolicy) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    @classmethod
    def from_texts(cls, model, texts, sampling: generation.SamplingConfig | None = None) -> "CausalPolicy":
        """Tokenise `texts` with model.tokenizer (its post-processor adds BOS where the model wants
        one) and left-pad them. model: a `hf_format.CausalLM`."""
        texts = [str(t) for t in texts]
        if not texts:
            raise ValueError("no prompts: give at least one")
        ids = [model.tokenizer.encode(t).ids for t in texts]
        for i, row in enumerate(ids):
            if not row:
                raise ValueError(f"prompt {i} ({texts[i]!r}) has no tokens")
        width = max(len(r) for r in ids)
        pad = model.config.pad_id if model.config.pad_id is not None else model.config.eos_id
        tokens = np.full((len(ids), width), pad, np.int32)
        mask = np.zeros((len(ids), width), bool)
        for i, row in enumerate(ids):
            tokens[i, width - len(row):] = row
            mask[i, width - len(row):] = True
        return cls(model.config, jnp.asarray(tokens), jnp.asarray(mask), sampling or generation.SamplingConfig(),
                   model.tokenizer, tuple(texts))

    @classmethod
    def from_jsonl(cls, model, path, sampling: generation.SamplingConfig | None = None) -> "CausalPolicy":
        """Prompts from a JSON-lines file, one object per line with a "prompt" string."""
        return cls.from_texts(model, read_prompts(path), sampling)

    @property
    def vocab(self) -> int:
        return self.config.vocab_size

    @property
    def length(self) -> int:
        return self.sampling.max_new_tokens

    @property
    def n_prompts(self) -> int:
        return int(self.prompt_tokens.shape[0])

    @property
    def eos_id(self) -> int:
        return self.config.eos_id

    @property
    def pad_id(self) -> int:
        return self.config.pad_id if self.config.pad_id is not None else self.config.eos_id

    def random_prompts(self, key: jax.Array, n: int) -> jax.Array:
        return jax.random.randint(key, (n,), 0, self.n_prompts, jnp.int32)

    def mask(self, y: jax.Array) -> jax.Array:
        return generation.response_mask(y, self.eos_id)

    def token_logprobs(self, params, x: jax.Array, y: jax.Array) -> jax.Array:
        return generation.response_logprobs(self.config, params, self.prompt_tokens[x], self.prompt_mask[x], y,
                                            eos_id=self.eos_id, temperature=self.sampling.temperature)

    def sample(self, params, key: jax.Array, x: jax.Array) -> Sample:
        return generation.generate(self.config, params, self.prompt_tokens[x], self.prompt_mask[x], key, self.sampling,
                                   eos_id=self.eos_id, pad_id=self.pad_id)

    def sample_mixture(self, params, ref_params, weight, key: jax.Array, x: jax.Array) -> Sample:
        return generation.generate(self.config, params, self.prompt_tokens[x], self.prompt_mask[x], key, self.sampling,
                                   eos_id=self.eos_id, pad_id=self.pad_id, mixture_params=ref_params,
                                   mixture_weight=weight)

    def judge_view(self, y: jax.Array) -> jax.Array:
        """The responses as judges see them: the EOS token too becomes `pad_id` (judges count every
        non-pad position as content; `judges` take pad_id)."""
        return jnp.where(y == self.eos_id, self.pad_id, y)

    def lengths(self, y: jax.Array) -> jax.Array:
        """int32[B]: tokens in each response, EOS excluded (what a length-biased judge counts)."""
        content = self.mask(y) * (y != self.eos_id)
        return content.sum(-1).astype(jnp.int32)

    def decode(self, y) -> list[str]:
        """The responses' texts (content tokens only) for y int32[B, L]."""
        y = np.asarray(jax.device_get(y))
        mask = np.asarray(jax.device_get(self.mask(jnp.asarray(y)))) > 0
        rows = [[int(t) for t, m in zip(row, keep) if m and t != self.eos_id] for row, keep in zip(y, mask)]
        if self.tokenizer is None:
            return [" ".join(map(str, r)) for r in rows]
        return [self.tokenizer.decode(r) for r in rows]

    def describe(self) -> dict[str, Any]:
        return dict(kind="causal", model=self.config.to_hf(), sampling=dataclasses.asdict(self.sampling),
                    n_prompts=self.n_prompts, prompt_slots=int(self.prompt_tokens.shape[1]))


def read_prompts(path) -> list[str]:
    """The "prompt" strings of a JSON-lines file (blank lines skipped); ValueError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"prompts file {path} does not exist")
    prompts = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n} is not JSON ({e.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise ValueError(f"{path}:{n} must be an object with a \"prompt\" string, got {line.strip()[:80]!r}")
        prompts.append(row["prompt"])
    if not prompts:
        raise ValueError(f"prompts file {path} holds no prompts")
    return prompts


@dataclasses.dataclass(frozen=True)
class LoRAPolicy:
    """A policy whose trainable part is low-rank adapters on a frozen base model (`lora`).

    Its parameters are {"base": the model's params, "adapters": `lora.init_adapters`'s dict}; every
    method merges them (W + (alpha/rank)·A@B) with the base behind `stop_gradient`, and learners
    give the base a zero update (`trainable_labels`), so only the adapters train and the optimiser
    keeps moments for them alone. `merged(params)` is the plain model, for saving in the Hugging
    Face format. The reference ρ is `init_params`'s result itself: fresh adapters have B = 0.
    """

    base: CausalPolicy
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = ("q", "v")

    def __post_init__(self):
        from algorithms import validate
        from algorithms.preference import lora

        validate.integer("lora rank", self.rank, 1)
        validate.number("lora alpha", self.alpha)
        for t in self.targets:
            if t not in lora.TARGETS:
                raise ValueError(f"unknown LoRA target {t!r}; allowed: {', '.join(lora.TARGETS)}")

    def init_params(self, base_params, key: jax.Array) -> dict:
        from algorithms.preference import lora

        return dict(base=base_params, adapters=lora.init_adapters(key, base_params, self.rank, self.targets))

    def merged(self, params):
        """The plain model parameters: base with every adapter folded in."""
        from algorithms.preference import lora

        return lora.merge(jax.lax.stop_gradient(params["base"]), params["adapters"], self.alpha)

    def trainable_labels(self, params) -> dict:
        """"train" on the adapters, "freeze" on the base (for `optax.multi_transform`)."""
        return dict(base=jax.tree_util.tree_map(lambda _: "freeze", params["base"]),
                    adapters=jax.tree_util.tree_map(lambda _: "train", params["adapters"]))

    def __getattr__(self, name):  # vocab, length, prompts, decode, mask, ... are the base policy's
        if name.startswith("__") or name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def token_logprobs(self, params, x: jax.Array, y: jax.Array) -> jax.Array:
        return self.base.token_logprobs(self.merged(params), x, y)

    def sample(self, params, key: jax.Array, x: jax.Array) -> Sample:
        return self.base.sample(self.merged(params), key, x)

    def sample_mixture(self, params, ref_params, weight, key: jax.Array, x: jax.Array) -> Sample:
        return self.base.sample_mixture(self.merged(params), self.merged(ref_params), weight, key, x)

    def describe(self) -> dict[str, Any]:
        return dict(self.base.describe(), lora=dict(rank=self.rank, alpha=self.alpha, targets=list(self.targets)))
