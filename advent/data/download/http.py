"""One file over HTTP(S): resumable, verified, retried, moved into place only when complete.

Bytes go to ``dest.part`` first; an interrupted transfer resumes from there with a
``Range`` request (a server that ignores ``Range`` and answers 200 makes it start
over). Size and SHA-256 are checked when known, and ``dest`` appears (by
``os.replace``) only once they match.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO, Iterator

from tqdm import tqdm

from advent.io import sha256_file

CHUNK = 1 << 20
MIB = 1 << 20
USER_AGENT = "advent-dataset-download/1"


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or with an error that retrying cannot fix)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected size or SHA-256."""


class _Retryable(Exception):
    """Internal: this attempt failed in a way another attempt may fix."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Exclusive lock so two processes never append to the same ``.part`` file."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not Linux/macOS: no lock, still correct alone
        yield
        return
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DownloadError(f"{path}: another process is downloading this file") from None
        try:
            yield
        finally:
            # only the holder removes the lock file, before releasing it
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _progress_bar(name: str, total: int | None, done: int, enabled: bool) -> tqdm:
    """A tqdm bar on stderr counting MiB (``update`` takes MiB); off when not ``enabled``."""
    if total is not None:
        layout = ("{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} MiB "
                  "[{elapsed}<{remaining}, {rate_fmt}]")
    else:
        layout = "{desc}: {n:.1f} MiB [{elapsed}, {rate_fmt}]"
    return tqdm(total=None if total is None else total / MIB, initial=done / MIB, desc=name,
                unit="MiB", bar_format=layout, disable=not enabled, file=sys.stderr)


def _verify(path: Path, url: str, sha256: str | None, size: int | None) -> None:
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        path.unlink(missing_ok=True)
        raise ChecksumError(f"{url}: expected {size} bytes, got {actual_size}; "
                            f"deleted the download")
    if sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256.lower():
            path.unlink(missing_ok=True)
            raise ChecksumError(f"{url}: SHA-256 mismatch: expected {sha256.lower()}, "
                                f"got {actual}; deleted the download")


def download(url: str, dest: str | os.PathLike, sha256: str | None = None,
             size: int | None = None, retries: int = 5, backoff: float = 2.0,
             progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` with resume, verification and retries; return ``dest``.

    * Bytes are written to ``dest.part``; if that file exists (an earlier, interrupted run)
      the transfer continues from its end with a ``Range`` request. A server that answers
      200 instead of 206 is ignoring ``Range``: the part file is truncated and the
      transfer starts over.
    * ``size`` (bytes) and ``sha256`` (hex) are checked when given; on a mismatch the file
      is deleted and :class:`ChecksumError` names both values. Only verified bytes are
      moved to ``dest`` (atomically), so ``dest`` existing means "complete".
    * Network errors, truncated bodies and HTTP 408/429/5xx are retried up to ``retries``
      times, sleeping ``backoff * 2**k`` seconds; the count restarts whenever an attempt
      made progress. Other HTTP errors (404, 403, ...) fail at once.
    * If ``dest`` already exists and matches the given size/checksum, nothing is fetched.
    * ``progress``: a tqdm bar on stderr.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            _verify_existing(dest, url, sha256, size)
            return dest
        except ChecksumError:
            pass  # a stale or foreign file: fetch it again
    part = dest.with_name(dest.name + ".part")
    with _file_lock(dest.with_name(dest.name + ".lock")):
        _download_locked(url, part, sha256, size, retries, backoff, progress, timeout)
        os.replace(part, dest)
    return dest


def _download_locked(url: str, part: Path, sha256: str | None, size: int | None,
                     retries: int, backoff: float, progress: bool, timeout: float) -> None:
    """Fill and verify ``part`` (retrying); the caller moves it into place."""
    failures = 0
    while True:
        before = part.stat().st_size if part.exists() else 0
        try:
            _attempt(url, part, size, progress, timeout)
            break
        except _Retryable as err:
            after = part.stat().st_size if part.exists() else 0
            failures = 0 if after > before else failures + 1
            if failures > retries:
                raise DownloadError(f"{url}: giving up after {retries} retries: {err}") from None
            delay = backoff * (2 ** max(failures - 1, 0))
            if progress:
                sys.stderr.write(f"{part.name[:-5]}: {err}; retrying in {delay:.1f}s\n")
            time.sleep(delay)
    _verify(part, url, sha256, size)
    with open(part, "rb+") as f:
        os.fsync(f.fileno())


def _verify_existing(dest: Path, url: str, sha256: str | None, size: int | None) -> None:
    if size is not None and dest.stat().st_size != size:
        raise ChecksumError(f"{dest}: size differs")
    if sha256 is not None and sha256_file(dest) != sha256.lower():
        raise ChecksumError(f"{dest}: checksum differs")


def _attempt(url: str, part: Path, size: int | None, progress: bool, timeout: float) -> None:
    """One HTTP request; appends to ``part``. Raises ``_Retryable`` for transient failures."""
    offset = part.stat().st_size if part.exists() else 0
    if size is not None and offset > size:
        part.unlink()  # longer than the file can be: not a prefix of it
        offset = 0
    if size is not None and offset == size:
        return  # complete already; verification decides
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            # Range starts at or past the end: the part is complete, or garbage.
            total = _total_from_content_range(err.headers.get("Content-Range"))
            err.close()
            if total is not None and total == offset:
                return
            part.unlink()
            raise _Retryable("server refused the resume range; starting over") from err
        err.close()
        if err.code in (408, 429) or err.code >= 500:
            raise _Retryable(f"HTTP {err.code}") from err
        raise DownloadError(f"{url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
        raise _Retryable(f"cannot connect ({err})") from err

    with response:
        status = response.status
        length = response.headers.get("Content-Length")
        length = int(length) if length is not None else None
        if status == 206:
            start = _start_from_content_range(response.headers.get("Content-Range"))
            if start != offset:
                part.unlink(missing_ok=True)
                raise _Retryable(f"server resumed at byte {start}, asked for {offset}")
            total = _total_from_content_range(response.headers.get("Content-Range"))
            mode = "ab"
        else:  # 200: the whole body (the server ignored Range, or there was none)
            offset, total, mode = 0, length, "wb"
        if size is not None and total is not None and total != size:
            raise DownloadError(f"{url}: server reports {total} bytes, expected {size}")
        with open(part, mode) as out, \
                _progress_bar(part.name[: -len(".part")], total if total is not None else size,
                              offset, progress) as bar:
            done = _copy(response, out, bar, offset)
        if total is not None and done < total:
            raise _Retryable(f"connection closed after {done} of {total} bytes")


def _copy(response: BinaryIO, out: BinaryIO, bar: tqdm, done: int) -> int:
    """Copy the body to ``out``; return the file's length, ``done`` bytes before it.

    Read failures are retryable; write failures (disk full) are not.
    """
    while True:
        try:
            block = response.read(CHUNK)
        except http.client.IncompleteRead as err:
            out.write(err.partial)
            bar.update(len(err.partial) / MIB)
            raise _Retryable(f"transfer interrupted after {done + len(err.partial)} "
                             f"bytes") from err
        except (http.client.HTTPException, OSError, ValueError) as err:
            raise _Retryable(f"transfer interrupted after {done} bytes ({err})") from err
        if not block:
            return done
        out.write(block)
        done += len(block)
        bar.update(len(block) / MIB)


def _start_from_content_range(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None
