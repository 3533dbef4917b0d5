import pickle

import numpy as np
import pytest
import torch

from hyrax.config import load_config
from hyrax.datasets.base import HyraxDataset
from hyrax.datasets.transforms import (
    NAMED_TRANSFORMS,
    HyraxImageDataset,
    build_transforms,
    crop_or_pad,
    log_stretch,
    normalize,
)
from hyrax.errors import ConfigError, DataError


class Ramps(HyraxImageDataset, HyraxDataset):
    registry_name = None

    def __init__(self, config, shape=(2, 6, 6)):
        super().__init__(config)
        self.shape = shape
        self._configure_transforms(config)

    def __len__(self):
        return 3

    def ids(self):
        return ["a", "b", "c"]

    def get_data(self, index):
        raw = np.arange(np.prod(self.shape), dtype=np.float32).reshape(self.shape) - index * 10
        return self.apply_transforms(raw)


def make_config(transforms, crop_to=False):
    config = load_config()
    config["data_set"]["transforms"] = transforms
    config["data_set"]["crop_to"] = crop_to
    return config


def test_log_is_finite_for_zero_and_negative_values_and_mirrors_log1p():
    values = np.array([-100.0, -1.0, 0.0, 1.0, 100.0], dtype=np.float32)
    result = log_stretch(values)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result[3:], np.log1p(values[3:]))
    np.testing.assert_allclose(result[:2], -np.log1p(-values[:2]))
    assert result[2] == 0


def test_normalize_gives_zero_mean_unit_std_and_ignores_nan():
    image = np.arange(24, dtype=np.float32).reshape(2, 3, 4) * 3 + 7
    image[0, 0, 0] = np.nan
    result = normalize(image)
    assert np.isnan(result[0, 0, 0])
    finite = result[np.isfinite(result)]
    assert finite.mean() == pytest.approx(0, abs=1e-6)
    assert finite.std() == pytest.approx(1, rel=1e-5)


def test_normalize_of_a_constant_image_is_zero_not_nan():
    result = normalize(np.full((1, 4, 4), 5.0, dtype=np.float32))
    assert np.array_equal(result, np.zeros((1, 4, 4)))


def test_crop_or_pad_crops_the_centre():
    image = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    assert crop_or_pad(image, 3, 3)[0].tolist() == image[0, 1:4, 1:4].tolist()


def test_crop_or_pad_zero_pads_a_small_image_in_the_centre_and_mixes_axes():
    image = np.ones((2, 2, 6), dtype=np.float32)
    result = crop_or_pad(image, 4, 4)
    assert result.shape == (2, 4, 4)
    assert result[:, 1:3, :].sum() == 2 * 2 * 4
    assert result[:, 0, :].sum() == 0 and result[:, 3, :].sum() == 0


def test_configured_transforms_apply_in_order():
    tanh_then_normalize = Ramps(make_config(["tanh", "normalize"])).get_data(0)
    normalize_then_tanh = Ramps(make_config(["normalize", "tanh"])).get_data(0)
    assert not np.allclose(tanh_then_normalize, normalize_then_tanh)
    raw = np.arange(72, dtype=np.float32).reshape(2, 6, 6)
    np.testing.assert_allclose(normalize_then_tanh, np.tanh(normalize(raw)), rtol=1e-6)
    assert normalize_then_tanh.dtype == np.float32


def test_item_data_is_transformed():
    item = Ramps(make_config(["arcsinh"]))[1]
    expected = np.arcsinh(np.arange(72, dtype=np.float32).reshape(2, 6, 6) - 10)
    np.testing.assert_allclose(item["data"].numpy(), expected, rtol=1e-6)


def test_crop_to_named_uses_the_configured_size():
    assert Ramps(make_config(["tanh", "crop_to"], crop_to=[4, 2])).get_data(0).shape == (2, 4, 2)


def test_crop_to_set_but_not_named_crops_first():
    dataset = Ramps(make_config(["normalize"], crop_to=[2, 2]))
    raw = np.arange(72, dtype=np.float32).reshape(2, 6, 6)
    np.testing.assert_allclose(dataset.get_data(0), normalize(raw[:, 2:4, 2:4]), rtol=1e-6)


def test_crop_to_named_without_a_size_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data_set\.crop_to = \[height, width\]") as info:
        build_transforms(["crop_to"], False)
    assert info.value.key == "data_set.crop_to"


@pytest.mark.parametrize("crop_to", [[0, 4], [4], [4.5, 4], [True, 4]])
def test_invalid_crop_size_is_rejected(crop_to):
    with pytest.raises(ConfigError, match="two positive integers"):
        build_transforms([], crop_to)


def test_unknown_name_lists_valid_names_and_mentions_dotted_paths():
    with pytest.raises(ConfigError) as info:
        build_transforms(["tahn"])
    message = str(info.value)
    assert "Did you mean `tanh`?" in message
    assert all(name in message for name in NAMED_TRANSFORMS)
    assert "dotted import path" in message
    assert info.value.key == "data_set.transforms"


def test_dotted_path_that_cannot_be_imported_is_a_config_error():
    with pytest.raises(ConfigError, match="data_set.transforms: .*no_such_module"):
        build_transforms(["no_such_module.flip"])


def test_non_string_entry_is_rejected():
    with pytest.raises(ConfigError, match="must be strings"):
        build_transforms([3])


def test_dotted_path_callable_receives_a_float32_array():
    data = Ramps(make_config(["numpy.negative"])).get_data(0)
    assert data[0, 0, 1] == -1


def test_callable_returning_a_tensor_is_converted_back_to_an_array():
    dataset = Ramps(make_config(["torch.from_numpy", "tanh"]))
    data = dataset.get_data(0)
    assert isinstance(data, np.ndarray) and data.dtype == np.float32
    assert data[0, 0, 1] == pytest.approx(np.tanh(1))


def test_a_class_path_is_instantiated_without_arguments():
    dataset = Ramps(make_config(["torch.nn.Identity"]))
    assert isinstance(dataset.transforms[0], torch.nn.Identity)
    assert dataset.get_data(0)[0, 0, 1] == 1


def test_a_class_that_needs_arguments_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be built without arguments"):
        build_transforms(["torch.nn.Linear"])


def test_a_failing_function_is_named_in_the_error():
    dataset = Ramps(make_config(["numpy.linalg.inv"]))
    with pytest.raises(DataError, match="'numpy.linalg.inv' failed on a float32 numpy array of shape"):
        dataset.get_data(0)


def test_a_tensor_only_transform_fails_with_a_message_naming_it_and_the_fix():
    dataset = Ramps(make_config(["torch.nn.Softsign"]))
    with pytest.raises(DataError) as info:
        dataset.get_data(0)
    message = str(info.value)
    assert "torch.nn.modules.activation.Softsign" in message
    assert "numpy arrays" in message and "torch.from_numpy" in message


def test_a_transform_returning_a_non_array_is_a_data_error():
    dataset = Ramps(make_config(["builtins.len"]))
    with pytest.raises(DataError, match="'builtins.len' returned int"):
        dataset.get_data(0)


def test_update_transform_appends_after_the_configured_ones():
    dataset = Ramps(make_config(["tanh"]))
    dataset._update_transform(lambda image: image * 10)
    assert dataset.get_data(0)[0, 0, 1] == pytest.approx(10 * np.tanh(1))
    assert len(dataset.transforms) == 2
    with pytest.raises(TypeError, match="callable"):
        dataset._update_transform("tanh")


def test_reconfiguring_replaces_the_stack_and_none_clears_it():
    dataset = Ramps(make_config(["tanh", "log"]))
    dataset._configure_transforms(None)
    assert dataset.transforms == ()
    assert dataset.get_data(0)[0, 0, 5] == 5


def test_stacks_are_per_instance():
    first = Ramps(make_config(["tanh"]))
    second = Ramps(make_config([]))
    first._update_transform(np.negative)
    assert len(first.transforms) == 2 and second.transforms == ()


def test_configured_transforms_pickle_for_worker_processes():
    dataset = Ramps(make_config(["tanh", "normalize", "log", "arcsinh", "crop_to"], crop_to=[3, 3]))
    copy = pickle.loads(pickle.dumps(dataset))
    np.testing.assert_array_equal(copy.get_data(1), dataset.get_data(1))
