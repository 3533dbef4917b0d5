"""Tracking of a tiny real ignite training run: MLflow store, TensorBoard event files, loss curve."""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from ignite.engine import Engine, Events
from ignite.metrics import Average
from torch.utils.data import DataLoader, TensorDataset

from hyrax.config import ConfigManager
from hyrax.errors import ConfigError
from hyrax.results import create_results_dir
from hyrax.training import tracking as tracking_module
from hyrax.training.engines import EpochMeans
from hyrax.training.mlflow_store import config_params
from hyrax.training.tracking import LOSS_CURVE_NAME, attach_tracking, open_run, record_run

EPOCHS = 3
ITERATIONS_PER_EPOCH = 4
LOG_EVERY = 2


def make_run(results_root: Path, *, mlflow: bool = True, tensorboard: bool = True, metric: bool = False):
    """A trainer, an evaluator run at each epoch's end, their loader, the config and the run directory."""
    manager = ConfigManager(
        runtime_config={
            "general": {"results_dir": str(results_root)},
            "train": {
                "epochs": EPOCHS,
                "experiment_name": "tracking-test",
                "mlflow": mlflow,
                "tensorboard": tensorboard,
                "log_every_n_steps": LOG_EVERY,
            },
            "download": {"password": "hunter2"},
            "optimizer": {"kwargs": {"lr": 0.05, "api_token": "abc123"}},
        }
    )
    results_dir = create_results_dir(results_root, "train")
    manager.write_runtime_config(results_dir)

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    loader = DataLoader(data, batch_size=32 // ITERATIONS_PER_EPOCH)

    def train_step(engine, batch):
        x, y = batch
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    def eval_step(engine, batch):
        x, y = batch
        with torch.no_grad():
            return {"loss": torch.nn.functional.mse_loss(model(x), y).item()}

    trainer, evaluator = Engine(train_step), Engine(eval_step)
    for engine in (trainer, evaluator):
        if metric:
            # Shifted, so that a test can tell the metrics from the means of the iteration outputs.
            Average(output_transform=lambda output: output["loss"] + 100).attach(engine, "loss")
            Average(output_transform=lambda output: output["loss"] + 200).attach(engine, "shifted")
        else:
            EpochMeans().attach(engine)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(loader))
    return trainer, evaluator, loader, manager.config, results_dir, model, optimizer


def options(config) -> dict:
    """The keyword arguments of attach_tracking that the train verb takes from ``config``."""
    train = config["train"]
    return {
        "mlflow_dir": Path(config["general"]["results_dir"]) / "mlflow" if train["mlflow"] else None,
        "experiment_name": train["experiment_name"],
        "params": config_params(config) if train["mlflow"] else None,
        "tensorboard": train["tensorboard"],
        "log_every_n_steps": train["log_every_n_steps"],
    }


def read_scalars(directory: Path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of the TFRecord event files in ``directory``, checking each record's CRCs."""
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.record_writer import masked_crc32c

    scalars = defaultdict(list)
    for path in sorted(directory.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            header = data[offset : offset + 8]
            (length,) = struct.unpack("<Q", header)
            assert struct.unpack_from("<I", data, offset + 8)[0] == masked_crc32c(header)
            record = data[offset + 12 : offset + 12 + length]
            assert struct.unpack_from("<I", data, offset + 12 + length)[0] == masked_crc32c(record)
            offset += 16 + length
            event = Event.FromString(record)
            for value in event.summary.value:
                scalars[value.tag].append((event.step, value.simple_value))
    return dict(scalars)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One tracked 3-epoch run, shared by the tests that read its records back."""
    trainer, evaluator, loader, config, results_dir, model, optimizer = make_run(
        tmp_path_factory.mktemp("results")
    )
    with attach_tracking(
        trainer, evaluator, results_dir=results_dir, model=model, optimizer=optimizer, **options(config)
    ) as tracking:
        trainer.run(loader, max_epochs=EPOCHS)
    return tracking, config, results_dir


@pytest.fixture(scope="module")
def mlflow_run(finished_run):
    from mlflow.tracking import MlflowClient

    tracking, config, results_dir = finished_run
    store = Path(config["general"]["results_dir"]) / "mlflow" / "mlflow.db"
    assert store.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("tracking-test")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1
    return client, runs[0]


def test_mlflow_run_is_named_after_results_dir_and_finished(finished_run, mlflow_run):
    tracking, _, results_dir = finished_run
    client, run = mlflow_run
    assert run.info.run_name == results_dir.name
    assert run.info.status == "FINISHED"
    assert run.data.tags["hyrax.results_dir"] == str(results_dir.resolve())
    assert run.data.tags["hyrax.num_parameters"] == "5"


def test_mlflow_params_are_the_flattened_config_without_secrets(mlflow_run):
    _, run = mlflow_run
    params = run.data.params
    assert params["train.epochs"] == str(EPOCHS)
    assert params["train.experiment_name"] == "tracking-test"
    assert params["optimizer.kwargs.lr"] == "0.05"
    assert params["data_set.transforms"] == "[]"
    assert "download.password" not in params
    assert "optimizer.kwargs.api_token" not in params
    assert "hunter2" not in params.values() and "abc123" not in params.values()


@pytest.mark.parametrize("name", ["train_loss", "val_loss", "lr", "epoch_time_s", "samples_per_s"])
def test_mlflow_has_one_value_per_epoch(mlflow_run, name):
    client, run = mlflow_run
    history = client.get_metric_history(run.info.run_id, name)
    assert sorted(metric.step for metric in history) == list(range(1, EPOCHS + 1))
    assert all(metric.value > 0 for metric in history)


def test_mlflow_metrics_match_the_epoch_history(finished_run, mlflow_run):
    tracking, _, _ = finished_run
    client, run = mlflow_run
    logged = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "val_loss")}
    assert logged == pytest.approx({int(row["epoch"]): row["val_loss"] for row in tracking.history})
    assert [row["lr"] for row in tracking.history] == [0.05] * EPOCHS
    samples = [row["samples_per_s"] * row["epoch_time_s"] for row in tracking.history]
    assert samples == pytest.approx([32.0] * EPOCHS)


def test_mlflow_artifacts_are_beside_the_store(finished_run, mlflow_run):
    _, config, _ = finished_run
    client, run = mlflow_run
    names = {artifact.path for artifact in client.list_artifacts(run.info.run_id)}
    assert {"runtime_config.toml", LOSS_CURVE_NAME} <= names
    artifacts = (Path(config["general"]["results_dir"]) / "mlflow" / "artifacts").resolve()
    assert run.info.artifact_uri.startswith(artifacts.as_uri())


def test_no_global_mlflow_state_is_left(finished_run):
    import mlflow

    _, config, _ = finished_run
    assert mlflow.active_run() is None
    assert str(config["general"]["results_dir"]) not in mlflow.get_tracking_uri()


def test_deleted_experiment_is_reported(finished_run, mlflow_run):
    client, _ = mlflow_run
    _, config, results_dir = finished_run
    client.delete_experiment(client.create_experiment("deleted-one"))
    deleted = {**options(config), "experiment_name": "deleted-one", "tensorboard": False}
    own_dir = create_results_dir(results_dir.parent, "train")
    trainer = Engine(lambda engine, batch: {"loss": 1.0})
    EpochMeans().attach(trainer)
    # MLflow opens in the background; its error stops the run at the end of the first epoch.
    with (
        pytest.raises(ConfigError, match="was deleted"),
        attach_tracking(trainer, None, results_dir=own_dir, **deleted),
    ):
        trainer.run([0, 1], max_epochs=2)
    assert trainer.state.epoch == 1


def test_tensorboard_scalars(finished_run):
    _, _, results_dir = finished_run
    scalars = read_scalars(results_dir / "tensorboard")
    steps = list(range(LOG_EVERY, EPOCHS * ITERATIONS_PER_EPOCH + 1, LOG_EVERY))
    assert [step for step, _ in scalars["iteration/loss"]] == steps
    assert [value for _, value in scalars["iteration/lr"]] == pytest.approx([0.05] * len(steps))
    for name in ("train_loss", "val_loss", "lr", "epoch_time_s", "samples_per_s"):
        assert [step for step, _ in scalars[f"epoch/{name}"]] == list(range(1, EPOCHS + 1))


def test_loss_curve_is_a_png(finished_run):
    _, _, results_dir = finished_run
    data = (results_dir / LOSS_CURVE_NAME).read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    assert width > 100 and height > 100


@pytest.mark.parametrize("epochs", [1, 2, 12])
def test_the_loss_curve_marks_whole_epochs_only(tmp_path, epochs):
    from hyrax.training.tracking import _plot_loss_curve

    history = [{"epoch": float(e), "train_loss": 1.0 / e, "val_loss": 1.2 / e} for e in range(1, epochs + 1)]
    figure = _plot_loss_curve(history, tmp_path / LOSS_CURVE_NAME, "run")
    figure.canvas.draw()
    (axes,) = figure.axes
    low, high = axes.get_xlim()
    shown = [tick for tick in axes.get_xticks() if low <= tick <= high]
    assert shown and all(float(tick).is_integer() and 1 <= tick <= epochs for tick in shown), shown
    assert (tmp_path / LOSS_CURVE_NAME).stat().st_size > 0


def test_close_is_idempotent_and_detaches(finished_run, mlflow_run):
    tracking, _, _ = finished_run
    client, run = mlflow_run
    tracking.close()
    tracking.close("FAILED")
    assert client.get_run(run.info.run_id).info.status == "FINISHED"


def test_record_run_records_a_finished_run(finished_run, mlflow_run):
    client, _ = mlflow_run
    _, config, _ = finished_run
    results_dir = create_results_dir(config["general"]["results_dir"], "test")
    (results_dir / "metrics.json").write_text("{}")
    artifacts = [results_dir / "metrics.json"]
    store = options(config)["mlflow_dir"]
    params = config_params(config)
    opening = open_run(store, "record-run-test", results_dir, params=params, tags={"a": "b"})
    run_id = record_run(opening, {"test_loss": 0.25}, artifacts)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == "record-run-test"
    assert run.info.run_name == results_dir.name and run.info.status == "FINISHED"
    assert run.data.metrics == {"test_loss": 0.25} and run.data.tags["a"] == "b"
    assert run.data.params == params and "download.password" not in run.data.params
    assert [artifact.path for artifact in client.list_artifacts(run_id)] == ["metrics.json"]


def test_evaluator_metrics_are_preferred_and_handlers_are_removed_at_close(tmp_path):
    trainer, evaluator, loader, config, results_dir, *_ = make_run(
        tmp_path, mlflow=False, tensorboard=False, metric=True
    )
    tracking = attach_tracking(trainer, evaluator, results_dir=results_dir, **options(config))
    trainer.run(loader, max_epochs=2)
    tracking.close()
    for name in ("train_loss", "val_loss", "train_shifted", "val_shifted"):
        assert all(row[name] > 100 for row in tracking.history), name
    assert (results_dir / LOSS_CURVE_NAME).is_file()
    assert not (tmp_path / "mlflow").exists() and not (results_dir / "tensorboard").exists()
    trainer.run(loader, max_epochs=3)
    assert len(tracking.history) == 2


def test_other_ranks_get_a_no_op(tmp_path, monkeypatch):
    trainer, evaluator, loader, config, results_dir, model, optimizer = make_run(tmp_path)
    monkeypatch.setattr(tracking_module.idist, "get_rank", lambda: 1)
    with attach_tracking(
        trainer, evaluator, results_dir=results_dir, model=model, optimizer=optimizer, **options(config)
    ) as tracking:
        trainer.run(loader, max_epochs=1)
    assert tracking.history == []
    assert not (tmp_path / "mlflow").exists()
    assert not (results_dir / "tensorboard").exists() and not (results_dir / LOSS_CURVE_NAME).exists()


def test_step_output_without_loss_is_reported(tmp_path):
    trainer, evaluator, loader, config, results_dir, *_ = make_run(tmp_path, mlflow=False, tensorboard=False)
    broken = Engine(lambda engine, batch: 0.5)
    with (
        attach_tracking(broken, None, results_dir=results_dir, **options(config)),
        pytest.raises(TypeError, match="'loss' entry"),
    ):
        broken.run(loader, max_epochs=1)


def test_log_every_n_steps_must_be_positive(tmp_path):
    trainer, evaluator, _, config, results_dir, *_ = make_run(tmp_path, mlflow=False)
    with pytest.raises(ConfigError, match="'train.log_every_n_steps' key must be an integer >= 1"):
        config["train"]["log_every_n_steps"] = 0
    with pytest.raises(ValueError, match="log_every_n_steps should be an integer >= 1, but given 0"):
        attach_tracking(trainer, evaluator, results_dir=results_dir, log_every_n_steps=0)


def test_a_param_longer_than_mlflow_allows_is_cut(tmp_path):
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    from hyrax.training.mlflow_store import MlflowRun

    run = MlflowRun(tmp_path / "mlflow", "long-params", "run", {})
    run.log_params({"data_set.fields": "x" * (MAX_PARAM_VAL_LENGTH + 10), "short": "y"})
    run.close("FINISHED", [])
    params = run.client.get_run(run.run_id).data.params
    assert params["short"] == "y"
    assert len(params["data_set.fields"]) == MAX_PARAM_VAL_LENGTH and params["data_set.fields"].endswith(
        "..."
    )
