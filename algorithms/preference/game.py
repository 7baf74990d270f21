"""`PreferenceGame`: language-model policies play the game of `algorithms.game` with a judge.

A game between policies a and b (LM parameter pytrees) is one prompt x drawn uniformly, a response
y ~ π_a(· | x) and a response y' ~ π_b(· | x); its outcome is the judge's probability
P(y ≻ y' | x) (a's expected score, in [0, 1]). So E[outcome(a, b)] + E[outcome(b, a)] = 1 and a
policy against itself scores ½ in expectation, as in battles, and `algorithms.evaluation`
(payoff matrices, Elo, Bradley–Terry, Nash, exploitability) works on a population of LM iterates
stacked along a leading axis (`algorithms.game.stack`):

    game = PreferenceGame(lm_config, judge)
    matrix = evaluation.payoff_matrix(game, stack(iterates), n_games=512, key=key)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from algorithms.game import _check_n, _check_pairs, _check_same_structure, _matrix_of, _pairs_of, population_size
from algorithms.preference import lm
from algorithms.preference.judges import Judge, check_vocab_match


class PreferenceGame:
    """Two LM policies answer the same prompts; the judge's probability is the first one's outcome.

    play(key, a, b, n) -> float32[n]; play_matrix(key, pop_a, pop_b, n) -> float32[Pa, Pb, n];
    play_pairs(key, pop, rows, cols, n) -> float32[K, n] (the interface of `algorithms.game`).
    """

    def __init__(self, lm_config: lm.LMConfig, judge: Judge):
        check_vocab_match(judge, lm_config.vocab, "the language model")
        self.lm_config = lm_config
        self.judge = judge
        self._play = jax.jit(self._play_one, static_argnums=3)
        self._matrix = jax.jit(self._play_matrix, static_argnums=3)
        self._pairs = jax.jit(self._play_pairs, static_argnums=4)

    def _play_one(self, key, params_a, params_b, n: int) -> jax.Array:
        k_x, k_a, k_b = jax.random.split(key, 3)
        x = lm.random_prompts(self.lm_config, k_x, n)
        y, _ = lm.sample(self.lm_config, params_a, k_a, x)
        y2, _ = lm.sample(self.lm_config, params_b, k_b, x)
        return self.judge.pairs(x, y, y2).astype(jnp.float32)

    def _play_matrix(self, key, population_a, population_b, n: int):
        return _matrix_of(lambda k, a, b: self._play_one(k, a, b, n), key, population_a, population_b)

    def _play_pairs(self, key, population, rows, cols, n: int):
        return _pairs_of(lambda k, a, b: self._play_one(k, a, b, n), key, population, rows, cols)

    def play(self, key, params_a, params_b, n: int) -> jax.Array:
        """float32[n]: P(y ≻ y' | x) for n prompts, y from a and y' from b."""
        return self._play(key, params_a, params_b, _check_n(n))

    def play_matrix(self, key, population_a, population_b, n: int) -> jax.Array:
        """float32[Pa, Pb, n]: every policy of population_a against every one of population_b."""
        population_size(population_a), population_size(population_b)
        _check_same_structure(population_a, population_b)
        return self._matrix(key, population_a, population_b, _check_n(n))

    def play_pairs(self, key, population, rows, cols, n: int) -> jax.Array:
        """float32[K, n]: policy rows[k] against policy cols[k] of one population."""
        rows, cols = _check_pairs(population, rows, cols)
        return self._pairs(key, population, rows, cols, _check_n(n))
