"""Run every benchmark and write their tables into the README (and benchmarks/RESULTS.md).

Run: ``.venv/bin/python benchmarks/run_all.py [--only NAME ...] [--no-readme]``. Each
benchmark runs as its own process, one after another (they start their own Synapse, pin
themselves to a core and must not share the machine with each other). What each prints
(tables with the baseline measured in the same run) is kept as it is, under the command
that produced it and a description of the machine. The README's section between the
``benchmark-results`` markers is replaced; nothing else in it is touched.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START = "<!-- benchmark-results:start (written by benchmarks/run_all.py) -->"
END = "<!-- benchmark-results:end -->"
# name, arguments: the defaults the README promises, small enough for a few minutes each.
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("transaction_throughput", ["10000", "1000000"]),
    ("decrypt_commands", ["1000"]),
    ("help_roundtrip", ["20"]),
    ("mail_outbox", ["10000"]),
    ("mail_notifier", ["2000"]),
    ("booking_slots", []),
    ("fuzz_commands", ["100000"]),
    # Short by default; full sizes: intake_load.py 50 200, scale.py 1.
    ("intake_load", ["50"]),
    ("scale", ["0.1"]),
]
TIMEOUT_SECONDS = 1200


def machine() -> str:
    """CPU model, cores, memory, OS and Python: what the numbers depend on."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    except OSError:
        pass
    one, five, fifteen = os.getloadavg()
    load = f", load {one:.1f} {five:.1f} {fifteen:.1f} before the run"
    return (
        f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}{load}"
    )


def run(name: str, args: list[str]) -> tuple[str, str, float]:
    """(command as typed, what it printed, seconds); a failure is reported, not hidden."""
    command = ["python", f"benchmarks/{name}.py", *args]
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, f"benchmarks/{name}.py", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
        )
        output = done.stdout.strip()
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            output += f"\n\nFAILED (exit {done.returncode}):\n```\n{tail}\n```"
    except subprocess.TimeoutExpired:
        output = f"FAILED: no result within {TIMEOUT_SECONDS} s"
    return " ".join(command), output, time.monotonic() - started


def section(results: list[tuple[str, str, float]], where: str) -> str:
    lines = [
        START,
        "",
        f"Latest results, written by `python benchmarks/run_all.py` on "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
        f"Machine: {where}.",
        "",
    ]
    for command, output, seconds in results:
        lines += [f"#### `{command}` ({seconds:.0f} s)", "", output, ""]
    lines.append(END)
    return "\n".join(lines)


def write_readme(text: str) -> None:
    readme = README.read_text(encoding="utf-8")
    if START in readme and END in readme:
        before = readme[: readme.index(START)]
        after = readme[readme.index(END) + len(END) :]
        README.write_text(before + text + after, encoding="utf-8")
        return
    anchor = "## Benchmarks\n"
    if anchor not in readme:
        raise SystemExit("README.md has no '## Benchmarks' section to put the results in")
    head, tail = readme.split(anchor, 1)
    # After the section's table of benchmarks, before the next section.
    nxt = tail.find("\n## ")
    body, rest = (tail, "") if nxt < 0 else (tail[:nxt], tail[nxt:])
    README.write_text(
        head + anchor + body.rstrip("\n") + "\n\n" + text + "\n" + rest, encoding="utf-8"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", nargs="*", help="benchmark names (default: all)")
    parser.add_argument("--no-readme", action="store_true", help="write RESULTS.md only")
    options = parser.parse_args()
    chosen = [(n, a) for n, a in BENCHMARKS if not options.only or n in options.only]
    where = machine()
    results = []
    for name, args in chosen:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run(name, args))
        print(results[-1][1], file=sys.stderr, flush=True)
    text = section(results, where)
    RESULTS.write_text(text.replace(START, "").replace(END, "").strip() + "\n", "utf-8")
    if not options.no_readme:
        write_readme(text)
    print(f"written: {RESULTS.relative_to(ROOT)}" + ("" if options.no_readme else ", README.md"))


if __name__ == "__main__":
    main()
