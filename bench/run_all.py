"""Run every benchmark in bench/, one after another, and collect their tables in bench/results/.

Each benchmark is its own script, run here as a subprocess with this interpreter, its output
passed through as it comes. A script that writes bench/results/<name>.md itself
(bench_build.py does) keeps its file; for the others, their printed output becomes that file:
the Markdown tables they print, or their whole output as text when they print none.
Benchmarks whose script does not exist yet are reported as skipped.

    .venv/bin/python bench/run_all.py [--sizes 10000,100000] [--skip-hugo] [--only build,search,digest]

`--sizes`, `--skip-hugo` and `--hugo-timeout` go to bench_build.py; the other benchmarks run
with their own defaults. Runs one at a time: timings taken side by side on a 2-core machine
would measure each other.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
# (name, script): the name is also the results file, bench/results/<name>.md.
BENCHMARKS = (("build", "bench_build.py"), ("search", "bench_search.py"), ("digest", "bench_digest.py"))


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    seconds: float
    results: Path | None


def markdown_tables(output: str) -> str:
    """The Markdown tables in `output`, each with the non-blank line before it (its caption)."""
    lines = output.splitlines()
    kept: list[str] = []
    index = 0
    while index < len(lines):
        if lines[index].lstrip().startswith("|"):
            caption = next((lines[i] for i in range(index - 1, -1, -1) if lines[i].strip()), "")
            if kept:
                kept.append("")
            if caption and not caption.lstrip().startswith("|"):
                kept += [caption, ""]
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                kept.append(lines[index])
                index += 1
        else:
            index += 1
    return "\n".join(kept)


def results_text(name: str, command: str, output: str, when: str) -> str:
    tables = markdown_tables(output)
    body = tables if tables else f"```text\n{output.rstrip()}\n```"
    return f"# {name.capitalize()} benchmark\n\nOutput of `{command}`, collected by bench/run_all.py on {when}.\n\n{body}\n"


def run_streaming(command: Sequence[str]) -> tuple[int, str]:
    """Run `command` from the project root, echoing its stdout as it comes; stderr passes through."""
    process = subprocess.Popen(list(command), cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1)
    captured = []
    assert process.stdout is not None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        captured.append(line)
    return process.wait(), "".join(captured)


def run_benchmark(name: str, script: str, arguments: Sequence[str], when: str) -> Outcome:
    path = BENCH_DIR / script
    if not path.is_file():
        print(f"run_all: {script} is not there yet; skipped", flush=True)
        return Outcome(name, "skipped (no script)", 0.0, None)
    results = RESULTS_DIR / f"{name}.md"
    written_before = results.stat().st_mtime_ns if results.is_file() else None
    command = [sys.executable, str(path), *arguments]
    shown = " ".join([".venv/bin/python", f"bench/{script}", *arguments])
    print(f"\n=== {name}: {shown}", flush=True)
    started = time.perf_counter()
    status, output = run_streaming(command)
    seconds = time.perf_counter() - started
    if status != 0:
        return Outcome(name, f"failed (exit status {status})", seconds, None)
    written_after = results.stat().st_mtime_ns if results.is_file() else None
    if written_after is None or written_after == written_before:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        results.write_text(results_text(name, shown, output, when), encoding="utf-8")
    return Outcome(name, "ok", seconds, results)


def _names(text: str) -> list[str]:
    known = [name for name, _ in BENCHMARKS]
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"choose from {', '.join(known)}")
    return names


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=None, help="paper counts for bench_build.py (its default: 10000,100000)")
    parser.add_argument("--skip-hugo", action="store_true", help="bench_build.py without the Hugo comparison")
    parser.add_argument("--hugo-timeout", default=None, metavar="SECONDS", help="passed to bench_build.py")
    parser.add_argument("--only", type=_names, default=None, metavar="NAMES",
                        help="comma-separated benchmarks to run (default: all of build, search, digest)")
    args = parser.parse_args(argv)

    build_arguments = []
    if args.sizes:
        build_arguments += ["--sizes", args.sizes]
    if args.skip_hugo:
        build_arguments.append("--skip-hugo")
    if args.hugo_timeout:
        build_arguments += ["--hugo-timeout", args.hugo_timeout]
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    outcomes = []
    for name, script in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        outcomes.append(run_benchmark(name, script, build_arguments if name == "build" else [], when))

    print("\nrun_all:")
    for outcome in outcomes:
        where = f", tables in {outcome.results.relative_to(ROOT)}" if outcome.results else ""
        print(f"  {outcome.name}: {outcome.status} in {outcome.seconds:,.0f} s{where}")
    failed = [outcome for outcome in outcomes if outcome.status.startswith("failed")]
    ran = sum(outcome.status == "ok" for outcome in outcomes)
    print(f"ran {ran} benchmark(s), {len(failed)} failed, {len(outcomes) - ran - len(failed)} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
