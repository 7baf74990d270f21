"""`python -m algorithms.cli ...` runs the `gigastep-jax` command."""

import sys

from algorithms.cli import main

sys.exit(main())
