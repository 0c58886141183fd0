"""Cityscapes packages through the account login of the ``cityscapesscripts`` package.

Credentials come from ``CITYSCAPES_USERNAME`` / ``CITYSCAPES_PASSWORD``. They are
handed to the package in memory only, and are never printed, logged or written to disk
here: the package's login has no parameters and asks on the terminal, so its prompts
are answered for the duration of the call (:func:`_answering_login_prompts`), with its
offer to store the credentials in a file declined.
"""
from __future__ import annotations

import contextlib
import os
import sys
import types
from pathlib import Path
from typing import Iterator, Sequence

from advent.data.download.http import DownloadError

CITYSCAPES_ENV = ("CITYSCAPES_USERNAME", "CITYSCAPES_PASSWORD")
PACKAGES = ("gtFine_trainvaltest.zip", "leftImg8bit_trainvaltest.zip")


def _cityscapes_downloader() -> types.ModuleType:
    try:
        from cityscapesscripts.download import downloader
    except ImportError as err:
        raise RuntimeError(
            "downloading Cityscapes needs the 'cityscapesscripts' package (its downloader "
            "handles the account login): `pip install cityscapesscripts`. Or download "
            "gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip by hand from "
            "https://www.cityscapes-dataset.com/downloads/ and pass the unpacked folder "
            f"as the existing data path ({err})") from None
    return downloader


@contextlib.contextmanager
def _answering_login_prompts(downloader: types.ModuleType, username: str,
                             password: str) -> Iterator[None]:
    """While inside, ``downloader.login()`` gets its answers from memory, not the terminal.

    The login reads the user name with the module's ``input``, the password with its
    ``getpass.getpass``, then asks (with ``input`` again) whether to store both in a file:
    the answer is "n". The module's own ``input`` and ``getpass`` are put back on exit.
    """
    def answer(prompt: str = "") -> str:
        return "n" if "store" in prompt.lower() else username

    absent = object()
    replacements = {"input": answer,
                    "getpass": types.SimpleNamespace(getpass=lambda prompt="": password)}
    saved = {name: vars(downloader).get(name, absent) for name in replacements}
    for name, value in replacements.items():
        setattr(downloader, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is absent:
                delattr(downloader, name)
            else:
                setattr(downloader, name, value)


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def download_cityscapes(dest: str | os.PathLike, packages: Sequence[str] = PACKAGES,
                        progress: bool = True) -> list[Path]:
    """Download Cityscapes packages into ``dest`` with ``cityscapesscripts``; return the paths.

    The credentials are removed from any error message. Each package is downloaded into
    ``dest/.partial`` (resumed there on a rerun, deleted on an MD5 mismatch) and moved
    into ``dest`` once the package's MD5 check passed. Packages already in ``dest`` are
    not downloaded again. The package's own progress output goes to stderr
    (``progress``) or nowhere.
    """
    dest = Path(dest)
    wanted = [p for p in packages if not (dest / p).is_file()]
    if not wanted:
        return [dest / p for p in packages]
    username, password = (os.environ.get(k, "") for k in CITYSCAPES_ENV)
    if not username or not password:
        raise RuntimeError("downloading Cityscapes needs an account: set the environment "
                           f"variables {CITYSCAPES_ENV[0]} and {CITYSCAPES_ENV[1]} (create an "
                           "account at https://www.cityscapes-dataset.com/register/)")
    downloader = _cityscapes_downloader()
    staging = dest / ".partial"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with _answering_login_prompts(downloader, username, password):
            session = downloader.login()
        for package in wanted:
            partial = staging / package
            try:
                # the package prints to stdout; keep a stage's stdout for its own output
                with open(os.devnull, "w") as null, \
                        contextlib.redirect_stdout(sys.stderr if progress else null):
                    downloader.download_packages(session=session, package_names=[package],
                                                 destination_path=str(staging),
                                                 resume=partial.exists())
            except Exception as err:
                if "md5" in str(err).lower():
                    partial.unlink(missing_ok=True)  # corrupt: a resume would keep it
                raise
            os.replace(partial, dest / package)
    except Exception as err:
        raise DownloadError(f"Cityscapes download failed: "
                            f"{_redact(f'{type(err).__name__}: {err}', (password,))}") from None
    return [dest / p for p in packages]
