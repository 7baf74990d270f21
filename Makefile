# The README's two commands. Each creates .venv if needed and installs the package into it.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo demo-long test test-slow bench notebooks clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/python -m gigastep_jax.native  # the C++ RGB composer, built now rather than on first use
	touch $(STAMP)

demo: $(STAMP)
	rm -rf out/demo
	$(BIN)/gigastep-jax train --scenario identical_5_vs_5_fobs_vec_void_disc --steps 10000000 --out out/demo

# About 30 minutes here: 40 M steps of the same recipe, 20 checkpoints, then an exploiter trained for a
# tenth of that against the final policy; prints the curves as JSON, figures in out/demo-long.
demo-long: $(STAMP)
	rm -rf out/demo-long
	$(BIN)/python benchmarks/selfplay_curves.py --out out/demo-long --total-steps 40000000 --checkpoints 20

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

# The long runs (learning curves, statistics against the original) that the default suite leaves out.
test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m slow

# ORIGINAL=/path/to/a/local/copy/of/gigastep adds the side-by-side comparison (never installed).
bench: $(STAMP)
	$(BIN)/python benchmarks/env_throughput.py
	$(BIN)/python benchmarks/eval_throughput.py
	$(if $(ORIGINAL),$(BIN)/python benchmarks/compare_original.py --original $(ORIGINAL))

# Rerun the notebooks with their own parameters and store their outputs (several minutes).
notebooks: $(STAMP)
	$(BIN)/python notebooks/execute.py

clean:
	rm -rf $(VENV) out
