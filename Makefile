# levin — the two commands for a fresh machine: `make demo` and `make test`.
# Both create .venv and install levin on first use; later runs skip what is installed.

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
# torch goes in first, on its own, so that the package's `torch>=2.1` is already satisfied
# and pip never resolves it to the multi-GB CUDA build. Override: make TORCH='torch==2.5.1'.
TORCH    ?= torch==2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
DATA_DIR ?= ../shared/data
STAMP    := $(VENV)/.levin-installed

.PHONY: setup demo test test-all baselines clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
	  || { echo "levin needs Python >= 3.10; run: make PYTHON=python3.11 ..." >&2; exit 2; }
	@# An interpreter that already has torch lends it to the venv instead of a second copy.
	@test -x $(PY) || if $(PYTHON) -c 'import torch' 2>/dev/null; \
	  then $(PYTHON) -m venv --system-site-packages $(VENV); else $(PYTHON) -m venv $(VENV); fi
	@$(PY) -c 'import torch' 2>/dev/null \
	  || $(PY) -m pip install '$(TORCH)' \
	  || $(PY) -m pip install torch --index-url $(TORCH_CPU_INDEX)
	$(PY) -m pip install -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/levin demo

test: $(STAMP)
	$(PY) -m pytest

test-all: $(STAMP)
	$(PY) -m pytest -m ''

# The uncompressed baselines later issues compress (full MNIST from $(DATA_DIR)).
baselines: $(STAMP)
	$(VENV)/bin/levin train --model lenet300 --dataset mnist --data-dir $(DATA_DIR) --out runs/lenet300
	$(VENV)/bin/levin train --model lenet5 --dataset mnist --data-dir $(DATA_DIR) --out runs/lenet5

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
