"""Run the reliability matrix and print it as a markdown table.

    .venv/bin/python -m tests.reliability.report                    # 1,000 scenarios a cell
    .venv/bin/python -m tests.reliability.report --scenarios 300 --kills 10 --only 500

Each cell is a batch through one fault kind at the stated rate against a fresh emulator
(matrix.py); the last row kills `asyncrun batch` with SIGKILL at seeded random moments under
mixed faults and resumes it each time (kills.py). Columns: succeeded = the right result (its
input's digest and its own key echoed back); errors = a clear error outcome; duplicates created
/ canceled = runs beyond one per name / of those, canceled by the end-of-batch sweep; lost =
scenarios with no outcome (or no result file). The command fails (exit 1) if any cell breaks a
guarantee: a wrong result, a lost scenario, an unclear error, an extra run left running.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from asyncrun.emulator import EmulatorConfig, serve_in_thread

from .kills import FAULTS, SEED, kill_and_resume
from .matrix import CELLS, KEY, TIME_SCALE, CellResult, run_cell

HEADER = (
    "fault",
    "rate",
    "scenarios",
    "succeeded",
    "errors",
    "duplicates created / canceled",
    "lost",
)


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def broken(result: CellResult) -> list[str]:
    problems = []
    if result.wrong:
        problems.append(f"wrong results {result.wrong[:5]}")
    if result.lost:
        problems.append(f"lost {result.lost[:5]}")
    if result.unclear:
        problems.append(f"unclear errors {result.unclear[:3]}")
    if result.left_running:
        problems.append(f"extra runs left running {result.left_running[:5]}")
    if result.duplicates_reported != result.duplicates_created:
        problems.append(
            f"{result.duplicates_created} extra runs, {result.duplicates_reported} reported"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report")
    parser.add_argument("--scenarios", type=int, default=1000, help="per cell (default 1000)")
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of the last row")
    parser.add_argument("--kill-scenarios", type=int, default=None, help="default: --scenarios")
    parser.add_argument(
        "--only", action="append", default=None, help="cells whose fault contains this text"
    )
    args = parser.parse_args(argv)
    cells = [c for c in CELLS if not args.only or any(o in c.fault for o in args.only)]
    rows: list[list[str]] = []
    failures: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="asyncrun-reliability-") as temp:
        for number, cell in enumerate(cells):
            result = asyncio.run(run_cell(cell, args.scenarios, Path(temp) / f"j{number}.db"))
            rows.append(result.row())
            failures += [f"{cell.fault}: {p}" for p in broken(result)]
            for reason, count in result.reasons.most_common(5):
                print(f"  {cell.fault}: {count} x {reason}", file=sys.stderr)
            print(f"  {cell.fault}: done ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        if args.kills > 0:
            count = args.kill_scenarios or args.scenarios
            workdir = Path(temp) / "kills"
            workdir.mkdir()
            config = EmulatorConfig(
                api_key=KEY, faults=FAULTS, time_scale=TIME_SCALE, duration=(10.0, 40.0), seed=SEED
            )
            with serve_in_thread(config) as emu:
                killed = kill_and_resume(emu, workdir, count=count, kills=args.kills)
            rows.append(
                [
                    f"SIGKILL x{killed.kills} + resume (mixed faults, late creates)",
                    "1-4 % each",
                    str(count),
                    str(killed.succeeded),
                    str(killed.errors),
                    f"{killed.duplicates_created} / {killed.duplicates_canceled}",
                    str(len(killed.lost)),
                ]
            )
            if killed.wrong or killed.lost or killed.left_running or killed.final_exit != 0:
                failures.append(f"kills: {killed}")
    print(markdown(rows))
    print(f"\n({time.monotonic() - started:.0f} s)", file=sys.stderr)
    for failure in failures:
        print(f"BROKEN: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
