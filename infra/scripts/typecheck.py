"""mypy over the shared package against a baseline that may only shrink.

    .venv/bin/python infra/scripts/typecheck.py            # fails if any file has more errors
    .venv/bin/python infra/scripts/typecheck.py --update   # after fixing some: record it

The baseline (``infra/scripts/mypy-baseline.txt``) holds each file's error count. A file
with more errors than its line (or any errors, without a line) fails the check, and says
which; fewer is praised and should be recorded with ``--update``, so it cannot grow back.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BASELINE = Path(__file__).with_name("mypy-baseline.txt")
TARGET = "layers/shared/job_scheduler"
ARGS = ["--ignore-missing-imports", "--python-version", "3.12", "--no-error-summary",
        "--hide-error-context", "--no-pretty"]  # fmt: skip
_ERROR = re.compile(r"^(?P<file>[^:]+):\d+: error:")


def errors_by_file() -> tuple[Counter[str], list[str]]:
    done = subprocess.run([sys.executable, "-m", "mypy", *ARGS, TARGET], cwd=ROOT,  # noqa: S603
                          capture_output=True, text=True)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if _ERROR.match(line)]
    if done.returncode not in (0, 1) or (done.returncode == 1 and not lines):
        sys.exit(f"typecheck: mypy did not run: {done.stderr or done.stdout}")
    return Counter(_ERROR.match(line)["file"] for line in lines), lines


def read_baseline() -> Counter[str]:
    counts: Counter[str] = Counter()
    for line in BASELINE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            count, name = line.split(maxsplit=1)
            counts[name] = int(count)
    return counts


def main(argv: list[str]) -> int:
    found, lines = errors_by_file()
    if "--update" in argv:
        header = "# mypy errors per file (infra/scripts/typecheck.py): may only go down\n"
        body = "".join(f"{count} {name}\n" for name, count in sorted(found.items()))
        BASELINE.write_text(header + body)
        print(f"typecheck: baseline written: {sum(found.values())} errors in {len(found)} files")
        return 0
    allowed = read_baseline()
    worse = sorted(name for name in found if found[name] > allowed[name])
    for name in worse:
        print(f"typecheck: {name}: {found[name]} mypy errors, the baseline allows {allowed[name]}")
        for line in lines:
            if line.startswith(f"{name}:"):
                print(f"    {line}")
    better = sorted(name for name in allowed if found[name] < allowed[name])
    if better:
        print(f"typecheck: fewer errors in {len(better)} files than the baseline: record it"
              " with infra/scripts/typecheck.py --update")  # fmt: skip
    total, baseline = sum(found.values()), sum(allowed.values())
    print(f"typecheck: {total} mypy errors (baseline {baseline})")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
