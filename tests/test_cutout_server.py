"""The local cutout server itself: protocols, real pixels, faults and counters."""

from __future__ import annotations

import http.client
import io
import tarfile
import urllib.parse

import numpy as np
import pytest
import requests
from astropy.io import fits

from cutout_server import CutoutServer, parse_angle_deg, require_sample

AUTH = ("astro", "s3cret")
HEADER = "#? rerun type filter tract ra dec sw sh image mask variance"


@pytest.fixture
def server():
    require_sample()
    with CutoutServer() as running:
        yield running


def das_list(rows, *, mask="true", variance="true") -> str:
    lines = [HEADER]
    for ra, dec, filter_name in rows:
        lines.append(
            f"pdr3_wide coadd {filter_name} any {ra!r}deg {dec!r}deg 2.0asec 1.5arcsec true {mask} {variance}"
        )
    return "\n".join(lines) + "\n"


def post_das(server, text, auth=AUTH, **kwargs):
    files = {"list": ("coordlist.txt", text.encode(), "text/plain")}
    return requests.post(server.das_url, files=files, auth=auth, timeout=5, **kwargs)


def legacy_params(ra, dec, **extra):
    return {"ra": ra, "dec": dec, "layer": "ls-dr10", "pixscale": 0.168, "bands": "r", **extra}


def fits_from(content: bytes) -> fits.HDUList:
    return fits.open(io.BytesIO(content))


def test_das_post_returns_one_real_cutout_per_row(server):
    stars = server.catalog_positions()[:3]
    rows = [(ra, dec, filter_name) for _, ra, dec in stars for filter_name in ("HSC-G", "HSC-I")]
    response = post_das(server, das_list(rows))

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        members = archive.getmembers()
        assert [member.name for member in members] == [
            f"arch-230101-120000/{line}-cutout-{filter_name}-8279-pdr3_wide.fits"
            for line, (_, _, filter_name) in enumerate(rows, start=2)
        ]
        for member, (ra, dec, filter_name) in zip(members, rows, strict=True):
            with fits_from(archive.extractfile(member).read()) as hdus:
                assert len(hdus) == 4 and hdus[0].data is None
                expected = server.expected_pixels(ra, dec, filter_name, 2.0 / 3600, 1.5 / 3600)
                assert hdus[1].header["BITPIX"] == -32 and hdus[2].header["BITPIX"] == 32
                assert np.array_equal(hdus[1].data, expected, equal_nan=True)
                assert hdus[1].header["CTYPE1"] == "RA---TAN"
                assert hdus[2].data.shape == expected.shape and not hdus[2].data.any()
                assert hdus[3].data.shape == expected.shape
    # 1.5 arcsec semi height and 2 arcsec semi width at 0.168 arcsec/pixel; filters scale the same sky.
    assert expected.shape == (18, 24)
    g_band = server.expected_pixels(rows[0][0], rows[0][1], "HSC-G", 2.0 / 3600, 1.5 / 3600)
    i_band = server.expected_pixels(rows[0][0], rows[0][1], "HSC-I", 2.0 / 3600, 1.5 / 3600)
    assert np.allclose(i_band, g_band * 1.5, equal_nan=True)


def test_das_skips_rows_off_the_sky_and_empties_unrequested_planes(server):
    ((ra, dec),) = server.sky_positions(1)
    text = das_list([(10.0, 10.0, "HSC-R"), (ra, dec, "HSC-R")], mask="false", variance="false")
    response = post_das(server, text)

    with tarfile.open(fileobj=io.BytesIO(response.content)) as archive:
        (member,) = archive.getmembers()
        assert member.name == "arch-230101-120000/3-cutout-HSC-R-8279-pdr3_wide.fits"
        with fits_from(archive.extractfile(member).read()) as hdus:
            assert hdus[1].data is not None and hdus[2].data is None and hdus[3].data is None


def test_das_rejects_wrong_credentials_and_too_many_rows(server):
    ((ra, dec),) = server.sky_positions(1)
    for auth in (("astro", "wrong"), None):
        response = post_das(server, das_list([(ra, dec, "HSC-I")]), auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="hsc"'

    response = post_das(server, das_list([(ra, dec, "HSC-I")] * 1001))
    assert response.status_code == 400 and "too many rows" in response.text


def test_angles_accept_the_units_das_lists_use():
    assert parse_angle_deg("30.591338deg") == pytest.approx(30.591338)
    assert parse_angle_deg("-6.5") == pytest.approx(-6.5)
    assert parse_angle_deg("2.0asec") == pytest.approx(2.0 / 3600)
    assert parse_angle_deg("1.5arcsec") == pytest.approx(1.5 / 3600)
    assert parse_angle_deg("0.1arcmin") == pytest.approx(0.1 / 60)
    with pytest.raises(ValueError):
        parse_angle_deg("12parsec")


def test_legacy_get_returns_real_pixels_and_404_off_the_sky(server):
    ((ra, dec),) = server.sky_positions(1, seed=3)
    response = requests.get(server.legacy_url, params=legacy_params(ra, dec, size=20), timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/fits"
    with fits_from(response.content) as hdus:
        expected = server.expected_pixels(ra, dec, "r", 20 * 0.168 / 2 / 3600, 20 * 0.168 / 2 / 3600)
        assert hdus[0].data.shape == (20, 20)
        assert np.array_equal(hdus[0].data, expected, equal_nan=True)

    response = requests.get(server.legacy_url, params=legacy_params(ra, dec, width=12, height=8), timeout=5)
    with fits_from(response.content) as hdus:
        assert hdus[0].data.shape == (8, 12)

    response = requests.get(server.legacy_url, params=legacy_params(10.0, 10.0, size=20), timeout=5)
    assert response.status_code == 404 and response.text == "no data"
    response = requests.get(server.legacy_url, params=legacy_params(ra, dec), timeout=5)
    assert response.status_code == 400


@pytest.mark.parametrize("fault", ["500", "401", "403"])
def test_status_faults_apply_once(server, fault):
    ((ra, dec),) = server.sky_positions(1)
    server.inject(fault)
    url = server.legacy_url
    failed = requests.get(url, params=legacy_params(ra, dec, size=10), timeout=5)
    assert failed.status_code == int(fault) and failed.text
    assert ("WWW-Authenticate" in failed.headers) == (fault == "401")
    assert requests.get(url, params=legacy_params(ra, dec, size=10), timeout=5).status_code == 200
    assert [record.fault for record in server.requests] == [fault, None]


def test_slow_fault_outlasts_a_short_timeout_once(server):
    ((ra, dec),) = server.sky_positions(1)
    server.slow_seconds = 0.5
    server.inject("slow")
    with pytest.raises(requests.Timeout):
        requests.get(server.legacy_url, params=legacy_params(ra, dec, size=10), timeout=0.2)
    response = requests.get(server.legacy_url, params=legacy_params(ra, dec, size=10), timeout=0.2)
    assert response.status_code == 200


def test_truncate_fault_sends_half_the_announced_body(server):
    ((ra, dec),) = server.sky_positions(1)
    server.inject("truncate")
    host, port = urllib.parse.urlsplit(server.url).netloc.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    query = urllib.parse.urlencode(legacy_params(ra, dec, size=10))
    connection.request("GET", f"/viewer/fits-cutout?{query}")
    response = connection.getresponse()
    announced = int(response.getheader("Content-Length"))
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead) as error:
        response.read()
    assert len(error.value.partial) == announced // 2
    connection.close()

    response = requests.get(server.legacy_url, params=legacy_params(ra, dec, size=10), timeout=5)
    assert response.status_code == 200 and len(response.content) == announced


def test_drop_fault_closes_without_answer_only_for_matching_requests(server):
    (ra, dec), (other_ra, other_dec) = server.sky_positions(2)
    server.inject("drop", match=lambda record: record.service == "das")
    with requests.Session() as session:
        response = session.get(
            server.legacy_url, params=legacy_params(other_ra, other_dec, size=10), timeout=5
        )
        assert response.status_code == 200
        with pytest.raises(requests.ConnectionError):
            files = {"list": ("coordlist.txt", das_list([(ra, dec, "HSC-I")]))}
            session.post(server.das_url, files=files, auth=AUTH, timeout=5)
    assert post_das(server, das_list([(ra, dec, "HSC-I")])).status_code == 200
    assert [(record.service, record.fault) for record in server.requests] == [
        ("legacy", None),
        ("das", "drop"),
        ("das", None),
    ]


def test_count_counts_das_rows_and_legacy_requests(server):
    (ra, dec), (other_ra, other_dec) = server.sky_positions(2, seed=7)
    post_das(server, das_list([(ra, dec, "HSC-G"), (ra, dec, "HSC-I"), (other_ra, other_dec, "HSC-G")]))
    requests.get(server.legacy_url, params=legacy_params(ra, dec, size=10), timeout=5)

    assert server.count() == 4
    assert server.count(ra, dec) == 3
    assert server.count(ra, dec, "HSC-G") == 1
    assert server.count(ra, dec, "r") == 1
    assert server.count(other_ra, other_dec) == 1
    assert server.count(ra + 1e-6, dec) == 0
    assert server.sky_positions(2, seed=7) == [(ra, dec), (other_ra, other_dec)]
