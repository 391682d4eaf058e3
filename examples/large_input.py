"""Large inputs: a directory sent as one multi-file input, and a JSON input over 5 MiB.

    NEXTMV_API_KEY=any NEXTMV_ENDPOINT=http://127.0.0.1:8710 \
        .venv/bin/python examples/large_input.py [DIR] [--output-dir out]

A directory (DIR, or CSV files generated into a temporary one) is packed as tar.gz in a worker
thread, streamed to a presigned URL and submitted as a multi-file run; the event loop is never
blocked and the archive is never held in memory. A JSON input over 5 MiB goes through an upload
too (the API refuses it inline). Against Nextmv Cloud set NEXTMV_APP_ID to an app of yours that
reads multi-file input.
"""

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

import asyncrun


def write_csv_files(folder: Path, files: int = 20, rows: int = 5_000) -> None:
    for f in range(files):
        lines = (f"{f},{r},{(f * r) % 97}\n" for r in range(rows))
        (folder / f"demand-{f:03d}.csv").write_text("file,row,demand\n" + "".join(lines))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", help="the input directory (default: generated)")
    parser.add_argument("--output-dir", default="out", help="extract the multi-file output here")
    parser.add_argument("--app-id", default=os.environ.get("NEXTMV_APP_ID", "my-app"))
    args = parser.parse_args()

    polling = asyncrun.PollingOptions(max_duration=1800)
    # upload_cap refuses an input whose archive passes it, before a byte is sent.
    limits = asyncrun.Limits(upload_cap=1024**3)
    async with asyncrun.AsyncClient(limits=limits) as client:
        app = client.application(args.app_id)
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(args.dir) if args.dir else Path(scratch)
            if not args.dir:
                write_csv_files(folder)
            result = await app.new_run_with_result(
                dir_path=folder, output_dir=args.output_dir, polling_options=polling
            )
        print(f"directory run {result.id}: {result.metadata.status_v2}")
        print("output:", result.output)

        big = {"rows": [{"id": i, "demand": i % 97, "zone": f"z{i % 50}"} for i in range(150_000)]}
        run_id = await app.new_run(input=big)  # over 5 MiB: uploaded, then submitted
        result = await app.run_result_with_polling(run_id, polling)
        print(f"large JSON run {run_id}: {result.metadata.status_v2}")


if __name__ == "__main__":
    asyncio.run(main())
