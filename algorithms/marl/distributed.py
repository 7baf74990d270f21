"""Training over several processes: JAX's multi-controller runtime (`jax.distributed`).

Every process runs the same program on its own devices. After `initialize`, `jax.devices()` lists
the devices of every process; the runner lays the environment batch over all of them
(`learner.shard`), so the one jitted update runs data-parallel across processes (GSPMD: each
device steps its share of the environments, and the loss, a mean over the global batch, averages
the gradients; the collectives go over gloo on CPU, NCCL on GPU).

    distributed.initialize("node01:1234", num_processes=2, process_id=0)   # each process its own id
    runner.train(config, "runs/x")                                         # the same call everywhere

Who writes what: each process writes its own shards of every orbax checkpoint, so the run folder
must be one folder that every process sees (a shared filesystem; checked when the run starts);
process 0 alone writes metrics.jsonl, the loggers, the progress bar, the final evaluation, the
figures and summary.json (`is_main`), while the others wait for it.

Failures: a watchdog thread in each process beats into the coordinator's key-value store every
second and watches the others' beats. A process silent for `timeout_s` (killed, crashed, cut off)
or one that raised (`reporting_failures`) ends every other process with exit code 1 and one line
on stderr naming it. JAX's own heartbeat (2 x `timeout_s`) is the backstop; when process 0, which
hosts the coordinator, dies, JAX ends the others at once ("Terminating process because the JAX
distributed service detected fatal errors"). Restarting every process with `--resume` continues
from the last checkpoint. See docs/distributed.md.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import itertools
import os
import secrets
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import jax
import numpy as np

from algorithms import validate

ENVIRONMENT = dict(coordinator="GIGASTEP_COORDINATOR", num_processes="GIGASTEP_NUM_PROCESSES",
                   process_id="GIGASTEP_PROCESS_ID")
EXIT_CODE = 1  # of a process ended by its watchdog
BEAT_S = 1.0  # seconds between a watchdog's beats
# seconds between another process's failure report and the end of this one: an error every process
# meets (a bad flag, a run that needs --resume) ends each with its own message and exit code
GRACE_S = 2.0
KEY = "gigastep"  # prefix of this module's keys in the coordinator's key-value store
FOREVER_MS = 7 * 24 * 3600 * 1000  # a barrier waiting on process 0's final evaluation (failures end it sooner)


@dataclasses.dataclass(frozen=True)
class DistributedOptions:
    """How this process joins a multi-process run (none of it changes what is learnt)."""

    coordinator: str | None = None  # HOST:PORT where process 0 serves the coordinator, the same for every process
    num_processes: int | None = None  # processes in the run
    process_id: int | None = None  # this process's index, 0 .. num-processes - 1
    distributed: bool = False  # join a run described by the environment alone: GIGASTEP_* variables or SLURM / Open MPI
    peer_timeout_s: int = 60  # a process silent this long (killed, crashed, cut off) ends the others with an error

    def __post_init__(self):
        _check(self.coordinator, self.num_processes, self.process_id)
        validate.integer("peer_timeout_s", self.peer_timeout_s, 1)
        if not isinstance(self.distributed, bool):
            raise ValueError(f"distributed must be True or False, got {self.distributed!r}")

    @property
    def enabled(self) -> bool:
        """Whether to join a multi-process run at all (any flag given, or `distributed`)."""
        return self.distributed or any(v is not None for v in (self.coordinator, self.num_processes,
                                                                self.process_id))

    def initialize(self) -> None:
        """`initialize` with these options."""
        initialize(self.coordinator, self.num_processes, self.process_id, self.peer_timeout_s)


def parse_address(address: str) -> tuple[str, int]:
    """"HOST:PORT" -> (host, port); ValueError naming the bad value. HOST may be a name, an IPv4
    address or a bracketed IPv6 one ([::1]:1234)."""
    host, sep, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    bracketed = host.startswith("[") and host.endswith("]")
    ok = sep and host and port.isdigit() and 1 <= int(port) <= 65535 and not any(c.isspace() for c in host)
    if not ok or (":" in host and not bracketed) or host.startswith("[") != host.endswith("]"):
        raise ValueError(f"coordinator must be HOST:PORT, e.g. node01:1234, 10.0.0.1:1234 or [::1]:1234 "
                         f"(port 1..65535), got {address!r}")
    return host, int(port)


def _check(coordinator, num_processes, process_id) -> None:
    if coordinator is not None:
        parse_address(coordinator)
    if num_processes is not None:
        validate.integer("num_processes", num_processes, 1)
    if process_id is not None:
        top = None if num_processes is None else int(num_processes) - 1
        if not (isinstance(process_id, (int, np.integer)) and not isinstance(process_id, bool)
                and 0 <= process_id and (top is None or process_id <= top)):
            allowed = "an int >= 0" if top is None else f"an int in 0..{top} (num_processes {num_processes})"
            raise ValueError(f"process_id must be {allowed}, got {process_id!r}")


def _from_environment(name: str, value):
    """`value`, or when it is None the environment variable of `name` (ints parsed)."""
    if value is not None:
        return value
    text = os.environ.get(ENVIRONMENT[name], "").strip()
    if not text:
        return None
    if name == "coordinator":
        return text
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{ENVIRONMENT[name]} must be an int, got {text!r}") from None


def initialize(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
               timeout_s: int = DistributedOptions.peer_timeout_s) -> None:
    """Join a multi-process run: `jax.distributed.initialize` and this process's watchdog.

    Call it in every process before anything else uses JAX, then call `runner.train` with the
    same arguments in every process. coordinator: "HOST:PORT" of process 0 (it serves there);
    num_processes; process_id: 0 .. num_processes - 1. Arguments left out are read from
    GIGASTEP_COORDINATOR, GIGASTEP_NUM_PROCESSES and GIGASTEP_PROCESS_ID, and what those leave out
    JAX detects (SLURM, Open MPI, JAX_COORDINATOR_ADDRESS; `jax.distributed.initialize`).
    timeout_s: a process silent this long ends the others (module docstring). ValueError for a
    malformed address, a process id outside 0..N-1, or no run to join; calling it again with the
    same process id and count does nothing.
    """
    coordinator, num_processes, process_id = (_from_environment(name, value) for name, value in
                                              (("coordinator", coordinator), ("num_processes", num_processes),
                                               ("process_id", process_id)))
    _check(coordinator, num_processes, process_id)
    timeout_s = validate.integer("timeout_s", timeout_s, 1)
    if jax.distributed.is_initialized():
        if num_processes in (None, jax.process_count()) and process_id in (None, jax.process_index()):
            return
        raise ValueError(f"jax.distributed is already initialized as process {jax.process_index()} of "
                         f"{jax.process_count()}, not process {process_id} of {num_processes}")
    try:
        jax.distributed.initialize(coordinator, None if num_processes is None else int(num_processes),
                                   None if process_id is None else int(process_id),
                                   heartbeat_timeout_seconds=2 * timeout_s)
    except ValueError as e:  # JAX found no coordinator, count or id, neither given nor in the environment
        raise ValueError(f"no multi-process run to join ({e}): give --coordinator HOST:PORT --num-processes N "
                         f"--process-id I (or GIGASTEP_COORDINATOR, GIGASTEP_NUM_PROCESSES, GIGASTEP_PROCESS_ID), "
                         f"or start every process under SLURM (srun) or Open MPI (mpirun)") from None
    global _watchdog
    client = _client()
    if client is not None and jax.process_count() > 1:
        _watchdog = _Watchdog(client, timeout_s, coordinator or "the detected coordinator")
        # Exit hooks run last-registered first: `_leave` runs before JAX's (registered at import:
        # a barrier waiting for every process) and, the backend being created here first, before
        # MPI's Finalize (registered with it), so the others hear of this exit while they can.
        jax.devices()
        atexit.register(_leave)


def is_main() -> bool:
    """Whether this is process 0, the one that writes the run's files (always, in a one-process run)."""
    return jax.process_index() == 0


def multi_process() -> bool:
    return jax.process_count() > 1


def local_copy(tree: Any) -> Any:
    """The tree as arrays this process can compute with on its own (a one-process run's unchanged).
    An array replicated over every process is read from this process's copy; one split across
    processes is gathered (a collective: every process must call this with the same tree)."""
    if not multi_process():
        return tree
    from jax.experimental import multihost_utils

    def one(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(x)
        if x.is_fully_replicated:
            return np.asarray(x.addressable_data(0))
        return multihost_utils.process_allgather(x, tiled=True)

    return jax.tree_util.tree_map(one, tree)


_barriers = itertools.count()


def barrier(name: str, timeout_ms: int = FOREVER_MS) -> None:
    """Wait until every process gets here (each call site a name; calls are numbered, so a name may
    repeat). A process that dies meanwhile ends the wait through the watchdog."""
    if not multi_process():
        return
    client, key = _client(), f"{KEY}/barrier/{next(_barriers)}/{name}"
    if client is None:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(key)
    else:
        client.wait_at_barrier(key, timeout_ms)


_agreements = itertools.count()


def agree(name: str, value: str) -> list[str]:
    """Every process's `value` (a string), in process order: ValueError on every process unless
    they are all equal, naming what each process has."""
    client, key = _client(), f"{KEY}/agree/{next(_agreements)}/{name}"
    if not multi_process() or client is None:
        return [value]
    client.key_value_set(f"{key}/{jax.process_index()}", value)
    values = [client.blocking_key_value_get(f"{key}/{p}", FOREVER_MS) for p in range(jax.process_count())]
    if len(set(values)) > 1:
        listed = ", ".join(f"process {p}: {v}" for p, v in enumerate(values))
        raise ValueError(f"the processes disagree on {name} ({listed})")
    return values


def check_shared_folder(folder: Path) -> None:
    """ValueError on every process unless they all see `folder` as one folder: each process writes
    its own shards of the checkpoints into it, so it must be on a filesystem they share."""
    if not multi_process():
        return
    probe = Path(folder) / ".processes"
    if is_main():
        probe.write_text(secrets.token_hex(8))
    barrier("folder written")
    try:
        seen = probe.read_text()
    except OSError:
        seen = "nothing"
    try:
        agree(f"what {folder}/.processes holds (the run folder must be on a filesystem every process shares)",
              seen)
    finally:
        barrier("folder read")
        if is_main():
            probe.unlink(missing_ok=True)


@contextlib.contextmanager
def reporting_failures() -> Iterator[None]:
    """An exception leaving the block is posted for the other processes, whose watchdogs end them
    with it at once (rather than after `timeout_s` of silence), then raised here as usual."""
    try:
        yield
    except BaseException as error:
        if _watchdog is not None:
            _watchdog.report(error)
        raise


class _Watchdog:
    """Beats into the coordinator's key-value store and ends this process, with one clear line on
    stderr, when another process stops beating, ends abruptly or reports a failure. A thread: it
    runs while the main thread waits inside a collective that would otherwise wait for the dead
    process forever.

    Each process posts under gigastep/peers/: beat/<p> (a counter), failed/<p> (its error),
    left/<p> (it exits normally, through JAX's shutdown barrier, which waits for every process) and
    ended/<p> (it exits abruptly). At exit (`leave`) a process waits for the others to leave too,
    and skips JAX's barrier, which would wait for a dead process until JAX's own heartbeat gives up
    and aborts, as soon as one of them ended abruptly or went silent."""

    def __init__(self, client, timeout_s: int, coordinator: str):
        self.client, self.timeout_s, self.coordinator = client, timeout_s, coordinator
        self.me, self.n = jax.process_index(), jax.process_count()
        self.failed_here = self.done = False
        self.all_left = threading.Event()
        threading.Thread(target=self._run, name="gigastep-watchdog", daemon=True).start()

    def _run(self) -> None:
        heard = {p: (None, time.monotonic()) for p in range(self.n) if p != self.me}  # last beat, when it changed
        failed: dict[int, float] = {}  # process -> when its failure report was first seen
        for beat in itertools.count():
            try:
                self.client.key_value_set(f"{KEY}/peers/beat/{self.me}", str(beat), allow_overwrite=True)
                # {"beat/1": "17", "failed/2": "ValueError: ...", "left/3": "1", ...}
                posted = {"/".join(k.split("/")[-2:]): v for k, v in self.client.key_value_dir_get(f"{KEY}/peers/")}
            except Exception as e:  # noqa: BLE001  the coordinator is gone: process 0 died, or the run ended
                if self.done:
                    return
                self._end(f"lost the coordinator (process 0, {self.coordinator}): {str(e).splitlines()[0][:200]}")
            now = time.monotonic()
            for p in list(heard):
                if f"ended/{p}" in posted:
                    self._end(f"process {p} of {self.n} ended: {posted[f'ended/{p}']}")
                elif f"failed/{p}" in posted:  # before "left": a failed process leaves too, at its exit
                    if self.failed_here:  # both fail (the same bad input?): each exits with its own error
                        del heard[p]
                    elif now - failed.setdefault(p, now) >= GRACE_S:
                        self._end(f"process {p} of {self.n} failed: {posted[f'failed/{p}']}")
                elif f"left/{p}" in posted:
                    del heard[p]
                elif posted.get(f"beat/{p}") != heard[p][0]:
                    heard[p] = (posted.get(f"beat/{p}"), now)
                elif now - heard[p][1] > self.timeout_s:
                    self._end(f"process {p} of {self.n} sent no heartbeat for {self.timeout_s} s "
                              f"(killed, crashed or cut off)")
            if not heard:
                self.all_left.set()
            time.sleep(BEAT_S)
            if self.done:  # this process is leaving: JAX's exit barrier takes over
                return

    def _end(self, reason: str) -> None:
        print(f"gigastep-jax: error: distributed run failed: {reason}; process {self.me} stops too. Restart "
              f"every process with --resume to continue from the last checkpoint.", file=sys.stderr, flush=True)
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            self.client.key_value_set(f"{KEY}/peers/ended/{self.me}", reason[:300], allow_overwrite=True)
        os._exit(EXIT_CODE)  # the main thread waits inside a collective, or JAX's exit barrier, for the dead

    def report(self, error: BaseException) -> None:
        """This process failed: the others end with its error (after GRACE_S, unless they fail too)."""
        self.failed_here = True
        with contextlib.suppress(Exception):
            text = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            self.client.key_value_set(f"{KEY}/peers/failed/{self.me}", text, allow_overwrite=True)

    def leave(self, limit_s: float = 300.0) -> None:
        """At exit: wait until every other process leaves too (the watchdog ends this one sooner if
        another ended abruptly or went silent); after `limit_s`, JAX's exit barrier decides."""
        with contextlib.suppress(Exception):
            self.client.key_value_set(f"{KEY}/peers/left/{self.me}", "1", allow_overwrite=True)
        self.all_left.wait(limit_s)
        self.done = True


_watchdog: _Watchdog | None = None


def _leave() -> None:
    if _watchdog is not None:
        _watchdog.leave()


def _client():
    """The coordinator's client, or None where this JAX version hides it (then no watchdog: JAX's
    own heartbeat still ends the others, after 2 x timeout_s)."""
    try:
        from jax._src import distributed as jax_distributed
    except ImportError:
        return None
    return getattr(getattr(jax_distributed, "global_state", None), "client", None)
