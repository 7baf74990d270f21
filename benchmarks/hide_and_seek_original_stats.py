"""Random-play episode statistics of the original Gigastep (6288d65) for one scenario, as JSON.

Regenerates tests/gigastep_jax/data/hide_and_seek_original_stats.json (read by
tests/gigastep_jax/test_hide_and_seek_stats.py):

    python benchmarks/hide_and_seek_original_stats.py \
        --out tests/gigastep_jax/data/hide_and_seek_original_stats.json

The original is not a dependency: its `gigastep/*.py` files are read from a bare git mirror of
github.com/mlech26l/gigastep (`--mirror`, default /work/.mirror/mlech26l+gigastep/repo) with
`git show 6288d65:<file>` into a temporary folder (not `git archive`: an LFS blob of that
repository breaks it), or taken from a folder holding its `gigastep` package (`--original`). Its
`type_enforced` decorator (a run-time type check that computes nothing, broken under JAX 0.10) is
replaced by the identity, as benchmarks/compare_original.py does; nothing of it is copied here.

Protocol (the same as tests/gigastep_jax/data/gigastep_reference_stats.json): the scenario built
with `maps="empty"` (a `_void` name: the arena without obstacles that the name promises), every
agent a uniformly random discrete action (0..26) each step, from `v_reset` to the first step whose
`episode_done` is set (the original is not absorbing: what it computes after that is ignored),
at most `max_episode_length` (500) steps. Team A is the original's team 0 (hide_and_seek_5_vs_5:
the 5 seekers), team B its team 1 (the 5 hiders).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

COMMIT = "6288d65"
MIRROR = "/work/.mirror/mlech26l+gigastep/repo"


def extract(mirror: str, commit: str, dest: Path) -> Path:
    """Write the original's `gigastep/*.py` at `commit` under dest/gigastep/ (read with git show)."""
    git = ["git", "--git-dir", mirror]
    names = subprocess.run(git + ["ls-tree", "-r", "--name-only", commit, "gigastep/"],
                           capture_output=True, text=True, check=True).stdout.split()
    for name in names:
        if name.endswith(".py"):
            path = dest / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(subprocess.run(git + ["show", f"{commit}:{name}"], capture_output=True, check=True).stdout)
    return dest


def import_original(root: Path):
    sys.path.insert(0, str(root))
    sys.modules["type_enforced"] = types.SimpleNamespace(Enforcer=lambda fn: fn)
    import gigastep

    return gigastep


def random_play(env, episodes: int, seed: int, max_steps: int = 500):
    """Per episode: length, alive agents of team 0 and team 1 at the end (numpy arrays)."""
    teams = jnp.asarray(env.teams)

    def run(key):
        k_reset, k_run = jax.random.split(key)
        _, states = env.v_reset(jax.random.split(k_reset, episodes))

        def body(carry, k):
            states, length, over, alive_a, alive_b = carry
            k_act, k_step = jax.random.split(k)
            actions = jax.random.randint(k_act, (episodes, env.n_agents), 0, env.n_actions, dtype=jnp.int32)
            _, states, _, _, ep_done = env.v_step(states, actions, jax.random.split(k_step, episodes))
            alive = states[0]["alive"]
            now_a = jnp.sum(alive * (teams == 0), axis=1).astype(jnp.int32)
            now_b = jnp.sum(alive * (teams == 1), axis=1).astype(jnp.int32)
            # Freeze the figures at each episode's first done step.
            alive_a = jnp.where(over, alive_a, now_a)
            alive_b = jnp.where(over, alive_b, now_b)
            length = length + (~over).astype(jnp.int32)
            return (states, length, over | ep_done, alive_a, alive_b), None

        zeros = jnp.zeros(episodes, jnp.int32)
        init = (states, zeros, jnp.zeros(episodes, bool), zeros, zeros)
        (_, length, over, alive_a, alive_b), _ = jax.lax.scan(body, init, jax.random.split(k_run, max_steps))
        return length, over, alive_a, alive_b

    length, over, alive_a, alive_b = jax.jit(run)(jax.random.PRNGKey(seed))
    assert bool(np.asarray(over).all()), "an episode did not end within max_steps"
    return np.asarray(length), np.asarray(alive_a), np.asarray(alive_b)


def summarize(length, alive_a, alive_b) -> dict:
    n = len(length)
    wiped_a, wiped_b = alive_a == 0, alive_b == 0
    frac = lambda m: float(np.mean(m))  # noqa: E731
    return dict(
        episodes=n,
        episode_length=dict(mean=float(length.mean()), std=float(length.std()),
                            sem=float(length.std() / np.sqrt(n)),
                            p10=float(np.percentile(length, 10)), p50=float(np.median(length)),
                            p90=float(np.percentile(length, 90))),
        wiped_out_fraction=dict(team_a=frac(wiped_a), team_b=frac(wiped_b)),
        outcome_fraction=dict(team_a_wiped_only=frac(wiped_a & ~wiped_b), team_b_wiped_only=frac(wiped_b & ~wiped_a),
                              both_wiped=frac(wiped_a & wiped_b), time_out=frac(~wiped_a & ~wiped_b)),
        alive_at_end_mean=dict(team_a=float(alive_a.mean()), team_b=float(alive_b.mean())),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", default="hide_and_seek_5_vs_5_fobs_vec_void_disc")
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mirror", default=MIRROR, help="bare git mirror of mlech26l/gigastep")
    parser.add_argument("--original", help="a folder holding the original's gigastep package (instead of --mirror)")
    parser.add_argument("--out", help="write the JSON here (default: print it)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gigastep-orig-") as tmp:
        root = Path(args.original) if args.original else extract(args.mirror, COMMIT, Path(tmp))
        gigastep = import_original(root)
        env = gigastep.make_scenario(args.scenario, **({"maps": "empty"} if "_void_" in args.scenario else {}))
        t0 = time.perf_counter()
        stats = summarize(*random_play(env, args.episodes, args.seed, env.max_episode_length))
        seconds = time.perf_counter() - t0

    teams = np.asarray(env.teams)
    result = dict(
        what=(f"Random-play episode statistics of the original Gigastep (commit {COMMIT}) on {args.scenario} "
              f"built with maps='empty', {args.episodes} episodes, every agent a uniformly random discrete action "
              "(0..26) each step, from reset to the first step whose episode_done is set."),
        commit=COMMIT,
        scenario=args.scenario,
        seed=args.seed,
        team_a=f"the original's team 0 ({int((teams == 0).sum())} agents)",
        team_b=f"the original's team 1 ({int((teams == 1).sum())} agents)",
        produced_by=("python benchmarks/hide_and_seek_original_stats.py --out "
                     "tests/gigastep_jax/data/hide_and_seek_original_stats.json"),
        jax_version=jax.__version__,
        seconds=round(seconds, 1),
        **stats,
    )
    text = json.dumps(result, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
