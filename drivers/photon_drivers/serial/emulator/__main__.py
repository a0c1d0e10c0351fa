"""`python -m photon_drivers.serial.emulator`: a firmware emulator on a pty or a TCP port.

The first line printed is the address to give the serial driver as its `port` option (a pty
path, the `--link` path, or socket://HOST:PORT); with `--control`, the second line is
`control PATH`. Then it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from photon_drivers.profile import load_profile
from photon_drivers.serial.emulator import Emulator
from photon_drivers.serial.emulator.faults import HELP, Faults


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m photon_drivers.serial.emulator",
        description="Emulate photon chip firmware over the serial protocol.",
        epilog="run-time control (--control PATH):\n" + HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--pty", action="store_true", help="serve on a new pty (the default)")
    where.add_argument("--tcp", metavar="HOST:PORT", help="serve socket://HOST:PORT instead")
    parser.add_argument("--link", type=Path, help="keep a symlink to the current pty here")
    parser.add_argument("--control", type=Path, help="Unix socket for run-time fault commands")
    parser.add_argument("--profile", type=Path, help="device profile TOML (default: shipped)")
    parser.add_argument("--seed", type=int, default=0, help="sensor noise and fault seed")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="device seconds per wall second"
    )
    parser.add_argument(
        "--pace-baud", type=int, default=0, help="emulate a UART at this baud (8N1); 0: unpaced"
    )
    parser.add_argument("--corrupt", type=float, default=0.0, help="fraction of bytes to corrupt")
    parser.add_argument("--drop", type=float, default=0.0, help="fraction of replies to drop")
    parser.add_argument("--delay-s", type=float, default=0.0, help="delay before every reply")
    parser.add_argument(
        "--fail-sensor", type=int, action="append", default=[], help="report sensor as failed"
    )
    args = parser.parse_args(argv)
    if args.link is not None and args.tcp:
        parser.error("--link applies to a pty, not to --tcp")
    for name in ("corrupt", "drop"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            parser.error(f"--{name} must be a fraction in [0, 1]")
    if args.tcp and not args.tcp.rpartition(":")[2].isdigit():
        parser.error(f"--tcp wants HOST:PORT, got {args.tcp!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tcp = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        tcp = (host or "127.0.0.1", int(port))
    faults = Faults(
        corrupt_fraction=args.corrupt,
        drop_fraction=args.drop,
        delay_s=args.delay_s,
        failed_sensors=set(args.fail_sensor),
        seed=args.seed,
    )
    emulator = Emulator(
        tcp=tcp,
        link=args.link,
        control=args.control,
        profile=load_profile(args.profile) if args.profile else None,
        time_scale=args.time_scale,
        seed=args.seed,
        pace_baud=args.pace_baud,
        faults=faults,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        emulator.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    emulator.open()
    print(emulator.address, flush=True)
    if args.control is not None:
        print(f"control {args.control}", flush=True)
    emulator.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
