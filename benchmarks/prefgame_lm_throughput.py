"""Real causal LMs in the preference game: generated tokens per second, training tokens per second.

Prints one JSON object per configuration (compile seconds apart from run seconds; run seconds are
the best of `--repeats` calls after the compile; every output is reduced into the timed result so
XLA cannot drop work as dead code). The models are Hugging Face-format GPT-2 / Llama checkpoints
(`algorithms.preference.hf_format`), driven through `policy.CausalPolicy` over the synthetic prompts:
- `generate`: `jit(policy.sample)` of B responses of L positions (KV-cached decode). Generated
  tokens/s counts all B·L positions; content tokens/s counts the sampled ones only (mask.sum():
  responses stop at EOS, after which positions are padding the scan still computes);
- `fwd_bwd`: `jit(value_and_grad)` of the mean of `policy.token_logprobs` over a [B, L] batch of
  sampled responses: training tokens/s per forward + backward pass (B·L / run seconds);
- `iteration`: one compiled `learner.update` (SPPO, and DPO with pairs_from="policy") at
  32 prompts × K = 4 samples, 4 epochs × 2 minibatches, the Bradley–Terry judge. It reports the
  iteration's seconds, its generated tokens/s (32·4·L / iteration seconds), the seconds of the
  same generation alone, and training tokens/s = epochs·32·4·L / (iteration − generation seconds)
  (DPO's extra forward pass over the reference is inside the difference).

Models: the tests' tiny models (`synthetic.make_tiny_model`: d_model 32, 2 layers, vocab 400,
64 positions; the weights do not change the speed, so SFT is short) in both families, and one
larger GPT-2 (`hf_format.write_tiny_checkpoint`: d_model 256, 4 layers, 8 heads, 128 positions,
about 3.3 M parameters). L = 64 is run only where the prompt slots + L fit the model's positions.

    python benchmarks/prefgame_lm_throughput.py            # about 3 minutes on 2 idle cores
    python benchmarks/prefgame_lm_throughput.py --smoke    # one 1-layer model, tiny sizes, SPPO only: ~15 s
    python benchmarks/prefgame_lm_throughput.py --smoke --only generate fwd_bwd   # no learner compile: ~7 s
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

BENCHES = ("generate", "fwd_bwd", "iteration")


def _device() -> dict:
    import jax

    return dict(device=str(jax.devices()[0].device_kind), platform=jax.default_backend(),
                cpu=platform.processor() or platform.machine(), cpu_count=os.cpu_count(),
                jax_version=jax.__version__, loadavg_1m=round(os.getloadavg()[0], 2))


def _timed(fn, *args, repeats: int):
    """(compile seconds, best run seconds, last output) of a jitted fn whose outputs are blocked on."""
    import jax

    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    compile_s = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - start)
    return compile_s, best, out


def _tree_sum(tree):
    import jax
    import jax.numpy as jnp

    return sum(jnp.sum(leaf).astype(jnp.float32) for leaf in jax.tree_util.tree_leaves(tree))


def build_models(folder: Path, smoke: bool, large_family: str) -> list[tuple[str, object]]:
    """(label, `CausalLM`) of every model measured, written under `folder`."""
    import jax
    import numpy as np

    from algorithms.preference import hf_format, synthetic

    if smoke:  # no SFT (one compile fewer) and one layer: a check that the script runs
        model = hf_format.write_tiny_checkpoint(folder / "smoke", "gpt2", jax.random.PRNGKey(0),
                                                texts=synthetic.corpus(np.random.default_rng(0), per_prompt=5),
                                                vocab_size=300, d_model=16, n_layers=1, n_heads=2, max_positions=32)
        return [("smoke-gpt2", model)]
    models = [(f"tiny-{family}", synthetic.make_tiny_model(folder / f"tiny-{family}", family, sft_steps=50,
                                                          max_new_tokens=16)[0]) for family in ("gpt2", "llama")]
    large = hf_format.write_tiny_checkpoint(folder / "large", large_family, jax.random.PRNGKey(0),
                                            texts=synthetic.corpus(np.random.default_rng(0)), vocab_size=1024,
                                            d_model=256, n_layers=4, n_heads=8, max_positions=128)
    return models + [(f"large-{large_family}", large)]


def _policy(model, length: int):
    from algorithms.preference import generation, synthetic
    from algorithms.preference.policy import CausalPolicy

    return CausalPolicy.from_texts(model, synthetic.prompts(), generation.SamplingConfig(max_new_tokens=length))


def _fits(model, length: int) -> bool:
    return _policy_slots(model) + length <= model.config.max_positions


def _policy_slots(model) -> int:
    return int(_policy(model, 1).prompt_tokens.shape[1])


def _model_fields(label: str, model) -> dict:
    c = model.config
    return dict(model=label, family=c.family, params=model.param_count(), d_model=c.d_model, n_layers=c.n_layers,
                vocab=c.vocab_size, max_positions=c.max_positions)


_GENERATORS: dict = {}  # (policy, batch) -> jitted run: the iteration's generation reuses the compile


def time_generation(policy, params, batch: int, repeats: int):
    """(compile s, run s, content tokens) of jit(policy.sample) on `batch` prompts (compile s is only
    the first call's time when this policy and batch were compiled before)."""
    import jax
    import jax.numpy as jnp

    run = _GENERATORS.get((policy, batch))
    if run is None:
        x = jnp.arange(batch, dtype=jnp.int32) % policy.n_prompts

        @jax.jit
        def run(params, key):
            s = policy.sample(params, key, x)
            checksum = s.tokens.sum() + s.logp.sum() + s.sample_logp.sum()  # keep every output alive
            return checksum, s.mask.sum()

        _GENERATORS[(policy, batch)] = run
    compile_s, run_s, (_, content) = _timed(run, params, jax.random.PRNGKey(1), repeats=repeats)
    return compile_s, run_s, float(content)


def bench_generate(label: str, model, batch: int, length: int, repeats: int) -> dict:
    policy = _policy(model, length)
    compile_s, run_s, content = time_generation(policy, model.params, batch, repeats)
    tokens = batch * length
    return dict(bench="generate", **_model_fields(label, model), batch=batch, length=length,
                prompt_slots=int(policy.prompt_tokens.shape[1]), tokens=tokens, content_tokens=int(content),
                compile_s=round(compile_s, 3), run_s=round(run_s, 5), generated_tokens_per_s=round(tokens / run_s),
                content_tokens_per_s=round(content / run_s), **_device())


def bench_fwd_bwd(label: str, model, batch: int, length: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    policy = _policy(model, length)
    x = jnp.arange(batch, dtype=jnp.int32) % policy.n_prompts
    # Uniform random responses: the pass computes every position whatever the tokens (positions after
    # an EOS are masked, not skipped), and a sampled batch would cost one more compile.
    y = jax.random.randint(jax.random.PRNGKey(2), (batch, length), 0, policy.vocab, jnp.int32)
    grad = jax.value_and_grad(lambda p, x, y: policy.token_logprobs(p, x, y).mean())

    @jax.jit
    def run(params, x, y):
        loss, grads = grad(params, x, y)
        return loss + _tree_sum(grads)  # every gradient leaf reduced into the result

    compile_s, run_s, _ = _timed(run, model.params, x, y, repeats=repeats)
    tokens = batch * length
    return dict(bench="fwd_bwd", **_model_fields(label, model), batch=batch, length=length, tokens=tokens,
                compile_s=round(compile_s, 3), run_s=round(run_s, 5), train_tokens_per_s=round(tokens / run_s),
                **_device())


def bench_iteration(label: str, model, algorithm: str, length: int, repeats: int, *, prompts: int = 32,
                    k_samples: int = 4, epochs: int = 4, minibatches: int = 2) -> dict:
    import jax

    from algorithms.preference.learners import LearnerConfig, make_learner
    from algorithms.preference.run import make_judge

    policy = _policy(model, length)
    judge = make_judge("bt", policy.vocab, policy.length, pad_id=policy.pad_id)
    config = LearnerConfig(algorithm=algorithm, prompts=prompts, k_samples=k_samples, epochs=epochs,
                           minibatches=minibatches, pairs_from="policy" if algorithm == "dpo" else None)
    learner = make_learner(policy, judge, config)
    state = learner.init(model.params)

    @jax.jit
    def run(state, key):
        new, metrics = learner.update(state, key)
        return _tree_sum(new.params) + _tree_sum(new.opt_state) + _tree_sum(metrics)  # every output kept

    compile_s, run_s, _ = _timed(run, state, jax.random.PRNGKey(1), repeats=repeats)
    sequences = prompts * k_samples
    _, gen_s, _ = time_generation(policy, model.params, sequences, repeats)
    generated = sequences * length
    trained = epochs * sequences * length
    train_s = run_s - gen_s
    return dict(bench="iteration", algorithm=algorithm, pairs_from=config.sample_source, **_model_fields(label, model),
                prompts=prompts, k_samples=k_samples, batch=sequences, length=length, epochs=epochs,
                minibatches=minibatches, adam_steps=config.steps_per_iteration, compile_s=round(compile_s, 3),
                iteration_s=round(run_s, 4), generation_alone_s=round(gen_s, 5),
                generated_tokens_per_s=round(generated / run_s), trained_tokens=trained,
                train_tokens_per_s=round(trained / train_s) if train_s > 0 else None, **_device())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a check that the script runs)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-family", choices=("gpt2", "llama"), default="gpt2",
                        help="family of the larger model (llama: about 4.4 M parameters, an untied head)")
    parser.add_argument("--only", nargs="+", choices=BENCHES, default=list(BENCHES), help="run only these benches")
    args = parser.parse_args(argv)
    batches = [8] if args.smoke else [64, 256]
    lengths = [8] if args.smoke else [16, 64]
    with tempfile.TemporaryDirectory(prefix="prefgame_lm_") as tmp:
        models = build_models(Path(tmp), args.smoke, args.large_family)
        for label, model in models:
            for length in lengths:
                if not _fits(model, length):
                    continue
                for batch in batches if "generate" in args.only else []:
                    print(json.dumps(bench_generate(label, model, batch, length, args.repeats)), flush=True)
                for batch in batches if "fwd_bwd" in args.only else []:
                    print(json.dumps(bench_fwd_bwd(label, model, batch, length, args.repeats)), flush=True)
        # smoke: the iteration's 4 × 2 sequences are the generation batch above, so its generation is compiled
        scale = dict(prompts=4, k_samples=2, epochs=1, minibatches=1) if args.smoke else {}
        for label, model in models if "iteration" in args.only else []:
            for algorithm in ("sppo",) if args.smoke else ("sppo", "dpo"):
                print(json.dumps(bench_iteration(label, model, algorithm, lengths[0], args.repeats, **scale)),
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
