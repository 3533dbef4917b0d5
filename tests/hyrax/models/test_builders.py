"""Loss, optimizer and scheduler from their configuration tables, and the errors for bad ones."""

from __future__ import annotations

import pytest
import torch

from hyrax.config import load_config
from hyrax.errors import ConfigError
from hyrax.models.builders import build_criterion, build_optimizer, build_scheduler


@pytest.fixture
def config():
    return load_config()


def parameters():
    return torch.nn.Linear(2, 1).parameters()


def test_defaults(config):
    assert isinstance(build_criterion(config["criterion"]), torch.nn.MSELoss)
    assert isinstance(
        build_criterion(config["criterion"], default="torch.nn.CrossEntropyLoss"), torch.nn.CrossEntropyLoss
    )
    optimizer = build_optimizer(config["optimizer"], parameters())
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.param_groups[0]["lr"] == 0.001
    assert build_scheduler(config["scheduler"], optimizer) is None


def test_bad_optimizer_name_names_the_value_and_the_table(config):
    config["optimizer"]["name"] = "torch.optim.Adamm"
    with pytest.raises(ConfigError) as error:
        build_optimizer(config["optimizer"], parameters())
    message = str(error.value)
    assert "optimizer.name = 'torch.optim.Adamm'" in message
    assert "[optimizer]" in message
    assert "Did you mean `Adam`?" in message
    assert error.value.key == "optimizer.name"


def test_a_name_without_a_module_suggests_the_dotted_form(config):
    config["optimizer"]["name"] = "Adam"
    with pytest.raises(ConfigError, match="not a dotted import path.*torch.optim.Adam"):
        build_optimizer(config["optimizer"], parameters())


def test_bad_keyword_arguments_name_the_kwargs_table(config):
    config["optimizer"]["kwargs"]["momentum"] = 0.9
    with pytest.raises(ConfigError) as error:
        build_optimizer(config["optimizer"], parameters())
    assert "[optimizer.kwargs]" in str(error.value)
    assert "momentum = 0.9" in str(error.value)
    assert error.value.key == "optimizer.kwargs"


def test_scheduler_is_built_with_its_kwargs(config):
    config["scheduler"]["name"] = "torch.optim.lr_scheduler.StepLR"
    config["scheduler"]["kwargs"]["step_size"] = 3
    optimizer = build_optimizer(config["optimizer"], parameters())
    scheduler = build_scheduler(config["scheduler"], optimizer)
    assert isinstance(scheduler, torch.optim.lr_scheduler.StepLR) and scheduler.step_size == 3


def test_missing_scheduler_module_is_reported(config):
    config["scheduler"]["name"] = "no_such_package.Scheduler"
    with pytest.raises(ConfigError, match=r"scheduler.name = 'no_such_package.Scheduler'.*not found"):
        build_scheduler(config["scheduler"], build_optimizer(config["optimizer"], parameters()))
