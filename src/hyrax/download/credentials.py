"""Where a download's account comes from: the configuration, the environment, or a netrc file.

The password is never logged or written anywhere by Hyrax: the configuration key is a secret (redacted
in ``runtime_config.toml``, MLflow and logs), and the other two sources never enter the configuration.
"""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from urllib.parse import urlsplit

from hyrax.download.services.base import DownloadError

USER_VARIABLE = "HYRAX_DOWNLOAD_USER"
PASSWORD_VARIABLE = "HYRAX_DOWNLOAD_PASSWORD"


def find_credentials(
    username: str, password: str, credentials_file: str | os.PathLike | None, url: str
) -> tuple[str, str] | None:
    """Return ``(user, password)`` from the first source that has both, or None.

    Parameters
    ----------
    username, password : str
        ``download.username`` and ``download.password``; empty when not set.
    credentials_file : path or None
        ``download.credentials_file``: a netrc-format file; its entry for the URL's host is used, or
        its ``default`` entry.
    url : str
        The service's URL.

    Raises
    ------
    DownloadError
        When the credentials file is missing or malformed.
    """
    if username and password:
        return str(username), str(password)
    from_environment = os.environ.get(USER_VARIABLE, ""), os.environ.get(PASSWORD_VARIABLE, "")
    if all(from_environment):
        return from_environment
    if credentials_file:
        path = Path(credentials_file).expanduser()
        try:
            entry = netrc.netrc(path).authenticators(urlsplit(url).hostname or "")
        except FileNotFoundError:
            raise DownloadError(
                f"The credentials file {path} (download.credentials_file) does not exist."
            ) from None
        except netrc.NetrcParseError as error:
            raise DownloadError(
                f"The credentials file {path} (download.credentials_file) is not in netrc format "
                f"(line {error.lineno}: {error.msg}). Write one line: machine <host> login <user> password "
                "<password>."
            ) from None
        if entry and entry[0] and entry[2]:
            return entry[0], entry[2]
    return None


def missing_credentials_message(service: str, url: str) -> str:
    """Say how to give the account a service needs."""
    host = urlsplit(url).hostname or url
    return (
        f"The {service} service needs an account, and none was found. Set the environment variables "
        f"{USER_VARIABLE} and {PASSWORD_VARIABLE}, or point download.credentials_file at a netrc file "
        f"with the line 'machine {host} login <user> password <password>' (or set download.username and "
        "download.password)."
    )
