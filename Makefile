# Flexigift: the only commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
export SAM_CLI_TELEMETRY := 0
# The project runs on Python 3.12 (the Lambda runtime). The machine's default python3 may be older,
# so the interpreter is chosen explicitly: PYTHON=... overrides.
PYTHON ?= $(shell for p in /root/.pyenv/versions/3.12.1/bin/python3.12 python3.12; do \
             command -v $$p >/dev/null 2>&1 && { echo $$p; break; }; done)
VENV := .venv
VENV_SAM := .venv-sam
VENV_AUDIT := .venv-audit
VENV_RIE := .venv-rie
VENV_UV := .venv-uv
PY := $(VENV)/bin/python
PORT ?= 3000
FN ?= CreateUserFunction
# pytest-xdist processes for `make test` (a file's tests stay together; each process runs its own e2e stack).
# The schema fuzzing runs alone afterwards: its tests share one node id and its coverage check reads what the
# module's earlier tests reached, which xdist does not keep together (72 requests instead of ~2,500).
TEST_WORKERS ?= 2
EVENT ?= events/create_user.json

.PHONY: run reset rie-build test unit integration e2e invoke validate security build bench api-key lint clean check-python

check-python:
	@test -n "$(PYTHON)" || { echo "Python 3.12 not found: install it or pass PYTHON=/path/to/python3.12" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 12), sys.version' \
	  || { echo "$(PYTHON) is not Python 3.12" >&2; exit 1; }

# Installs are locked: each virtualenv is synced by uv to exactly its lock file (every package pinned, with
# the hashes of its release files; `make lock` regenerates the locks from the *.in files). The machine's uv is
# used when it has one; otherwise uv itself is installed with pip, hash-checked, into .venv-uv.
UV_ON_PATH := $(shell command -v uv 2>/dev/null)
UV := $(or $(UV_ON_PATH),$(VENV_UV)/bin/uv)
# what must be made before $(UV) can run
UV_INSTALLED := $(if $(UV_ON_PATH),,$(VENV_UV)/bin/uv)
export UV_PYTHON_DOWNLOADS := never
LAYER_LOCK := layers/common/requirements.txt

$(VENV_UV)/bin/uv: requirements/uv.txt | check-python
	test -x $(VENV_UV)/bin/python || $(PYTHON) -m venv $(VENV_UV)
	$(VENV_UV)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/uv.txt
	touch $@

# $(call sync,virtualenv,lock file): create the virtualenv with the chosen Python, then make it the lock, exactly.
define sync
	test -x $(1)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(1)
	$(UV) pip sync --quiet --require-hashes --python $(1)/bin/python $(2)
	touch $(1)/.installed
endef

$(VENV)/.installed: requirements/dev.txt | check-python $(UV_INSTALLED)
	$(call sync,$(VENV),requirements/dev.txt)

$(VENV_SAM)/.installed: requirements/sam.txt | check-python $(UV_INSTALLED)
	$(call sync,$(VENV_SAM),requirements/sam.txt)

$(VENV_AUDIT)/.installed: requirements/audit.txt | check-python $(UV_INSTALLED)
	$(call sync,$(VENV_AUDIT),requirements/audit.txt)

$(VENV_RIE)/.installed: requirements/rie.txt | check-python $(UV_INSTALLED)
	$(call sync,$(VENV_RIE),requirements/rie.txt)

# Regenerate every lock from its *.in file (UPGRADE=1 moves every pin to the newest release the *.in allows;
# otherwise the current pins are kept where they still fit). The layer's lock is what `sam build` installs,
# and the project's venv is resolved within it, so tests run what is deployed.
UV_COMPILE = $(UV) pip compile --quiet --generate-hashes --universal --python-version 3.12 \
  --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
.PHONY: lock
lock: | check-python $(UV_INSTALLED)
	$(UV_COMPILE) layers/common/requirements.in -o $(LAYER_LOCK)
	$(UV_COMPILE) -c $(LAYER_LOCK) requirements/dev.in -o requirements/dev.txt
	for name in sam audit rie uv; do $(UV_COMPILE) requirements/$$name.in -o requirements/$$name.txt || exit 1; done

# Serve the whole API on http://127.0.0.1:$(PORT) with moto on loopback (no Docker needed). The data is kept
# in .local-stack/data across restarts: FRESH=1 starts empty; LOGS=1 shows the functions' JSON logs here
# (otherwise in .local-stack/logs/functions.log).
run: $(VENV)/.installed
	$(PY) -m local.stack --port $(PORT) $(if $(FRESH),--fresh) $(if $(LOGS),--show-logs)

# Delete the local stack's saved data and logs (refused while it runs).
reset: $(VENV)/.installed
	@$(PY) -m local.stack --reset

# Template validation and build, then unit + integration + end-to-end tests.
test: $(VENV)/.installed $(VENV_SAM)/.installed $(VENV_AUDIT)/.installed $(VENV_RIE)/.installed
	$(MAKE) --no-print-directory validate
	$(MAKE) --no-print-directory security
	$(MAKE) --no-print-directory build
	$(MAKE) --no-print-directory rie-build
	FLEXIGIFT_REQUIRE_RIE=1 $(PY) -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile --durations=25 \
	  --ignore=tests/e2e/test_fuzz.py tests
	$(PY) -m pytest -p no:cacheprovider tests/e2e/test_fuzz.py

unit: $(VENV)/.installed
	$(PY) -m pytest -q tests/unit

integration: $(VENV)/.installed
	$(PY) -m pytest -q tests/integration

e2e: $(VENV)/.installed
	$(PY) -m pytest -q tests/e2e

# Docker-free twin of `sam local invoke`: make invoke FN=CreateUserFunction EVENT=events/create_user.json
invoke: $(VENV)/.installed
	@$(PY) -m local.invoke $(FN) --event $(EVENT) $(if $(ENV_VARS),--env-vars $(ENV_VARS))

# Create an API key on the running local stack (found by .local-stack/state.json; PORT=... to name another):
# make api-key SCOPES="wallet:read wallet:write"
SCOPES ?= wallet:read
api-key: $(VENV)/.installed
	@$(PY) -m local.admin create-key $(if $(filter command line environment,$(origin PORT)),--port $(PORT)) --scopes "$(SCOPES)"

# Regenerate docs/openapi.json from the handlers' routes and models (a unit test fails while it is stale).
.PHONY: openapi
openapi: $(VENV)/.installed
	$(PY) -m local.openapi --write

validate: $(VENV_SAM)/.installed
	$(VENV_SAM)/bin/sam validate --lint --template template.yaml
	$(VENV_SAM)/bin/cfn-lint template.yaml

# Security checks (part of `make test`; each fails on a finding): checkov on the template (skips and their
# reasons in .checkov.yaml), bandit on the code (config and justified skips: pyproject.toml [tool.bandit],
# `# nosec BXXX  # reason` on the line), pip-audit on every pinned requirements file, then
# .ci/advisories.py on every package installed in the three virtualenvs (PyPI's advisory data, reachable
# where pip-audit's per-release queries are not; it names each package it could not check).
# A vulnerability without a fixed version would be ignored here as --ignore-vuln ID, with the reason beside it.
PIP_AUDIT_IGNORE :=
AUDITED_REQUIREMENTS := $(LAYER_LOCK) requirements/dev.txt requirements/sam.txt requirements/rie.txt
# PYSEC-2026-1325 = CVE-2024-23342 (Minerva timing side channel in ecdsa's signing, no fixed release): ecdsa
# is only in .venv-audit, pulled in by checkov, which signs nothing with a key of ours; never deployed.
ADVISORIES_IGNORE := --ignore PYSEC-2026-1325
security: $(VENV)/.installed $(VENV_SAM)/.installed $(VENV_AUDIT)/.installed
	$(VENV_AUDIT)/bin/checkov --config-file .checkov.yaml -f template.yaml
	$(VENV_AUDIT)/bin/bandit -q -c pyproject.toml -r layers functions local \
	  2> >(grep -v 'nosec encountered' >&2)   # bandit warns once per node of a statement carrying a nosec
	@for req in $(AUDITED_REQUIREMENTS); do \
	  echo "$(VENV_AUDIT)/bin/pip-audit -r $$req --disable-pip $(PIP_AUDIT_IGNORE) $(PIP_AUDIT_FLAGS)"; \
	  out=$$($(VENV_AUDIT)/bin/pip-audit -r $$req --disable-pip --progress-spinner off $(PIP_AUDIT_IGNORE) $(PIP_AUDIT_FLAGS) 2>&1); rc=$$?; \
	  grep -v 'could not be audited' <<<"$$out" | grep -vE '^(Name +Skip Reason|-+ -+)$$'; \
	  skipped=$$(grep -c 'could not be audited' <<<"$$out"); \
	  [ "$$skipped" -eq 0 ] || echo "pip-audit: WARNING: $$skipped package(s) resolved from $$req are unknown to the vulnerability service and were not audited (PIP_AUDIT_FLAGS=--strict makes that fail)"; \
	  [ $$rc -eq 0 ] || exit $$rc; \
	done
	$(PY) .ci/advisories.py $(ADVISORIES_IGNORE) $(ADVISORIES_FLAGS) $(VENV) $(VENV_SAM) $(VENV_AUDIT)

# Lambda's code directories are read-only, so Python cannot cache bytecode there: every module shipped as
# source alone is compiled again at every cold start. sam build copies the project's modules as source; they
# are compiled in the build output (hash-checked, unchecked: a zip's timestamps cannot be trusted).
COMPILE_BUILD = $(VENV_SAM)/bin/python -m compileall -q -j 0 --invalidation-mode unchecked-hash

build: $(VENV_SAM)/.installed
	PATH="$(dir $(PYTHON)):$$PATH" $(VENV_SAM)/bin/sam build --template template.yaml 2>&1 \
	  | grep -vE '^\s*$$|Commands you can use next|\[\*\]' ; test $${PIPESTATUS[0]} -eq 0
	$(COMPILE_BUILD) .aws-sam/build

# The application built for this machine's architecture (beside the arm64 deployment build), which
# tests/e2e/test_rie.py runs function by function under the Lambda Runtime Interface Emulator (local/rie.py).
rie-build: $(VENV)/.installed $(VENV_SAM)/.installed $(VENV_RIE)/.installed
	$(PY) -m local.rie --write-template
	PATH="$(dir $(PYTHON)):$$PATH" $(VENV_SAM)/bin/sam build --template .aws-sam/template-native.yaml \
	  --build-dir .aws-sam/build-native 2>&1 | grep -vE '^\s*$$|Commands you can use next|\[\*\]' ; \
	  test $${PIPESTATUS[0]} -eq 0
	$(COMPILE_BUILD) .aws-sam/build-native

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check layers functions local tests .ci

bench: $(VENV)/.installed
	$(PY) -m bench

clean:
	rm -rf $(VENV) $(VENV_SAM) $(VENV_AUDIT) $(VENV_RIE) $(VENV_UV) .aws-sam .local-stack
