from __future__ import annotations

import pytest
import torch

from hyrax.errors import ConfigError
from hyrax.training.device import select_device


def test_cpu_and_auto():
    assert select_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert select_device("auto").type in (expected, "mps")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on machines without CUDA")
def test_cuda_without_a_gpu_says_what_to_do():
    with pytest.raises(ConfigError, match='no CUDA GPU.*Use "auto" or "cpu"') as error:
        select_device("cuda")
    assert error.value.key == "general.device"


def test_unknown_device_lists_the_choices():
    with pytest.raises(ConfigError, match="is not a device"):
        select_device("gpu0")
