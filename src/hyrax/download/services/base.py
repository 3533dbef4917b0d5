"""``CutoutService``: the base class of every cutout service the ``download`` verb can fetch from.

A plug-in author reads only this file to add a service.

Writing a service
-----------------
Subclass :class:`CutoutService` in a module that is imported (a built-in module of this package, or
an external plug-in), and set:

- ``registry_name``: the name users give in ``download.service`` (the class name when empty);
- ``default_filters``: the filters fetched when ``download.filters`` is false;
- ``layers``: which of ``"image"``, ``"mask"`` and ``"variance"`` the service can deliver;
- ``needs_credentials``: whether requests carry HTTP Basic credentials.

Then implement :meth:`CutoutService.fetch`, which sends the request(s) for one batch of cutouts
through the given :class:`requests.Session` and yields ``(request, fits_bytes)`` for each cutout as it
arrives. It does not retry, check files or write anything: the runner retries what did not arrive,
checks each file with :meth:`CutoutService.check` and writes it atomically. Raise
:class:`NoDataError` when the service says it has no data for the whole batch; let HTTP errors
surface through :func:`raise_for_status` so that 401/403 stop the download, other 4xx fail the
batch, and 5xx, timeouts and broken connections are retried.

The service's own keys live in ``[download.<registry_name>]`` (its ``url`` at least, so a mirror or
a test server can stand in), declared in the default configuration or the plug-in's own defaults.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hyrax.errors import HyraxError
from hyrax.registry import DOWNLOAD_SERVICE_REGISTRY, register_subclass

LAYERS = ("image", "mask", "variance")


class DownloadError(HyraxError):
    """A download cannot go on: bad settings, rejected credentials, or a service that does not answer."""


class CredentialsRejectedError(DownloadError):
    """The service answered 401 or 403: retrying cannot help."""


class NoDataError(Exception):
    """The service has no data for the requested cutout(s); they are recorded as ``"no data"``."""


class RequestRejectedError(Exception):
    """The service refused the request (a 4xx other than 401/403/404); the batch fails without retries."""


@dataclass(frozen=True)
class CutoutRequest:
    """One cutout to fetch: an object in one filter.

    Attributes
    ----------
    object_id : str
        The object's id, as in the catalog.
    ra, dec : float
        The cutout's centre, in degrees.
    filter : str
        The filter name.
    filename : str
        The file name the cutout is written to, relative to the download folder.
    """

    object_id: str
    ra: float
    dec: float
    filter: str
    filename: str


@dataclass(frozen=True)
class CutoutShape:
    """What every cutout of a download looks like, shared by all requests.

    Attributes
    ----------
    semi_width_deg, semi_height_deg : float
        Half the cutout's width (along right ascension) and height, in degrees.
    layers : tuple of str
        The layers requested, a subset of ``("image", "mask", "variance")``.
    """

    semi_width_deg: float
    semi_height_deg: float
    layers: tuple[str, ...] = ("image",)


def raise_for_status(response: Any, what: str) -> None:
    """Turn an HTTP error status into the exception the download runner acts on.

    Parameters
    ----------
    response : requests.Response
        The answer.
    what : str
        The service's name and URL, for messages.

    Raises
    ------
    CredentialsRejectedError
        On 401 and 403.
    NoDataError
        On 404.
    RequestRejectedError
        On other 4xx, except 408 and 429.
    requests.HTTPError
        On 408, 429 and 5xx, which the runner retries.
    """
    status = response.status_code
    if status < 400:
        return
    text = " ".join(response.text.split())[:200] if response.content else ""
    detail = f"HTTP {status} {response.reason or ''}".strip() + (f": {text}" if text else "")
    if status in (401, 403):
        raise CredentialsRejectedError(
            f"{what} refused the credentials ({detail}). Check the user name and password "
            "(download.username and download.password, the HYRAX_DOWNLOAD_USER and HYRAX_DOWNLOAD_PASSWORD "
            "environment variables, or download.credentials_file), and that the account may use this data "
            "release."
        )
    if status == 404:
        raise NoDataError(detail)
    if status < 500 and status not in (408, 429):
        raise RequestRejectedError(f"{what} rejected the request ({detail}).")
    response.raise_for_status()


class CutoutService(ABC):
    """Base class of cutout services; see the module docstring for how to write one.

    Parameters
    ----------
    table : mapping
        The service's configuration table, ``[download.<registry_name>]``.
    shape : CutoutShape
        The size and layers of every cutout.
    credentials : tuple of (str, str), optional
        User name and password, for services that need them.
    """

    registry_name: ClassVar[str | None] = ""
    default_filters: ClassVar[tuple[str, ...]] = ()
    layers: ClassVar[tuple[str, ...]] = ("image",)
    needs_credentials: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any):
        super().__init_subclass__(**kwargs)
        register_subclass(cls, DOWNLOAD_SERVICE_REGISTRY)

    def __init__(self, table: Mapping, shape: CutoutShape, credentials: tuple[str, str] | None = None):
        self.table = table
        self.shape = shape
        self.credentials = credentials

    @property
    def url(self) -> str:
        """The service's endpoint, ``download.<name>.url``."""
        return str(self.table["url"])

    @property
    def batch_size(self) -> int:
        """How many cutouts one call of :meth:`fetch` asks for; 1 unless the service takes lists."""
        return 1

    def describe(self) -> str:
        """The service's name and URL, for messages."""
        return f"The {self.registry_name or type(self).__name__} service at {self.url}"

    @abstractmethod
    def fetch(self, session: Any, batch: list[CutoutRequest], timeout: float) -> Iterator[tuple]:
        """Request the cutouts of ``batch`` and yield ``(request, fits_bytes)`` for each that arrives.

        Parameters
        ----------
        session : requests.Session
            The HTTP session of the calling thread, with the credentials set when the service needs them.
        batch : list of CutoutRequest
            At most :attr:`batch_size` cutouts.
        timeout : float
            Seconds to wait for the connection and between bytes of the answer.
        """

    def check(self, hdu_shapes: list[tuple[int, ...]]) -> str | None:
        """Say what is wrong with a cutout file of this service, given the data shape of each HDU.

        The default expects the requested layers, in the order image, mask, variance, in the first HDUs
        that hold data, each two-dimensional and of one shape.

        Returns
        -------
        str or None
            The problem, or None when the file is as expected.
        """
        with_data = [shape for shape in hdu_shapes if shape]
        wanted = len(self.shape.layers)
        if len(with_data) < wanted:
            expected = ", ".join(self.shape.layers)
            return f"it holds {len(with_data)} image(s) with data, {wanted} expected ({expected})"
        shapes = set(with_data[:wanted])
        if any(len(shape) != 2 for shape in shapes) or len(shapes) != 1:
            return f"its images have shapes {sorted(shapes)}, one 2-D shape expected"
        return None
