# The two commands a newcomer needs: `make run` and `make test`. Both build .venv first.
SHELL := /bin/bash
PYTHON := $(shell infra/scripts/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt layers/shared/requirements.txt layers/shared/pyproject.toml | sha1sum | cut -c1-12)
SAM_VENV := .venv-sam

.PHONY: venv run test test-unit lint typecheck format sync clean browser deploy admin-package

venv: $(STAMP)

# Re-run when any requirements file changes; pip only adds what is missing or changed.
$(STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	cd requirements && ../$(BIN)/pip install --quiet -r dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

run: venv  ## the whole system locally (AWS emulator, Postgres, sync); Ctrl-C stops it
	$(BIN)/python -m infra.local

test: venv browser  ## every test, against the real Postgres, Redis and moto's server
	$(BIN)/pytest

browser:  ## Debian's chromium for the browser tests: installed if missing and allowed
	@infra/scripts/ensure-chromium.sh

test-unit: venv  ## the tests that need no service (tests/unit), on every core, in under a minute
	$(BIN)/pytest tests/unit -n auto

lint: venv $(SAM_VENV)/bin/sam typecheck  ## ruff, cfn-lint, sam validate --lint, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/cfn-lint template.yaml --include-checks I
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1

typecheck: venv  ## mypy on the package: no file may gain errors over infra/scripts/mypy-baseline.txt
	$(BIN)/python infra/scripts/typecheck.py

# The SAM CLI pins its own boto and cfn-lint versions, so it lives in a venv of its own.
$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet -r requirements/sam.txt

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

sync: venv  ## run the startup sync against the configured environment
	$(BIN)/jobsctl sync

deploy: $(SAM_VENV)/bin/sam  ## sam build and sam deploy (python3.12 on PATH, or SAM_BUILD_ARGS=--use-container)
	@[[ "$(SAM_BUILD_ARGS)" == *--use-container* ]] || infra/scripts/require-python312.sh
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam build $(SAM_BUILD_ARGS)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam deploy $(SAM_DEPLOY_ARGS)

admin-package: venv  ## the admin app as CloudFormation (chalice package, prod stage), from Python 3.12
	@infra/scripts/require-python312.sh $(BIN)/python
	cd admin_site && ../$(BIN)/chalice package --stage prod ../.aws-sam/admin

clean:
	rm -rf $(VENV) $(SAM_VENV) .pytest_cache .ruff_cache .aws-sam
