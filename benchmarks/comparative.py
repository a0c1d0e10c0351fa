"""How much thermal-aware closed-loop planning buys: the comparative study (docs/study.md).

A thin command line over `photon_bench.study` (the runs, statistics, exact reference and
report; `photonctl bench` runs the same study): it picks the preset, runs it, prints the
tables and the wall time per section, and writes the JSON, docs/study.md's results region and
its PNGs.

Usage:
  python benchmarks/comparative.py --quick          # minutes; what docs/study.md shows
  python benchmarks/comparative.py                  # the full study (see docs/study.md)
Options: --seeds N --tasks N --layers N --rounds N --workloads a,b --scenarios a,b --exact N
  --cpsat-limit S --cpsat-python PATH --out docs/study --doc docs/study.md --json PATH
  --no-doc --report-only (rebuild doc and PNGs from --json)
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

from photon_bench.comparative import SCENARIOS, WORKLOADS
from photon_bench.study import (
    PRESETS,
    StudyConfig,
    figures,
    run_study,
    save_json,
    summary_text,
    tests_table,
    write_doc,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "comparative.json"
DEFAULT_OUT = ROOT / "docs" / "study"
DEFAULT_DOC = ROOT / "docs" / "study.md"
CPSAT_PYTHON = ROOT / ".venv-cpsat" / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short study docs/study.md shows")
    parser.add_argument("--workloads", help="comma-separated (default: all available)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--seeds", type=int)
    parser.add_argument("--tasks", type=int, help="tasks of the synthetic workload")
    parser.add_argument("--layers", type=int, help="first GEMMs of each model workload")
    parser.add_argument("--rounds", type=int, help="search rounds per plan (the budget)")
    parser.add_argument("--exact", type=int, help="CP-SAT instances (8 to 20 tasks)")
    parser.add_argument("--cpsat-limit", type=float, help="seconds per CP-SAT proof")
    parser.add_argument("--cpsat-python", type=Path, default=CPSAT_PYTHON)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG folder")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="markdown to update")
    parser.add_argument("--no-doc", action="store_true", help="write neither doc nor PNGs")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rebuild the doc and PNGs from --json (a finished run's own numbers); run nothing",
    )
    args = parser.parse_args()
    if args.report_only:
        saved: dict[str, Any] = json.loads(args.json.read_text())
        write_doc(args.doc, args.out, saved, figures(saved["runs"], args.out))
        return
    preset = dict(PRESETS["quick" if args.quick else "full"])
    given = {
        "seeds": args.seeds,
        "tasks": args.tasks,
        "layers": args.layers,
        "rounds": args.rounds,
        "exact": args.exact,
        "cpsat_limit_s": args.cpsat_limit,
    }
    preset.update({k: v for k, v in given.items() if v is not None})
    try:
        config = StudyConfig(
            workloads=tuple(args.workloads.split(",")) if args.workloads else tuple(WORKLOADS),
            scenarios=tuple(args.scenarios.split(",")),
            cpsat_python=args.cpsat_python,
            **preset,
        )
    except ValueError as exc:
        parser.error(f"--{exc}")
    logging.getLogger("photond").setLevel(logging.ERROR)  # trips and re-plans are in the table
    # The command as typed for the doc's header, but for the output paths of a trial run.
    shown = [a for a in sys.argv[1:] if a in ("--quick",)]
    command = shlex.join(["python", "benchmarks/comparative.py", *shown])
    result = run_study(config, lambda line: print(line, flush=True), command)
    result["argv"] = sys.argv[1:]
    print(summary_text(result))
    print(tests_table(result["tests"]))
    save_json(result, args.json)
    if not args.no_doc:
        write_doc(args.doc, args.out, result, figures(result["runs"], args.out))


if __name__ == "__main__":
    main()
