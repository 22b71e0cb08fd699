"""Fuzzing at volume: 100,000 generated commands through the command path (issue 13).

Run: ``.venv/bin/python benchmarks/fuzz_commands.py [EXAMPLES]``. The same generator and
check as tests/test_fuzz.py (which runs 3,000 in the suite): every command name and alias
of the real registry with random words (unicode, quotes, control characters, options, very
long text) and plain text, for every role and language. Parsing, resolving for the role and
rendering the refusal must never raise; a command that resolves must be one the role may
use. Prints how the inputs ended; any failure is hypothesis's minimal example, and exit 1.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bots.framework.commands import Role  # noqa: E402
from tests.fuzz_inputs import check_command_text, commands  # noqa: E402


def main(examples: int) -> None:
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=commands, role=st.sampled_from(list(Role)), lang=st.sampled_from(["de", "en"]))
    def run(text: str, role: Role, lang: str) -> None:
        reply = check_command_text(text, role, lang)
        outcomes["refused with an answer" if reply else "command to run, or no command"] += 1

    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    total = sum(outcomes.values())
    print(f"\n{total} generated inputs (asked for {examples}) through parse, resolve, refusal\n")
    print(f"| {'outcome':<32} | {'inputs':>8} |")
    print(f"|{'-' * 34}|{'-' * 10}|")
    for outcome, count in sorted(outcomes.items()):
        print(f"| {outcome:<32} | {count:>8} |")
    print(f"| {'exceptions':<32} | {0:>8} |")
    print(f"\n{seconds:.0f} s, {total / seconds:.0f} inputs/s (generation included)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
