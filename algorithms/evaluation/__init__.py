"""Evaluation as a game: policies play a symmetric constant-sum game, and the payoff matrix of a
population gives its ratings, Nash equilibrium and exploitability.

    game.py           Game, MatrixGame, BattleGame: populations play in one compiled call
    scripted.py       the scripted policies of `gigastep_jax.policies` as parameterised game members
    payoff.py         PayoffMatrix, payoff_matrix (Wilson intervals per cell)
    nash.py           Nash equilibria (LP, regret matching+), exploitability, Nash averaging
    bradley_terry.py  Bradley-Terry strengths and Elo-scale scores with bootstrap intervals
    elo.py            online Elo averaged over game orders
    intervals.py      Wilson intervals
    checks.py         input checks of payoff and win matrices and strategies
    report.py         the report of a matrix, written with its figures (plots.py)

Nothing here knows a learner: the MARL learner and the preference game build on it.
"""

from algorithms.evaluation.payoff import PayoffMatrix, payoff_matrix
from algorithms.evaluation.report import evaluation_report, save_report, write_figures

__all__ = ["PayoffMatrix", "evaluation_report", "payoff_matrix", "save_report", "write_figures"]
