"""Start-up time: `hyrax --help`, `import hyrax`, time to the first batch of `train`, and `test`/`infer`.

Compares `hyrax --help` and `import hyrax` against the reference implementation (hyrax 0.13 with the
same CPU torch) when it is installed in benchmarks/.reference-venv (build it with
`bash benchmarks/setup_reference.sh`) or in the interpreter given by --reference-python. Target:
`hyrax --help` under 0.3 s.

``--verbs`` also measures, in a scratch folder with the default configuration:

- the time from launching `hyrax train` to its first training batch (the model's ``train_step`` is
  wrapped to record the moment it is first called, then the process exits);
- the wall time of `hyrax infer` and `hyrax test` on the default data after a one-epoch train, against
  the model's own work: the seconds the verb itself logs for running the model over the objects.
  Target: within 2x the model's work plus 3 s.

    .venv/bin/python benchmarks/startup.py [--runs 7] [--verbs]
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


_FIRST_BATCH = """
import os, sys, time
from hyrax.models.autoencoder import HyraxAutoencoder
step = HyraxAutoencoder.train_step
def first(self, batch):
    print(time.time(), flush=True)
    os._exit(0)
HyraxAutoencoder.train_step = first
from hyrax_cli.main import main
sys.argv = ["hyrax", "train"]
main()
"""


def first_batch_seconds(folder: Path, runs: int) -> float:
    """Median seconds from launching `hyrax train` (default settings) to its first training batch."""
    import os

    times = []
    for _ in range(runs + 1):
        launched = time.time()
        output = subprocess.run(
            [sys.executable, "-c", _FIRST_BATCH],
            cwd=folder,
            capture_output=True,
            text=True,
            env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
        )
        if output.returncode:
            raise SystemExit(f"hyrax train failed: {output.stderr[-2000:]}")
        times.append(float(output.stdout.split()[-1]) - launched)
    return statistics.median(times[1:])


def verb_seconds(folder: Path, verb: str) -> tuple[float, float]:
    """Wall time of ``hyrax <verb>`` and the model's own seconds, which the verb logs."""
    import re

    started = time.perf_counter()
    output = subprocess.run(
        [str(Path(sys.executable).parent / "hyrax"), verb], cwd=folder, capture_output=True, text=True
    )
    wall = time.perf_counter() - started
    if output.returncode:
        raise SystemExit(f"hyrax {verb} failed: {output.stderr[-2000:]}")
    pattern = (
        r"Inferred \d+ objects in ([\d.]+) s" if verb == "infer" else r"Tested \d+ objects in ([\d.]+) s"
    )
    found = re.search(pattern, output.stderr)
    return wall, float(found.group(1)) if found else float("nan")


def verbs(runs: int) -> None:
    """Print the time to the first batch of train, and infer and test against their model's work."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="hyrax-startup-") as folder:
        folder = Path(folder)
        first = first_batch_seconds(folder, runs)
        print(f"time to the first batch of `hyrax train`: {first:.2f} s (median of {runs})")
        subprocess.run(
            [str(Path(sys.executable).parent / "hyrax"), "train", "--set", "train.epochs=1"],
            cwd=folder,
            capture_output=True,
            check=True,
        )
        for verb in ("infer", "test"):
            results = sorted(verb_seconds(folder, verb) for _ in range(3))
            wall, model = results[1]
            budget = 2 * model + 3
            verdict = "meets" if wall <= budget else "MISSES"
            print(
                f"`hyrax {verb}`: {wall:.1f} s end to end (median of 3), the model's work {model:.1f} s; "
                f"target 2 x {model:.1f} + 3 = {budget:.1f} s: {verdict}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--reference-python", default=str(DEFAULT_REFERENCE))
    parser.add_argument("--verbs", action="store_true", help="also time train's first batch, infer and test")
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
    if args.verbs:
        verbs(max(3, args.runs // 2))


if __name__ == "__main__":
    main()
