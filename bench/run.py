"""Run every ``bench/bench_*.py`` module that has a ``main()``, one after the other.

    .venv/bin/python -m bench                # all of them
    .venv/bin/python -m bench analysis flow  # bench_analysis and bench_flow only
    .venv/bin/python -m bench footage DIR LABELS.csv  # one of them, with its own arguments

Each benchmark runs with its default options (``sys.argv`` holds only its own name), unless
one benchmark is named and followed by words that name none: those are its arguments. A
benchmark that fails is reported and the others still run; the exit status is 1 if any
failed.
"""

from __future__ import annotations

import importlib
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    """Names of the benchmark modules, ``bench_*`` without the prefix, sorted."""
    return sorted(path.stem.removeprefix("bench_") for path in BENCH_DIR.glob("bench_*.py"))


def run(name: str, args: list[str] | None = None) -> bool:
    """Run ``bench_<name>.main()`` with ``args`` as its command line; return whether it
    finished without an exception."""
    module_name = f"bench.bench_{name}"
    print(f"== {module_name}", flush=True)
    started = time.perf_counter()
    saved_argv = sys.argv
    sys.argv = [str(BENCH_DIR / f"bench_{name}.py"), *(args or [])]
    try:
        module = importlib.import_module(module_name)
        entry: Callable[[], object] | None = getattr(module, "main", None)
        if entry is None:
            print(f"   {module_name} has no main(); skipped", flush=True)
            return True
        entry()
    except (Exception, SystemExit):
        traceback.print_exc()
        print(f"   {module_name} FAILED", flush=True)
        return False
    finally:
        sys.argv = saved_argv
    print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)
    return True


def main(argv: list[str] | None = None) -> None:
    """Run the benchmarks named in ``argv`` (all when none), exit 1 if any failed."""
    names = list(sys.argv[1:] if argv is None else argv)
    known = discover()
    if len(names) > 1 and names[0] in known and names[1] not in known:
        sys.exit(0 if run(names[0], names[1:]) else 1)
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(known)}")
    results = [run(name) for name in names or known]
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH_DIR.parent))  # run as a script: make ``bench`` importable
    main()
