#!/usr/bin/env bash
# Print the interpreter for the project's virtualenv: Python 3.12 (the Lambda runtime) where
# present, else any python3 that is 3.11 or newer. Fails loudly when there is none.
set -eu
for candidate in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 python3.13 python3.11 python3; do
  path=$(command -v "$candidate" 2>/dev/null || true)
  [ -n "$path" ] && [ -x "$path" ] || continue
  if "$path" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    echo "$path"; exit 0
  fi
done
echo "find-python: no Python 3.11+ found; install Python 3.12 (the Lambda runtime)" >&2
exit 1
