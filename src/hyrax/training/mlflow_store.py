"""Writing runs to the shared MLflow store ``<general.results_dir>/mlflow/mlflow.db``.

Each run is written through its own ``MlflowClient``, so no global MLflow state (tracking URI, active
run) is left behind.
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from hyrax.config.redact import is_secret_key, redact_value
from hyrax.errors import ConfigError

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 30.0
# The shared store's folder in ``general.results_dir``.
STORE_DIR_NAME = "mlflow"
# The characters MLflow accepts in param and metric names, and its limit on their length.
_MLFLOW_NAME = re.compile(r"^[\w\-. :/]{1,250}$")


def scalars(values: Mapping) -> dict[str, float]:
    """The entries of ``values`` that are numbers or one-element tensors, as floats."""
    return {
        str(key): float(value)
        for key, value in values.items()
        if isinstance(value, (int, float)) or hasattr(value, "numel") and value.numel() == 1
    }


def config_params(config: Mapping, prefix: str = "") -> dict[str, str]:
    """The configuration as MLflow params: dotted keys, JSON values, secrets left out.

    A key is secret when the default configuration tags it ``[secret]`` or its name looks like one
    (password, token, ...), and URLs lose their user-info (:mod:`hyrax.config.redact`). It does not
    import MLflow; :meth:`MlflowRun.log_params` cuts values longer than MLflow allows.
    """
    params: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            params.update(config_params(value, f"{name}."))
            continue
        if is_secret_key(config, key):
            continue
        value = redact_value(value)
        if not _MLFLOW_NAME.match(name):
            logger.warning("Config key %r is not a valid MLflow param name; it is not logged.", name)
            continue
        params[name] = value if isinstance(value, str) else json.dumps(value, default=str)
    return params


def ending_status(error: BaseException | None) -> str:
    """The MLflow status of a run ending with ``error``: FINISHED for None, KILLED for Ctrl-C, else FAILED."""
    if error is None:
        return "FINISHED"
    return "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"


class MlflowRun:
    """One run in the shared SQLite store, written through its own client: no global MLflow state."""

    def __init__(self, store_dir: Path, experiment_name: str, run_name: str, tags: dict[str, str]) -> None:
        from mlflow.tracking import MlflowClient

        # MLflow installs its own INFO handler on import; its store-creation chatter is not for users.
        if not logging.getLogger("hyrax").isEnabledFor(logging.DEBUG):
            logging.getLogger("mlflow").setLevel(logging.WARNING)

        store_dir.mkdir(parents=True, exist_ok=True)
        self.tracking_uri = f"sqlite:///{(store_dir / 'mlflow.db').resolve().as_posix()}"
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        experiment_id = self._experiment_id(experiment_name, store_dir / "artifacts")
        self.run_id = self.client.create_run(experiment_id, run_name=run_name, tags=tags).info.run_id
        self._pending: list[Any] = []
        self._flushed = time.monotonic()

    def _experiment_id(self, name: str, artifact_dir: Path) -> str:
        from mlflow.exceptions import MlflowException

        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return self.client.create_experiment(name, artifact_location=artifact_dir.resolve().as_uri())
            except MlflowException:
                # Another run created it between the two calls.
                experiment = self.client.get_experiment_by_name(name)
                if experiment is None:
                    raise
        if experiment.lifecycle_stage == "deleted":
            raise ConfigError(
                f"MLflow experiment {name!r} was deleted. Restore it with `MLFLOW_TRACKING_URI="
                f"{self.tracking_uri} mlflow experiments restore --experiment-id {experiment.experiment_id}`"
                " or set train.experiment_name to another name.",
                key="train.experiment_name",
            )
        return experiment.experiment_id

    def log_params(self, params: Mapping[str, str]) -> None:
        """Log ``params`` in batches of MLflow's maximum size; values longer than it allows end in ``...``."""
        from mlflow.entities import Param
        from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH as LIMIT

        items = [
            Param(key, text if len(text) <= LIMIT else text[: LIMIT - 3] + "...")
            for key, text in params.items()
        ]
        for start in range(0, len(items), 100):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """Buffer ``metrics`` at ``step``; they are written every 30 s and at close."""
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        self._pending += [Metric(k, v, stamp, step) for k, v in metrics.items() if math.isfinite(v)]
        # A write takes 20-70 ms: too long to spend after every short epoch.
        if time.monotonic() - self._flushed > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Write the buffered metrics."""
        for start in range(0, len(self._pending), 1000):  # MLflow's limit per batch
            self.client.log_batch(self.run_id, metrics=self._pending[start : start + 1000])
        self._pending, self._flushed = [], time.monotonic()

    def close(self, status: str, artifacts: list[Path]) -> None:
        """Write what is buffered, log ``artifacts`` and end the run with ``status``."""
        self.flush()
        for path in artifacts:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, status)


class OpeningMlflowRun:
    """An :class:`MlflowRun` that a background thread opens (:func:`open_run`) while training starts.

    Importing MLflow and opening its store take about 3 s on a project's first run and 1.5 s after;
    the thread does both, and logs the params, while the main thread builds the data loaders and the
    model and trains. Each method waits for the opening (by the end of the first epoch it is usually
    done) and raises what it raised, e.g. a deleted experiment's ``ConfigError``.
    """

    def __init__(self, opening: Future[MlflowRun]) -> None:
        self._opening = opening

    @property
    def run_id(self) -> str:
        """The MLflow run id, once the run is open."""
        return self._opening.result().run_id

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        """As :meth:`MlflowRun.log_metrics`, once the run is open."""
        self._opening.result().log_metrics(metrics, step)

    def close(self, status: str, artifacts: list[Path]) -> None:
        """As :meth:`MlflowRun.close`; a run that failed to open raises its error only if ``status`` is
        FINISHED, since otherwise the training is already stopping on an error."""
        error = self._opening.exception()
        if error is None:
            self._opening.result().close(status, artifacts)
        elif status == "FINISHED":
            raise error


def open_run(
    store_dir: Path,
    experiment_name: str,
    results_dir: Path,
    *,
    params: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> OpeningMlflowRun:
    """Start opening, in the background, the run of ``results_dir`` in the MLflow store in ``store_dir``.

    The run is named after ``results_dir``, tagged with its path, in experiment ``experiment_name``,
    and holds ``params`` (e.g. the configuration through :func:`config_params`).
    """
    results_dir = Path(results_dir)
    run_tags = {"hyrax.results_dir": str(results_dir.resolve()), **dict(tags or {})}
    opening: Future[MlflowRun] = Future()

    def open_in_background() -> None:
        try:
            run = MlflowRun(Path(store_dir), experiment_name, results_dir.name, run_tags)
            run.log_params(params or {})
            opening.set_result(run)
        except BaseException as error:  # raised in the main thread when the run is used
            opening.set_exception(error)

    threading.Thread(target=open_in_background, name="hyrax-mlflow", daemon=True).start()
    return OpeningMlflowRun(opening)


def record_run(
    run: OpeningMlflowRun, metrics: Mapping[str, float], artifacts: list[Path] | tuple[Path, ...] = ()
) -> str:
    """End a run other than training (e.g. ``hyrax test``, opened by :func:`open_run` when it started)
    with ``metrics`` at step 0 and ``artifacts``.

    Returns
    -------
    str
        The MLflow run id.
    """
    status = "FAILED"
    try:
        run.log_metrics(scalars(metrics), step=0)
        status = "FINISHED"
    finally:
        run.close(status, [Path(path) for path in artifacts])
    return run.run_id
