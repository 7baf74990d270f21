"""`TrainConfig` and its checks: bad options fail in Python before anything compiles; configs
round-trip through JSON."""

from __future__ import annotations

import json

import pytest

from algorithms.marl.config import TrainConfig
from algorithms.marl.learner import make_learner
from tests.algorithms.marl.conftest import TINY


@pytest.mark.parametrize("change, match", [
    (dict(learning_rate=-1e-3), "learning_rate must be a finite number > 0"),
    (dict(minibatches=5), r"minibatches \(5\) must divide the 24 teams an update trains on .*allowed: \[1, 2, 3, 4, 6, 8, 12, 24\]"),
    (dict(num_envs=18, opponent_groups=4), r"num_envs \(18\) must be divisible by opponent_groups \(4\)"),
    (dict(scenario="identical_5_vs_5_fobs_vec_void_dsic"), "close matches|did you mean|identical_5_vs_5_fobs_vec_void_disc"),
    (dict(critic="qmix"), "unknown critic 'qmix'; allowed: mappo, ippo"),
    (dict(credit="shared"), "unknown credit 'shared'; allowed: team, agent"),
    (dict(self_play_fraction=0.5, scripted_fraction=1.0), r"take 1 \+ 2 of the 2 opponent_groups"),
    (dict(scripted_fraction=0.5, scripted_opponents=()), "needs scripted_opponents"),
    (dict(scripted_fraction=1.5), r"scripted_fraction must be a finite number in \[0, 1\], got 1.5"),
    (dict(opponent_sampling="best"), "unknown opponent_sampling 'best'"),
    (dict(scripted_opponents=("random", "sniper")), "unknown scripted opponent 'sniper'"),
    (dict(gamma=1.5), r"gamma must be a finite number in \[0, 1\]"),
    (dict(encoder="cnn"), "vector observations"),
    (dict(num_envs=12, opponent_groups=4, minibatches=3), "even number of environments"),
    (dict(snapshot_every=-1), "snapshot_every must be an int >= 0, got -1"),
])
def test_bad_config_is_rejected_before_compiling(change, match):
    with pytest.raises(ValueError, match=match):
        make_learner(TINY.replace(**change))


def test_config_round_trips_through_json():
    c = TINY.replace(scripted_opponents=("chaser",), overrides=(("max_steps", 100),))
    assert TrainConfig.from_dict(json.loads(json.dumps(c.to_dict()))) == c
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict(dict(c.to_dict(), learning_rat=1.0))
