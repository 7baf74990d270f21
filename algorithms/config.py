"""`TrainConfig`, re-exported from its home `algorithms.marl.config` (where code written against
`algorithms.config` keeps working)."""

from algorithms.marl.config import TrainConfig, check

__all__ = ["TrainConfig", "check"]
