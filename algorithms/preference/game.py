"""`PreferenceGame`: language-model policies play the game of `algorithms.evaluation.game` with a judge.

A game between policies a and b (LM parameter pytrees) is one prompt x drawn uniformly, a response
y ~ π_a(· | x) and a response y' ~ π_b(· | x); its outcome is the judge's probability
P(y ≻ y' | x) (a's expected score, in [0, 1]). So E[outcome(a, b)] + E[outcome(b, a)] = 1 and a
policy against itself scores ½ in expectation, as in battles, and `algorithms.evaluation`
(payoff matrices, Elo, Bradley–Terry, Nash, exploitability) works on a population of LM iterates
stacked along a leading axis (`algorithms.evaluation.game.stack`):

    game = PreferenceGame(policy, judge)          # policy: an lm.LMConfig or a `policy.Policy`
    matrix = evaluation.payoff_matrix(game, stack(iterates), n_games=512, key=key)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from algorithms.evaluation.game import Game
from algorithms.preference.policy import as_policy
from algorithms.preference.judges import Judge, check_vocab_match


class PreferenceGame(Game):
    """Two LM policies answer the same prompts; the judge's probability is the first one's outcome.

    play(key, a, b, n) -> float32[n]; play_matrix(key, pop_a, pop_b, n) -> float32[Pa, Pb, n];
    play_pairs(key, pop, rows, cols, n) -> float32[K, n] (the interface of `algorithms.evaluation.game`).
    """

    def __init__(self, policy, judge: Judge):
        self.policy = as_policy(policy)
        check_vocab_match(judge, self.policy.vocab, "the language model")
        self.judge = judge
        super().__init__()

    def _play_one(self, key, params_a, params_b, n: int) -> jax.Array:
        k_x, k_a, k_b = jax.random.split(key, 3)
        policy = self.policy
        x = policy.random_prompts(k_x, n)
        y = policy.judge_view(policy.sample(params_a, k_a, x).tokens)
        y2 = policy.judge_view(policy.sample(params_b, k_b, x).tokens)
        return self.judge.pairs(x, y, y2).astype(jnp.float32)
