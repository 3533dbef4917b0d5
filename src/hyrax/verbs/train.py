"""The ``train`` verb: train the configured model on the configured dataset."""

from __future__ import annotations

import logging
from typing import Any

from hyrax.verbs.base import Verb, hyrax_verb

logger = logging.getLogger(__name__)


@hyrax_verb("train")
class Train(Verb):
    """Train the configured model on the configured dataset and save its weights."""

    next_step = "`hyrax infer` (a latent vector per object) or `hyrax test` (accuracy on the test split)"

    add_parser_kwargs = {
        "epilog": "Resume an interrupted run with `hyrax train --set train.resume=true`. On several GPUs: "
        "`torchrun --nproc_per_node=N $(which hyrax) train`, or set train.nproc_per_node."
    }

    def run(self) -> Any:
        """Train ``model.name`` on the train split of ``data_set.name``, validating every epoch.

        Writes into a new results directory the final weights (``train.weights_filename``), the
        latest and best checkpoints, the splits and ``runtime_config.toml``. With ``train.resume``
        the run continues from a checkpoint where it stopped. Ctrl-C stops after the current batch,
        writes a checkpoint and says how to resume.

        Returns
        -------
        HyraxModel
            The trained model, in eval mode.
        """
        from hyrax.training.checkpoint import find_resume_checkpoint
        from hyrax.training.distributed import Launch
        from hyrax.training.session import TrainingJob, train_process

        config = self.config
        train = config["train"]
        launch = Launch.from_settings(
            train["distributed_backend"], train["nproc_per_node"], config["general"]["device"]
        )
        resume_from = find_resume_checkpoint(train["resume"], config["general"]["results_dir"])
        if resume_from is not None:
            logger.info("Resuming the run of %s", resume_from)
        if not launch.is_main:
            # Another torchrun rank owns the results directory; this one only trains.
            return launch.run(train_process, TrainingJob(config, None, resume_from))
        with self.results_directory() as results_dir:
            model = launch.run(train_process, TrainingJob(config, results_dir, resume_from))
            if model is None:
                # The spawned processes trained it: rebuild it here from its saved weights.
                from hyrax.datasets.loading import build_dataset
                from hyrax.models.factory import build_model

                weights = results_dir / train["weights_filename"]
                model = build_model(config, build_dataset(config), for_training=False).load(weights).eval()
        return model
