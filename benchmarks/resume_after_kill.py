"""How long a batch killed with SIGKILL takes to resume: `asyncrun batch` and `asyncrun emulator`
as real processes, the batch killed a few seconds in and run again with the same command.

The case of issue 24: 300 scenarios, runs of 1.5 s (the `emulator.duration` option), 120 in
flight, SIGKILL 4 s after the batch started, then the same command again. Printed per
repetition: the resume's wall time and exit code, names with more than one run (duplicates),
runs made, result files written, of the submissions in doubt at the kill (`submitting` rows) how
many had made their run (`made`: found at once by the resume) and how many the resume did not
find (they wait for their deadline: 100 s with the default timeouts), and the journal's rows by
state at the kill.

    .venv/bin/python benchmarks/resume_after_kill.py                  # 3 repetitions
    .venv/bin/python benchmarks/resume_after_kill.py --kill-when-in-doubt 10 --made
    .venv/bin/python benchmarks/resume_after_kill.py --kill-when-in-doubt 10
    .venv/bin/python benchmarks/resume_after_kill.py --kill-when-in-doubt 10 --resume-after 110

`--resume-after N` waits N seconds between the kill and the resume (a pod restarted later): the
killed process's last heartbeat in the lock file then bounds when it can have sent, so the names
not found need not wait for their deadline counted from the resume.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import emulator_process, get_json_sync

TAG = "resume"


@dataclass(frozen=True)
class Repetition:
    at_kill: dict[str, int]  # journal rows by state when the batch was killed
    made: int  # of the submissions in doubt, those whose run the emulator had made at the kill
    not_found: int  # submissions in doubt whose run the resume's listing did not find
    resume_seconds: float
    resume_code: int
    duplicates: int  # names with more than one run
    runs: int
    results_written: int


def write_manifest(path: Path, count: int, duration: float) -> None:
    with path.open("w") as sink:
        for i in range(count):
            line = {"key": f"s{i:04d}", "input": {"i": i}}
            line["options"] = {"emulator.duration": str(duration)}
            sink.write(json.dumps(line) + "\n")


def batch_command(url: str, work: Path, in_flight: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "asyncrun",
        "batch",
        "--app-id",
        "resume-app",
        str(work / "manifest.jsonl"),
        "--max-in-flight",
        str(in_flight),
        "--journal",
        str(work / "sweep.db"),
        "--out",
        str(work / "out"),
        "--limits",
        "unlimited",
        "--url",
        url,
        "--batch-tag",
        TAG,
    ]


def journal_states(journal: Path) -> dict[str, int]:
    if not journal.exists():
        return {}
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        query = "SELECT state, COUNT(*) FROM scenarios GROUP BY state"
        return {str(state): int(n) for state, n in conn.execute(query)}
    except sqlite3.OperationalError:  # killed before the journal had its tables
        return {}
    finally:
        conn.close()


def in_doubt_names(journal: Path) -> set[str]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    try:
        query = "SELECT run_name FROM scenarios WHERE state = 'submitting'"
        return {str(name) for (name,) in conn.execute(query)}
    except sqlite3.OperationalError:
        return set()
    finally:
        conn.close()


def wait_for_in_doubt(
    journal: Path, rows: int, child: subprocess.Popen[bytes], url: str, made: bool
) -> None:
    """Until the journal shows `rows` submissions in doubt (`submitting`) in the middle of the
    batch (some runs finished: the first POSTs are not all in flight), or the batch ended.
    `made`: and the emulator already made those runs (their answers not journaled yet)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        if journal_states(journal).get("terminal", 0) > 0:
            names = in_doubt_names(journal)
            if made and len(names) >= rows:
                names &= set(get_json_sync(url, "/_emulator/stats")["runs_per_name"])
            if len(names) >= rows:
                return
        time.sleep(0.002)


def once(args: argparse.Namespace) -> Repetition:
    env = {**os.environ, "NEXTMV_API_KEY": "bench-key"}
    with tempfile.TemporaryDirectory(prefix="asyncrun-resume-") as temp, emulator_process() as url:
        work = Path(temp)
        write_manifest(work / "manifest.jsonl", args.scenarios, args.duration)
        command = batch_command(url, work, args.max_in_flight)
        # cwd: the code under test is the installed asyncrun (or PYTHONPATH's), not a checkout
        # that `python -m` would find in the current folder.
        first = subprocess.Popen(
            command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if args.kill_when_in_doubt:
            wait_for_in_doubt(work / "sweep.db", args.kill_when_in_doubt, first, url, args.made)
        elif args.kill_between:
            time.sleep(random.uniform(*args.kill_between))
        else:
            time.sleep(args.kill_after)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        at_kill = journal_states(work / "sweep.db")
        in_doubt = in_doubt_names(work / "sweep.db")
        made = len(in_doubt & set(get_json_sync(url, "/_emulator/stats")["runs_per_name"]))
        time.sleep(args.resume_after)
        started = time.monotonic()
        again = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        seconds = time.monotonic() - started
        stats = get_json_sync(url, "/_emulator/stats")
        per_name = stats["runs_per_name"]
        written = sum(1 for _ in (work / "out" / "results").glob("*.json"))
        if again.returncode != 0 or args.show:
            print(again.stdout[-3000:], again.stderr[-3000:], file=sys.stderr)
        return Repetition(
            at_kill=at_kill,
            made=made,
            not_found=_not_found(again.stderr),
            resume_seconds=seconds,
            resume_code=again.returncode,
            duplicates=sum(1 for n in per_name.values() if n > 1),
            runs=sum(per_name.values()),
            results_written=written,
        )


_WAITING = re.compile(r"(\d+) not found are looked up again")


def _not_found(stderr: str) -> int:
    """From the resume's warning: how many names in doubt were not found at once."""
    found = _WAITING.search(stderr)
    return int(found.group(1)) if found else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=300)
    parser.add_argument("--duration", type=float, default=1.5, help="seconds per run")
    parser.add_argument("--max-in-flight", type=int, default=120)
    parser.add_argument("--kill-after", type=float, default=4.0, help="seconds")
    parser.add_argument(
        "--kill-between",
        type=float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        help="SIGKILL at a random moment between LOW and HIGH seconds in (see --seed)",
    )
    parser.add_argument("--seed", type=int, default=24)
    parser.add_argument(
        "--kill-when-in-doubt",
        type=int,
        default=0,
        metavar="ROWS",
        help="SIGKILL once the journal shows ROWS submissions in doubt, not after a time",
    )
    parser.add_argument(
        "--made",
        action="store_true",
        help="with --kill-when-in-doubt: only rows whose run the emulator already made count "
        "(the POST went out, its answer was not journaled yet: the case of issue 24); without "
        "it, rows just committed count, whose POSTs as a rule did not go out",
    )
    parser.add_argument(
        "--resume-after",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long between the kill and the resume",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--show", action="store_true", help="print the resume's output")
    args = parser.parse_args()
    random.seed(args.seed)
    moment = f"{args.kill_after} s in"
    if args.kill_when_in_doubt:
        moment = f"once {args.kill_when_in_doubt} submissions are in doubt" + (
            " and their runs made" if args.made else ""
        )
    elif args.kill_between:
        moment = f"between {args.kill_between[0]} and {args.kill_between[1]} s in"
    print(
        f"{args.scenarios} scenarios of {args.duration} s, {args.max_in_flight} in flight, "
        f"SIGKILL {moment}, then the same command again"
        + (f" {args.resume_after:g} s later" if args.resume_after else "")
    )
    print(
        "rep  resume s  exit  duplicates  runs  results written  made  not found  "
        "journal at the kill"
    )
    failed = False
    for rep in range(1, args.repeat + 1):
        r = once(args)
        print(
            f"{rep:>3}  {r.resume_seconds:>8.1f}  {r.resume_code:>4}  {r.duplicates:>10}  "
            f"{r.runs:>4}  {r.results_written:>11}/{args.scenarios}  {r.made:>4}  "
            f"{r.not_found:>9}  "
            f"{r.at_kill}"
        )
        failed |= r.resume_code != 0 or r.duplicates > 0 or r.results_written != args.scenarios
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
