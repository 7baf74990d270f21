"""The benchmark suite: every benchmark script, one mode for this CPU and one for accelerators.

    python benchmarks/run_all.py --quick     # this 2-core CPU: a few minutes
    python benchmarks/run_all.py --full      # larger batches and longer runs, for a GPU or TPU
    python benchmarks/run_all.py --quick --only env_batch team_size
    python benchmarks/run_all.py --quick --run out/demo    # cross-play of a trained run's checkpoints too

Each stage runs one script (`benchmarks/*.py`) in its own process, so one's compile caches and
memory do not touch the next's. Every JSON line it prints is kept, with the stage, the suite's
mode, the git commit and the time added, in `benchmarks/results/<mode>-<UTC time>.jsonl`; the
figures go beside it in `benchmarks/results/<mode>-<UTC time>/`:

    throughput_vs_batch.png   agent-steps/s of 5v5 against the batch size (log-log)
    cost_vs_team_size.png     seconds per env-step against agents per battle (log-log), with the
                              O(N) and O(N^2) lines through the smallest battle
    learning_curve.png        training time to competence: scores against random, chaser, circler
    crossplay.png             cross-play battles/s
    prefgame.png              preference-game throughput (tokens/s sampled, judged pairs/s)

The scripts measure as they always do (compile time apart, best of several runs); the device, JAX
version and batch are in every line. On a GPU nothing changes but the mode's sizes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

# stage: (script, quick arguments, full arguments)
STAGES: dict[str, tuple[str, list[str], list[str]]] = {
    "env_batch": ("env_throughput.py", ["--batch-sweep", "1,16,256,1024,4096"],
                  ["--batch-sweep", "1,64,1024,8192,65536,262144"]),
    "team_size": ("env_throughput.py", ["--team-sweep", "1,2,5,10,20,100,500,1000", "--agents", "2000", "--steps", "50"],
                  ["--team-sweep", "1,2,5,10,20,50,100,500,1000", "--agents", "200000"]),
    "env_autoreset": ("env_throughput.py", ["--only", "autoreset", "--quick"], ["--only", "autoreset", "rgb"]),
    "train": ("train_throughput.py", ["--quick"], []),
    "learning": ("learning_speed.py", ["--variants", "mlp", "--steps", "300000", "--checkpoints", "3",
                                       "--eval-games", "64"],
                 ["--variants", "mlp", "attention", "--steps", "3000000", "--num-envs", "4096"]),
    "crossplay": ("eval_throughput.py", ["--only", "crossplay", "--games", "8", "--games-fixed", "2"],
                  ["--only", "crossplay", "ratings"]),
    "prefgame": ("prefgame_throughput.py", ["--repeats", "1"], []),
    "adapters": ("adapter_overhead.py", ["--smoke"], []),
}


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=HERE,
                               capture_output=True, text=True, check=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def run_stage(stage: str, mode: str, commit: str | None, sink, run: str | None = None) -> list[dict]:
    script, quick, full = STAGES[stage]
    args = list(quick if mode == "quick" else full)
    if stage == "crossplay" and run:
        args += ["--run", run]
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], capture_output=True, text=True, check=False)
    rows = []
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = dict(json.loads(line), stage=stage, suite_mode=mode, git_commit=commit,
                       measured_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
            if "batch" not in row and "num_envs" in row:  # the learners name their batch num_envs
                row["batch"] = row["num_envs"] * row.get("seeds", 1)
            rows.append(row)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
    seconds = time.perf_counter() - start
    status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}): {proc.stderr.strip()[-800:]}"
    print(f"{stage:14s} {script:24s} {len(rows):3d} rows  {seconds:6.0f} s  {status}", file=sys.stderr, flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"stage {stage} failed")
    return rows


def plot(rows: list[dict], folder: Path) -> list[Path]:
    """The suite's figures from its rows (a stage that did not run draws nothing)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    by_stage: dict[str, list[dict]] = {}
    for r in rows:
        by_stage.setdefault(r["stage"], []).append(r)
    written = []

    def save(fig, name):
        path = folder / name
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)

    if "env_batch" in by_stage:
        rs = by_stage["env_batch"]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.loglog([r["batch"] for r in rs], [r["agent_steps_per_s"] for r in rs], "o-")
        ax.set(xlabel="environments in the batch", ylabel="agent-steps/s",
               title=f"{rs[0]['scenario']}\n{rs[0]['device']}, JAX {rs[0]['jax_version']}")
        ax.grid(True, which="both", alpha=0.3)
        save(fig, "throughput_vs_batch.png")
    if "team_size" in by_stage:
        rs = sorted(by_stage["team_size"], key=lambda r: r["n_agents"])
        n = np.array([r["n_agents"] for r in rs], float)
        per_env_step = np.array([r["seconds_per_run"] / (r["batch"] * r["steps"]) for r in rs])
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.loglog(n, per_env_step, "o-", label="measured")
        ax.loglog(n, per_env_step[0] * n / n[0], "--", color="grey", label="O(N)")
        ax.loglog(n, per_env_step[0] * (n / n[0]) ** 2, ":", color="grey", label="O(N²)")
        ax.set(xlabel="agents per battle N", ylabel="seconds per env-step",
               title=f"cost against battle size\n{rs[0]['device']}, JAX {rs[0]['jax_version']}")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        save(fig, "cost_vs_team_size.png")
    if "learning" in by_stage:
        rs = by_stage["learning"]
        fig, ax = plt.subplots(figsize=(5.5, 4))
        for variant in sorted({r.get("variant", "") for r in rs}):
            vr = [r for r in rs if r.get("variant", "") == variant]
            for opponent, style in (("random", "o-"), ("chaser", "s-"), ("circler", "^-")):
                key = next((k for k in (f"vs_{opponent}", f"score_vs_{opponent}", f"eval_vs_{opponent}")
                            if k in vr[0]), None)
                if key:
                    ax.plot([r["wall_s"] for r in vr], [r[key] for r in vr], style, label=f"{variant} vs {opponent}")
        ax.set(xlabel="training wall-clock (s)", ylabel="score (a draw ½)", ylim=(-0.02, 1.02),
               title="time to competence (scripted opponents held out of the score)")
        ax.legend(fontsize=7)
        save(fig, "learning_curve.png")
    if "crossplay" in by_stage:
        rs = [r for r in by_stage["crossplay"] if r.get("figure") == "crossplay_battles_per_s"]
        if rs:
            fig, ax = plt.subplots(figsize=(5.5, 3.5))
            labels = [f"{'run ' + r['run'] if r.get('run') else 'scripted'} {r['matrix'][0]}x{r['matrix'][1]}, "
                      f"{r['games_per_pair']} games/pair, {'early exit' if r['early_exit'] else 'fixed scan'}" for r in rs]
            ax.barh(labels, [r["battles_per_s"] for r in rs])
            ax.set(xlabel="battles/s", title="cross-play throughput")
            save(fig, "crossplay.png")
    if "prefgame" in by_stage:
        rs = by_stage["prefgame"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        labels, values = [], []
        for r in rs:
            for key in ("sampled_tokens_per_s", "judged_pairs_per_s"):
                if key in r:
                    labels.append(f"{r.get('bench')} {r.get('model', r.get('judge', ''))} b={r.get('batch')}")
                    values.append(r[key])
        if values:
            ax.barh(labels, values)
            ax.set(xscale="log", xlabel="tokens/s (sampling) or pairs/s (judging)", title="preference game")
            save(fig, "prefgame.png")
        else:
            plt.close(fig)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--quick", action="store_const", const="quick", dest="mode", help="this CPU, a few minutes")
    mode.add_argument("--full", action="store_const", const="full", dest="mode", help="larger sizes, for accelerators")
    parser.add_argument("--only", nargs="*", choices=list(STAGES), help="run only these stages")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    parser.add_argument("--run", help="a training run folder (e.g. out/demo): the cross-play stage also plays its "
                                      "checkpoints with random and chaser")
    args = parser.parse_args(argv)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.mode}-{stamp}.jsonl"
    commit = git_commit()
    rows, failed = [], []
    with open(path, "w", encoding="utf-8") as sink:
        for stage in args.only or list(STAGES):
            try:
                rows += run_stage(stage, args.mode, commit, sink, args.run)
            except RuntimeError:
                failed.append(stage)
    figures = plot(rows, args.out / f"{args.mode}-{stamp}")
    print(json.dumps(dict(results=str(path), rows=len(rows), figures=[str(f) for f in figures], failed=failed,
                          git_commit=commit)))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
