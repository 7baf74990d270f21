"""`python -m gigastep_jax.native`: build the native RGB composer ahead of its first use."""

import sys

from gigastep_jax import native

try:
    native.build(verbose=True)
except RuntimeError as err:  # the XLA path still works: report it, do not fail an install
    print(f"gigastep_jax.native: not built ({err}); RGB observations use the XLA path", file=sys.stderr)
