# The README's two commands. Each first installs what this machine lacks (install.sh, again only
# when install.sh, the pins or the project's metadata changed; the cluster's binaries and images
# are cached outside the work tree by version), then runs:
#   make study [CORES=n] [ARGS='--configfile config/quick.yaml']   the whole study (Snakemake)
#   make test [ARGS='-k upload']                                    the tests (pytest)
CORES ?= $(shell nproc)
# install.sh makes the environment (Debian's python3.11, as in the job image); its console
# scripts (snakemake, mlopsbench, weed) live beside the interpreter.
export PATH := $(CURDIR)/.venv/bin:$(PATH)
PYTHON := $(CURDIR)/.venv/bin/python
INSTALLED := .installed

.PHONY: study test

study: $(INSTALLED)
	snakemake --cores $(CORES) $(ARGS)

test: $(INSTALLED)
	$(PYTHON) -m pytest $(ARGS)

$(INSTALLED): install.sh constraints.txt pyproject.toml
	bash install.sh
	touch $@
