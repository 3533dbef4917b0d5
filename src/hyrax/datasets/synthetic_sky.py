"""Procedural renderer of realistic synthetic multi-band astronomy image stamps.

Every stamp is generated on demand from ``(seed, index)``, so a dataset of any length costs nothing
up front and any object can be re-rendered identically in any order. Objects are Sérsic galaxies
(ellipticals, spirals with arms and star-forming clumps, dusty edge-on disks, two-galaxy blends) and
stars, convolved with a per-band Moffat PSF, with power-law colours that redden with a redshift-like
parameter, and with sky-limited Poisson-like plus read noise. Pixel values are sky-subtracted counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from hyrax.datasets.synthetic_artefacts import ArtefactSimulator
from hyrax.errors import closest_match

DEFAULT_CLASSES = ("elliptical", "spiral", "edge_on", "star", "blend")
METADATA_FIELDS = (
    "class", "label", "magnitude", "size", "ellipticity", "sersic_index", "position_angle", "redshift",
    "color_gr", "bulge_fraction", "center_x", "center_y", "n_sources", "companion_magnitude",
    "companion_separation", "companion_size", "companion_x", "companion_y", "snr", "artefact",
)  # fmt: skip
BAND_WAVELENGTHS = {"u": 355.0, "g": 475.0, "r": 620.0, "i": 750.0, "z": 870.0, "y": 1000.0}
# Seeing improves towards the red; sky (mag per 0.2" pixel, LSST-like) brightens towards the red.
_PSF_FWHM = {"u": 3.6, "g": 3.3, "r": 3.0, "i": 2.85, "z": 2.75, "y": 2.7}
_SKY_MAG = {"u": 26.4, "g": 25.8, "r": 24.7, "i": 24.0, "z": 23.1, "y": 22.1}
_MOFFAT_BETA = 3.5
# The central pixels are integrated on a finer grid because n~4 cusps vary far faster than a pixel.
_CORE_PIXELS, _CORE_OVERSAMPLE = 6, 8


def sersic_b(n: float) -> float:
    """Return b_n such that the Sérsic radius r_e encloses half the light.

    Parameters
    ----------
    n : float
        Sérsic index; the asymptotic series is accurate to 1e-4 relative for n >= 0.8, 4e-4 at n = 0.5.

    Returns
    -------
    float
        The Ciotti & Bertin (1999) approximation of b_n.
    """
    return (
        2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)
        + 131.0 / (1148175.0 * n**3) - 2194697.0 / (30690717750.0 * n**4)
    )  # fmt: skip


def _fail(name, value, allowed):
    return ValueError(f"Invalid {name}={value!r}: {allowed}.")


def _check_int(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise _fail(name, value, f"expected an integer >= {minimum}")


def _check_names(name, values, valid):
    for value in values:
        if value not in valid:
            hint = closest_match(str(value), valid)
            hint = f" (did you mean {hint!r}?)" if hint else ""
            raise _fail(name, values, f"unknown entry {value!r}{hint}; valid: {valid}")
    if not values or len(set(values)) != len(values):
        raise _fail(name, values, f"expected distinct names from {valid}")
    return values


def _floats(name, values, length):
    """Convert ``values`` to finite floats (``length`` of them unless 0) or raise naming ``name``."""
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        out = []
    if not out or (length and len(out) != length) or not all(math.isfinite(v) for v in out):
        shown = values[0] if length == 1 else values
        raise _fail(name, shown, f"expected {length or 'one or more'} finite number(s)")
    return out


class SyntheticSkyRenderer:
    """Render deterministic synthetic galaxy and star stamps, one per integer index.

    Parameters
    ----------
    image_size : int
        Side of the square stamp in pixels (>= 16). Galaxy sizes scale with it; the PSF does not.
    bands : sequence of str
        Filters to render, from ``u g r i z y``; colours follow each band's wavelength.
    seed : int
        Non-negative seed; the object at ``index`` depends only on ``(seed, index)``.
    class_names : sequence of str
        Classes to draw from, a subset of ``DEFAULT_CLASSES``; the label is the position in this list.
    class_weights : sequence of float, optional
        Relative frequency of each class; uniform by default.
    magnitude_range : tuple of float
        Range of total r-band magnitudes for galaxies (stars extend one magnitude brighter).
    zero_point : float
        Magnitude of one count; together with the sky brightness it sets the depth.
    psf_fwhm : float or mapping of str to float, optional
        Moffat PSF FWHM in pixels, for all bands or per band; seeing-like defaults otherwise.
    read_noise : float
        Gaussian read noise in counts per pixel.
    noise : bool
        If False the noiseless, PSF-convolved model is returned.
    artefact_fraction : float
        Fraction of objects, from 0 to 1, given a satellite trail (half of them) or cosmic-ray hits
        (the other half); see :meth:`~hyrax.datasets.synthetic_artefacts.ArtefactSimulator.draw`.
    """

    def __init__(
        self, image_size=64, bands=("g", "r", "i"), seed=0, class_names=DEFAULT_CLASSES, class_weights=None,
        magnitude_range=(18.0, 23.5), zero_point=32.0, psf_fwhm=None, read_noise=5.0, noise=True,
        artefact_fraction=0.0,
    ):  # fmt: skip
        _check_int("image_size", image_size, 16)
        _check_int("seed", seed, 0)
        self.bands = _check_names("bands", tuple(bands), tuple(BAND_WAVELENGTHS))
        names = (class_names,) if isinstance(class_names, str) else tuple(class_names)
        self.class_names = _check_names("class_names", names, DEFAULT_CLASSES)
        weights = np.ones(len(self.class_names)) if class_weights is None else class_weights
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (len(self.class_names),) or not np.all(weights >= 0) or weights.sum() <= 0:
            raise _fail("class_weights", class_weights, "expected one non-negative weight per class")
        lo, hi = _floats("magnitude_range", magnitude_range, 2)
        if not lo < hi:
            raise _fail("magnitude_range", magnitude_range, "expected (bright, faint) with bright < faint")
        (zero_point,) = _floats("zero_point", [zero_point], 1)
        (read_noise,) = _floats("read_noise", [read_noise], 1)
        (artefact_fraction,) = _floats("artefact_fraction", [artefact_fraction], 1)
        if not 0 <= artefact_fraction <= 1:
            raise _fail("artefact_fraction", artefact_fraction, "expected a fraction from 0 to 1")
        if read_noise < 0:
            raise _fail("read_noise", read_noise, "expected a value >= 0 counts")
        fwhm = psf_fwhm if psf_fwhm is not None else _PSF_FWHM
        if isinstance(fwhm, Mapping) and not set(self.bands) <= set(fwhm):
            raise _fail("psf_fwhm", psf_fwhm, f"expected a FWHM for every band in {self.bands}")
        fwhm = _floats("psf_fwhm", [fwhm[b] if isinstance(fwhm, Mapping) else fwhm for b in self.bands], 0)
        if not all(0.5 <= f <= image_size / 2 for f in fwhm):
            raise _fail("psf_fwhm", psf_fwhm, f"expected FWHM in [0.5, {image_size / 2}] pixels")

        self.image_size, self.seed, self.noise = int(image_size), int(seed), bool(noise)
        self.magnitude_range, self.zero_point, self.read_noise = (lo, hi), zero_point, read_noise
        self.psf_fwhm = dict(zip(self.bands, fwhm, strict=True))
        self._class_cdf = np.cumsum(weights)
        self._scale = self.image_size / 64.0
        n = self.image_size
        # float32 halves the cost of the per-pixel transcendental functions at no visible accuracy loss.
        self._pix = np.arange(n, dtype=np.float32)
        self._core = min(_CORE_PIXELS, n)
        sub = (np.arange(self._core * _CORE_OVERSAMPLE) + 0.5) / _CORE_OVERSAMPLE - 0.5
        self._sub = sub.astype(np.float32)
        self._ky = np.fft.fftfreq(n)[:, None]
        self._kx = np.fft.rfftfreq(n)[None, :]
        self._alpha = [f / (2.0 * math.sqrt(2.0 ** (1.0 / _MOFFAT_BETA) - 1.0)) for f in fwhm]
        self._psf_ft = np.stack([np.fft.rfft2(self._moffat_kernel(a)) for a in self._alpha])
        lam = np.array([BAND_WAVELENGTHS[b] for b in self.bands])
        # A power-law SED fixed by its g-r colour gives every band's offset from r: m_b = m_r + gr * lever.
        self._lever = np.log(BAND_WAVELENGTHS["r"] / lam) / math.log(BAND_WAVELENGTHS["r"] / 475.0)
        self._sky = np.array([10 ** (-0.4 * (_SKY_MAG[b] - self.zero_point)) for b in self.bands])
        self._ref = self.bands.index("r") if "r" in self.bands else len(self.bands) // 2
        # Satellite trails are reflected sunlight: a solar g-r colour of 0.45 relative to the reference band.
        colour = 10 ** (-0.4 * 0.45 * (self._lever - self._lever[self._ref]))
        sigma = np.sqrt(self._sky + self.read_noise**2)
        self._artefacts = ArtefactSimulator(self.seed, artefact_fraction, n, sigma, colour, self._ref)
        self.artefact_fraction = self._artefacts.fraction

    def _moffat_kernel(self, alpha):
        n, os = self.image_size, 4
        # Signed, wrapped offsets put the kernel centre on pixel (0, 0), as FFT convolution expects.
        d = (((np.arange(n) + n // 2) % n) - n // 2)[:, None] + (np.arange(os) + 0.5) / os - 0.5
        d = d.ravel()
        prof = (1.0 + (d[:, None] ** 2 + d[None, :] ** 2) / alpha**2) ** -_MOFFAT_BETA
        kernel = prof.reshape(n, os, n, os).mean(axis=(1, 3))
        return kernel / kernel.sum()

    def _band_flux(self, mag, gr):
        return 10 ** (-0.4 * (mag + gr * self._lever - self.zero_point))

    def _render(self, x0, y0, theta, fn, fine=True):
        """Evaluate surface brightness ``fn(u, v)`` (major/minor-axis offsets) into a pixel image."""
        c, s = math.cos(theta), math.sin(theta)
        dx, dy = self._pix[None, :] - x0, self._pix[:, None] - y0
        img = fn(dx * c + dy * s, dy * c - dx * s)
        if not fine:
            return img
        k, n = self._core, self.image_size
        i0, j0 = (min(max(int(round(v)) - k // 2, 0), n - k) for v in (y0, x0))
        bx, by = (j0 + self._sub)[None, :] - x0, (i0 + self._sub)[:, None] - y0
        sub = fn(bx * c + by * s, by * c - bx * s)
        os = _CORE_OVERSAMPLE
        img[i0 : i0 + k, j0 : j0 + k] = sub.reshape(k, os, k, os).mean(axis=(1, 3))
        return img

    @staticmethod
    def _sersic(re, n, q):
        b = sersic_b(n)
        # Unit total flux analytically, so light beyond the stamp edge is lost as in a real cutout; ``re``
        # is the half-light semi-major axis, which keeps thin disks of a given size inside the stamp.
        log_amp = 2 * n * math.log(b) - math.log(2 * math.pi * n * q * re**2) - math.lgamma(2 * n)
        k, a2, b2 = 0.5 / n, 1.0 / re**2, 1.0 / (q * re) ** 2
        # exp(k*log(x)) is several times faster than x**k for float32 arrays.
        return lambda u, v: np.exp(log_amp - b * np.exp(k * np.log(a2 * u * u + b2 * v * v + 1e-12)))

    @staticmethod
    def _moffat(alpha):
        amp = (_MOFFAT_BETA - 1.0) / (math.pi * alpha**2)
        return lambda u, v: amp * np.exp(-_MOFFAT_BETA * np.log1p((u * u + v * v) / alpha**2))

    def _galaxy(self, rng, kind, x0, y0, mag, z):
        """Return real-space components, Fourier components and the shape parameters of one galaxy."""
        median_re = {"elliptical": 3.5, "spiral": 5.5, "edge_on": 6.5}[kind]
        # Brighter galaxies look bigger: apparent size roughly tracks flux at fixed surface brightness.
        re = median_re * self._scale * 10 ** (-0.1 * (mag - 21.0) + rng.normal(0.0, 0.1))
        re = float(np.clip(re, 1.0, 0.2 * self.image_size))
        theta = rng.uniform(0.0, math.pi)
        real, fourier = [], []
        if kind == "elliptical":
            n, e = rng.uniform(3.5, 5.0), rng.uniform(0.0, 0.35)
            gr = 0.75 + 0.9 * z + rng.normal(0.0, 0.04)
            real.append((self._render(x0, y0, theta, self._sersic(re, n, 1 - e)), self._band_flux(mag, gr)))
            return real, fourier, dict(size=re, ellipticity=e, sersic_index=n, theta=theta, gr=gr, bulge=1.0)
        spiral = kind == "spiral"
        n = rng.uniform(0.8, 1.5) if spiral else rng.uniform(0.8, 1.3)
        e = rng.uniform(0.15, 0.6) if spiral else rng.uniform(0.78, 0.92)
        bulge = rng.uniform(0.05, 0.35) if spiral else rng.uniform(0.0, 0.15)
        q = 1.0 - e
        # Edge-on disks look redder through their own dust; young arms and clumps are bluest.
        disk_gr = (0.45 if spiral else 0.6) + 0.6 * z + rng.normal(0.0, 0.05)
        young_flux = self._band_flux(mag, 0.1 + 0.4 * z)
        re_b, n_b, q_b = max(1.0, re * rng.uniform(0.15, 0.3)), rng.uniform(2.0, 4.0), rng.uniform(0.6, 1.0)
        bulge_img = self._render(x0, y0, theta, self._sersic(re_b, n_b, q_b))
        real.append((bulge_img, bulge * self._band_flux(mag, 0.7 + 0.9 * z)))
        # Only a small disk has a core that pixel-centre sampling would misrepresent.
        disk = self._render(x0, y0, theta, self._sersic(re, n, q), fine=re < 3.0)
        f_young = 0.0
        if spiral:
            f_arm, m, phase = rng.uniform(0.25, 0.55), rng.choice([2, 2, 3, 4]), rng.uniform(0, 2 * math.pi)
            wind, r_in = m / math.tan(math.radians(rng.uniform(10.0, 30.0))), 0.5 * re

            def arms(u, v):
                r2 = u * u + (v / q) ** 2 + 1e-6
                spiral_phase = m * np.arctan2(v / q, u) - 0.5 * wind * np.log(r2 / re**2) + phase
                wave = 0.5 * (1.0 + np.cos(spiral_phase))
                return wave**2 * (1.0 - np.exp(-r2 / r_in**2))

            arm_img = disk * self._render(x0, y0, theta, arms, fine=False)
            real.append((arm_img / max(arm_img.sum(), 1e-30), (1 - bulge) * f_arm * young_flux))
            f_young, k = f_arm, int(rng.integers(0, 7))
            if k:
                f_clump = rng.uniform(0.03, 0.12)
                r_face, phi = rng.gamma(2.0, re / 1.678, k), rng.uniform(0, 2 * math.pi, k)
                u, v = r_face * np.cos(phi), r_face * np.sin(phi) * q
                ct, st = math.cos(theta), math.sin(theta)
                # Compact Gaussian knots are cheapest as separable phase ramps times a Fourier envelope.
                ry = np.exp(-2j * np.pi * self._ky.T * (y0 + u * st + v * ct)[:, None])
                rx = np.exp(-2j * np.pi * self._kx * (x0 + u * ct - v * st)[:, None])
                sig = rng.uniform(0.4, 0.9) * self._scale
                env = np.exp(-2 * math.pi**2 * sig**2 * (self._ky**2 + self._kx**2))
                ft = np.einsum("k,ky,kx->yx", rng.dirichlet(np.ones(k)), ry, rx) * env
                fourier.append((ft, (1 - bulge) * f_clump * young_flux))
                f_young += f_clump
        smooth = (1 - bulge) * (1 - f_young) * self._band_flux(mag, disk_gr)
        real.append((disk, smooth))
        if not spiral and rng.random() < 0.7:
            # The lane is a subtracted copy of the disk, deepest in blue bands like real dust.
            w, tau = max(0.5, re * q * rng.uniform(0.3, 0.7)), rng.uniform(0.3, 0.7)
            lane = disk * self._render(x0, y0, theta, lambda u, v: np.exp(-0.5 * (v / w) ** 2), fine=False)
            tau_b = np.minimum(0.95, tau * (1.0 + 0.5 * self._lever))
            real.append((lane, -tau_b * smooth))
        shape = dict(size=re, ellipticity=e, sersic_index=n, theta=theta, gr=disk_gr, bulge=bulge)
        return real, fourier, shape

    def render(self, index):
        """Render the object at ``index``.

        Parameters
        ----------
        index : int
            Non-negative object index; the result depends only on ``(seed, index)``.

        Returns
        -------
        image : numpy.ndarray
            float32 array of shape ``(n_bands, image_size, image_size)`` in sky-subtracted counts.
        label : int
            Position of the object's class in ``class_names``.
        metadata : dict
            The keys of ``METADATA_FIELDS``: ``class`` is a str, ``label`` and ``n_sources`` are ints,
            the rest floats. ``magnitude`` is the total r-band magnitude, ``size`` the half-light
            semi-major axis and ``sersic_index``/``ellipticity`` those of the dominant component of the
            primary object (the disk of a spiral); positions and sizes are in pixels, the position
            angle in degrees counter-clockwise from +x, ``snr`` the matched-filter S/N in the r band
            (or the middle band). Values that do not apply are NaN (a star's Sérsic index, companion
            fields of single objects). ``artefact`` is ``"none"``, ``"trail"`` or ``"cosmic_ray"``.
        """
        _check_int("index", index, 0)
        rng = np.random.default_rng([self.seed, int(index)])
        label = self._draw_label(rng)
        kind = self.class_names[label]
        centre = (self.image_size - 1) / 2.0
        x0, y0 = centre + rng.uniform(-1.0, 1.0, 2) * self._scale
        lo, hi = self.magnitude_range
        nan = float("nan")
        meta = dict(n_sources=1, companion_magnitude=nan, companion_separation=nan, companion_size=nan)
        meta.update(companion_x=nan, companion_y=nan)
        if kind == "star":
            mag, gr = rng.uniform(lo - 1.0, hi), rng.uniform(-0.3, 1.6)
            # Evaluated directly: a phase-shifted delta would alias the PSF's high frequencies into a cross.
            psfs = [self._render(x0, y0, 0.0, self._moffat(a)) for a in self._alpha]
            model = self._band_flux(mag, gr)[:, None, None] * np.stack(psfs)
            shape = dict(size=0.0, ellipticity=0.0, sersic_index=nan, theta=nan, gr=gr, bulge=nan)
            z = 0.0
        else:
            mag = rng.uniform(lo, hi)
            # Fainter galaxies are typically more distant, hence redder.
            z = float(np.clip(0.1 + 0.15 * (mag - 18.0) + rng.normal(0.0, 0.15), 0.02, 1.5))
            primary = kind if kind != "blend" else ("elliptical", "spiral")[int(rng.integers(2))]
            if kind == "blend":
                sep = rng.uniform(0.12, 0.3) * self.image_size
                ang = rng.uniform(0.0, 2 * math.pi)
                ux, uy = sep * math.cos(ang), sep * math.sin(ang)
                x0, y0 = x0 - 0.3 * ux, y0 - 0.3 * uy
                cmag = mag + rng.uniform(0.0, 1.5)
                cz = float(np.clip(z + rng.normal(0.0, 0.03), 0.02, 1.5))
                ckind = ("elliptical", "spiral")[int(rng.integers(2))]
                creal, cfour, cshape = self._galaxy(rng, ckind, x0 + ux, y0 + uy, cmag, cz)
                meta.update(companion_magnitude=cmag, companion_separation=sep, companion_size=cshape["size"])
                meta.update(n_sources=2, companion_x=x0 + ux, companion_y=y0 + uy)
            real, fourier, shape = self._galaxy(rng, primary, x0, y0, mag, z)
            if kind == "blend":
                real, fourier = real + creal, fourier + cfour
            model = self._compose(real, fourier)
        model = model.astype(np.float32)
        var = np.maximum(model, 0.0) + (self._sky + self.read_noise**2).astype(np.float32)[:, None, None]
        snr = float(np.sqrt(np.sum(model[self._ref].astype(float) ** 2 / var[self._ref])))
        artefact, counts = self._artefacts.draw(int(index))
        if counts is not None:
            # Added before the noise, whose draws do not depend on the model, so only these pixels change.
            var += np.maximum(model + counts, 0.0) - np.maximum(model, 0.0)
            model += counts
        if self.noise:
            model += np.sqrt(var) * rng.standard_normal(model.shape, dtype=np.float32)
        theta = shape["theta"]
        meta.update(
            {"class": kind, "label": label, "magnitude": float(mag), "size": float(shape["size"])},
            ellipticity=float(shape["ellipticity"]), sersic_index=float(shape["sersic_index"]),
            position_angle=float(math.degrees(theta)) if np.isfinite(theta) else nan, redshift=z,
            color_gr=float(shape["gr"]), bulge_fraction=float(shape["bulge"]), center_x=float(x0),
            center_y=float(y0), snr=snr, artefact=artefact,
        )  # fmt: skip
        return model, label, {key: meta[key] for key in METADATA_FIELDS}

    def _compose(self, real, fourier):
        """Sum components with per-band fluxes in Fourier space and convolve with each band's PSF."""
        n = self.image_size
        ft = np.zeros(self._psf_ft.shape, dtype=complex)
        if real:
            # Mix components into bands before or after the FFT, whichever needs fewer transforms.
            imgs, fluxes = np.stack([img for img, _ in real]), np.stack([f for _, f in real], axis=1)
            if len(real) > len(self.bands):
                ft += np.fft.rfft2(np.tensordot(fluxes, imgs, axes=1))
            else:
                ft += np.tensordot(fluxes, np.fft.rfft2(imgs), axes=1)
        for comp, flux in fourier:
            ft += flux[:, None, None] * comp
        return np.fft.irfft2(ft * self._psf_ft, s=(n, n))

    def _draw_label(self, rng):
        label = int(np.searchsorted(self._class_cdf, rng.random() * self._class_cdf[-1], side="right"))
        return min(label, len(self.class_names) - 1)

    def label(self, index):
        """Return the label of object ``index`` without rendering it (the first draw of its generator)."""
        _check_int("index", index, 0)
        return self._draw_label(np.random.default_rng([self.seed, int(index)]))

    def artefact(self, index):
        """Return the artefact of object ``index`` (``"none"``, ``"trail"``, ...) without rendering it."""
        _check_int("index", index, 0)
        return self._artefacts.kind(int(index))

    def render_many(self, indices):
        """Render several objects.

        Parameters
        ----------
        indices : iterable of int
            Object indices.

        Returns
        -------
        images : numpy.ndarray
            float32 array of shape ``(len(indices), n_bands, image_size, image_size)``.
        labels : numpy.ndarray
            int64 labels.
        metadata : list of dict
            One metadata dict per object.
        """
        results = [self.render(i) for i in indices]
        shape = (0, len(self.bands), self.image_size, self.image_size)
        images = np.stack([r[0] for r in results]) if results else np.zeros(shape, np.float32)
        return images, np.array([r[1] for r in results], dtype=np.int64), [r[2] for r in results]
