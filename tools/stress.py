"""Runs the crash tests again and again, then again beside two CPU-burning processes, and
reports how many runs passed: one green run of a kill test proves little about a race.
Run: python tools/stress.py [--runs 10] [--hog-runs 5] [--broker kafka] [-k EXPR] [-n N]
(`make test-stress`). Exits 1 unless every run passed; the failing runs' output is kept
in .stress/.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

KILL_TESTS = "kill or survivor or killed"
HOG = "while True: pass"


def _run(args: argparse.Namespace, n: int, hogs: int, out: Path) -> bool:
    burners = [subprocess.Popen([sys.executable, "-c", HOG]) for _ in range(hogs)]
    log = out / f"run-{n}-hogs{hogs}.log"
    try:
        with log.open("wb") as sink:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-m",
                    "integration",
                    "--broker",
                    args.broker,
                    "-k",
                    args.k,
                    "-p",
                    "no:cacheprovider",
                    "-n",
                    str(args.n),
                    "tests/integration",
                ],
                stdout=sink,
                stderr=subprocess.STDOUT,
                check=False,
            )
    finally:
        for burner in burners:
            burner.kill()
            burner.wait()
    if done.returncode == 0:
        log.unlink()
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs on an idle machine")
    parser.add_argument("--hog-runs", type=int, default=5, help="runs beside two CPU hogs")
    parser.add_argument("--broker", default="kafka", choices=("tansu", "kafka", "all"))
    parser.add_argument("-k", default=KILL_TESTS, help="which tests (pytest -k)")
    parser.add_argument("-n", type=int, default=0, help="tests at once (pytest-xdist)")
    args = parser.parse_args()
    out = Path(".stress")
    out.mkdir(exist_ok=True)
    report: dict[str, dict[str, int]] = {}
    for label, runs, hogs in (("idle", args.runs, 0), ("two_cpu_hogs", args.hog_runs, 2)):
        passed = 0
        for n in range(runs):
            start = time.monotonic()
            ok = _run(args, n, hogs, out)
            passed += ok
            verdict = "passed" if ok else f"FAILED (see {out}/run-{n}-hogs{hogs}.log)"
            print(f"{label} run {n + 1}/{runs}: {verdict} in {time.monotonic() - start:.0f} s")
        report[label] = {"runs": runs, "passed": passed}
    print(json.dumps(report))
    return 0 if all(r["passed"] == r["runs"] for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
