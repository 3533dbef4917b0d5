"""Start-up time: median wall time of `hyrax --help` and of `import hyrax`.

Compares against the reference implementation (hyrax 0.13 with the same CPU torch) when it is
installed in benchmarks/.reference-venv (build it with `bash benchmarks/setup_reference.sh`) or in the
interpreter given by --reference-python. Target: `hyrax --help` under 0.3 s.

    .venv/bin/python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_REFERENCE = HERE / ".reference-venv" / "bin" / "python"


def median_seconds(command: list[str], runs: int) -> tuple[float, int]:
    """Median wall time of ``command`` over ``runs`` runs after one warm-up run, and its exit code."""
    subprocess.run(command, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        returncode = subprocess.run(command, capture_output=True).returncode
        times.append(time.perf_counter() - start)
    return statistics.median(times), returncode


def measure(python: str, runs: int) -> dict[str, tuple[float, int]]:
    """Times (and exit codes) of the two start-up paths for the hyrax installed in ``python``."""
    cli = str(Path(python).parent / "hyrax")
    return {
        "hyrax --help": median_seconds([cli, "--help"], runs),
        "import hyrax": median_seconds([python, "-c", "import hyrax"], runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reference-python", default=str(DEFAULT_REFERENCE))
    args = parser.parse_args()

    ours = measure(sys.executable, args.runs)
    reference_cli = Path(args.reference_python).with_name("hyrax")
    reference = measure(args.reference_python, max(3, args.runs // 2)) if reference_cli.exists() else {}
    print(f"median of {args.runs} runs (seconds)")
    print(f"{'':<16}{'hyrax':>10}{'reference 0.13':>16}{'speed-up':>10}")
    failed = False
    for name, (seconds, returncode) in ours.items():
        if returncode:
            raise SystemExit(f"`{name}` failed with exit code {returncode}")
        if name in reference:
            other, other_code = reference[name]
            mark = "*" if other_code else ""
            failed = failed or bool(other_code)
            print(f"{name:<16}{seconds:>10.3f}{other:>15.3f}{mark:1}{other / seconds:>9.1f}x")
        else:
            print(f"{name:<16}{seconds:>10.3f}{'not installed':>16}")
    if failed:
        print("* the reference exited with an error before finishing (with the CPU torch its torchvision")
        print("  import fails), so its time is a lower bound of its real start-up time.")
    verdict = "meets" if ours["hyrax --help"][0] < 0.3 else "MISSES"
    print(f"`hyrax --help` {verdict} the 0.3 s target.")
    if not reference:
        print("Reference not measured: `bash benchmarks/setup_reference.sh` installs hyrax 0.13 beside.")


if __name__ == "__main__":
    main()
