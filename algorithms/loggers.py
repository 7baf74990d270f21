"""Experiment loggers beside `metrics.jsonl`: TensorBoard event files and Weights & Biases.

`metrics.jsonl` is always written and stays the record a run resumes from; these are views of the
same rows for the tools people already watch, asked for by `--tensorboard` / `--wandb` (or
`tensorboard=True` / `wandb=True` in Python):

    OUT/tensorboard/     event files (tensorboardX: pip install "gigastep-jax[tensorboard]");
                         tensorboard --logdir OUT/tensorboard
    OUT/wandb/           a Weights & Biases run, offline unless WANDB_MODE says otherwise (the wandb
                         package, installed by you); `wandb sync OUT/wandb/offline-run-*` uploads it

Every numeric entry of a row is logged at the row's step (env-steps for training, the iteration
for the preference game). A resumed run logs its earlier rows again and TensorBoard is told to
hide what earlier writers in the folder logged (`purge_step=0`), so each row is there once;
W&B resumes its run (the id and the last step it took are kept in OUT/wandb_run.json) and takes
only the rows past that step.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import secrets
from pathlib import Path

from algorithms import run_folder


@dataclasses.dataclass(frozen=True)
class LogOptions:
    """Where metric rows go besides metrics.jsonl."""

    tensorboard: bool = False  # also write TensorBoard event files to OUT/tensorboard (needs tensorboardX)
    wandb: bool = False  # also log to Weights & Biases, offline unless WANDB_MODE is set (needs wandb)

    def __post_init__(self):
        for name in ("tensorboard", "wandb"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")


def _import(module: str, flag: str, install: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(f"{flag} needs the {module} package: {install}") from error


def check_available(options: LogOptions) -> None:
    """ImportError naming the package and how to install it, before a run starts."""
    if options.tensorboard:
        _import("tensorboardX", "--tensorboard", 'pip install "gigastep-jax[tensorboard]"')
    if options.wandb:
        _import("wandb", "--wandb", "pip install wandb")


def scalars(row: dict) -> dict[str, float]:
    """The entries of a row that are numbers (booleans as 0/1); NaN kept, strings and None left out."""
    return {k: float(v) for k, v in row.items() if isinstance(v, numbers.Number)}


class RunLoggers:
    """The loggers of one run folder: `log(row)` for each metrics row, `summary(values)` at the end.

    `step_key` names the row entry used as the step; `earlier_rows` are the rows of a resumed run.
    A context manager: leaving it closes the files (and finishes the W&B run).
    """

    def __init__(self, out: str | os.PathLike, options: LogOptions, *, step_key: str, config: dict | None = None,
                 earlier_rows: list[dict] = ()):
        check_available(options)
        self.out, self.options, self.step_key = Path(out), options, step_key
        self.tensorboard = self.wandb = None
        self._wandb_file, self._wandb_id, self.last_step = self.out / "wandb_run.json", None, -math.inf
        if options.tensorboard:
            from tensorboardX import SummaryWriter

            # Every writer logs the run from its first row (earlier_rows first), so TensorBoard is
            # told to hide whatever earlier writers in this folder logged (purge from step 0).
            self.tensorboard = SummaryWriter(str(self.out / "tensorboard"), purge_step=0, flush_secs=30)
        if options.wandb:
            self.wandb = self._start_wandb(config or {})
        for row in earlier_rows:
            self.log(row)

    def _start_wandb(self, config: dict):
        import wandb

        if self._wandb_file.exists():
            try:
                saved = json.loads(self._wandb_file.read_text())
                self._wandb_id, last = str(saved["id"]), saved.get("last_step")
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{self._wandb_file} is corrupt ({error}); delete it to log to a new W&B run") from error
            self.last_step = -math.inf if last is None else last
        else:
            self._wandb_id = secrets.token_hex(4)  # W&B run ids: lowercase letters and digits
            run_folder.write_json(self._wandb_file, {"id": self._wandb_id, "last_step": None})
        run_id = self._wandb_id
        return wandb.init(project=os.environ.get("WANDB_PROJECT", "gigastep-jax"), name=self.out.name, id=run_id,
                          resume="allow", dir=str(self.out), config=config,
                          mode=os.environ.get("WANDB_MODE", "offline"))

    def log(self, row: dict) -> None:
        step = int(row[self.step_key])
        values = {k: v for k, v in scalars(row).items() if k != self.step_key}
        if self.tensorboard is not None:
            for tag, value in values.items():
                self.tensorboard.add_scalar(tag, value, global_step=step)
            self.tensorboard.flush()
        if self.wandb is not None and step > self.last_step:  # W&B steps only go forward
            self.wandb.log(values, step=step)
            self.last_step = step
            run_folder.write_json(self._wandb_file, {"id": self._wandb_id, "last_step": step})

    def summary(self, values: dict, step: int) -> None:
        """End-of-run figures (final evaluation, cross-play), tagged `final/...` in TensorBoard."""
        values = scalars(values)
        if self.tensorboard is not None:
            for tag, value in values.items():
                self.tensorboard.add_scalar(f"final/{tag}", value, global_step=int(step))
            self.tensorboard.flush()
        if self.wandb is not None:
            self.wandb.summary.update(values)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        if self.wandb is not None:
            self.wandb.finish()
            self.wandb = None

    def __enter__(self) -> "RunLoggers":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_tensorboard(folder: str | os.PathLike) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of the scalars in a folder's event files, as TensorBoard shows
    them: files in the order they were written, and a writer started with `purge_step=s` hides the
    earlier files' values at steps >= s. (For tests and notebooks; TensorBoard itself reads these.)"""
    import struct

    from tensorboardX.proto.event_pb2 import Event, SessionLog

    scalars_by_tag: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        data, offset = path.read_bytes(), 0
        while offset + 12 <= len(data):  # a record: u64 length, u32 crc, payload, u32 crc
            (length,) = struct.unpack_from("<Q", data, offset)
            event = Event.FromString(data[offset + 12: offset + 12 + length])
            offset += 12 + length + 4
            if event.HasField("session_log") and event.session_log.status == SessionLog.START:
                scalars_by_tag = {tag: [(s, v) for s, v in values if s < event.step]
                                  for tag, values in scalars_by_tag.items()}
            for value in event.summary.value:
                scalars_by_tag.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
    return scalars_by_tag
