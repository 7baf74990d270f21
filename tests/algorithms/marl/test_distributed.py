"""Training over several processes (`algorithms.marl.distributed`, docs/distributed.md).

Real processes on this machine: each a subprocess with its own forced CPU devices, the coordinator
on localhost at a free port, the collectives over gloo. Bad arguments are refused before JAX is
touched; a process that is killed or fails ends the others within a bounded time, naming it; two
processes of two devices train like one process of four; a killed run resumes to the parameters
of the run never killed. Training compiles for about a minute per run on a small CPU machine, so
those tests are slow; the default suite checks the failure handling with processes that only
run a tiny collective.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from algorithms.cli import build_parser, flags, main
from algorithms.marl import checkpoint, distributed
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import CHUNKED
from tests.conftest import REPO

CONFIG = CHUNKED.replace(num_envs=8, total_steps=8 * 8 * 4)  # 4 chunks of one update, 2 envs per device of 4
# CONFIG on the command line, nothing evaluated (the final evaluation is process 0's alone, tested
# in one process by the runner's tests)
CLI = ["--scenario", CONFIG.scenario, "--num-envs", "8", "--rollout-steps", "8", "--epochs", "1", "--minibatches", "2",
       "--hidden", "16", "--opponent-groups", "2", "--pool-size", "2", "--snapshot-every", "1",
       "--self-play-fraction", "0.5", "--scripted-fraction", "0", "--steps", str(CONFIG.total_steps),
       "--checkpoints", "4", "--eval-games", "0", "--final-games", "0", "--crossplay-games", "0"]
TIMEOUT_S = 5  # --peer-timeout-s of the runs here: how long a silent process is waited for
TIMING = ("wall_s", "chunk_s", "env_steps_per_s", "compile_s")  # measured, not computed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def environment(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", JAX_PLATFORMS="cpu",
               PYTHONUNBUFFERED="1")
    for name in distributed.ENVIRONMENT.values():
        env.pop(name, None)
    return env


def start(code_or_args: str | list[str], devices: int, log: Path) -> subprocess.Popen:
    """A subprocess running Python code (a string) or `gigastep-jax` (a list of arguments)."""
    command = [sys.executable, "-c", code_or_args] if isinstance(code_or_args, str) else \
        [sys.executable, "-m", "algorithms.cli", *code_or_args]
    with open(log.with_suffix(".out"), "w") as out, open(log.with_suffix(".err"), "w") as err:
        return subprocess.Popen(command, cwd=REPO, env=environment(devices), stdout=out, stderr=err)


def wait_all(procs: list[subprocess.Popen], timeout: float) -> list[int]:
    """Return codes; a process still running after `timeout` s is SIGKILLed (JAX's runtime catches
    SIGTERM) and the test fails."""
    end = time.monotonic() + timeout
    try:
        return [p.wait(max(0.1, end - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()
        pytest.fail(f"processes still running after {timeout} s")


def text(log: Path, suffix: str) -> str:
    return log.with_suffix(suffix).read_text()


# --- bad arguments: ValueError naming the value, before JAX is touched -------------------------

@pytest.mark.parametrize("address", ["localhost", "localhost:", ":1234", "node01:port", "node01:0", "node01:70000",
                                     "::1:1234", "no de:1234", "[::1:1234", 1234])
def test_a_malformed_coordinator_is_refused(address):
    with pytest.raises(ValueError, match="coordinator must be HOST:PORT"):
        distributed.initialize(address, 2, 0)


@pytest.mark.parametrize("address, parsed", [("node01:1234", ("node01", 1234)), ("10.0.0.1:80", ("10.0.0.1", 80)),
                                             ("[::1]:65535", ("[::1]", 65535))])
def test_addresses_parse(address, parsed):
    assert distributed.parse_address(address) == parsed


@pytest.mark.parametrize("count, pid, message", [
    (2, 2, r"process_id must be an int in 0..1 \(num_processes 2\), got 2"),
    (2, -1, r"process_id must be an int in 0..1"),
    (None, -1, r"process_id must be an int >= 0, got -1"),
    (2, 0.5, r"process_id must be an int in 0..1"),
    (0, 0, r"num_processes must be an int >= 1, got 0"),
    ("2", 0, r"num_processes must be an int >= 1, got '2'"),
])
def test_a_process_id_outside_the_run_is_refused(count, pid, message):
    with pytest.raises(ValueError, match=message):
        distributed.initialize("localhost:1234", count, pid)


def test_bad_timeouts_and_environment_variables_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="timeout_s must be an int >= 1, got 0"):
        distributed.initialize("localhost:1234", 2, 0, timeout_s=0)
    monkeypatch.setenv("GIGASTEP_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="GIGASTEP_NUM_PROCESSES must be an int, got 'two'"):
        distributed.initialize("localhost:1234", process_id=0)
    monkeypatch.setenv("GIGASTEP_NUM_PROCESSES", "2")
    monkeypatch.setenv("GIGASTEP_PROCESS_ID", "3")  # the environment is read for what is not given
    with pytest.raises(ValueError, match="process_id must be an int in 0..1 .* got 3"):
        distributed.initialize("localhost:1234")
    monkeypatch.setenv("GIGASTEP_COORDINATOR", "node01")
    with pytest.raises(ValueError, match="coordinator must be HOST:PORT.*got 'node01'"):
        distributed.initialize(process_id=0)
    assert not jax.distributed.is_initialized()


def test_no_run_to_join_is_a_clear_error():
    """No flags, no GIGASTEP_* variables, no cluster: JAX's detection finds nothing (a subprocess:
    JAX's distributed state is per process)."""
    code = ("from algorithms.marl import distributed\ntry:\n    distributed.initialize()\nexcept ValueError as e:\n"
            "    print(e)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment(1), capture_output=True, text=True,
                         timeout=120)
    assert "no multi-process run to join" in out.stdout and "--coordinator HOST:PORT" in out.stdout, out.stderr


@pytest.mark.parametrize("flags, message", [
    (["--num-processes", "2", "--process-id", "2"], "process_id must be an int in 0..1"),
    (["--coordinator", "node01", "--num-processes", "2", "--process-id", "0"], "coordinator must be HOST:PORT"),
    (["--num-processes", "0"], "num_processes must be an int >= 1"),
    (["--distributed", "--peer-timeout-s", "0"], "peer_timeout_s must be an int >= 1"),
])
def test_the_command_line_refuses_bad_process_flags(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *CLI, "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not out.exists()  # refused before anything was written
    assert not jax.distributed.is_initialized()


def test_the_documented_command_lines_parse():
    """Every `gigastep-jax train` line of docs/distributed.md is one the parser takes, and joins a
    multi-process run (shell variables given example values)."""
    doc = (REPO / "docs" / "distributed.md").read_text().replace("\\\n", " ")
    values = dict(HEAD="node01", SLURM_NTASKS="8", SLURM_PROCID="3")
    lines = [line[line.index("gigastep-jax train"):] for line in doc.splitlines() if "gigastep-jax train " in line
             and "--" in line]
    assert len(lines) >= 6, lines
    for line in lines:
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: values[m.group(1)], line.split(" &")[0].split("#")[0])
        args = build_parser().parse_args(shlex.split(line.rstrip("'"))[1:])
        assert flags.build(args, distributed.DistributedOptions).enabled, line


# --- failures: a process killed or failing ends the others, within a bounded time ---------------

PEER = """
import os, signal, time
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from algorithms.marl import distributed
distributed.initialize("localhost:{port}", 2, {pid}, timeout_s={timeout})
mesh = Mesh(np.asarray(jax.devices()), ("batch",))
total = jax.jit(lambda x: x.sum(), out_shardings=NamedSharding(mesh, PartitionSpec()))
with distributed.reporting_failures():
    for i in range(100_000):  # a collective over both processes, again and again
        x = jax.make_array_from_process_local_data(NamedSharding(mesh, PartitionSpec("batch")), np.ones(1, np.float32))
        assert float(total(x)) == 2
        if i == 5 and {pid} == {victim}:
            print("ending", flush=True)
            {how}
        time.sleep(0.02)
"""
HOW = {"killed": "os.kill(os.getpid(), signal.SIGKILL)", "raised": "raise RuntimeError('boom in process {pid}')"}


@pytest.mark.parametrize("victim, how, expected", [
    (1, "killed", "process 1 of 2 sent no heartbeat for 5 s"),
    (1, "raised", "process 1 of 2 failed: RuntimeError: boom in process 1"),
    # process 0 serves the coordinator: JAX's runtime ends the other at once, or the watchdog does
    (0, "killed", "lost the coordinator|the leader task was preempted/died"),
])
def test_a_killed_or_failing_process_ends_the_other(victim, how, expected, tmp_path):
    port, logs = free_port(), [tmp_path / f"p{pid}" for pid in (0, 1)]
    procs = [start(PEER.format(port=port, pid=pid, timeout=TIMEOUT_S, victim=victim,
                               how=HOW[how].format(pid=pid)), 1, log) for pid, log in enumerate(logs)]
    other = 1 - victim
    codes = [None, None]
    codes[victim] = wait_all([procs[victim]], 120)[0]
    died = time.monotonic()
    codes[other] = wait_all([procs[other]], 60)[0]
    waited = time.monotonic() - died
    print(f"process {other} ended {waited:.1f} s after process {victim} ({how})")
    assert "ending" in text(logs[victim], ".out"), text(logs[victim], ".err")[-2000:]
    killed = codes[victim] == -signal.SIGKILL if how == "killed" else codes[victim] != 0
    assert killed, text(logs[victim], ".err")[-2000:]
    err = text(logs[other], ".err")
    assert codes[other] != 0 and re.search(expected, err), err[-3000:]
    assert waited < TIMEOUT_S + 10, waited  # bounded: the timeout and a beat, not JAX's 100 s default
    if victim == 1:  # the watchdog's line, and its exit code
        assert codes[other] == distributed.EXIT_CODE
        assert "Restart every process with --resume" in err


# --- training: two processes train like one; a killed run resumes --------------------------------

def two_processes(out: Path, *extra: str, kill_after: int | None = None, timeout: float = 400):
    """`gigastep-jax train CLI` in two processes of two devices each (process 1 SIGKILLs itself after
    chunk `kill_after`, if given). Returns (return codes, logs, seconds from process 1's end to
    process 0's)."""
    port, logs = free_port(), [out.parent / f"{out.name}-p{pid}" for pid in (0, 1)]
    args = [["train", *CLI, "--out", str(out), "--coordinator", f"localhost:{port}", "--num-processes", "2",
             "--process-id", str(pid), "--peer-timeout-s", str(TIMEOUT_S), *extra] for pid in (0, 1)]
    if kill_after is not None:  # the same command, with a kill after a chunk's checkpoint
        args[1] = ("import os, signal, sys\nfrom algorithms.marl import runner\nreal = runner.train\n"
                   "def train(*a, **kw):\n"
                   f"    kw['on_chunk'] = lambda row: row['chunk'] == {kill_after} and os.kill(os.getpid(), "
                   "signal.SIGKILL)\n    return real(*a, **kw)\n"
                   f"runner.train = train\nfrom algorithms.cli import main\nsys.exit(main({args[1]!r}))")
    procs = [start(a, 2, log) for a, log in zip(args, logs)]
    last = wait_all([procs[1]], timeout)[0]
    ended = time.monotonic()
    first = wait_all([procs[0]], timeout)[0]
    return [first, last], logs, time.monotonic() - ended


def final_state(out: Path):
    like = make_learner(CONFIG).init(jax.random.PRNGKey(0))
    return checkpoint.restore(out / "checkpoints", CONFIG.checkpoints, like)[0]


def rows(out: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two") / "run"
    codes, logs, _ = two_processes(out)
    assert codes == [0, 0], [text(log, ".err")[-3000:] for log in logs]
    return out, logs


@pytest.mark.slow  # about 30 s for one process, 55 s for two (compiling) on a 2-core machine
def test_two_processes_train_like_one_process_of_four_devices(two_process_run, tmp_path):
    two, logs = two_process_run
    one = tmp_path / "one"
    code = wait_all([start(["train", *CLI, "--out", str(one)], 4, tmp_path / "one")], 400)[0]
    assert code == 0, text(tmp_path / "one", ".err")[-3000:]
    a, b = final_state(one), final_state(two)
    # the environments, keys and counters agree exactly; parameters to float32 rounding (the
    # gradient's all-reduce adds in another order across processes: measured max 6e-8)
    for x, y in zip(jax.tree_util.tree_leaves((a.env_state, a.obs, a.key, a.update, a.opponent)),
                    jax.tree_util.tree_leaves((b.env_state, b.obs, b.key, b.update, b.opponent))):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(jax.tree_util.tree_leaves((a.params, a.opt_state, a.pool)),
                    jax.tree_util.tree_leaves((b.params, b.opt_state, b.pool))):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    assert rows(two) == [pytest.approx(r, rel=1e-4, abs=1e-6) for r in rows(one)]
    # process 0 wrote the run's files once; process 1 only its checkpoint shards
    assert [r["chunk"] for r in rows(two)] == [1, 2, 3, 4]
    # (gloo prints its own "[Gloo] Rank ... connected" lines on stdout; the run's JSON is the last line)
    assert json.loads(text(logs[0], ".out").splitlines()[-1])["run"] == str(two)
    assert "training" in text(logs[0], ".err")
    assert not [line for line in (text(logs[1], ".out") + text(logs[1], ".err")).splitlines()
                if "Gloo" not in line], text(logs[1], ".err")  # nothing but gloo's notes
    assert json.loads((two / "summary.json").read_text())["chunks"] == 4
    assert sorted(p.name for p in two.iterdir()) == [".lock", "checkpoints", "config.json", "metrics.jsonl",
                                                     "summary.json"]


@pytest.mark.slow  # about 100 s: a killed run, then its resumption
def test_a_killed_process_ends_the_run_and_it_resumes(two_process_run, tmp_path):
    out = tmp_path / "run"
    codes, logs, waited = two_processes(out, kill_after=1)
    assert codes[1] == -signal.SIGKILL, text(logs[1], ".err")[-3000:]
    err = text(logs[0], ".err")
    assert codes[0] == distributed.EXIT_CODE and "process 1 of 2 sent no heartbeat" in err, err[-3000:]
    print(f"process 0 ended {waited:.1f} s after process 1 was killed")
    assert waited < 60, waited
    assert checkpoint.steps(out / "checkpoints") == [1]
    codes, logs, _ = two_processes(out)  # not resumed: refused, by both
    assert codes == [2, 2] and "--resume" in text(logs[0], ".err")
    codes, logs, _ = two_processes(out, "--resume")
    assert codes == [0, 0], [text(log, ".err")[-3000:] for log in logs]
    clean, resumed = final_state(two_process_run[0]), final_state(out)
    for x, y in zip(jax.tree_util.tree_leaves(clean), jax.tree_util.tree_leaves(resumed)):
        np.testing.assert_array_equal(x, y)  # the same program on the same state: bit for bit
    assert rows(out) == rows(two_process_run[0])
