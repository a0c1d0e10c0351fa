"""``photonctl bench``: a short run of the comparative study on this machine (docs/study.md).

No daemon: the study plays every job on the simulated chip in this process, through
``photon_bench.study`` (the same code as ``benchmarks/comparative.py``). That package needs
the daemon's numerical stack, the 'bench' extra; it is imported only here, when the command
runs, so photonctl and the SDK import without it, and its absence is a usage error that names
the extra.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["MissingBenchExtra", "add_bench_options", "run_bench"]

#: The study's defaults for photonctl bench: one seed, a 120-task synthetic job, the first 4
#: GEMMs of each model, plans of 2 search rounds (photon_bench.study.PRESETS["short"]; a test
#: keeps the two the same).
SHORT = {"seeds": 1, "tasks": 120, "layers": 4, "rounds": 2}


class MissingBenchExtra(RuntimeError):
    """The study's dependencies (the 'bench' extra) are not installed; the message says what
    to install."""


def add_bench_options(parser: argparse.ArgumentParser) -> None:
    """The flags of ``photonctl bench`` (each one a setting of the study it runs)."""
    parser.add_argument(
        "--workloads",
        metavar="A,B",
        help="comma-separated: synthetic, resnet50, bert_base, gpt2_small (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        metavar="A,B",
        help="comma-separated disturbances: none, 'ambient +10 C', 'cooling x1.5', "
        "'plant -20 %%', 'plant +20 %%', 'failed sensor' (default: all)",
    )
    for flag, what in (
        ("seeds", "seeds per workload"),
        ("tasks", "tasks of the synthetic job"),
        ("layers", "the first N GEMMs of each model"),
        ("rounds", "search rounds of every plan: photond's, heat-blind and clairvoyant"),
    ):
        parser.add_argument(
            f"--{flag}", type=int, default=SHORT[flag], metavar="N", help=f"{what} ({SHORT[flag]})"
        )
    parser.add_argument(
        "--json",
        metavar="PATH",
        help="write the whole result (every run, plan, test and timing) as JSON to PATH; "
        "'-' prints it instead of the tables",
    )


def _study() -> Any:
    try:
        from photon_bench import study
    except ImportError as exc:
        raise MissingBenchExtra(
            f"bench needs the study's dependencies ({exc.name or exc}), in the 'bench' extra: "
            "pip install 'photond[bench]'"
        ) from exc
    return study


def run_bench(args: argparse.Namespace, argv: Sequence[str], out: TextIO, err: TextIO) -> int:
    """Run the study ``args`` (parsed from ``argv``) describe; tables (or the JSON) to
    ``out``, progress to ``err``.

    Returns 0, or 2 for a bad setting (named) or a missing extra.
    """
    try:
        study = _study()
    except MissingBenchExtra as exc:
        print(f"photonctl: {exc}", file=err)
        return 2
    settings: dict[str, Any] = {
        "seeds": args.seeds,
        "tasks": args.tasks,
        "layers": args.layers,
        "rounds": args.rounds,
        "exact": 0,
    }
    if args.workloads:
        settings["workloads"] = tuple(w.strip() for w in args.workloads.split(","))
    if args.scenarios:
        settings["scenarios"] = tuple(s.strip() for s in args.scenarios.split(","))
    try:
        config = study.StudyConfig(**settings)
    except ValueError as exc:
        print(f"photonctl: bench: --{exc}", file=err)
        return 2
    if args.json and args.json != "-":
        # Refused before the study runs, not after its minutes: a file nobody can write.
        folder = Path(args.json).resolve().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            print(f"photonctl: bench: --json: cannot write {args.json} (no writable folder "
                  f"{folder})", file=err)  # fmt: skip
            return 2
    # The loop logs every trip and re-plan; the tables count them. Quiet for the study only:
    # the command also runs in a caller's process (tests, a notebook), whose logging it leaves.
    photond_log = logging.getLogger("photond")
    level = photond_log.level
    photond_log.setLevel(logging.ERROR)
    command = shlex.join(["photonctl", *argv])
    try:
        result = study.run_study(config, lambda line: print(line, file=err, flush=True), command)
    finally:
        photond_log.setLevel(level)
    if args.json == "-":
        print(study.to_json(result, strict=True), file=out)
        return 0
    if args.json:
        study.save_json(result, Path(args.json), strict=True)
    print(study.summary_text(result), file=out)
    if args.json:
        print(f"wrote {args.json}", file=out)
    return 0
