"""Orbax checkpoints of a training run: everything needed to resume it exactly.

A checkpoint at step c (chunks done) holds the whole `TrainState` (parameters, optimiser state, RNG
key, environments, the opponent pool, counters) and, as JSON, the config and the chunk's metrics.
Orbax writes each checkpoint into a temporary folder and renames it when complete, so a run killed
at any moment leaves only whole checkpoints; resuming from the latest replays the same computation,
so a killed-and-resumed run ends with the same parameters as one never killed.

In a multi-process run (`algorithms.marl.distributed`) every process calls `save` with the same
step, and each writes its own shards of the state (orbax's multi-process protocol); reading is
process-local: each process that reads a checkpoint reads all of it, with no collectives, so
process 0 can read alone (its final evaluation) and a resumed run starts from the same state in
every process.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from algorithms.marl.config import TrainConfig

logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's notes on read-only managers are noise here


class CheckpointError(ValueError):
    """A missing, corrupt or mismatched checkpoint."""


def manager(directory: str | Path, *, read_only: bool = False) -> ocp.CheckpointManager:
    """A writer (every process of a run creates it and saves through it together) or a reader
    (this process alone: it waits for no other)."""
    directory = Path(directory).absolute()
    alone = {}
    if read_only and jax.process_count() > 1:
        me = jax.process_index()
        alone = dict(multiprocessing_options=ocp.options.MultiprocessingOptions(primary_host=me,
                                                                                active_processes={me}))
    options = ocp.CheckpointManagerOptions(max_to_keep=None, create=not read_only, read_only=read_only,
                                           enable_async_checkpointing=False, **alone)
    return ocp.CheckpointManager(directory, options=options)


def _flat(tree: Any) -> dict[str, Any]:
    """{path: leaf} without zero-size leaves (orbax cannot store them; e.g. the boxes of a map with
    no obstacles, float32[B, 0, 4]), which `_unflat` takes back from the template."""
    return {jax.tree_util.keystr(p): v for p, v in jax.tree_util.tree_flatten_with_path(tree)[0] if np.size(v) > 0}


def _unflat(flat: dict[str, Any], like: Any) -> Any:
    leaves, treedef = jax.tree_util.tree_flatten_with_path(like)
    return jax.tree_util.tree_unflatten(treedef, [flat.get(jax.tree_util.keystr(p), v) for p, v in leaves])


def save(mngr: ocp.CheckpointManager, step: int, state: Any, config: TrainConfig | dict, metrics: dict) -> None:
    """Write checkpoint `step` (atomically: complete or absent). A state spread over several
    processes is written as it lies, each process its own shards. config: a TrainConfig or any
    JSON-able dict (the preference game's runs use this module too)."""
    spread = any(isinstance(x, jax.Array) and not x.is_fully_addressable for x in jax.tree_util.tree_leaves(state))
    state = _flat(state if spread else jax.device_get(state))
    mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        config=ocp.args.JsonSave(config if isinstance(config, dict) else config.to_dict()),
        metrics=ocp.args.JsonSave(metrics),
    ))
    mngr.wait_until_finished()


def steps(directory: str | Path) -> list[int]:
    """The complete checkpoints in a folder, oldest first ([] when there is none)."""
    if not Path(directory).is_dir():
        return []
    return sorted(manager(directory, read_only=True).all_steps())


def _json_item(directory: str | Path, step: int, item: str) -> dict:
    """The JSON item ("config" or "metrics") of checkpoint `step`."""
    mngr = manager(directory, read_only=True)
    try:
        return dict(mngr.restore(step, args=ocp.args.Composite(**{item: ocp.args.JsonRestore()}))[item])
    except Exception as e:  # noqa: BLE001  orbax raises many kinds
        raise CheckpointError(f"checkpoint {step} in {directory} has no readable {item} (corrupt? delete the "
                              f"folder {Path(directory) / str(step)} to resume from the one before): "
                              f"{type(e).__name__}: {str(e)[:200]}") from None


def saved_json(directory: str | Path, step: int, item: str = "config") -> dict:
    """The JSON item ("config" or "metrics") of checkpoint `step`, as saved (any JSON-able dict)."""
    return _json_item(directory, step, item)


def saved_config(directory: str | Path, step: int) -> TrainConfig:
    return TrainConfig.from_dict(_json_item(directory, step, "config"))


def saved_metrics(directory: str | Path, step: int) -> dict:
    """The metrics row written with checkpoint `step` (the chunk's row of metrics.jsonl)."""
    return _json_item(directory, step, "metrics")


def check_compatible(saved: TrainConfig, config: TrainConfig, *, ignore=()) -> None:
    """A resumed run must be the run that was saved: every field must agree (the budget too: it sets
    the updates per chunk, so a different one would not replay the same computation)."""
    a, b = saved.to_dict(), config.to_dict()
    diff = {k: (a[k], b[k]) for k in a if k not in ignore and _norm(a[k]) != _norm(b[k])}
    if diff:
        listed = "; ".join(f"{k}: saved {v[0]!r}, asked {v[1]!r}" for k, v in diff.items())
        raise CheckpointError(f"the checkpoint was written by a different configuration ({listed}); "
                              f"resume with the same settings or start a new run directory")


def _norm(v):
    return json.loads(json.dumps(v))


def restore(directory: str | Path, step: int, like: Any) -> tuple[Any, dict]:
    """(state shaped like `like`, metrics) of checkpoint `step`; CheckpointError if it cannot be read."""
    mngr = manager(directory, read_only=True)
    if step not in mngr.all_steps():
        raise CheckpointError(f"no checkpoint {step} in {directory}; found {sorted(mngr.all_steps()) or 'none'}")
    like = jax.device_get(like)
    # read onto this process's first device: without a sharding, orbax lays arrays out as they
    # were saved, which in a multi-process run spans devices of the other processes
    here = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = {k: jax.ShapeDtypeStruct(np.shape(v), np.asarray(v).dtype, sharding=here)
                for k, v in _flat(like).items()}
    try:
        out = mngr.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract), metrics=ocp.args.JsonRestore()))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"checkpoint {step} in {directory} is corrupt or does not match this run's "
                              f"state (delete the folder {Path(directory) / str(step)} to resume from the one "
                              f"before): {type(e).__name__}: {str(e)[:300]}") from None
    # host arrays, as a fresh state's are uncommitted: committed ones would compile the chunk again
    flat = jax.device_get(out["state"])
    for path, want in abstract.items():
        got = flat.get(path)
        if got is None or np.shape(got) != want.shape:
            raise CheckpointError(f"checkpoint {step} in {directory} has {path} of shape "
                                  f"{None if got is None else np.shape(got)} where this run expects {want.shape}")
    return _unflat(flat, like), dict(out["metrics"])
