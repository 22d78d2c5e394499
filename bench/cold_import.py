"""Cold import time of each Lambda handler, as a cold start pays it before the first event.

    .venv/bin/python -m bench.cold_import [--runs 5] [--top 8]

For each ``functions/<name>/app.py`` and two baselines (``pass`` and ``import boto3``), a
fresh ``python`` process (this venv's; bytecode caches warm from a discarded first run)
times the import itself with ``time.perf_counter`` around it, and the whole process's wall
time is timed from outside. Each figure is the median of ``--runs`` processes. The handler
is imported as Lambda does: its directory first on ``sys.path``, ``import app``; the
handlers are checked first to be exactly the functions ``template.yaml`` deploys
(``CodeUri: functions/<name>/`` with ``Handler: app.handler``). Then one
``python -X importtime`` run per handler lists the top-level packages that cost the most
(each module's own time, summed by top-level package).

Nothing runs but the import: no event, no settings, no network.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.harness import REPO, footer, header, median, ratio, table

PROBE = """
import sys, time
sys.path.insert(0, {path!r})
started = time.perf_counter()
{statement}
print(time.perf_counter() - started)
"""
ENVIRONMENT = {
    # What Lambda sets that the import path may read; no real endpoints or secrets.
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_LAMBDA_FUNCTION_NAME": "bench-cold-import",
    "POWERTOOLS_SERVICE_NAME": "telegram-jobs",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cold_import")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top", type=int, default=8, help="packages listed per handler")
    args = parser.parse_args()
    header("cold import", runs=args.runs, python=sys.executable.replace(str(REPO) + "/", ""))
    subjects = [("python -c pass", str(REPO), "pass"), ("import boto3", str(REPO), "import boto3")]
    handlers = sorted((REPO / "functions").glob("*/app.py"))
    check_deployed(handlers)
    subjects += [
        (f"functions/{path.parent.name}", str(path.parent), "import app") for path in handlers
    ]

    results = {}
    for label, path, statement in subjects:
        measure(path, statement)  # writes the bytecode caches; not counted
        runs = [measure(path, statement) for _ in range(args.runs)]
        results[label] = (median(run[0] for run in runs), median(run[1] for run in runs))

    process_base = results["python -c pass"][1]
    import_base = results["import boto3"][0]
    rows = [
        (
            label,
            1e3 * imported,
            ratio(imported, import_base) if label != "python -c pass" else "-",
            1e3 * process,
            ratio(process, process_base),
        )
        for label, (imported, process) in results.items()
    ]
    print(f"   median of {args.runs} fresh processes each")
    table(("import", "import ms", "vs boto3", "process ms", "vs python -c pass"), rows)
    for path in handlers:
        print(f"   heaviest imports of functions/{path.parent.name} (python -X importtime):")
        for package, micros in heaviest(str(path.parent), args.top):
            print(f"   {micros / 1e3:8.1f} ms  {package}")
        print()
    footer()


def check_deployed(handlers: list[Path]) -> None:
    """The handlers found are the functions template.yaml deploys, each ``app.handler``."""
    template = (REPO / "template.yaml").read_text()
    deployed = re.findall(r"CodeUri: functions/([\w-]+)/\s+Handler: app\.handler", template)
    found = [path.parent.name for path in handlers]
    if sorted(deployed) != found:
        raise SystemExit(f"functions/*/app.py {found} differ from template.yaml's {deployed}")


def measure(path: str, statement: str) -> tuple[float, float]:
    """(seconds the import took inside the process, seconds the whole process took)."""
    started = time.perf_counter()
    answer = _probe([sys.executable, "-c", PROBE.format(path=path, statement=statement)], path)
    return float(answer.stdout.strip()), time.perf_counter() - started


def _probe(command: list[str], path: str) -> subprocess.CompletedProcess[str]:
    """Run one fresh interpreter in the handler's directory, as Lambda imports it."""
    return subprocess.run(
        command,
        cwd=path,
        env={**os.environ, **ENVIRONMENT},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def heaviest(path: str, top: int) -> list[tuple[str, int]]:
    """Import time by top-level package: each module's own ("self") microseconds from
    ``-X importtime``, summed over the modules of its package."""
    statement = PROBE.format(path=path, statement="import app")
    answer = _probe([sys.executable, "-X", "importtime", "-c", statement], path)
    totals: dict[str, int] = defaultdict(int)
    for line in answer.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        own, _, name = line.removeprefix("import time:").split("|", 2)
        totals[name.strip().split(".")[0]] += int(own)
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


if __name__ == "__main__":
    main()
