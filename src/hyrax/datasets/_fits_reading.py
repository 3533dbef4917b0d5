"""Fast reading of FITS cutouts, shared by the FITS-based datasets.

Astropy builds a ``Card`` object for every header line, which costs about 0.3 ms per small file, far
more than reading the pixels. Cutouts are almost always a plain, unscaled image, so this module reads
just the handful of mandatory keywords (``BITPIX``, ``NAXIS``, ``NAXISn``, ``PCOUNT``, ``GCOUNT``) and
wraps the pixels in a numpy array, reading a small file with a single system call. Anything else
(gzip files, tile-compressed images, ``BSCALE``/``BZERO``/``BLANK`` scaling) goes through
:func:`astropy.io.fits.getdata`, so the result is always what ``getdata(path)`` returns: the primary
HDU's image, or the first extension's when the primary HDU has no data.

Every reader here raises :class:`ImageReadError` with a one-line reason (the file is missing, not
FITS, truncated, or holds no image); the datasets add the object id and the path.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import warnings
from pathlib import Path

import numpy as np

from hyrax.errors import DataError

BLOCK = 2880
# Files up to this size are read with one system call; larger ones have their data read separately.
_WHOLE_FILE_LIMIT = 1 << 20
# Enough for the primary header and the first extension's header of a typical cutout.
_HEADER_CHUNK = 4 * BLOCK
_CARD = 80
_END = b"END     "
_DTYPES = {8: "u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
# Magic numbers of gzip, bzip2 and zip, which astropy decompresses transparently.
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"PK\x03\x04")
# Keywords whose presence changes how pixels are decoded; such files are left to astropy.
_ASTROPY_ONLY = (b"BSCALE  ", b"BZERO   ", b"BLANK   ")


class ImageReadError(DataError):
    """A FITS file could not be read; the message is the reason, without the path."""


class _NeedsAstropyError(Exception):
    """The file is valid FITS but not a plain image this module decodes itself."""


def _block(head: bytes, stream, position: int) -> bytes:
    block = head[position : position + BLOCK]
    if len(block) < BLOCK:
        stream.seek(position)
        block = stream.read(BLOCK)
        if not block:
            raise ImageReadError("the file holds no image data (an empty primary HDU and no extension)")
        if len(block) < BLOCK:
            raise ImageReadError("the file ends inside a FITS header (truncated or not a FITS file)")
    return block


def _header(head: bytes, stream, position: int) -> tuple[dict[bytes, bytes], int]:
    """Parse the header at ``position``; return its cards and the position just after it."""
    cards: dict[bytes, bytes] = {}
    while True:
        block = _block(head, stream, position)
        position += BLOCK
        for start in range(0, BLOCK, _CARD):
            key = block[start : start + 8]
            if key == _END:
                return cards, position
            cards.setdefault(key, block[start + 10 : start + _CARD])


def _int(cards: dict[bytes, bytes], key: bytes, default: int | None = None) -> int:
    value = cards.get(key.ljust(8))
    if value is None:
        if default is None:
            raise ImageReadError(f"the FITS header lacks the mandatory keyword {key.decode()}")
        return default
    try:
        return int(value.split(b"/", 1)[0])
    except ValueError:
        raise ImageReadError(f"the FITS keyword {key.decode()} is not an integer") from None


def _layout(cards: dict[bytes, bytes]) -> tuple[int, tuple[int, ...], int]:
    """Return BITPIX, the numpy-order shape and the data size in bytes (before padding) of one HDU."""
    bitpix = _int(cards, b"BITPIX")
    naxis = _int(cards, b"NAXIS")
    shape = tuple(_int(cards, f"NAXIS{axis}".encode()) for axis in range(naxis, 0, -1))
    if bitpix not in _DTYPES:
        raise ImageReadError(f"BITPIX = {bitpix} is not a valid FITS data type")
    count = math.prod(shape) if naxis else 0
    return bitpix, shape, abs(bitpix) // 8 * _int(cards, b"GCOUNT", 1) * (_int(cards, b"PCOUNT", 0) + count)


def _locate(head: bytes, stream) -> tuple[str, tuple[int, ...], int, bool]:
    """Find the image ``getdata`` would return: its raw dtype, shape, byte offset, and "plain".

    Plain is false when scaling keywords leave decoding the pixels to astropy. ``head`` holds the
    first bytes of the file; headers beyond it are read from ``stream``.
    """
    if not head.startswith(b"SIMPLE  = "):
        if head.startswith(_COMPRESSED):
            raise _NeedsAstropyError
        raise ImageReadError("it is not a FITS file (it does not start with a SIMPLE card)")
    cards, position = _header(head, stream, 0)
    if not cards[b"SIMPLE  "].lstrip().startswith(b"T"):
        raise _NeedsAstropyError
    bitpix, shape, size = _layout(cards)
    if size == 0:
        cards, position = _header(head, stream, position)
        if not cards.get(b"XTENSION", b"").lstrip().startswith(b"'IMAGE"):
            raise _NeedsAstropyError
        bitpix, shape, size = _layout(cards)
    return _DTYPES[bitpix], shape, position, not any(key in cards for key in _ASTROPY_ONLY)


def _open(path: str):
    try:
        # Unbuffered: each read is one system call straight into the bytes object numpy wraps.
        return open(path, "rb", buffering=0)  # noqa: SIM115 - every caller closes it with a with-block
    except FileNotFoundError:
        raise ImageReadError("the file does not exist") from None
    except OSError as error:
        raise ImageReadError(f"the file cannot be opened ({error.strerror})") from None


def image_shape(path: str) -> tuple[int, ...]:
    """Return the numpy-order shape of the image in ``path`` from its header; check the file is complete."""
    with _open(path) as stream:
        try:
            dtype, shape, offset, _ = _locate(stream.read(_HEADER_CHUNK), stream)
        except _NeedsAstropyError:
            return _astropy_image(path).shape
        if os.fstat(stream.fileno()).st_size < offset + math.prod(shape) * np.dtype(dtype).itemsize:
            raise ImageReadError("the file is shorter than its header says (an interrupted download?)")
    if not shape or math.prod(shape) == 0:
        raise ImageReadError("the file holds no image data")
    return shape


def read_image(path: str) -> np.ndarray:
    """Return the image of ``path``, equal to ``astropy.io.fits.getdata(path)``.

    The pixels keep the file's own dtype (often big-endian) and may be read-only; callers convert them
    once, into their own buffer.
    """
    with _open(path) as stream:
        # A cutout fits in one read, which numpy then wraps without copying.
        head = stream.read(min(os.fstat(stream.fileno()).st_size, _WHOLE_FILE_LIMIT))
        try:
            dtype, shape, offset, plain = _locate(head, stream)
        except _NeedsAstropyError:
            plain = False
        if not plain:
            return _astropy_image(path)
        count = math.prod(shape)
        if offset + count * np.dtype(dtype).itemsize <= len(head):
            data = np.frombuffer(head, dtype=dtype, count=count, offset=offset)
        else:
            stream.seek(offset)
            data = np.fromfile(stream, dtype=dtype, count=count)
    if data.size < count or count == 0:
        raise ImageReadError(
            "the file holds no image data" if count == 0 else "the file is shorter than its header says"
        )
    return data.reshape(shape)


@contextlib.contextmanager
def _astropy_errors():
    """Silence astropy's warnings about fixable header defects and turn its errors into ImageReadError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except Exception as error:
        raise ImageReadError(f"astropy cannot read it as FITS ({type(error).__name__}: {error})") from None


def _astropy_image(path: str) -> np.ndarray:
    from astropy.io import fits

    with _astropy_errors():
        data = fits.getdata(path, memmap=False)
    if not isinstance(data, np.ndarray) or data.dtype.names is not None:
        raise ImageReadError("its first data HDU is a table, not an image")
    return data


def fill_nonfinite(image: np.ndarray, mode: str, quantile: float) -> None:
    """Replace the NaN and infinite pixels of a float32 ``image`` in place, as ``mode`` says.

    ``"zero"``, ``"quantile"`` (the ``quantile`` of the image's finite pixels, or 0 when it has none)
    or ``"leave"``.
    """
    if mode == "leave":
        return
    finite = np.isfinite(image)
    if finite.all():
        return
    fill = 0.0
    if mode == "quantile" and finite.any():
        fill = float(np.quantile(image[finite], quantile))
    image[~finite] = fill


def hdu_shapes(source: bytes | str | os.PathLike) -> list[tuple[int, ...]]:
    """Return the numpy-order data shape of every HDU of a FITS file (its bytes, or its path).

    An HDU without data has shape ``()``. Only the headers are read, so checking a large file costs no
    more than a small one; a file that ends before the data its headers announce is an error.
    """
    if isinstance(source, (bytes, bytearray)):
        return _walk_hdus(bytes(source), io.BytesIO(source), len(source), lambda: bytes(source))
    with _open(os.fspath(source)) as stream:
        size = os.fstat(stream.fileno()).st_size
        return _walk_hdus(stream.read(_HEADER_CHUNK), stream, size, lambda: Path(source).read_bytes())


def _walk_hdus(head: bytes, stream, size: int, whole) -> list[tuple[int, ...]]:
    if not head.startswith(b"SIMPLE  = "):
        if head.startswith(_COMPRESSED):
            from astropy.io import fits

            with _astropy_errors(), fits.open(io.BytesIO(whole())) as hdus:
                return [tuple(hdu.data.shape) if hdu.data is not None else () for hdu in hdus]
        raise ImageReadError("it is not a FITS file (it does not start with a SIMPLE card)")
    shapes = []
    position = 0
    while position < size:
        if shapes and not _block(head, stream, position).startswith(b"XTENSION"):
            break  # bytes after the last HDU (padding) are not an HDU
        cards, position = _header(head, stream, position)
        _, shape, data_size = _layout(cards)
        if position + data_size > size:
            raise ImageReadError(
                f"it ends inside the data of HDU {len(shapes)} ({size} bytes, at least "
                f"{position + data_size} announced): a truncated transfer"
            )
        shapes.append(shape if shape and math.prod(shape) else ())
        position += -(-data_size // BLOCK) * BLOCK
    return shapes
