"""Backwards-compatible names for the learned pairwise judge, now in `preference_models`.

    judge, report = train_judge(key, teacher, length=8, steps=300)
    report["accuracy"]        # held-out pairs where the learned and the teacher's preferred side agree

`PairwiseJudgeNet` scores a pair by g(x, y, y') − g(x, y', y) over the two responses' encodings, so
P(y ≻ y' | x) = σ of that is antisymmetric and ½ on equal responses by construction; `train_judge`
fits it by cross-entropy against the teacher's probability (soft labels) on fresh random pairs.
"""

from algorithms.preference.preference_models import (  # noqa: F401
    PairwiseJudgeNet,
    _fit,
    _random_pairs,
    judge_accuracy,
    learned_judge,
    train_judge,
)

__all__ = ["PairwiseJudgeNet", "judge_accuracy", "learned_judge", "train_judge"]
