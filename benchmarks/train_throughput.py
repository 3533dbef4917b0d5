"""Training throughput: `hyrax train` against a hand-written PyTorch loop on the same work.

Both train the same model (the default HyraxAutoencoder, same initial weights) on the same data (the
train split, through a data loader made the same way), with the same batch size and optimizer. The
data is HyraxRandomDataset images of the default dataset's shape (3x64x64), which cost almost
nothing to make, so the comparison measures the training machinery rather than image rendering;
``--dataset synthetic`` uses the default SyntheticGalaxyDataSet through the in-memory cache instead.

The two alternate epoch by epoch in one process: `hyrax train` runs with its defaults (per-epoch
checkpoints, progress bar, MLflow and TensorBoard tracking; ``--no-tracking`` turns the last two
off) and, each time it logs the end of an epoch, the plain loop trains one epoch of its own. A
`hyrax train` epoch is the time from the end of one such plain epoch to the next end-of-epoch log
record, so it includes everything the verb does per epoch; start-up and the first epoch of each are
not timed. Alternating epochs lets load from other processes on a shared machine affect both
alike. The validate split is empty, since the plain loop does not validate. `hyrax train` sets
glibc's allocator to reuse freed memory (hyrax.training.cpu_memory), which applies to the whole
process, so the plain loop gets it too and the ratio measures the training machinery alone; run
with ``--plain-first`` to also time a plain loop before that, as a program of its own would run.
Both run with
``--threads`` torch threads (1 by default): on a shared machine, a second intra-op thread that other
processes keep from running stalls every parallel operation and makes timings swing several-fold.

Each of ``--rounds`` (5) rounds is one such `hyrax train` run; the summary gives the median of the
epoch-pair ratios (plain epoch time over `hyrax train` epoch time) and their spread (quartiles and
extremes). ``--repeat-runs 3`` repeats the whole measurement, to show three runs in a row.

Target: ratio (hyrax / plain) >= 0.95 on CPU.

``--tracking-cost`` measures instead what MLflow-and-TensorBoard tracking adds to one training step:
an ignite engine whose step does nothing but return a loss runs with and without
:func:`~hyrax.training.tracking.attach_tracking` (TensorBoard through tensorboardX's public
``SummaryWriter``, every ``train.log_every_n_steps`` iterations; MLflow per epoch), and the
difference per iteration is compared with one ``train_step`` of the default model on a default batch
(32 images of 3x64x64). Target: under 1%.

    .venv/bin/python benchmarks/train_throughput.py [--rounds 5] [--epochs 6] [--size 1000] [--repeat-runs 3]
    .venv/bin/python benchmarks/train_throughput.py --tracking-cost
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def settings(size: int, image_size: int, dataset: str, tracking: bool) -> dict:
    if dataset == "synthetic":
        data_set = {
            "name": "SyntheticGalaxyDataSet",
            "SyntheticGalaxyDataSet": {"size": size, "image_size": image_size},
        }
        loader = {"cache": True}
    else:
        shape = [3, image_size, image_size]
        data_set = {"name": "HyraxRandomDataset", "HyraxRandomDataset": {"size": size, "shape": shape}}
        loader = {}
    return {
        "general": {"log_level": "info"},
        "data_set": {**data_set, "validate_size": False},
        "data_loader": loader,
        "train": {"mlflow": tracking, "tensorboard": tracking},
    }


def apply(h, values: dict, prefix: str = "") -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            apply(h, value, f"{prefix}{key}.")
        else:
            h.set_config(f"{prefix}{key}", value)


def plain_loop(config) -> tuple[Callable[[], float], int]:
    """A hand-written training loop over the train split: a function running one epoch, its seconds."""
    import torch

    from hyrax.datasets.loading import build_dataset, make_data_loader
    from hyrax.datasets.splits import splits_from_config
    from hyrax.models.factory import build_model

    seed = config["general"]["seed"]
    torch.manual_seed(seed)
    dataset = build_dataset(config)
    train = splits_from_config(config, len(dataset))["train"]
    loader = make_data_loader(dataset, train, config["data_loader"], shuffle=True, seed=seed)
    model = build_model(config, dataset, indices=train)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["optimizer"]["kwargs"]["lr"])
    loss_function = torch.nn.MSELoss()
    model.train()

    def epoch() -> float:
        start = time.perf_counter()
        total = 0.0
        for batch in loader:
            x = batch["data"]
            loss = loss_function(model.reconstruct(x), x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        return time.perf_counter() - start

    return epoch, len(train)


class _Interleave(logging.Handler):
    """At each end-of-epoch log record of the train verb, times the verb's epoch and runs a plain one."""

    def __init__(self, plain_epoch: Callable[[], float]):
        super().__init__(logging.INFO)
        self.plain_epoch = plain_epoch
        self.hyrax: list[float] = []
        self.plain: list[float] = []
        self._resumed: float | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if not record.getMessage().startswith("Epoch "):
            return
        if self._resumed is not None:
            self.hyrax.append(time.perf_counter() - self._resumed)
            self.plain.append(self.plain_epoch())
        else:
            self.plain_epoch()  # the plain loop's first, untimed epoch
        self._resumed = time.perf_counter()


def one_round(epochs: int, size: int, image_size: int, dataset: str, tracking: bool):
    """Per-epoch seconds of `hyrax train` and of the plain loop, alternating, and the train split size."""
    from hyrax import Hyrax

    h = Hyrax()
    apply(h, settings(size, image_size, dataset, tracking))
    h.set_config("train.epochs", epochs)
    plain_epoch, n_train = plain_loop(h.config)
    interleave = _Interleave(plain_epoch)
    logger = logging.getLogger("hyrax.training.reporting")
    logger.addHandler(interleave)
    try:
        h.train()
    finally:
        logger.removeHandler(interleave)
    # The last end-of-epoch record has no verb epoch after it; its plain epoch pairs with the one before.
    return interleave.hyrax, interleave.plain[: len(interleave.hyrax)], n_train


def tracking_cost(iterations: int = 20_000, rounds: int = 5) -> None:
    """Print the cost of tracking per training iteration against one default training step."""
    import torch
    from ignite.engine import Engine

    from hyrax.config import ConfigManager, load_config
    from hyrax.datasets.loading import build_dataset, make_data_loader
    from hyrax.models.factory import build_model
    from hyrax.results import create_results_dir
    from hyrax.training.engines import EpochMeans
    from hyrax.training.mlflow_store import STORE_DIR_NAME, config_params
    from hyrax.training.tracking import attach_tracking

    loss = torch.tensor(0.5)

    def run(tracked: bool) -> float:
        engine = Engine(lambda engine, batch: {"loss": loss})
        # As on the train verb's trainer, with or without tracking: tracking records the mean it computes.
        EpochMeans().attach(engine)
        manager = ConfigManager(runtime_config={"train": {"mlflow": tracked, "tensorboard": tracked}})
        results_dir = create_results_dir("results", "train")
        manager.write_runtime_config(results_dir)
        train = manager.config["train"]
        data = range(iterations)
        started = time.perf_counter()
        if tracked:
            with attach_tracking(
                engine,
                None,
                results_dir=results_dir,
                mlflow_dir=Path(manager.config["general"]["results_dir"]) / STORE_DIR_NAME,
                experiment_name=train["experiment_name"],
                params=config_params(manager.config),
                tensorboard=True,
                log_every_n_steps=train["log_every_n_steps"],
            ):
                engine.run(data, max_epochs=1)
        else:
            engine.run(data, max_epochs=1)
        return (time.perf_counter() - started) / iterations

    run(True)  # creates the MLflow store, warms imports
    bare, tracked = [], []
    for _ in range(rounds):
        bare.append(run(False))
        tracked.append(run(True))
    config = load_config()
    dataset = build_dataset(config)
    loader = make_data_loader(dataset, range(64), config["data_loader"], shuffle=False, seed=0)
    model = build_model(config, dataset, indices=range(64))
    model.configure_training()
    batch = next(iter(loader))
    model.train_step(batch)
    steps = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(5):
            model.train_step(batch)
        steps.append((time.perf_counter() - started) / 5)
    extra = statistics.median(tracked) - statistics.median(bare)
    step = statistics.median(steps)
    print(
        f"tracking adds {extra * 1e6:.1f} us per iteration (median of {rounds} runs of {iterations} "
        f"iterations: {statistics.median(tracked) * 1e6:.1f} us tracked, {statistics.median(bare) * 1e6:.1f} "
        f"us bare); one default train_step ({len(batch['data'])} x {tuple(batch['data'].shape[1:])}) takes "
        f"{step * 1e3:.1f} ms: tracking is {100 * extra / step:.3f}% of a step (target < 1%); "
        f"load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=5, help="`hyrax train` runs per measurement")
    parser.add_argument("--epochs", type=int, default=6, help="epochs per run; the first is not timed")
    parser.add_argument("--size", type=int, default=1000, help="objects in the dataset (60%% train)")
    parser.add_argument("--repeat-runs", type=int, default=1, help="whole measurements in a row")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--dataset", choices=["random", "synthetic"], default="random")
    parser.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="MLflow and TensorBoard tracking in hyrax train (its default: on)",
    )
    parser.add_argument(
        "--plain-first",
        action="store_true",
        help="first time the plain loop alone, with glibc's default allocator settings",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (0: torch's default)")
    parser.add_argument(
        "--tracking-cost", action="store_true", help="measure only what tracking adds to a training step"
    )
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="hyrax-train-bench-"))
    if args.tracking_cost:
        tracking_cost()
        return
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}, results in {os.getcwd()}", file=sys.stderr)

    if args.plain_first:
        from hyrax.config import load_config

        config = load_config(**settings(args.size, args.image_size, args.dataset, args.tracking))
        plain_epoch, n_train = plain_loop(config)
        seconds = [plain_epoch() for _ in range(args.epochs)][1:]
        print(
            f"plain loop on its own, before hyrax tuned the allocator: "
            f"{n_train / statistics.median(seconds):.1f} samples/s (median epoch)",
            flush=True,
        )
    print(f"load at start {os.getloadavg()[0]:.2f}", flush=True)
    summaries = [measure(args, run) for run in range(1, args.repeat_runs + 1)]
    if args.repeat_runs > 1:
        print("runs in a row, median ratio: " + ", ".join(f"{median:.3f}" for median in summaries))
    print(f"load at end {os.getloadavg()[0]:.2f}")


def measure(args, run: int) -> float:
    """One measurement of ``--rounds`` interleaved runs; print it and return the median ratio."""
    ours_all: list[float] = []
    plain_all: list[float] = []
    for round_number in range(1, args.rounds + 1):
        ours, plain, n_train = one_round(args.epochs, args.size, args.image_size, args.dataset, args.tracking)
        ours_all += ours
        plain_all += plain
        rate, plain_rate = n_train * len(ours) / sum(ours), n_train * len(plain) / sum(plain)
        print(
            f"run {run} round {round_number}: hyrax train {rate:8.1f} samples/s, plain loop "
            f"{plain_rate:8.1f} samples/s, ratio {rate / plain_rate:.3f}",
            flush=True,
        )
    ratios = sorted(p / o for o, p in zip(ours_all, plain_all, strict=True))
    quartiles = statistics.quantiles(ratios, n=4)
    median = statistics.median(ratios)
    print(
        f"run {run}: {len(ratios)} epoch pairs; hyrax train {n_train / statistics.median(ours_all):.1f} "
        f"samples/s, plain loop {n_train / statistics.median(plain_all):.1f} samples/s (median epochs); "
        f"ratio median {median:.3f}, quartiles {quartiles[0]:.3f}-{quartiles[2]:.3f}, range "
        f"{ratios[0]:.3f}-{ratios[-1]:.3f} (target >= 0.95); load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return median


if __name__ == "__main__":
    main()
