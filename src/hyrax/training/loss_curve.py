"""The loss-curve plot saved at the end of training."""

from __future__ import annotations

from pathlib import Path


def plot_loss_curve(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Write the train and validation loss per epoch as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(6.4, 4.0), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values: list[float] = []
    for key, label in (("train_loss", "train"), ("val_loss", "validation")):
        rows = [row for row in history if key in row]
        if rows:
            marker = "o" if len(rows) <= 50 else None
            axes.plot([row["epoch"] for row in rows], [row[key] for row in rows], marker=marker, label=label)
            values += [row[key] for row in rows]
    # A log axis shows the late, small improvements once the loss has fallen more than tenfold.
    if values and min(values) > 0 and max(values) / min(values) > 10:
        axes.set_yscale("log")
    axes.set(xlabel="epoch", ylabel="loss", title=title)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    figure.savefig(path, dpi=100)
