"""The preference game: LLM self-play (SPPO, SPO, INPO, Nash-MD), DNO, and DPO / IPO / SimPO and
iterative DPO / IPO baselines.

Two levels of the same algorithms (facts, losses and ground truth in docs/PREFERENCE.md):
- exact: `tabular_selfplay(algorithm, preference, reference, steps, **hyper)` on a K×K preference
  matrix, with `exploitability(preference, policy)` (that of `algorithms.evaluation.nash`);
- sampled, on a language model behind one interface (`policy`): the toy flax model (`lm`) or a
  real causal LM from a local folder in the Hugging Face format (`hf_format.load_causal_lm`: GPT-2
  and Llama as flax modules, `causal_lm`; tokenizers; LoRA adapters, `lora`), sampled inside jit
  with EOS, temperature, top-p and a key/value cache (`generation`). Judges written in code
  (`judges`) or learned (`preference_models`: Bradley–Terry, pairwise, general preference), the
  losses (`losses`), jit-compiled learners (`learners`), measurements (`metrics`, `length`), a
  resumable run driver with per-iteration datasets and orbax iterates (`run`), a small model made in
  code (`synthetic`) and `PreferenceGame`, the game of `algorithms.evaluation.game`, so
  `algorithms.evaluation.payoff_matrix` rates LM iterates like battle policies.
"""

from algorithms.preference.game import PreferenceGame
from algorithms.preference.judges import (
                                          BIASED_RPS,
                                          Judge,
                                          bradley_terry,
                                          check_judge,
                                          check_preference,
                                          class_cycle,
                                          content_mask,
                                          length_biased,
                                          response_length,
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
from algorithms.preference.causal_lm import CausalLM, CausalLMConfig
from algorithms.preference.generation import SamplingConfig, generate
from algorithms.preference.hf_format import load_causal_lm, save_causal_lm
from algorithms.preference.length import length_controlled_win_rate
from algorithms.preference.lm import LMConfig
from algorithms.preference.policy import CausalPolicy, LoRAPolicy, ToyPolicy, as_policy
from algorithms.preference.preference_models import (
                                          KINDS,
                                          PreferenceModel,
                                          PreferenceModelConfig,
                                          load_pairs,
                                          load_preference_model,
                                          save_preference_model,
                                          train_preference_model,
                                          write_pairs,
)
from algorithms.preference.run import (
                                          RunResult,
                                          export_model,
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
    "ALGORITHMS", "BIASED_RPS", "CausalLM", "CausalLMConfig", "CausalPolicy", "Judge", "LMConfig", "LearnerConfig",
    "LearnerState", "LoRAPolicy", "PreferenceGame", "SamplingConfig", "ToyPolicy", "as_policy", "export_model",
    "generate", "load_causal_lm", "save_causal_lm", "KINDS", "PreferenceModel", "PreferenceModelConfig", "content_mask",
    "length_biased", "length_controlled_win_rate", "load_pairs", "load_preference_model", "response_length",
    "save_preference_model", "train_preference_model", "write_pairs",
    "RunResult", "SelfPlayResult", "bradley_terry", "check_judge", "check_preference", "class_cycle",
    "dpo_optimum", "exploitability", "ipo_optimum", "kl_regularised_nash", "load_iterates", "make_judge",
    "make_learner", "make_reference", "mix", "run_selfplay", "skew_symmetric", "TABULAR_ALGORITHMS", "tabular_selfplay",
    "with_noise", "with_ties",
]
