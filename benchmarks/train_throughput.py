"""Training throughput: `hyrax train` against a hand-written PyTorch loop on the same work.

Both train the same model (the default HyraxAutoencoder, same initial weights) on the same data (the
train split, through the same data loader), with the same batch size and optimizer. The data is
HyraxRandomDataset images of the default dataset's shape (3x64x64), which cost almost nothing to
make, so the comparison measures the training machinery rather than image rendering; ``--dataset
synthetic`` uses the default SyntheticGalaxyDataSet through the in-memory cache instead.

Samples per second exclude start-up and the first epoch: for `hyrax train` they are timed from the
end of epoch 1 to the end of the last epoch, using the timestamps of the verb's end-of-epoch log
records, so everything the verb does per epoch (checkpoints, progress bar, MLflow and TensorBoard
tracking, all at their defaults) is included; for the plain loop the same epochs are timed. The
validate split is empty, since the plain loop does not validate. Rounds are interleaved so that
load from other processes affects both alike; the summary compares the median and the fastest
epoch of each, the fastest being the least disturbed by other processes. ``--no-tracking`` turns
MLflow and TensorBoard off, to tell their cost from the engine's. Both run with ``--threads`` torch
threads (1 by default): on a shared machine, a second intra-op thread that other processes keep
from running stalls every parallel operation and makes timings swing several-fold.

Target: ratio (hyrax / plain) >= 0.95 on CPU.

``--tracking-cost`` measures instead what MLflow-and-TensorBoard tracking adds to one training step:
an ignite engine whose step does nothing but return a loss runs with and without
:func:`~hyrax.training.tracking.attach_tracking` (TensorBoard through tensorboardX's public
``SummaryWriter``, every ``train.log_every_n_steps`` iterations; MLflow per epoch), and the
difference per iteration is compared with one ``train_step`` of the default model on a default batch
(32 images of 3x64x64). Target: under 1%.

    .venv/bin/python benchmarks/train_throughput.py [--rounds 5] [--epochs 5] [--size 2000]
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

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def settings(size: int, image_size: int, dataset: str, tracking: bool = True) -> dict:
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


class _EpochEnds(logging.Handler):
    """Collects the time of each end-of-epoch log record of the train verb."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Epoch "):
            self.times.append(record.created)


def hyrax_epoch_seconds(
    epochs: int, size: int, image_size: int, dataset: str, tracking: bool = True
) -> tuple[list[float], int]:
    """Seconds of each epoch of ``Hyrax().train()`` but the first, from its end-of-epoch log records."""
    from hyrax import Hyrax
    from hyrax.datasets.splits import splits_from_config

    h = Hyrax()
    apply(h, settings(size, image_size, dataset, tracking))
    h.set_config("train.epochs", epochs)
    ends = _EpochEnds()
    logger = logging.getLogger("hyrax.training.reporting")
    logger.addHandler(ends)
    try:
        h.train()
    finally:
        logger.removeHandler(ends)
    n_train = len(splits_from_config(h.config, size)["train"])
    return [later - earlier for earlier, later in zip(ends.times, ends.times[1:], strict=False)], n_train


def plain_epoch_seconds(epochs: int, size: int, image_size: int, dataset: str) -> list[float]:
    """Seconds of each epoch but the first of a hand-written loop."""
    import torch

    from hyrax.config import load_config
    from hyrax.datasets.loading import build_dataset, make_data_loader
    from hyrax.datasets.splits import splits_from_config
    from hyrax.models.factory import build_model
    from hyrax.training.seeding import seed_everything

    config = load_config(**settings(size, image_size, dataset))
    seed = config["general"]["seed"]
    seed_everything(seed)
    dataset = build_dataset(config)
    train = splits_from_config(config, len(dataset))["train"]
    loader = make_data_loader(dataset, train, config["data_loader"], shuffle=True, seed=seed)
    model = build_model(config, dataset, indices=train)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["optimizer"]["kwargs"]["lr"])
    loss_function = torch.nn.MSELoss()
    model.train()
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        total = 0.0
        for batch in loader:
            x = batch["data"]
            loss = loss_function(model.reconstruct(x), x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item()
        seconds.append(time.perf_counter() - start)
    return seconds[1:]


def tracking_cost(iterations: int = 20_000, rounds: int = 5) -> None:
    """Print the cost of tracking per training iteration against one default training step."""
    import torch
    from ignite.engine import Engine

    from hyrax.config import ConfigManager, load_config
    from hyrax.datasets.loading import build_dataset, make_data_loader
    from hyrax.models.factory import build_model
    from hyrax.results import create_results_dir
    from hyrax.training.tracking import attach_tracking

    loss = torch.tensor(0.5)

    def run(tracked: bool) -> float:
        engine = Engine(lambda engine, batch: {"loss": loss})
        manager = ConfigManager(runtime_config={"train": {"mlflow": tracked, "tensorboard": tracked}})
        results_dir = create_results_dir("results", "train")
        manager.write_runtime_config(results_dir)
        data = range(iterations)
        started = time.perf_counter()
        if tracked:
            with attach_tracking(engine, None, results_dir=results_dir, config=manager.config):
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
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run; the first is not timed")
    parser.add_argument("--size", type=int, default=2000, help="objects in the dataset (60%% train)")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--dataset", choices=["random", "synthetic"], default="random")
    parser.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="MLflow and TensorBoard tracking in hyrax train (its default: on)",
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
    print(
        f"torch threads: {__import__('torch').get_num_threads()}, results in {os.getcwd()}", file=sys.stderr
    )

    # Untimed: creates the MLflow store and warms imports and caches.
    hyrax_epoch_seconds(2, args.size, args.image_size, args.dataset)
    ours_all: list[float] = []
    plain_all: list[float] = []
    for round_number in range(1, args.rounds + 1):
        plain = plain_epoch_seconds(args.epochs, args.size, args.image_size, args.dataset)
        ours, n_train = hyrax_epoch_seconds(
            args.epochs, args.size, args.image_size, args.dataset, args.tracking
        )
        plain_all += plain
        ours_all += ours
        rate, plain_rate = n_train * len(ours) / sum(ours), n_train * len(plain) / sum(plain)
        print(
            f"round {round_number}: hyrax train {rate:8.1f} samples/s, plain loop {plain_rate:8.1f} "
            f"samples/s, ratio {rate / plain_rate:.3f}",
            flush=True,
        )
    median = statistics.median(plain_all) / statistics.median(ours_all)
    best = min(plain_all) / min(ours_all)
    print(
        f"per epoch, median: hyrax train {n_train / statistics.median(ours_all):.1f} samples/s, plain "
        f"PyTorch loop {n_train / statistics.median(plain_all):.1f} samples/s, ratio {median:.3f}; "
        f"fastest: {n_train / min(ours_all):.1f} vs {n_train / min(plain_all):.1f} samples/s, "
        f"ratio {best:.3f} (target >= 0.95)"
    )


if __name__ == "__main__":
    main()
