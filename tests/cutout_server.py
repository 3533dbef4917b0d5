"""A local HTTP server that speaks the protocols of two astronomical cutout services.

It serves real FITS cutouts, cut with astropy's ``Cutout2D`` from the real HSC sample images, in the
manner of

* the HSC data archive's bulk "DAS cutout" service (``POST`` of a coordinate list, tar archive back,
  HTTP Basic auth), and
* the Legacy Surveys viewer's ``fits-cutout`` service (credential-free ``GET``, one FITS file back).

Tests inject faults (``inject``) and read what the server received (``requests``, ``count``).
Import it the way ``browser.py`` is imported (``tests/`` is on ``sys.path`` under pytest)::

    from cutout_server import CutoutServer, require_sample

    require_sample()
    with CutoutServer() as server:
        ra, dec = server.sky_positions(1)[0]
        ...
"""

from __future__ import annotations

import base64
import binascii
import email.parser
import email.policy
import io
import re
import sys
import tarfile
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from astropy import units
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.nddata import Cutout2D
from astropy.table import Table
from astropy.wcs import WCS

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "shared/data/hsc_sample"

DAS_PATH = "/das_cutout/pdr3/cgi-bin/cutout"
LEGACY_PATH = "/viewer/fits-cutout"

PIXEL_SCALE_ARCSEC = 0.168
SAMPLE_TRACT = 8279
DAS_MAX_ROWS = 1000
DAS_ARCHIVE_FOLDER = "arch-230101-120000"
FILTER_ORDER = ("HSC-G", "HSC-R", "HSC-I", "HSC-Z", "HSC-Y", "g", "r", "i", "z")
FAULTS = frozenset({"500", "slow", "truncate", "drop", "401", "403"})
FAULT_MESSAGES = {"500": b"internal server error", "401": b"authentication required", "403": b"forbidden"}

DAS_COLUMNS = frozenset(
    {"rerun", "type", "filter", "tract", "ra", "dec", "sw", "sh", "image", "mask", "variance", "name"}
)
DAS_REQUIRED_COLUMNS = ("ra", "dec", "sw", "sh", "filter")
DAS_DEFAULT_RERUN = "pdr3_wide"

# A pixel is "well inside" an image when it is at least this far from every edge.
SKY_POSITION_MARGIN_PX = 4.0


def require_sample() -> Path:
    """Skip the calling test when the real HSC sample is not beside the repository.

    Returns
    -------
    Path
        The sample folder (``SAMPLE_DIR``), when it is present.
    """
    if not (SAMPLE_DIR / "images").is_dir():
        pytest.skip(
            f"the real HSC sample is not at {SAMPLE_DIR} (it ships beside the repository as "
            "../shared/data/hsc_sample); the cutout server needs its sky images"
        )
    return SAMPLE_DIR


@dataclass
class RequestRecord:
    """One HTTP request the server received.

    Attributes
    ----------
    service : str
        ``"das"``, ``"legacy"``, or ``"unknown"`` for any other path.
    method : str
        The HTTP method.
    path : str
        The request path, query string included.
    user : str | None
        The user name from HTTP Basic auth (whether or not the password was right), else None.
    rows : list[tuple[float, float, str]]
        ``(ra, dec, filter)`` of every cutout asked for, in degrees. Empty when the request could not
        be parsed or, for DAS, when its credentials were wrong (the body is then not read as a list).
    fault : str | None
        The injected fault applied to this request, if any.
    status : int
        The HTTP status sent; 0 while the request is in progress or when the connection was dropped.
    """

    service: str
    method: str
    path: str
    user: str | None = None
    rows: list[tuple[float, float, str]] = field(default_factory=list)
    fault: str | None = None
    status: int = 0


@dataclass
class _SkyImage:
    path: Path
    data: np.ndarray
    wcs: WCS

    def margin_px(self, ra: float, dec: float) -> float:
        """Distance in pixels from (ra, dec) to the nearest image edge; negative when outside."""
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        height, width = self.data.shape
        return float(min(x + 0.5, width - 0.5 - x, y + 0.5, height - 0.5 - y))

    def contains(self, ra: float, dec: float) -> bool:
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        height, width = self.data.shape
        return bool(-0.5 <= x < width - 0.5 and -0.5 <= y < height - 0.5)


@dataclass
class _PendingFault:
    fault: str
    remaining: int
    match: Callable[[RequestRecord], bool] | None


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    extra_headers: dict[str, str] = field(default_factory=dict)


class _BadRequestError(Exception):
    """A request the server answers with 400 and this message."""


def filter_factor(filter_name: str) -> float:
    """Brightness factor the server applies to the i-band sky for a filter, so filters differ.

    Parameters
    ----------
    filter_name : str
        Filter as the client names it (``"HSC-G"`` ... ``"HSC-Y"``, ``"g"`` ... ``"z"``); any other name
        gets factor 1.0.

    Returns
    -------
    float
        ``1.0 + 0.25 * k`` with ``k`` the filter's index in ``FILTER_ORDER`` (0 for unknown names).
    """
    index = FILTER_ORDER.index(filter_name) if filter_name in FILTER_ORDER else 0
    return 1.0 + 0.25 * index


def semi_size_to_pixels(semi_size_deg: float) -> int:
    """Full cutout size in server pixels for a semi width or semi height in degrees."""
    return max(1, round(2 * semi_size_deg * 3600 / PIXEL_SCALE_ARCSEC))


def parse_angle_deg(text: str) -> float:
    """Parse a DAS list angle such as ``30.5deg``, ``2.0asec``, ``1.5arcsec``, ``0.1arcmin`` or ``30.5``.

    Parameters
    ----------
    text : str
        Number with an optional astropy angle unit suffix; no suffix means degrees, and ``asec`` is
        read as ``arcsec``.

    Returns
    -------
    float
        The angle in degrees.

    Raises
    ------
    ValueError
        When the text is not a number with an angle unit.
    """
    found = re.fullmatch(r"\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z]*)\s*", text)
    if found is None:
        raise ValueError(f"not an angle: {text!r}")
    number, unit_name = found.groups()
    unit_name = {"": "deg", "asec": "arcsec", "amin": "arcmin"}.get(unit_name, unit_name)
    try:
        unit = units.Unit(unit_name)
        return float((float(number) * unit).to_value(units.deg))
    except (ValueError, units.UnitConversionError) as error:
        raise ValueError(f"not an angle: {text!r}") from error


def _parse_bool(text: str, column: str) -> bool:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise _BadRequestError(f"column {column} must be true or false, got {text!r}")


@dataclass
class _DasRow:
    line_number: int
    ra: float
    dec: float
    semi_width_deg: float
    semi_height_deg: float
    filter_name: str
    rerun: str
    image: bool
    mask: bool
    variance: bool


def parse_das_list(text: str) -> list[_DasRow]:
    """Parse a DAS coordinate list (``#?`` header line, then one row per cutout)."""
    columns: list[str] | None = None
    header_index = 0
    rows: list[_DasRow] = []
    for index, raw_line in enumerate(text.splitlines()):
        line = raw_line.strip()
        if columns is None:
            if line.startswith("#?"):
                columns = line[2:].split()
                header_index = index
                unknown = sorted(set(columns) - DAS_COLUMNS)
                if unknown:
                    raise _BadRequestError(f"unknown columns: {' '.join(unknown)}")
                missing = [name for name in DAS_REQUIRED_COLUMNS if name not in columns]
                if missing:
                    raise _BadRequestError(f"missing columns: {' '.join(missing)}")
            elif line and not line.startswith("#"):
                raise _BadRequestError("the list must start with a '#?' header line")
            continue
        if not line or line.startswith("#"):
            continue
        values = line.split()
        if len(values) != len(columns):
            raise _BadRequestError(
                f"line {index - header_index + 1}: {len(values)} values for {len(columns)} columns"
            )
        row = dict(zip(columns, values, strict=True))
        tract = row.get("tract", "any")
        if tract != "any" and not tract.lstrip("+-").isdigit():
            raise _BadRequestError(f"tract must be 'any' or an integer, got {tract!r}")
        try:
            ra, dec, semi_width, semi_height = (
                parse_angle_deg(row[name]) for name in ("ra", "dec", "sw", "sh")
            )
        except ValueError as error:
            raise _BadRequestError(str(error)) from error
        rows.append(
            _DasRow(
                line_number=index - header_index + 1,
                ra=ra,
                dec=dec,
                semi_width_deg=semi_width,
                semi_height_deg=semi_height,
                filter_name=row["filter"],
                rerun=row.get("rerun", DAS_DEFAULT_RERUN),
                image=_parse_bool(row.get("image", "true"), "image"),
                mask=_parse_bool(row.get("mask", "false"), "mask"),
                variance=_parse_bool(row.get("variance", "false"), "variance"),
            )
        )
    if columns is None:
        raise _BadRequestError("the list has no '#?' header line")
    return rows


def _multipart_field(content_type: str, body: bytes, field_name: str) -> bytes:
    """The content of one field of a ``multipart/form-data`` body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _BadRequestError("the body must be multipart/form-data")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field_name:
            payload = part.get_payload(decode=True)
            return payload if payload is not None else b""
    raise _BadRequestError(f"no {field_name!r} field in the form")


def _fits_bytes(hdus: Iterable) -> bytes:
    buffer = io.BytesIO()
    fits.HDUList(list(hdus)).writeto(buffer)
    return buffer.getvalue()


class CutoutServer:
    """A threaded local HTTP server speaking the HSC DAS cutout and Legacy Surveys FITS cutout protocols.

    Use it as a context manager: entering starts it on a free port of 127.0.0.1 in a daemon thread,
    leaving shuts it down.

    Parameters
    ----------
    sky_dir : Path
        Folder of FITS sky images, each with its image and TAN WCS in HDU 1 (default: the HSC sample).
        The catalog of ``catalog_positions`` is read from ``sky_dir.parent / "star_cat_correct.fits"``.
    users : dict[str, str]
        User name -> password accepted by the DAS service's HTTP Basic auth.
    latency : float
        Seconds every request waits before it is answered, to mimic a remote service.

    Attributes
    ----------
    requests : list[RequestRecord]
        Every request received, in arrival order (appended when the request is read, before it is
        answered).
    slow_seconds : float
        How long the ``"slow"`` fault waits before answering normally.
    """

    def __init__(
        self,
        sky_dir: Path = SAMPLE_DIR / "images",
        *,
        users: dict[str, str] | None = None,
        latency: float = 0.0,
    ) -> None:
        self.sky_dir = Path(sky_dir)
        self.users = dict({"astro": "s3cret"} if users is None else users)
        self.latency = latency
        self.slow_seconds = 3.0
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._faults: list[_PendingFault] = []
        self._sky_images = self._load_sky_images()
        # The first cutout pays for astropy's lazy set-up (about a second); pay it here, not in a
        # request that a test or benchmark times.
        first_image = self._sky_images[0]
        height, width = first_image.data.shape
        centre_ra, centre_dec = first_image.wcs.pixel_to_world_values((width - 1) / 2, (height - 1) / 2)
        self._cutout(float(centre_ra), float(centre_dec), "i", 1e-4, 1e-4)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> CutoutServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Bind a free port on 127.0.0.1 and serve in a daemon thread."""
        if self._httpd is not None:
            return
        self._httpd = _CutoutHTTPServer(("127.0.0.1", 0), _CutoutRequestHandler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>``."""
        if self._httpd is None:
            raise RuntimeError("the cutout server is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def das_url(self) -> str:
        """URL of the DAS cutout service (``POST`` a coordinate list here)."""
        return self.url + DAS_PATH

    @property
    def legacy_url(self) -> str:
        """URL of the Legacy Surveys FITS cutout service (``GET`` with query parameters)."""
        return self.url + LEGACY_PATH

    # ----------------------------------------------------------------------------------------- sky data
    def _load_sky_images(self) -> list[_SkyImage]:
        if not self.sky_dir.is_dir():
            raise FileNotFoundError(f"no sky image folder at {self.sky_dir}")

        def natural_key(path: Path) -> list:
            return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]

        images = []
        for path in sorted(self.sky_dir.glob("*.fits"), key=natural_key):
            with fits.open(path) as hdus, warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the HSC headers carry keywords astropy.wcs warns about
                images.append(
                    _SkyImage(path, np.asarray(hdus[1].data, dtype=np.float32), WCS(hdus[1].header))
                )
        if not images:
            raise FileNotFoundError(f"no *.fits sky images in {self.sky_dir}")
        return images

    def _sky_image_at(self, ra: float, dec: float) -> _SkyImage | None:
        containing = [image for image in self._sky_images if image.contains(ra, dec)]
        if not containing:
            return None
        # Footprints may overlap in other sky folders: take the image where the position is most central.
        return max(containing, key=lambda image: image.margin_px(ra, dec))

    def sky_positions(self, n: int, seed: int = 0) -> list[tuple[float, float]]:
        """Positions that each lie well inside one sky image.

        Parameters
        ----------
        n : int
            How many positions.
        seed : int
            Seed of the random choice; the same seed gives the same positions.

        Returns
        -------
        list[tuple[float, float]]
            ``(ra, dec)`` in degrees, each at least 4 pixels from every edge of its image.
        """
        rng = np.random.default_rng(seed)
        positions = []
        for _ in range(n):
            image = self._sky_images[rng.integers(len(self._sky_images))]
            height, width = image.data.shape
            low = SKY_POSITION_MARGIN_PX - 0.5
            x = rng.uniform(low, width - 1 - low)
            y = rng.uniform(low, height - 1 - low)
            ra, dec = image.wcs.pixel_to_world_values(x, y)
            positions.append((float(ra), float(dec)))
        return positions

    def catalog_positions(self) -> list[tuple[str, float, float]]:
        """The stars of the sample catalog.

        Returns
        -------
        list[tuple[str, float, float]]
            ``(object_id, ira, idec)`` for each star, ``ira``/``idec`` in degrees.
        """
        catalog_path = self.sky_dir.parent / "star_cat_correct.fits"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the FITS column is named "# object_id"
            catalog = Table.read(catalog_path)
        id_column = "object_id" if "object_id" in catalog.colnames else "# object_id"
        return [
            (str(object_id), float(ra), float(dec))
            for object_id, ra, dec in catalog.iterrows(id_column, "ira", "idec")
        ]

    def _cutout(self, ra: float, dec: float, filter_name: str, semi_width_deg: float, semi_height_deg: float):
        """The Cutout2D for a request, or None when the position is on no sky image."""
        image = self._sky_image_at(ra, dec)
        if image is None:
            return None
        size = (semi_size_to_pixels(semi_height_deg), semi_size_to_pixels(semi_width_deg))
        cutout = Cutout2D(
            image.data,
            SkyCoord(ra, dec, unit="deg"),
            size=size,
            wcs=image.wcs,
            mode="partial",
            fill_value=np.nan,
        )
        cutout.data = (cutout.data * np.float32(filter_factor(filter_name))).astype(np.float32)
        return cutout

    def expected_pixels(
        self, ra: float, dec: float, filter_name: str, semi_width_deg: float, semi_height_deg: float
    ) -> np.ndarray:
        """The float32 image the server puts in the cutout for this request (either service).

        Parameters
        ----------
        ra, dec : float
            Cutout centre in degrees.
        filter_name : str
            Filter (DAS ``filter`` column or Legacy ``bands``).
        semi_width_deg, semi_height_deg : float
            Half the cutout's width and height in degrees (for Legacy: ``width * pixscale / 2 / 3600``).

        Returns
        -------
        numpy.ndarray
            2-D float32 array, NaN where the cutout runs off its sky image.

        Raises
        ------
        ValueError
            When the position is on no sky image (the server would send no data).
        """
        cutout = self._cutout(ra, dec, filter_name, semi_width_deg, semi_height_deg)
        if cutout is None:
            raise ValueError(f"({ra}, {dec}) is on no sky image: the server sends no data for it")
        return cutout.data

    # --------------------------------------------------------------------------------- faults, counters
    def inject(
        self, fault: str, times: int = 1, match: Callable[[RequestRecord], bool] | None = None
    ) -> None:
        """Make the next ``times`` matching requests fail.

        Parameters
        ----------
        fault : str
            ``"500"``, ``"401"`` or ``"403"``: that status with a short text body (``"401"`` with
            ``WWW-Authenticate``); ``"slow"``: wait ``slow_seconds`` then answer normally;
            ``"truncate"``: status 200 and the full Content-Length but only the first half of the
            body, then close; ``"drop"``: close the connection without sending anything.
        times : int
            How many requests the fault applies to.
        match : Callable[[RequestRecord], bool] | None
            Which requests count: None for any, else a predicate on the parsed request.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {sorted(FAULTS)}")
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._faults.append(_PendingFault(fault, times, match))

    def _record(self, record: RequestRecord) -> None:
        with self._lock:
            self.requests.append(record)

    def _take_fault(self, record: RequestRecord) -> str | None:
        with self._lock:
            for pending in self._faults:
                if pending.match is None or pending.match(record):
                    pending.remaining -= 1
                    if pending.remaining == 0:
                        self._faults.remove(pending)
                    record.fault = pending.fault
                    return pending.fault
        return None

    def count(self, ra: float | None = None, dec: float | None = None, filter_name: str | None = None) -> int:
        """How many times a cutout was asked for (each DAS row and each Legacy request counts once).

        Parameters
        ----------
        ra, dec : float | None
            Position in degrees, matched within 1e-7 degrees; None matches any.
        filter_name : str | None
            Filter; None matches any.

        Returns
        -------
        int
            Matching rows over all requests received, failed ones included.
        """
        with self._lock:
            rows = [row for record in self.requests for row in record.rows]
        return sum(
            1
            for row_ra, row_dec, row_filter in rows
            if (ra is None or abs(row_ra - ra) <= 1e-7)
            and (dec is None or abs(row_dec - dec) <= 1e-7)
            and (filter_name is None or row_filter == filter_name)
        )

    # ------------------------------------------------------------------------------------------ services
    def _authorized_user(self, authorization: str | None) -> tuple[str | None, bool]:
        """(user name, whether the password is right) from an Authorization header."""
        if not authorization or not authorization.lower().startswith("basic "):
            return None, False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, False
        user, _, password = decoded.partition(":")
        return user, self.users.get(user) == password

    def _das_member_fits(self, row: _DasRow) -> bytes | None:
        cutout = self._cutout(row.ra, row.dec, row.filter_name, row.semi_width_deg, row.semi_height_deg)
        if cutout is None:
            return None
        header = cutout.wcs.to_header()
        image_hdu = fits.ImageHDU(cutout.data, header=header) if row.image else fits.ImageHDU()
        mask_hdu = fits.ImageHDU(np.zeros(cutout.data.shape, dtype=np.int32)) if row.mask else fits.ImageHDU()
        variance = (np.abs(cutout.data) * 0.01 + 1.0).astype(np.float32)
        variance_hdu = fits.ImageHDU(variance) if row.variance else fits.ImageHDU()
        return _fits_bytes([fits.PrimaryHDU(), image_hdu, mask_hdu, variance_hdu])

    def _das_response(self, rows: list[_DasRow]) -> _Response:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for row in rows:
                member_bytes = self._das_member_fits(row)
                if member_bytes is None:
                    continue
                name = (
                    f"{DAS_ARCHIVE_FOLDER}/{row.line_number}-cutout-{row.filter_name}-"
                    f"{SAMPLE_TRACT}-{row.rerun}.fits"
                )
                info = tarfile.TarInfo(name)
                info.size = len(member_bytes)
                info.mtime = int(time.time())
                archive.addfile(info, io.BytesIO(member_bytes))
        return _Response(200, buffer.getvalue(), "application/x-tar")

    def _legacy_response(self, ra: float, dec: float, band: str, width: int, height: int, pixscale: float):
        semi_width = width * pixscale / 2 / 3600
        semi_height = height * pixscale / 2 / 3600
        cutout = self._cutout(ra, dec, band, semi_width, semi_height)
        if cutout is None:
            return _Response(404, b"no data")
        fits_file = _fits_bytes([fits.PrimaryHDU(cutout.data, header=cutout.wcs.to_header())])
        return _Response(200, fits_file, "application/fits")


def _parse_legacy_query(query: str) -> tuple[float, float, str, int, int, float]:
    """(ra, dec, band, width, height, pixscale) from a Legacy ``fits-cutout`` query string."""
    params = urllib.parse.parse_qs(query, keep_blank_values=True)

    def single(name: str) -> str:
        values = params.get(name)
        if not values or not values[0].strip():
            raise _BadRequestError(f"missing parameter {name}")
        return values[0].strip()

    def number(name: str, kind=float):
        text = single(name)
        try:
            value = kind(text)
        except ValueError as error:
            raise _BadRequestError(f"invalid {name}: {text!r}") from error
        if not np.isfinite(value):
            raise _BadRequestError(f"invalid {name}: {text!r}")
        return value

    ra, dec = number("ra"), number("dec")
    if not (-90 <= dec <= 90):
        raise _BadRequestError(f"invalid dec: {dec}")
    single("layer")
    band = single("bands")
    if "," in band:
        raise _BadRequestError("ask for one band per request")
    pixscale = number("pixscale")
    if pixscale <= 0:
        raise _BadRequestError("pixscale must be positive")
    if "size" in params:
        width = height = number("size", int)
    else:
        width, height = number("width", int), number("height", int)
    if width < 1 or height < 1:
        raise _BadRequestError("width and height must be positive")
    return ra, dec, band, width, height, pixscale


def _constant_response(response: _Response) -> Callable[[], _Response]:
    return lambda: response


class _CutoutHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops the SYNs of a burst of parallel clients, which then wait a second
    # for the kernel to resend them.
    request_queue_size = 128

    def __init__(self, address, handler_class, cutout_server: CutoutServer) -> None:
        self.cutout_server = cutout_server
        super().__init__(address, handler_class)

    def handle_error(self, request, client_address) -> None:
        # Clients that time out or give up on an injected fault close their end mid-answer; that is expected.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _CutoutRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body would wait ~40 ms for the
    # client's delayed ACK on every answer. Real services' web servers set TCP_NODELAY too.
    disable_nagle_algorithm = True
    server_version = "CutoutServer/1.0"
    server: _CutoutHTTPServer

    def log_message(self, format: str, *args) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._handle()

    def do_POST(self) -> None:  # noqa: N802 - name fixed by BaseHTTPRequestHandler
        self._handle()

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers end with an empty line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        cutouts = self.server.cutout_server
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            return
        url = urllib.parse.urlsplit(self.path)
        service = {DAS_PATH: "das", LEGACY_PATH: "legacy"}.get(url.path, "unknown")
        record = RequestRecord(service=service, method=self.command, path=self.path)
        user, authorized = cutouts._authorized_user(self.headers.get("Authorization"))
        record.user = user
        # Parse before answering so that fault predicates and counters see what was asked for.
        answer: Callable[[], _Response]
        try:
            answer = self._parse(service, url.query, body, authorized, record)
        except _BadRequestError as error:
            answer = _constant_response(_Response(400, str(error).encode()))
        cutouts._record(record)
        fault = cutouts._take_fault(record)
        if cutouts.latency > 0:
            time.sleep(cutouts.latency)
        try:
            self._answer(fault, answer, record)
        except (ConnectionError, TimeoutError):
            self.close_connection = True

    def _parse(
        self, service: str, query: str, body: bytes, authorized: bool, record: RequestRecord
    ) -> Callable[[], _Response]:
        cutouts = self.server.cutout_server
        if service == "das":
            if self.command != "POST":
                return lambda: _Response(405, b"POST a coordinate list", extra_headers={"Allow": "POST"})
            if not authorized:
                return lambda: _Response(
                    401, b"authentication required", extra_headers={"WWW-Authenticate": 'Basic realm="hsc"'}
                )
            content_type = self.headers.get("Content-Type", "")
            if not content_type.lower().startswith("multipart/form-data"):
                raise _BadRequestError("the body must be multipart/form-data")
            list_text = _multipart_field(content_type, body, "list").decode("utf-8", errors="replace")
            rows = parse_das_list(list_text)
            record.rows = [(row.ra, row.dec, row.filter_name) for row in rows]
            if len(rows) > DAS_MAX_ROWS:
                return lambda: _Response(400, f"too many rows ({len(rows)} > {DAS_MAX_ROWS})".encode())
            return lambda: cutouts._das_response(rows)
        if service == "legacy":
            if self.command != "GET":
                return lambda: _Response(405, b"use GET", extra_headers={"Allow": "GET"})
            ra, dec, band, width, height, pixscale = _parse_legacy_query(query)
            record.rows = [(ra, dec, band)]
            return lambda: cutouts._legacy_response(ra, dec, band, width, height, pixscale)
        return lambda: _Response(404, b"not found")

    def _answer(self, fault: str | None, answer: Callable[[], _Response], record: RequestRecord) -> None:
        cutouts = self.server.cutout_server
        if fault == "drop":
            self.close_connection = True
            return
        if fault == "slow":
            time.sleep(cutouts.slow_seconds)
        if fault in ("500", "401", "403"):
            extra = {"WWW-Authenticate": 'Basic realm="hsc"'} if fault == "401" else {}
            response = _Response(int(fault), FAULT_MESSAGES[fault], extra_headers=extra)
        else:
            response = answer()
        if fault == "truncate":
            record.status = 200
            self._send(
                _Response(200, response.body, response.content_type, response.extra_headers), truncate=True
            )
            self.close_connection = True
            return
        record.status = response.status
        self._send(response)

    def _send(self, response: _Response, truncate: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body[: len(response.body) // 2] if truncate else response.body)
