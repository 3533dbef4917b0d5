"""Outlier scores from scikit-learn on the latent vectors: an isolation forest, and the local outlier factor.

Each is fitted on a seeded sample of ``outliers.fit_sample_size`` vectors, then scores every vector
in batches, so memory does not grow with the number of objects. Scikit-learn calls higher scores
more normal; these methods report the negation, so that, as for every method, higher is odder.
"""

from __future__ import annotations

import numpy as np

from hyrax.outliers.base import OutlierError, OutlierMethod, ScoringJob


class IsolationForestMethod(OutlierMethod):
    """scikit-learn's IsolationForest: objects that few random splits isolate are odd."""

    registry_name = "isolation_forest"

    def score(self, job: ScoringJob) -> dict[str, np.ndarray]:
        """Fit the forest on a sample, then score every vector in batches."""
        from sklearn.ensemble import IsolationForest

        forest = IsolationForest(n_estimators=200, random_state=int(job.config["general"]["seed"]), n_jobs=1)
        forest.fit(job.sample(int(job.settings["fit_sample_size"])))
        scores = np.concatenate([-forest.score_samples(vectors) for _, vectors in job.batches()])
        return {"score": scores, "isolation_score": scores}


class LocalOutlierFactorMethod(OutlierMethod):
    """scikit-learn's LocalOutlierFactor: objects in regions sparser than their neighbours' are odd."""

    registry_name = "lof"

    def score(self, job: ScoringJob) -> dict[str, np.ndarray]:
        """Fit LOF (novelty mode, ``outliers.k`` neighbours) on a sample, then score every vector."""
        from sklearn.neighbors import LocalOutlierFactor

        k = int(job.settings["k"])
        sample = job.sample(int(job.settings["fit_sample_size"]))
        if k >= len(sample):
            raise OutlierError(
                f"outliers.k = {k}, but LOF is fitted on {len(sample)} vectors; set outliers.k below "
                f"{len(sample)} (or raise outliers.fit_sample_size)."
            )
        lof = LocalOutlierFactor(n_neighbors=k, novelty=True).fit(sample)
        scores = np.concatenate([-lof.score_samples(vectors) for _, vectors in job.batches()])
        return {"score": scores, "local_outlier_factor": scores}
