"""Learners, games and evaluation built on `gigastep_jax` (which never imports this package)."""
