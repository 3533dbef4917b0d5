"""A real headless Chromium for tests of pages Hyrax writes or serves.

Tests reach the browser through the ``browser`` fixture (``tests/conftest.py``), a :class:`Browser`
reset to a blank page, backed by one Chromium per test session (per xdist worker). Every such test is
marked ``@pytest.mark.browser``. A typical test::

    @pytest.mark.browser
    def test_page_is_offline(browser, tmp_path):
        page = write_page(tmp_path)
        browser.open(page, wait_for="canvas")
        assert browser.console_errors() == []
        assert browser.external_requests() == []
        image = browser.screenshot(tmp_path / "page.png")
        assert count_foreground_pixels(image, browser.element_box("canvas")) > 1000

Chromium and chromedriver come from the Debian packages ``chromium`` and ``chromium-driver``; where
they are missing the browser tests skip, unless ``HYRAX_REQUIRE_BROWSER`` is set (CI sets it), in
which case they fail.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM_BINARY = Path(os.environ.get("HYRAX_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER_BINARY = Path(os.environ.get("HYRAX_CHROMEDRIVER", "/usr/bin/chromedriver"))
MISSING_BROWSER_REASON = (
    "Chromium not installed: apt-get install chromium chromium-driver; browser tests skipped"
)
REQUIRE_BROWSER_VARIABLE = "HYRAX_REQUIRE_BROWSER"

# The viewport every test sees, in CSS pixels; with a device scale factor of 1 these are also the
# screenshot's pixels, so element boxes index screenshots directly.
VIEWPORT = (1400, 1000)

CHROMIUM_FLAGS = (
    "--headless",
    # Root (CI, this machine) cannot use Chromium's sandbox.
    "--no-sandbox",
    "--disable-gpu",
    # Without these the browser opens background connections of its own, which a closed network
    # refuses and which would otherwise show up among the page's requests.
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}",
    "--force-device-scale-factor=1",
    # Scrollbars would paint over the right and bottom edges of screenshots.
    "--hide-scrollbars",
    # WebGL (Bokeh's webgl backend) otherwise has no software fallback once the GPU is disabled.
    "--enable-unsafe-swiftshader",
    # Every host but the local one fails to resolve at once, so a test behaves the same with or
    # without internet access, and a page that reaches out still shows the attempt in its requests.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
)

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# Schemes that never leave the machine.
LOCAL_SCHEMES = frozenset({"file", "data", "blob", "about"})

_BOX_SCRIPT = "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom];"

# The page's own console (console.error) and failed loads (source "network") both count as errors.
ERROR_LEVELS = ("SEVERE", "WARNING")


def browser_required() -> bool:
    """Whether a missing browser must fail the browser tests rather than skip them.

    Returns
    -------
    bool
        True when ``HYRAX_REQUIRE_BROWSER`` is set to anything but an empty string, ``0``, ``false``
        or ``no``.
    """
    return os.environ.get(REQUIRE_BROWSER_VARIABLE, "").strip().lower() not in {"", "0", "false", "no"}


def browser_available() -> bool:
    """Whether both the Chromium binary and its chromedriver are installed.

    Returns
    -------
    bool
        True when :data:`CHROMIUM_BINARY` and :data:`CHROMEDRIVER_BINARY` are both executable files.
    """
    return all(path.is_file() and os.access(path, os.X_OK) for path in (CHROMIUM_BINARY, CHROMEDRIVER_BINARY))


def start_chromium(user_data_dir: str | Path) -> webdriver.Chrome:
    """Start a headless Chromium that records its console and network activity.

    Parameters
    ----------
    user_data_dir : str or Path
        A new, empty folder for the browser profile, so no earlier state (cache, cookies) leaks in.

    Returns
    -------
    selenium.webdriver.Chrome
        The driver; the caller quits it.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM_BINARY)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER_BINARY)), options=options)
    try:
        driver.set_page_load_timeout(60)
        # The window size includes the (invisible) browser frame in new headless mode, which leaves a
        # viewport shorter than asked; pin the viewport itself.
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": VIEWPORT[0], "height": VIEWPORT[1], "deviceScaleFactor": 1, "mobile": False},
        )
    except Exception:
        driver.quit()
        raise
    return driver


def is_local_url(url: str) -> bool:
    """Whether a request to ``url`` stays on this machine.

    Parameters
    ----------
    url : str
        A URL as the browser requested it.

    Returns
    -------
    bool
        True for ``file:``, ``data:``, ``blob:`` and ``about:`` URLs and for any scheme addressed to
        127.0.0.1, localhost or ::1.

    Examples
    --------
    >>> is_local_url("file:///tmp/visualize.html"), is_local_url("http://127.0.0.1:5006/app")
    (True, True)
    >>> is_local_url("https://cdn.bokeh.org/bokeh/release/bokeh-3.4.0.min.js")
    False
    """
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return parts.hostname in LOCAL_HOSTS


def _region(image: np.ndarray, region: tuple[int, int, int, int] | None) -> np.ndarray:
    if region is None:
        return image
    left, top, right, bottom = (int(round(v)) for v in region)
    return image[max(top, 0) : max(bottom, 0), max(left, 0) : max(right, 0)]


def dominant_color(image: np.ndarray) -> tuple[int, int, int]:
    """The most frequent colour of an image, taken as its background.

    Parameters
    ----------
    image : numpy.ndarray
        An RGB image, shape (height, width, 3), dtype uint8.

    Returns
    -------
    tuple of int
        The (red, green, blue) value shared by the most pixels.

    Examples
    --------
    >>> image = np.full((4, 4, 3), 255, dtype=np.uint8)
    >>> image[0, 0] = (255, 0, 0)
    >>> dominant_color(image)
    (255, 255, 255)
    """
    packed = image[..., :3].reshape(-1, 3).astype(np.uint32)
    codes = (packed[:, 0] << 16) | (packed[:, 1] << 8) | packed[:, 2]
    values, counts = np.unique(codes, return_counts=True)
    code = int(values[np.argmax(counts)])
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def count_color_pixels(
    image: np.ndarray,
    color: tuple[int, int, int],
    region: tuple[int, int, int, int] | None = None,
    tolerance: int = 40,
) -> int:
    """Count the pixels of one colour, within a tolerance.

    Parameters
    ----------
    image : numpy.ndarray
        An RGB image, shape (height, width, 3), dtype uint8, e.g. from :meth:`Browser.screenshot`.
    color : tuple of int
        The (red, green, blue) colour to look for.
    region : tuple of int, optional
        ``(left, top, right, bottom)`` in pixels, right and bottom excluded (as
        :meth:`Browser.element_box` returns); the whole image when omitted.
    tolerance : int
        Largest difference allowed in any channel, which absorbs anti-aliasing and colour management.

    Returns
    -------
    int
        The number of matching pixels in the region.

    Examples
    --------
    >>> image = np.zeros((10, 10, 3), dtype=np.uint8)
    >>> image[2:5, 2:5] = (250, 5, 5)
    >>> count_color_pixels(image, (255, 0, 0)), count_color_pixels(image, (255, 0, 0), (0, 0, 3, 3))
    (9, 1)
    """
    pixels = _region(image, region)[..., :3].astype(np.int16)
    distance = np.abs(pixels - np.asarray(color, dtype=np.int16)).max(axis=-1)
    return int((distance <= tolerance).sum())


def count_foreground_pixels(
    image: np.ndarray,
    region: tuple[int, int, int, int] | None = None,
    background: tuple[int, int, int] | None = None,
    tolerance: int = 16,
) -> int:
    """Count the pixels that differ from the background, i.e. where something was drawn.

    Parameters
    ----------
    image : numpy.ndarray
        An RGB image, shape (height, width, 3), dtype uint8, e.g. from :meth:`Browser.screenshot`.
    region : tuple of int, optional
        ``(left, top, right, bottom)`` in pixels, right and bottom excluded; the whole image when
        omitted.
    background : tuple of int, optional
        The background colour; by default the most frequent colour of the region.
    tolerance : int
        Largest difference in any channel still counted as background.

    Returns
    -------
    int
        The number of pixels in the region farther than ``tolerance`` from the background.

    Examples
    --------
    >>> image = np.full((10, 10, 3), 255, dtype=np.uint8)
    >>> image[0:2, 0:3] = 0
    >>> count_foreground_pixels(image), count_foreground_pixels(image, (5, 5, 10, 10))
    (6, 0)
    """
    pixels = _region(image, region)
    if pixels.size == 0:
        return 0
    if background is None:
        background = dominant_color(pixels)
    return pixels.shape[0] * pixels.shape[1] - count_color_pixels(pixels, background, tolerance=tolerance)


class Browser:
    """One Chromium page, with the reads and gestures tests need.

    Console messages and network requests are collected from the moment of the last :meth:`open`
    (or :meth:`reset`), so each page is judged on its own.

    Parameters
    ----------
    driver : selenium.webdriver.Chrome
        A driver started by :func:`start_chromium` (its logging preferences are required).

    Attributes
    ----------
    driver : selenium.webdriver.Chrome
        The underlying driver, for anything the helpers do not cover.
    """

    def __init__(self, driver: webdriver.Chrome):
        self.driver = driver
        self._console: list[dict] = []
        self._requests: list[str] = []

    # Chromedriver hands out each log entry once, so entries are moved into lists kept here.
    def _drain_logs(self) -> None:
        self._console.extend(self.driver.get_log("browser"))
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method = message.get("method")
            if method == "Network.requestWillBeSent":
                self._requests.append(message["params"]["request"]["url"])
            elif method == "Network.webSocketCreated":
                self._requests.append(message["params"]["url"])

    def reset(self) -> None:
        """Leave the current page for a blank one and forget its console messages and requests."""
        self.driver.get("about:blank")
        self._drain_logs()
        self._console.clear()
        self._requests.clear()

    def open(self, target: str | Path, wait_for: str | None = None, timeout: float = 30) -> None:
        """Open a file or URL and wait until it has loaded.

        Parameters
        ----------
        target : str or Path
            A path to a local file, or a URL (``http://127.0.0.1:...``, ``file://...``, ``data:...``).
        wait_for : str, optional
            A CSS selector that must also be present, for pages that build themselves after the
            load event (Bokeh and Panel render from scripts).
        timeout : float
            Seconds to wait for the load and for ``wait_for``.

        Raises
        ------
        FileNotFoundError
            If ``target`` is a path that does not exist (Chromium would show an error page instead).
        selenium.common.exceptions.TimeoutException
            If the page or the selector is not there in time.
        """
        url = str(target)
        if isinstance(target, Path) or not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url):
            path = Path(target).resolve()
            if not path.is_file():
                raise FileNotFoundError(path)
            url = path.as_uri()
        self._drain_logs()
        self._console.clear()
        self._requests.clear()
        self.driver.get(url)
        self.wait_until(
            lambda: self.driver.execute_script("return document.readyState") == "complete",
            timeout,
            f"{url} did not finish loading",
        )
        if wait_for is not None:
            self.wait_for(wait_for, timeout)

    def wait_for(self, selector: str, timeout: float = 30, visible: bool = False) -> WebElement:
        """Wait until an element matching a CSS selector is in the page.

        Parameters
        ----------
        selector : str
            A CSS selector.
        timeout : float
            Seconds to wait.
        visible : bool
            Also wait until the element is displayed with a non-zero size.

        Returns
        -------
        selenium.webdriver.remote.webelement.WebElement
            The first matching element.
        """
        condition = (
            expected_conditions.visibility_of_element_located
            if visible
            else expected_conditions.presence_of_element_located
        )
        return WebDriverWait(self.driver, timeout).until(
            condition((By.CSS_SELECTOR, selector)), f"no element matches {selector!r} after {timeout} s"
        )

    def wait_until(self, condition: str | Callable[[], object], timeout: float = 30, message: str = ""):
        """Wait until a condition holds.

        Parameters
        ----------
        condition : str or callable
            JavaScript whose ``return`` value must be truthy (e.g.
            ``"return document.querySelectorAll('.bk-Canvas').length > 0"``), or a function of no
            arguments returning a truthy value.
        timeout : float
            Seconds to wait.
        message : str
            Text of the timeout error.

        Returns
        -------
        object
            The first truthy value of the condition.
        """
        if isinstance(condition, str):
            script = condition
            return WebDriverWait(self.driver, timeout).until(
                lambda driver: driver.execute_script(script), message or f"never true: {script}"
            )
        return WebDriverWait(self.driver, timeout).until(lambda driver: condition(), message)

    def find(self, selector: str) -> WebElement:
        """The first element matching a CSS selector (raises if there is none)."""
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def run_js(self, script: str, *args):
        """Run JavaScript in the page: ``return`` hands a value back, ``arguments`` holds ``args``."""
        return self.driver.execute_script(script, *args)

    def console_messages(self, levels: Iterable[str] | None = None) -> list[dict]:
        """The console messages of the current page.

        Parameters
        ----------
        levels : iterable of str, optional
            Keep only these levels (``"SEVERE"``, ``"WARNING"``, ``"INFO"``, ``"DEBUG"``); all when
            omitted. ``console.error`` and failed loads are ``SEVERE``, ``console.warn`` ``WARNING``.

        Returns
        -------
        list of dict
            Chromedriver's entries, each with ``level``, ``message``, ``source`` (``"console-api"``,
            ``"network"``, ``"javascript"`` for uncaught exceptions) and ``timestamp``.
        """
        self._drain_logs()
        wanted = None if levels is None else set(levels)
        return [entry for entry in self._console if wanted is None or entry["level"] in wanted]

    def console_errors(self, ignore: Iterable[str] = (), levels: Iterable[str] = ERROR_LEVELS) -> list[str]:
        """The text of the current page's console errors and warnings.

        Parameters
        ----------
        ignore : iterable of str
            Regular expressions; messages matching any of them are left out (e.g. ``r"favicon\\.ico"``
            for a test server without an icon).
        levels : iterable of str
            The levels that count as errors.

        Returns
        -------
        list of str
            One ``"LEVEL: message"`` line per message, empty for a clean page.
        """
        patterns = [re.compile(pattern) for pattern in ignore]
        return [
            f"{entry['level']}: {entry['message']}"
            for entry in self.console_messages(levels)
            if not any(pattern.search(entry["message"]) for pattern in patterns)
        ]

    def network_requests(self) -> list[str]:
        """Every URL the current page requested, in order, including the page itself and WebSockets.

        Requests are recorded when they are sent, so ones that failed (an unreachable host) are listed
        too.

        Returns
        -------
        list of str
            The requested URLs.
        """
        self._drain_logs()
        return list(self._requests)

    def external_requests(self) -> list[str]:
        """The requests of the current page that would leave this machine (see :func:`is_local_url`).

        Returns
        -------
        list of str
            The offending URLs, empty for a page that works offline.
        """
        return [url for url in self.network_requests() if not is_local_url(url)]

    def screenshot(self, path: str | Path | None = None, selector: str | None = None) -> np.ndarray:
        """Take a screenshot of the viewport or of one element.

        Parameters
        ----------
        path : str or Path, optional
            Where to also save it as PNG (folders are created), to look at when a test fails.
        selector : str, optional
            A CSS selector: capture only the first matching element instead of the viewport.

        Returns
        -------
        numpy.ndarray
            RGB pixels, shape (height, width, 3), dtype uint8. For the viewport, pixel (x, y) is the
            page's CSS pixel (x, y), so :meth:`element_box` gives regions in it.
        """
        png = self.find(selector).screenshot_as_png if selector else self.driver.get_screenshot_as_png()
        if path is not None:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(png)
        with Image.open(io.BytesIO(png)) as image:
            return np.asarray(image.convert("RGB"))

    def element_box(self, target: str | WebElement) -> tuple[int, int, int, int]:
        """Where an element lies in the viewport, and so in a viewport screenshot.

        Parameters
        ----------
        target : str or WebElement
            A CSS selector or an element.

        Returns
        -------
        tuple of int
            ``(left, top, right, bottom)`` in pixels, right and bottom excluded, as the ``region`` of
            :func:`count_foreground_pixels`.
        """
        element = self.find(target) if isinstance(target, str) else target
        left, top, right, bottom = self.driver.execute_script(_BOX_SCRIPT, element)
        return int(np.floor(left)), int(np.floor(top)), int(np.ceil(right)), int(np.ceil(bottom))

    def _viewport_point(self, element: WebElement, point: tuple[float, float]) -> tuple[int, int]:
        left, top, _, _ = self.driver.execute_script(_BOX_SCRIPT, element)
        return int(round(left + point[0])), int(round(top + point[1]))

    def _element(self, target: str | WebElement) -> WebElement:
        element = self.find(target) if isinstance(target, str) else target
        # Pointer actions address the viewport, so the element must be inside it.
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'})", element)
        return element

    def drag(
        self,
        target: str | WebElement,
        start: tuple[float, float],
        end: tuple[float, float],
        steps: int = 10,
        step_ms: int = 20,
    ) -> None:
        """Press the mouse at one point of an element, move it to another and release (a box selection).

        Parameters
        ----------
        target : str or WebElement
            A CSS selector or an element, e.g. a Bokeh plot's canvas.
        start, end : tuple of float
            ``(x, y)`` in CSS pixels from the element's top-left corner.
        steps : int
            Intermediate moves between press and release; drag handlers (Bokeh's box select among
            them) act on the moves, not only on the two ends.
        step_ms : int
            Duration of each move, in milliseconds.
        """
        element = self._element(target)
        chain = ActionChains(self.driver, duration=step_ms)
        pointer = chain.w3c_actions.pointer_action
        x0, y0 = self._viewport_point(element, start)
        x1, y1 = self._viewport_point(element, end)
        pointer.move_to_location(x0, y0)
        pointer.pointer_down()
        for fraction in np.linspace(0, 1, max(steps, 1) + 1)[1:]:
            x, y = x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction
            pointer.move_to_location(int(round(x)), int(round(y)))
        pointer.pointer_up()
        chain.perform()

    def click_at(self, target: str | WebElement, point: tuple[float, float]) -> None:
        """Click at a point of an element.

        Parameters
        ----------
        target : str or WebElement
            A CSS selector or an element.
        point : tuple of float
            ``(x, y)`` in CSS pixels from the element's top-left corner.
        """
        element = self._element(target)
        chain = ActionChains(self.driver, duration=20)
        pointer = chain.w3c_actions.pointer_action
        pointer.move_to_location(*self._viewport_point(element, point))
        pointer.click()
        chain.perform()
