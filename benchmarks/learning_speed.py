"""Time to competence: win rate against the yardsticks over wall-clock, per learner variant.

Trains each variant (MLP or attention encoder, MAPPO or IPPO critic, ...) for the same number of
environment steps with `algorithms.marl.runner.train` and prints one JSON object per checkpoint: the
variant, environment steps, wall-clock seconds of training (the chunk is compiled before the clock
starts; its compile time is `compile_s`), and the win rates of the current policy against random, chaser
and circler (`--eval-games` battles each). Variants run one after another in this one process, so
they share the machine's conditions.

    python benchmarks/learning_speed.py                          # mlp vs attention, 1.5 M steps each (default config otherwise)
    python benchmarks/learning_speed.py --variants mlp --steps 3000000
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile

import jax

from algorithms.marl import runner
from algorithms.marl.config import TrainConfig

VARIANTS = {
    "mlp": dict(encoder="mlp"),
    "attention": dict(encoder="attention"),
    "ippo": dict(critic="ippo"),
    "gru": dict(recurrent=True),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="*", default=["mlp", "attention"], choices=sorted(VARIANTS))
    parser.add_argument("--scenario", default="identical_5_vs_5_fobs_vec_void_disc")
    parser.add_argument("--steps", type=int, default=1_500_000)
    parser.add_argument("--checkpoints", type=int, default=5)
    parser.add_argument("--eval-games", type=int, default=128)
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--rollout-steps", type=int, default=None)
    args = parser.parse_args(argv)
    for name in args.variants:
        extra = {k: v for k, v in dict(num_envs=args.num_envs, rollout_steps=args.rollout_steps).items() if v}
        cfg = TrainConfig(scenario=args.scenario, total_steps=args.steps, checkpoints=args.checkpoints,
                          **VARIANTS[name], **extra)
        rows = []
        with tempfile.TemporaryDirectory() as out:
            runner.train(cfg, out, eval_games=args.eval_games, final_games=0, crossplay_games=0, progress=False,
                         on_chunk=rows.append)
        for row in rows:
            print(json.dumps(dict(
                benchmark="learning_speed", variant=name, scenario=args.scenario, num_envs=cfg.num_envs,
                rollout_steps=cfg.rollout_steps, hidden=cfg.hidden, env_steps=row["env_steps"],
                wall_s=row["wall_s"], compile_s=rows[0].get("compile_s"), env_steps_per_s=row["env_steps_per_s"],
                vs_random=row.get("eval_vs_random"), vs_chaser=row.get("eval_vs_chaser"),
                vs_circler=row.get("eval_vs_circler"), eval_games=args.eval_games,
                device=str(jax.devices()[0].device_kind), platform=jax.default_backend(),
                cpu=platform.processor() or platform.machine(), jax_version=jax.__version__,
                load_avg=open("/proc/loadavg").read().split()[:3],
            )), flush=True)


if __name__ == "__main__":
    main()
