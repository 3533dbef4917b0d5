"""Image artefacts for the synthetic sky: satellite trails and cosmic-ray hits, drawn per object.

An object's artefact comes from its own random stream, separate from the one that draws the object,
so adding artefacts to some objects leaves every other object, and each object's own source, exactly
as it was. Whether an object has an artefact is its stream's first draw compared with the fraction,
so raising the fraction only adds artefacts: objects that had one at a lower fraction keep it.
"""

from __future__ import annotations

import math

import numpy as np

ARTEFACT_KINDS = ("none", "trail", "cosmic_ray")
# Mixed in as a spawn key, which SeedSequence keeps apart from the (seed, index) entropy of the object.
_STREAM = 0xA27E
# Trail peak in the reference band and cosmic-ray pixels, in units of that band's sky noise: trails
# reach the peaks of bright galaxies (60-120 sigma in r), cosmic rays those of bright stars.
_TRAIL_PEAK_SIGMA = (20.0, 120.0)
_RAY_PEAK_SIGMA = (50.0, 300.0)
_TRAIL_FWHM = (1.0, 2.0)
_OVERSAMPLE = 4


def _stream(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(index)], spawn_key=(_STREAM,)))


def _kind(rng: np.random.Generator, fraction: float) -> str:
    # Both draws are always made, so the geometry that follows never depends on the fraction.
    chance, half = rng.random(2)
    if chance >= fraction:
        return "none"
    return "trail" if half < 0.5 else "cosmic_ray"


def _log_uniform(rng, bounds, size=None):
    return np.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1]), size))


def _trail(rng, image_size, noise_sigma, colour, ref):
    """A straight line with a Gaussian cross-section crossing the whole stamp in every band."""
    n = image_size
    angle = rng.uniform(0.0, math.pi)
    # Offsets up to 0.3 of the side from the centre keep every line's chord longer than 0.8 of the side.
    offset = rng.uniform(-0.3, 0.3) * n
    sigma = rng.uniform(*_TRAIL_FWHM) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    peak = _log_uniform(rng, _TRAIL_PEAK_SIGMA) * noise_sigma[ref]
    # A line 1-2 pixels wide is under-sampled at pixel centres, so each pixel averages a sub-grid.
    sub = (np.arange(n * _OVERSAMPLE) + 0.5) / _OVERSAMPLE - 0.5 - (n - 1) / 2.0
    distance = sub[None, :] * math.cos(angle) + sub[:, None] * math.sin(angle) - offset
    profile = np.exp(-0.5 * (distance / sigma) ** 2).reshape(n, _OVERSAMPLE, n, _OVERSAMPLE).mean(axis=(1, 3))
    return (peak * np.asarray(colour, dtype=float))[:, None, None] * profile[None]


def _cosmic_rays(rng, n_bands, image_size, noise_sigma):
    """One to three hits, each a single pixel or a 2-3 pixel streak, all in one band."""
    image = np.zeros((n_bands, image_size, image_size))
    band = int(rng.integers(n_bands))
    for _ in range(int(rng.integers(1, 4))):
        length = int(rng.choice([1, 1, 2, 3]))
        dy, dx = ((0, 1), (1, 0), (1, 1), (1, -1))[int(rng.integers(4))]
        # The streak starts far enough from the edges to stay whole inside the stamp.
        y = int(rng.integers(0, image_size - length + 1))
        x = int(rng.integers(length - 1, image_size - length + 1))
        peaks = _log_uniform(rng, _RAY_PEAK_SIGMA, length) * noise_sigma[band]
        for step in range(length):
            image[band, y + dy * step, x + dx * step] += peaks[step]
    return image


class ArtefactSimulator:
    """Draw the artefacts of a synthetic sky's objects, each from ``(seed, index)`` alone.

    Parameters
    ----------
    seed : int
        Seed of the simulated sky.
    fraction : float
        Fraction of objects with an artefact, from 0 to 1; half get a trail and half cosmic rays.
    image_size : int
        Side of the square stamp in pixels.
    noise_sigma : sequence of float
        Sky and read noise of each band in counts; artefact brightnesses are multiples of it.
    colour : sequence of float
        A trail's brightness in each band relative to band ``ref`` (sunlight reflected by a satellite).
    ref : int
        The band whose noise sets a trail's peak.
    """

    def __init__(self, seed, fraction, image_size, noise_sigma, colour, ref=0):
        self.seed, self.fraction, self.image_size, self.ref = int(seed), fraction, int(image_size), int(ref)
        self.noise_sigma = np.asarray(noise_sigma, dtype=float)
        self.colour = np.asarray(colour, dtype=float)

    def kind(self, index: int) -> str:
        """Return which of ``ARTEFACT_KINDS`` object ``index`` has, without drawing its pixels."""
        return _kind(_stream(self.seed, index), self.fraction)

    def draw(self, index: int) -> tuple[str, np.ndarray | None]:
        """Draw the artefact of object ``index``, if it has one, as counts to add to its image.

        Parameters
        ----------
        index : int
            Object index; the artefact depends only on ``(seed, index, fraction)``.

        Returns
        -------
        kind : str
            One of ``ARTEFACT_KINDS``.
        counts : numpy.ndarray or None
            float32 array of shape ``(n_bands, image_size, image_size)``, or None for ``"none"``.
        """
        if self.fraction == 0.0:
            return "none", None
        rng = _stream(self.seed, index)
        kind = _kind(rng, self.fraction)
        if kind == "none":
            return kind, None
        if kind == "trail":
            counts = _trail(rng, self.image_size, self.noise_sigma, self.colour, self.ref)
        else:
            counts = _cosmic_rays(rng, len(self.noise_sigma), self.image_size, self.noise_sigma)
        return kind, counts.astype(np.float32)
