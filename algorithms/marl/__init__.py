"""The multi-agent learner: self-play MAPPO / IPPO on team battles (`learner.make_learner`), its
pieces (networks, layout, matchmaking, opponent_pool, rollout, credit, loss), checkpoints and the
run on disk (`runner.train`, behind `gigastep-jax train`)."""
