"""Ratings of a population, re-exported from their homes in `algorithms.evaluation` (where code
written against `algorithms.ratings` keeps working): Nash equilibria and exploitability
(`evaluation.nash`), Bradley-Terry (`evaluation.bradley_terry`), Elo (`evaluation.elo`) and Wilson
intervals (`evaluation.intervals`)."""

from algorithms.evaluation.bradley_terry import (
                                                 BradleyTerryFit,
                                                 bradley_terry,
                                                 bradley_terry_strengths,
                                                 fit_bradley_terry,
                                                 zermelo_strengths,
)
from algorithms.evaluation.checks import check_payoff, check_strategy, check_wins
from algorithms.evaluation.elo import elo, games_from_wins
from algorithms.evaluation.intervals import Z95, wilson_interval
from algorithms.evaluation.nash import (
                                                 exploitability,
                                                 nash,
                                                 nash_average,
                                                 nash_iterative,
)

__all__ = [
    "BradleyTerryFit", "Z95", "bradley_terry", "bradley_terry_strengths", "check_payoff", "check_strategy",
    "check_wins", "elo", "exploitability", "fit_bradley_terry", "games_from_wins", "nash", "nash_average",
    "nash_iterative", "wilson_interval", "zermelo_strengths",
]
