"""What each torchrun "node" of ``test_multinode.py`` runs: train, then save this rank's weights.

Usage: ``python -m torch.distributed.run ... multinode_train.py <config.toml> <out dir>``. The trained
model's ``state_dict`` is saved to ``<out dir>/rank<RANK>.pt``, RANK from torchrun's environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main(config_file: str, out_dir: str) -> None:
    import torch

    from hyrax import Hyrax

    model = Hyrax(config_file).train()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out / f"rank{os.environ['RANK']}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
