#!/usr/bin/env bash
# Deploying needs the Lambda runtime's Python, 3.12: `sam build` runs `python3.12` from PATH
# for the layer's wheels, and Chalice takes the function's runtime from the Python that
# packages the admin app (a 3.11 or 3.13 one gives a runtime that cannot load the layer's
# psycopg binary). Usage: require-python312.sh [the interpreter that will package].
set -euo pipefail
fix="install Python 3.12 (e.g. pyenv install 3.12, or apt-get install python3.12) and put it on PATH, or let SAM build in a container: make deploy SAM_BUILD_ARGS=--use-container"
if ! python3.12 -c 'import sys' >/dev/null 2>&1; then  # (a pyenv shim may exist and fail)
  echo "deploy: sam build needs python3.12 on PATH (the Lambda runtime); $fix" >&2
  exit 1
fi
if [[ $# -gt 0 ]]; then
  version=$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  if [[ "$version" != 3.12 ]]; then
    echo "deploy: $1 is Python $version; Chalice would give the admin app a python$version runtime that cannot load the layer (built for 3.12). Rebuild .venv with Python 3.12 (rm -rf .venv; make venv with python3.12 on PATH)." >&2
    exit 1
  fi
fi
