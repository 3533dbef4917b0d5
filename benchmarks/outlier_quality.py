"""How well each outlier method finds rare objects: precision in the top 1% and area under the PR curve.

The data is the built-in simulated sky with ``artefact_fraction`` of the objects carrying an image
artefact (half satellite trails across the stamp, half cosmic-ray hits in one band). The default
autoencoder is trained briefly, the objects are inferred, and every method ranks them; for each kind
of rare object (trails, cosmic rays, either) the script prints the precision in the top 1% of the
ranking, the area under the precision-recall curve (average precision), and chance (the rare
objects' share). The figures in ``docs/outliers.md`` come from this script.

    .venv/bin/python benchmarks/outlier_quality.py [--size 2000] [--epochs 4] [--artefact-fraction 0.02]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

METHODS = [
    ("knn", {}),
    ("lof", {}),
    ("isolation_forest", {}),
    ("reconstruction", {"outliers.reconstruction_statistic": "mean"}),
    ("reconstruction", {"outliers.reconstruction_statistic": "max"}),
]


def main() -> None:
    import numpy as np
    from sklearn.metrics import average_precision_score

    from hyrax import Hyrax

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--artefact-fraction", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    os.chdir(tempfile.mkdtemp(prefix="hyrax-outlier-quality-"))
    h = Hyrax()
    settings = {
        "general.seed": args.seed,
        "data_set.SyntheticGalaxyDataSet.size": args.size,
        "data_set.SyntheticGalaxyDataSet.image_size": args.image_size,
        "data_set.SyntheticGalaxyDataSet.artefact_fraction": args.artefact_fraction,
        "train.epochs": args.epochs,
        "train.progress_bar": False,
        "train.mlflow": False,
        "train.tensorboard": False,
    }
    for key, value in settings.items():
        h.set_config(key, value)
    started = time.perf_counter()
    h.train()
    source = h.infer()
    artefacts = source.metadata(np.arange(len(source)), ["artefact"])["artefact"]
    kind_of = dict(zip(source.ids()[:], artefacts, strict=True))
    print(
        f"{len(source)} objects, {int((artefacts == 'trail').sum())} trails, "
        f"{int((artefacts == 'cosmic_ray').sum())} cosmic rays; trained and inferred in "
        f"{time.perf_counter() - started:.0f} s"
    )
    print(f"{'method':<22} {'rare objects':<12} {'precision@1%':>12} {'AUPRC':>7} {'chance':>7}")
    for method, extra in METHODS:
        h.set_config("outliers.method", method)
        for key, value in extra.items():
            h.set_config(key, value)
        table = h.outliers(top=0)
        kinds = np.array([kind_of[i] for i in table["object_id"]])
        top = max(1, len(kinds) // 100)
        label = method + (f" ({extra['outliers.reconstruction_statistic']})" if extra else "")
        for name, rare in (
            ("trails", kinds == "trail"),
            ("cosmic rays", kinds == "cosmic_ray"),
            ("either", kinds != "none"),
        ):
            print(
                f"{label:<22} {name:<12} {rare[:top].mean():>12.2f} "
                f"{average_precision_score(rare, table['score']):>7.3f} {rare.mean():>7.3f}"
            )


if __name__ == "__main__":
    main()
