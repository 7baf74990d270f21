"""Learners, games and evaluation built on `gigastep_jax` (which never imports this package).

    algorithms.load_policy("out/demo")   # a trained policy, like gj.policies.chaser (algorithms.marl.policy)
"""


def __getattr__(name: str):
    # Imported on first use: `import algorithms` (the command line's first step) stays light.
    if name == "load_policy":
        from algorithms.marl.policy import load_policy

        return load_policy
    raise AttributeError(f"module 'algorithms' has no attribute {name!r}")
