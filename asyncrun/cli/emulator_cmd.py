"""`asyncrun emulator`: serve the local Nextmv-compatible cloud until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from asyncrun.cli.args import (
    check_out_dir,
    check_writable_file,
    new_command,
    non_empty,
    non_negative_float,
    port_number,
    positive_float,
    positive_int,
    probability,
)
from asyncrun.errors import ConfigError

if TYPE_CHECKING:  # the emulator (an aiohttp server) is imported only by the commands serving it
    from asyncrun.emulator import Emulator, EmulatorConfig

# (command-line flag, FaultProfile field)
_FAULT_FLAGS = (
    ("fault_429", "rate_429"),
    ("fault_429_bare", "rate_429_bare"),
    ("fault_500", "rate_500"),
    ("fault_502", "rate_502"),
    ("fault_503", "rate_503"),
    ("fault_drop", "drop"),
    ("fault_slow", "slow"),
    ("fault_lost_create", "lost_create"),
    ("fault_late_create", "late_create"),
    ("fault_storage_500", "storage_500"),
    ("fault_storage_drop", "storage_drop"),
)


def register(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "emulator",
        help="serve a local Nextmv-compatible cloud (runs, storage, faults, stats)",
        examples=(
            "asyncrun emulator --port 8710 --time-scale 10",
            "asyncrun emulator --profile realistic --fault-503 0.02 --fault-lost-create 0.01",
        ),
    )
    p.add_argument("--host", type=non_empty, default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=port_number, default=8710, help="port (0: any free port)")
    p.add_argument(
        "--api-key", type=non_empty, default=None, help="the accepted key (default: any key)"
    )
    p.add_argument(
        "--time-scale", type=positive_float, default=1.0, help="simulated seconds per second"
    )
    p.add_argument(
        "--duration",
        type=non_negative_float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(0.05, 0.2),
        help="run duration range in simulated seconds (uniform) when a run sets none",
    )
    p.add_argument(
        "--queue-delay",
        type=non_negative_float,
        default=0.0,
        help="simulated seconds each run stays queued",
    )
    p.add_argument(
        "--capacity",
        type=positive_int,
        default=None,
        help="runs executing at once, the rest queue (default: no limit)",
    )
    p.add_argument(
        "--profile",
        choices=["unlimited", "realistic"],
        default="unlimited",
        help="rate limits: none, or the published plan's (429 with Retry-After)",
    )
    for flag, field in _FAULT_FLAGS:
        p.add_argument(
            "--" + flag.replace("_", "-"),
            type=probability,
            default=0.0,
            metavar="RATE",
            help=f"probability of the {field!r} fault per request",
        )
    p.add_argument(
        "--slow-seconds",
        type=non_negative_float,
        default=0.5,
        help="delay of a 'slow' fault, seconds",
    )
    p.add_argument(
        "--late-seconds",
        type=non_negative_float,
        default=5.0,
        help="seconds after its dropped POST that a 'late_create' run is created",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the fault and duration draws")
    p.add_argument(
        "--app-command",
        type=non_empty,
        default=None,
        help="run CMD per run: input on stdin, output from stdout (default: the built-in app)",
    )
    p.add_argument(
        "--app-concurrency",
        type=positive_int,
        default=4,
        help="app processes at once (pushed apps and --app-command)",
    )
    p.add_argument(
        "--app-python",
        type=non_empty,
        default=None,
        metavar="PATH",
        help="interpreter of pushed python apps, with their requirements installed "
        "(default: the emulator's own)",
    )
    p.add_argument(
        "--app-timeout",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="stop an app process (pushed or --app-command) running longer than this",
    )
    p.add_argument(
        "--strict-apps",
        action="store_true",
        help="runs for an app never created answer 404, as the cloud does (default: the app "
        "is created on first use)",
    )
    p.add_argument(
        "--url-ttl", type=positive_float, default=900.0, help="presigned URL lifetime, seconds"
    )
    p.add_argument(
        "--upload-cap", type=positive_int, default=500 * 2**20, help="largest upload, bytes"
    )
    p.add_argument("--page-size", type=positive_int, default=50, help="runs per page of GET runs")
    p.add_argument(
        "--storage-dir",
        type=Path,
        default=None,
        help="keep stored objects here (default: a temporary folder removed on exit)",
    )
    p.add_argument(
        "--tls",
        action="store_true",
        help="serve HTTPS with a local CA and server certificate made at start (needs trustme)",
    )
    p.add_argument(
        "--cert",
        type=Path,
        default=None,
        help="server certificate chain (PEM) to serve HTTPS with (default: none)",
    )
    p.add_argument(
        "--key",
        type=Path,
        default=None,
        help="the certificate's private key (PEM) (default: none)",
    )
    p.add_argument(
        "--ca-out",
        type=Path,
        default=None,
        metavar="PATH",
        help="write the CA certificate made at start to PATH, for REQUESTS_CA_BUNDLE or "
        "--ca-file (default: only into the storage folder)",
    )
    p.add_argument(
        "--rtt",
        type=non_negative_float,
        default=0.0,
        metavar="MS",
        help="add a network round trip of MS milliseconds (a latency proxy in its own process)",
    )
    p.set_defaults(func=run, check=check_emulator_arguments)


def check_emulator_arguments(args: argparse.Namespace) -> None:
    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.ca_out is not None and (config.tls_cert is not None or not config.tls):
        raise ConfigError("--ca-out writes the CA made with --tls (not with --cert/--key)")
    if args.ca_out is not None:
        check_writable_file(args.ca_out, "--ca-out")
    if args.storage_dir is not None:
        check_out_dir(args.storage_dir, "--storage-dir")


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    from asyncrun.emulator import EmulatorConfig, FaultProfile

    faults = FaultProfile(
        slow_seconds=args.slow_seconds,
        late_seconds=args.late_seconds,
        **{field: getattr(args, flag) for flag, field in _FAULT_FLAGS},
    )
    return EmulatorConfig(
        api_key=args.api_key,
        time_scale=args.time_scale,
        duration=(args.duration[0], args.duration[1]),
        queue_delay=args.queue_delay,
        capacity=args.capacity,
        rate_profile=args.profile,
        faults=faults,
        url_ttl=args.url_ttl,
        upload_cap=args.upload_cap,
        storage_dir=args.storage_dir,
        app_command=args.app_command,
        app_concurrency=args.app_concurrency,
        app_python=args.app_python,
        app_timeout=args.app_timeout,
        auto_create_apps=not args.strict_apps,
        page_size=args.page_size,
        seed=args.seed,
        tls=args.tls or args.cert is not None or args.key is not None,
        tls_cert=args.cert,
        tls_key=args.key,
        rtt_ms=args.rtt,
    )


def run(args: argparse.Namespace) -> int:
    try:
        asyncio.run(_serve_until_signal(config_from_args(args), args.host, args.port, args.ca_out))
    except ValueError as exc:  # TLS that cannot be set up (TLSSetupError is a ValueError)
        raise ConfigError(str(exc)) from None
    return 0


async def _serve_until_signal(
    config: EmulatorConfig, host: str, port: int, ca_out: Path | None
) -> None:
    """Serve until SIGINT or SIGTERM, then clean up (runner, temp storage, app processes)."""
    from asyncrun.emulator import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serve(config, host=host, port=port) as emu:
            storage = emu.state.storage.root
            print(
                f"asyncrun emulator listening on {emu.url} (storage {storage}; Ctrl-C to stop)",
                flush=True,
            )
            for line in _notes(emu, ca_out):
                print(line, flush=True)
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _notes(emu: Emulator, ca_out: Path | None) -> list[str]:
    """What a client needs to know besides the URL: the CA to trust, the proxy in front."""
    notes = []
    if emu.config.rtt_ms:
        notes.append(
            f"  round trip {emu.config.rtt_ms:g} ms added by a latency proxy; "
            f"the server itself is at {emu.server_url}"
        )
    if emu.ca_pem is not None:
        ca_path = emu.ca_file
        if ca_out is not None:
            ca_out.write_bytes(emu.ca_pem)
            ca_path = ca_out
        notes.append(
            f"  CA certificate: {ca_path} "
            "(trust it with --ca-file, SSL_CERT_FILE or REQUESTS_CA_BUNDLE)"
        )
    return notes
