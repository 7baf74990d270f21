"""The preference game: LLM self-play (SPPO, SPO, INPO, Nash-MD) and DPO / IPO / SimPO baselines.

Two levels of the same algorithms (facts, losses and ground truth in docs/PREFERENCE.md):
- exact: `tabular_selfplay(algorithm, preference, reference, steps, **hyper)` on a K×K preference
  matrix, with `exploitability(preference, policy)` (that of `algorithms.evaluation.nash`);
- sampled, on a small flax language model (`lm`): judges written in code (`judges`), a learned
  judge (`learned_judge`), the losses (`losses`), jit-compiled learners (`learners`), measurements
  (`metrics`), a run driver with orbax iterates (`run`) and `PreferenceGame`, the game of
  `algorithms.evaluation.game`, so `algorithms.evaluation.payoff_matrix` rates LM iterates like battle policies.
"""

from algorithms.preference.game import PreferenceGame
from algorithms.preference.judges import (
                                          BIASED_RPS,
                                          Judge,
                                          bradley_terry,
                                          check_judge,
                                          check_preference,
                                          class_cycle,
                                          mix,
                                          skew_symmetric,
                                          with_noise,
                                          with_ties,
)
from algorithms.preference.learners import (
                                          ALGORITHMS,
                                          LearnerConfig,
                                          LearnerState,
                                          make_learner,
)
from algorithms.preference.lm import LMConfig
from algorithms.preference.run import (
                                          RunResult,
                                          load_iterates,
                                          make_judge,
                                          make_reference,
                                          run_selfplay,
)
from algorithms.preference.tabular import (
                                          TABULAR_ALGORITHMS,
                                          SelfPlayResult,
                                          dpo_optimum,
                                          exploitability,
                                          ipo_optimum,
                                          kl_regularised_nash,
                                          tabular_selfplay,
)

__all__ = [
    "ALGORITHMS", "BIASED_RPS", "Judge", "LMConfig", "LearnerConfig", "LearnerState", "PreferenceGame",
    "RunResult", "SelfPlayResult", "bradley_terry", "check_judge", "check_preference", "class_cycle",
    "dpo_optimum", "exploitability", "ipo_optimum", "kl_regularised_nash", "load_iterates", "make_judge",
    "make_learner", "make_reference", "mix", "run_selfplay", "skew_symmetric", "TABULAR_ALGORITHMS", "tabular_selfplay",
    "with_noise", "with_ties",
]
