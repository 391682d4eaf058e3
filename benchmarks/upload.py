"""Sending a directory: asyncrun `new_run(dir_path=...)` vs the official SDK's
`new_run(input_dir_path=...)`, against one emulator started as a subprocess.

    .venv/bin/python benchmarks/upload.py                 # 1 GiB, 200 files (the issue's setup)
    .venv/bin/python benchmarks/upload.py --size-mib 64   # a quick check

Steps: generate a directory of compressible CSV-like files (deterministic); time
`tar cf - DIR | gzip -1 > /dev/null` on it (the throughput limit of packing at the level
asyncrun uses); start `python -m asyncrun emulator` (benchmarks/_harness.py); run each client
in its own child process, one after the other, so that each peak RSS is its own. A child
reports: wall and CPU time of new_run, its phases (pack: start to the upload-URL request;
upload: the PUT; submit: POST runs, which includes the emulator reading the archive to digest
every file), the archive size, RSS just before new_run and the peak RSS of the process
(ru_maxrss). Every temp dir is removed, including the `nextmv-inputs-out-*` folder the SDK
leaves behind (its TMPDIR is ours). benchmarks/compare.py reuses this for its `upload` case.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from _harness import get_json_sync, peak_rss, started_emulator

MIB = 1024 * 1024
API_KEY = "bench-key"
APP_ID = "bench-app"
_BLOCK_ROWS = 1500
_POOL_BLOCKS = 48


# --- data --------------------------------------------------------------------------------------


def _block(rng: random.Random, first_id: int) -> bytes:
    """About 100 KiB of order rows: repeated vocabulary, varying numbers, like a real export."""
    depots = ("north", "south", "east", "west", "central", "harbour", "airport", "ring-road")
    rows = []
    for i in range(_BLOCK_ROWS):
        rows.append(
            f"{first_id + i},cust-{rng.randrange(50_000):05d},{depots[rng.randrange(8)]},"
            f"{rng.uniform(40, 41):.5f},{rng.uniform(-74, -73):.5f},{rng.randrange(1, 40)},"
            f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z,"
            f"{rng.choice(('pallet', 'box', 'crate', 'bag'))},{rng.uniform(0.1, 900):.2f}\n"
        )
    return "".join(rows).encode()


def generate(root: Path, total_mib: int, files: int, seed: int = 7) -> int:
    """`files` CSV files totalling about total_mib MiB; return the byte count.

    A pool of distinct ~100 KiB blocks is built once; each file is those blocks in a seeded
    order. Blocks are larger than gzip's 32 KiB window, so the repetition does not make the data
    unrealistically compressible: the ratio is the ratio of the rows themselves.
    """
    rng = random.Random(seed)
    pool = [_block(rng, n * _BLOCK_ROWS) for n in range(_POOL_BLOCKS)]
    header = b"order_id,customer,depot,lat,lon,quantity,due,packaging,weight_kg\n"
    per_file = total_mib * MIB // files
    written = 0
    for index in range(files):
        sub = root / f"region-{index % 10:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        with open(sub / f"orders-{index:03d}.csv", "wb") as handle:
            size = handle.write(header)
            while size < per_file:
                block = pool[rng.randrange(_POOL_BLOCKS)][: per_file - size]
                size += handle.write(block)
        written += size
    return written


def gzip_limit(root: Path) -> float:
    """Seconds for `tar cf - DIR | gzip -1 > /dev/null`."""
    start = time.perf_counter()
    subprocess.run(
        f"tar cf - -C {root.parent} {root.name} | gzip -1 > /dev/null",
        shell=True,
        check=True,
    )
    return time.perf_counter() - start


# --- children: one client each -------------------------------------------------------------------


def _rss() -> int:
    import psutil

    rss: int = psutil.Process().memory_info().rss
    return rss


def _stamp(marks: dict[str, float], name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        marks.setdefault(name, time.perf_counter())
        return fn(*args, **kwargs)

    return wrapped


def _astamp(
    marks: dict[str, float], before: str | None, after: str | None, fn: Callable[..., Any]
) -> Callable[..., Any]:
    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        if before:
            marks.setdefault(before, time.perf_counter())
        result = await fn(*args, **kwargs)
        if after:
            marks[after] = time.perf_counter()
        return result

    return wrapped


def child_sdk(url: str, directory: Path) -> dict[str, Any]:
    from nextmv import cloud

    marks: dict[str, float] = {}
    # Application is a pydantic model (no instance attributes): patch the class, in this child.
    cls = cloud.Application
    upload_url, upload_data = cls.upload_url, cls.upload_data
    cls.upload_url = _stamp(marks, "url", upload_url)

    def timed_upload(*args: Any, **kwargs: Any) -> Any:
        marks["put_start"] = time.perf_counter()
        out = upload_data(*args, **kwargs)
        marks["put_end"] = time.perf_counter()
        return out

    cls.upload_data = timed_upload
    # The emulator digests the whole archive inside POST runs (the cloud does not), which can
    # outlast the SDK's 20 s read timeout on a busy machine: give it asyncrun's 60 s.
    app = cls(client=cloud.Client(api_key=API_KEY, url=url, timeout=60), id=APP_ID)
    before = _rss()
    start, cpu = time.perf_counter(), time.process_time()
    run_id = app.new_run(input_dir_path=str(directory))
    end, cpu = time.perf_counter(), time.process_time() - cpu
    archives = list(Path(tempfile.gettempdir()).glob("nextmv-inputs-out-*/*.tar.gz"))
    return _report(run_id, start, end, cpu, marks, before, archives[0].stat().st_size)


def child_asyncrun(url: str, directory: Path) -> dict[str, Any]:
    import asyncrun

    async def main() -> dict[str, Any]:
        marks: dict[str, float] = {}
        limits = asyncrun.Limits(rate=asyncrun.RateLimits.unlimited())
        async with asyncrun.AsyncClient(API_KEY, url, limits=limits) as client:
            app = client.application(APP_ID)
            transport = client.transport
            sizes: list[int] = []
            put = transport.put_presigned

            async def timed_put(target: str, factory: Any, size: int, *rest: Any) -> None:
                sizes.append(size)
                marks["put_start"] = time.perf_counter()
                await put(target, factory, size, *rest)
                marks["put_end"] = time.perf_counter()

            app.upload_url = _astamp(marks, "url", None, app.upload_url)  # type: ignore[method-assign]
            transport.put_presigned = timed_put  # type: ignore[method-assign,assignment]
            before = _rss()
            start, cpu = time.perf_counter(), time.process_time()
            run_id = await app.new_run(dir_path=directory)
            end, cpu = time.perf_counter(), time.process_time() - cpu
            return _report(run_id, start, end, cpu, marks, before, sizes[-1])

    return asyncio.run(main())


def _report(
    run_id: str,
    start: float,
    end: float,
    cpu: float,
    marks: dict[str, float],
    rss_before: int,
    archive: int,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "wall_s": end - start,
        "cpu_s": cpu,
        "pack_s": marks["url"] - start,
        "upload_s": marks["put_end"] - marks["put_start"],
        "submit_s": end - marks["put_end"],
        "archive_bytes": archive,
        "rss_before_bytes": rss_before,
        "peak_rss_bytes": peak_rss(),
    }


def run_child(
    name: str, url: str, directory: Path, tmp: Path, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run one client's child process (its TMPDIR is `tmp`, removed after; `env` is added to
    the environment, e.g. to trust a TLS emulator's CA); its report."""
    tmp.mkdir()
    env = {**os.environ, **(env or {}), "TMPDIR": str(tmp)}
    try:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--url", url, "--dir", str(directory)],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    finally:
        leftovers = sorted(p.name for p in tmp.iterdir())
        shutil.rmtree(tmp, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(f"the {name} child failed:\n{out.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    report["temp_left_behind"] = leftovers
    return report


# --- the comparison ----------------------------------------------------------------------------


def _table(data_bytes: int, gzip_s: float, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"directory: {data_bytes / MIB:.0f} MiB in 200 files; "
        f"gzip -1 limit: {gzip_s:.2f} s ({data_bytes / MIB / gzip_s:.0f} MiB/s)",
        "",
        "| client | new_run wall s | pack s | upload s | submit s | archive MiB "
        "| RSS before MiB | peak RSS MiB | RSS growth MiB | temp left behind |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, r in results.items():
        growth = (r["peak_rss_bytes"] - r["rss_before_bytes"]) / MIB
        lines.append(
            f"| {name} | {r['wall_s']:.2f} | {r['pack_s']:.2f} | {r['upload_s']:.2f} "
            f"| {r['submit_s']:.2f} | {r['archive_bytes'] / MIB:.1f} "
            f"| {r['rss_before_bytes'] / MIB:.0f} | {r['peak_rss_bytes'] / MIB:.0f} "
            f"| {growth:.0f} | {', '.join(r['temp_left_behind']) or 'none'} |"
        )
    if "asyncrun" in results and "sdk" in results:
        ours, sdk = results["asyncrun"], results["sdk"]
        sending = ours["wall_s"] - ours["submit_s"]
        lines += [
            "",
            f"asyncrun / SDK wall time: {ours['wall_s'] / sdk['wall_s']:.2f}",
            f"asyncrun wall / gzip -1 limit: {ours['wall_s'] / gzip_s:.2f} "
            f"(pack + upload only: {sending / gzip_s:.2f})",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="directory size (1024)")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--clients", default="sdk,asyncrun", help="which clients, in order")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--child", choices=["sdk", "asyncrun"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child = child_sdk if args.child == "sdk" else child_asyncrun
        print(json.dumps(child(args.url, args.dir)))
        return 0

    work = Path(tempfile.mkdtemp(prefix="asyncrun-bench-upload-"))
    try:
        data = work / "inputs"
        started = time.perf_counter()
        data_bytes = generate(data, args.size_mib, args.files)
        print(f"generated {data_bytes / MIB:.0f} MiB in {time.perf_counter() - started:.1f} s")
        gzip_s = gzip_limit(data)
        print(f"gzip -1: {gzip_s:.2f} s")
        results: dict[str, dict[str, Any]] = {}
        storage = ("--storage-dir", str(work / "storage"), "--api-key", API_KEY)
        with started_emulator(*storage) as emulator:
            for name in args.clients.split(","):
                results[name] = run_child(name, emulator.url, data, work / f"tmp-{name}")
                print(f"{name}: {results[name]['wall_s']:.2f} s")
            stats = get_json_sync(emulator.url, "/_emulator/stats")
        print(_table(data_bytes, gzip_s, results))
        print("emulator requests:", json.dumps(stats["requests"], sort_keys=True))
        if args.json_out:
            payload = {"data_bytes": data_bytes, "gzip_s": gzip_s, "results": results}
            args.json_out.write_text(json.dumps(payload, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
