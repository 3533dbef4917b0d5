"""Image transforms for datasets, configured by ``data_set.transforms`` and ``data_set.crop_to``.

``data_set.transforms`` lists transforms applied to every image, in order. Each entry is one of the
names below or the dotted import path of a callable (``"mypackage.transforms.flip"``):

``"tanh"``
    ``numpy.tanh``: squashes values into (-1, 1).
``"arcsinh"``
    ``numpy.arcsinh``: linear near zero, logarithmic for bright pixels; the usual stretch for sky images.
``"log"``
    ``sign(x) * log1p(|x|)``: a logarithmic stretch defined for every value. It equals ``log(1 + x)``
    for ``x >= 0`` and mirrors it for negative values, so sky-subtracted images with negative noise
    pixels never produce NaN or -inf.
``"normalize"``
    Per image, subtract the mean and divide by the standard deviation, both over all channels and
    ignoring NaN. A constant image becomes all zeros instead of NaN.
``"crop_to"``
    Centre-crop each image to ``data_set.crop_to = [height, width]``, zero-padding (centred) along any
    axis where the image is smaller. When ``crop_to`` is set but not named in the list, the crop
    runs first.

A callable named by its dotted path receives one image as a ``numpy.ndarray`` of float32 with shape
``(channels, height, width)`` and must return an array (or a ``torch.Tensor``, which is converted
back with ``.numpy()``). A class is instantiated without arguments first, so
``"torchvision.transforms.v2.RandomHorizontalFlip"`` works; a transform that only accepts tensors
must be wrapped in a function that calls ``torch.from_numpy`` itself.

The FITS datasets scale each image before these transforms run, as their ``scaling`` key says
(:data:`SCALINGS`: ``"asinh"`` by default, ``"robust"``, or ``"none"`` for raw pixel values).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hyrax.datasets._settings import positive_ints
from hyrax.errors import ConfigError, DataError, did_you_mean
from hyrax.registry import import_object, qualified_name

Transform = Callable[[np.ndarray], Any]


def log_stretch(image: np.ndarray) -> np.ndarray:
    """Return ``sign(x) * log1p(|x|)``, a logarithm that is finite for zero and negative pixels."""
    return np.sign(image) * np.log1p(np.abs(image))


def normalize(image: np.ndarray) -> np.ndarray:
    """Return the image shifted to zero mean and scaled to unit standard deviation (NaN ignored).

    A constant image has no spread to scale by, so it becomes all zeros.
    """
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return image
    centred = image - finite.mean()
    std = finite.std()
    return centred / std if std > 0 else centred


MAD_TO_SIGMA = 1.4826
"""Ratio of a Gaussian's standard deviation to its median absolute deviation."""


def robust_scale(image: np.ndarray) -> np.ndarray:
    """Return ``(image - median) / (1.4826 * MAD)``: the image in units of its noise, sky at zero.

    The median and the median absolute deviation (MAD) are taken over the finite pixels, so a few
    bright pixels or NaNs do not change them; for Gaussian noise ``1.4826 * MAD`` is its standard
    deviation. When more than half of the pixels are equal the MAD is zero, and the standard deviation
    is used instead; a constant image only has its median subtracted. NaN and infinite pixels stay
    as they are.

    Parameters
    ----------
    image : numpy.ndarray
        One image (any shape); the statistics are over all of it.

    Returns
    -------
    numpy.ndarray
        A float32 array of the same shape.

    Examples
    --------
    >>> import numpy as np
    >>> from hyrax.datasets.transforms import robust_scale
    >>> [round(float(v), 2) for v in robust_scale(np.array([10.0, 11.0, 12.0, 13.0, 1000.0]))]
    [-1.35, -0.67, 0.0, 0.67, 666.4]
    """
    image = np.asarray(image, dtype=np.float32)
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return image.copy()
    median = np.median(finite)
    deviations = finite - median
    scale = MAD_TO_SIGMA * float(np.median(np.abs(deviations)))
    if not scale > 0:
        scale = float(np.sqrt(np.mean(np.square(deviations, dtype=np.float64))))
    centred = image - median
    return centred / np.float32(scale) if scale > 0 else centred


def asinh_scale(image: np.ndarray) -> np.ndarray:
    """Return ``arcsinh(robust_scale(image))``: linear within the noise, logarithmic for bright pixels.

    Noise pixels keep their values (``arcsinh(z)`` is close to ``z`` for ``|z| < 1``) while a source
    10,000 times brighter than the noise reaches only about 10, so faint and bright objects share one
    range a network trains on.

    Examples
    --------
    >>> import numpy as np
    >>> from hyrax.datasets.transforms import asinh_scale
    >>> [round(float(v), 2) for v in asinh_scale(np.array([10.0, 11.0, 12.0, 13.0, 1000.0]))]
    [-1.11, -0.63, 0.0, 0.63, 7.2]
    """
    return np.arcsinh(robust_scale(image))


SCALINGS = {"asinh": asinh_scale, "robust": robust_scale, "none": None}
DEFAULT_SCALING = "asinh"
"""The per-image scalings of the FITS datasets' ``scaling`` key, with their function (None keeps the
pixel values); the first is the default."""


def crop_or_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop the last two axes of ``image`` to ``(height, width)``, zero-padding where it is smaller.

    Parameters
    ----------
    image : numpy.ndarray
        Array of shape ``(..., H, W)``.
    height, width : int
        The output size of the last two axes.

    Returns
    -------
    numpy.ndarray
        Array of shape ``(..., height, width)``.
    """
    out = np.zeros((*image.shape[:-2], height, width), dtype=image.dtype)
    source, target = [slice(None)] * (image.ndim - 2), [slice(None)] * (image.ndim - 2)
    for size, wanted in zip(image.shape[-2:], (height, width), strict=True):
        offset = abs(size - wanted) // 2
        kept = min(size, wanted)
        source.append(slice(offset, offset + kept) if size > wanted else slice(0, kept))
        target.append(slice(offset, offset + kept) if size < wanted else slice(0, kept))
    out[tuple(target)] = image[tuple(source)]
    return out


NAMED_TRANSFORMS: dict[str, Transform] = {
    "tanh": np.tanh,
    "arcsinh": np.arcsinh,
    "log": log_stretch,
    "normalize": normalize,
}
"""Transforms ``data_set.transforms`` accepts by name, and ``"crop_to"`` (bound to ``data_set.crop_to``)."""
_NAMES = (*NAMED_TRANSFORMS, "crop_to")


def _resolve(entry: Any, crop_to: Any) -> Transform:
    if not isinstance(entry, str):
        raise ConfigError(
            f"data_set.transforms entries must be strings; got {entry!r} ({type(entry).__name__}).",
            key="data_set.transforms",
        )
    if entry == "crop_to":
        if crop_to is False:
            raise ConfigError(
                'data_set.transforms names "crop_to" but data_set.crop_to is false. '
                "Set data_set.crop_to = [height, width].",
                key="data_set.crop_to",
            )
        if not positive_ints(crop_to, 2):
            raise ConfigError(
                f"data_set.crop_to must be [height, width] with two positive integers, e.g. [32, 32]. "
                f"Got {crop_to!r}.",
                key="data_set.crop_to",
            )
        # A partial of a module-level function, not a closure, so it pickles for workers.
        return functools.partial(crop_or_pad, height=int(crop_to[0]), width=int(crop_to[1]))
    if entry in NAMED_TRANSFORMS:
        return NAMED_TRANSFORMS[entry]
    if "." not in entry:
        raise ConfigError(
            f"Unknown transform '{entry}' in data_set.transforms.{did_you_mean(entry, _NAMES)} "
            f"Valid names: {', '.join(_NAMES)}. The dotted import path of any callable also "
            f'works, e.g. "mypackage.transforms.my_transform".',
            key="data_set.transforms",
        )
    try:
        transform = import_object(entry)
    except ImportError as error:
        raise ConfigError(f"data_set.transforms: {error}", key="data_set.transforms") from error
    if inspect.isclass(transform):
        try:
            transform = transform()
        except TypeError as error:
            raise ConfigError(
                f"data_set.transforms entry '{entry}' is a class that cannot be built without arguments "
                f"({error}). Name a function instead that applies it with the arguments you want.",
                key="data_set.transforms",
            ) from error
    if not callable(transform):
        raise ConfigError(
            f"data_set.transforms entry '{entry}' is a {type(transform).__name__}, not a callable.",
            key="data_set.transforms",
        )
    return transform


def build_transforms(names: Sequence[str], crop_to: Sequence[int] | bool = False) -> list[Transform]:
    """Turn ``data_set.transforms`` and ``data_set.crop_to`` into a list of callables.

    Parameters
    ----------
    names : sequence of str
        Transform names (see :data:`NAMED_TRANSFORMS`) or dotted import paths of callables.
    crop_to : [int, int] or False
        Size used by ``"crop_to"``. When set and ``"crop_to"`` is not in ``names``, the crop comes first.

    Returns
    -------
    list of callable
        The transforms, in the order they apply.

    Raises
    ------
    ConfigError
        For an unknown name, an import path that cannot be loaded, or an invalid ``crop_to``.
    """
    entries = [names] if isinstance(names, str) else list(names)
    if crop_to is not False and "crop_to" not in entries:
        entries.insert(0, "crop_to")
    return [_resolve(entry, crop_to) for entry in entries]


class HyraxImageDataset:
    """Mixin giving an image dataset a stack of transforms applied to every image.

    Mix it in before :class:`~hyrax.datasets.base.HyraxDataset`, call
    :meth:`_configure_transforms` in ``__init__`` and return ``self.apply_transforms(image)`` from
    ``get_data``. Transforms receive and return float32 arrays of shape ``(channels, height, width)``;
    see the module docstring for the names ``data_set.transforms`` accepts.

    Examples
    --------
    >>> import numpy as np
    >>> from hyrax.config import load_config
    >>> from hyrax.datasets.base import HyraxDataset
    >>> from hyrax.datasets.transforms import HyraxImageDataset
    >>> class Ramps(HyraxImageDataset, HyraxDataset):
    ...     registry_name = None  # keep this doctest class out of the registry
    ...     def __init__(self, config):
    ...         super().__init__(config)
    ...         self._configure_transforms(config)
    ...     def __len__(self):
    ...         return 2
    ...     def ids(self):
    ...         return ["a", "b"]
    ...     def get_data(self, index):
    ...         return self.apply_transforms(np.full((1, 4, 4), index, dtype=np.float32))
    >>> config = load_config()
    >>> config["data_set"]["transforms"] = ["tanh", "crop_to"]
    >>> config["data_set"]["crop_to"] = [2, 2]
    >>> data = Ramps(config).get_data(1)
    >>> data.shape, round(float(data[0, 0, 0]), 3)
    ((1, 2, 2), 0.762)
    """

    _transforms: tuple[Transform, ...] = ()

    def _configure_transforms(self, config: Mapping | None) -> None:
        """Replace the transform stack with the transforms ``config["data_set"]`` names (none if None)."""
        table = {} if config is None else config["data_set"]
        self._transforms = tuple(build_transforms(table.get("transforms", []), table.get("crop_to", False)))

    def _update_transform(self, transform: Transform) -> None:
        """Append ``transform`` to the stack; it runs after every transform already there."""
        if not callable(transform):
            raise TypeError(f"A transform must be callable; got {transform!r} ({type(transform).__name__}).")
        self._transforms = (*self._transforms, transform)

    @property
    def transforms(self) -> tuple[Transform, ...]:
        """The transforms applied by :meth:`apply_transforms`, in order."""
        return self._transforms

    def apply_transforms(self, array: np.ndarray) -> np.ndarray:
        """Run ``array`` through every transform in order and return a float32 array.

        Raises
        ------
        DataError
            When a transform fails or returns something other than an array or tensor; the message
            names the transform.
        """
        result = np.asarray(array, dtype=np.float32)
        for transform in self._transforms:
            try:
                output = transform(result)
            except Exception as error:
                raise DataError(
                    f"Transform {_name(transform)} failed on a float32 numpy array of shape {result.shape}: "
                    f"{type(error).__name__}: {error}. Transforms receive numpy arrays (channels, height, "
                    f"width); wrap a tensor-only transform in a function that calls torch.from_numpy."
                ) from error
            if hasattr(output, "detach") and hasattr(output, "numpy"):
                output = output.detach().cpu().numpy()
            if not isinstance(output, np.ndarray):
                raise DataError(
                    f"Transform {_name(transform)} returned {type(output).__name__}; it must return a numpy "
                    f"array or a torch tensor."
                )
            result = output.astype(np.float32, copy=False)
        return result


def _name(transform: Transform) -> str:
    named = {id(value): key for key, value in NAMED_TRANSFORMS.items()}
    if id(transform) in named:
        return f"'{named[id(transform)]}'"
    if isinstance(transform, functools.partial):
        transform = transform.func
    name = getattr(transform, "__qualname__", None) or getattr(transform, "__name__", None)
    if name is None:
        return f"'{qualified_name(type(transform))}'"
    return f"'{getattr(transform, '__module__', None) or '?'}.{name}'"
