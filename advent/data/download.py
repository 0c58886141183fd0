"""Getting the real datasets onto disk: verified, resumable downloads and safe extraction.

Three pieces:

* :func:`download` fetches one URL over HTTP(S) into ``dest``. Bytes go to ``dest.part``
  first; an interrupted transfer resumes from there with a ``Range`` request (a server
  that ignores ``Range`` and answers 200 makes it start over). Size and SHA-256 are
  checked when known, and ``dest`` appears (by ``os.replace``) only once they match.
* :func:`safe_extract` unpacks zip, tar, tar.gz/bz2/xz (and rar through an external
  tool) into a folder and refuses, before writing anything, members whose names or
  link targets would land outside it, and device files.
* :func:`fetch_dataset` downloads and extracts one registered kind (its ``source`` in
  :mod:`advent.data.registry`), or only checks a folder the user already has, and
  returns the *raw root* that :mod:`advent.data.raw` prepares.

Cityscapes needs an account: it goes through the ``cityscapesscripts`` package's
downloader, with credentials taken from ``CITYSCAPES_USERNAME`` / ``CITYSCAPES_PASSWORD``
(never printed, logged or written to disk by this module).
"""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import types
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Iterator, Sequence
from unittest import mock

from advent.data.registry import DatasetSource, get_kind
from advent.io import sha256_file

CHUNK = 1 << 20
USER_AGENT = "advent-dataset-download/1"


class DownloadError(RuntimeError):
    """A download failed for good (after retries, or with an error that retrying cannot fix)."""


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected size or SHA-256."""


class UnsafeArchiveError(ValueError):
    """An archive member would escape the extraction folder or is not a plain file/folder/link."""


# --------------------------------------------------------------------------- progress

class Progress:
    """A throttled one-line progress report on stderr (no dependency, safe when not a tty)."""

    def __init__(self, label: str, total: int | None, enabled: bool = True,
                 initial: int = 0) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.done = initial
        self._start_done = initial
        self._t0 = self._last = time.monotonic()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and now - self._last >= 0.5:
            self._last = now
            self._print(end="\r")

    def close(self) -> None:
        if self.enabled:
            self._print(end="\n")

    def _print(self, end: str) -> None:
        rate = (self.done - self._start_done) / max(time.monotonic() - self._t0, 1e-9)
        mib = 1 << 20
        if self.total:
            text = (f"{self.label}: {self.done / mib:.1f}/{self.total / mib:.1f} MiB "
                    f"({100 * self.done / self.total:.0f}%) {rate / mib:.2f} MiB/s")
        else:
            text = f"{self.label}: {self.done / mib:.1f} MiB {rate / mib:.2f} MiB/s"
        sys.stderr.write(text + end)
        sys.stderr.flush()


# --------------------------------------------------------------------------- download

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


class _Retryable(Exception):
    """Internal: this attempt failed in a way another attempt may fix."""


_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


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
        bar = Progress(part.name[: -len(".part")], total if total is not None else size,
                       progress, initial=offset)
        try:
            with open(part, mode) as out:
                _copy(response, out, bar)
        finally:
            bar.close()
        if total is not None and bar.done < total:
            raise _Retryable(f"connection closed after {bar.done} of {total} bytes")


def _copy(response: BinaryIO, out: BinaryIO, bar: Progress) -> None:
    """Copy the body to ``out``. Read failures are retryable; write failures (disk full) are not."""
    while True:
        try:
            block = response.read(CHUNK)
        except http.client.IncompleteRead as err:
            out.write(err.partial)
            bar.update(len(err.partial))
            raise _Retryable(f"transfer interrupted after {bar.done} bytes") from err
        except (http.client.HTTPException, OSError, ValueError) as err:
            raise _Retryable(f"transfer interrupted after {bar.done} bytes ({err})") from err
        if not block:
            return
        out.write(block)
        bar.update(len(block))


def _start_from_content_range(value: str | None) -> int | None:
    match = _CONTENT_RANGE.match(value or "")
    return int(match.group(1)) if match else None


def _total_from_content_range(value: str | None) -> int | None:
    match = re.search(r"/(\d+)\s*$", value or "")
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- extraction

def _check_name(name: str, archive: Path) -> PurePosixPath:
    """A member name as a safe relative path, or :class:`UnsafeArchiveError` naming it."""
    if "\x00" in name:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has a NUL byte in its name")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = PurePosixPath(posix).parts
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} has a '..' component")
    return PurePosixPath(*[p for p in parts if p not in ("", ".")]) if parts else PurePosixPath()


def _inside(relative: PurePosixPath) -> bool:
    """Whether a normalised relative path stays inside the root (no leading '..')."""
    depth = 0
    for part in relative.parts:
        depth += -1 if part == ".." else (0 if part == "." else 1)
        if depth < 0:
            return False
    return True


def _check_link(name: str, target: str, hard: bool, archive: Path) -> None:
    kind = "hard link" if hard else "symlink"
    target_posix = target.replace("\\", "/")
    if not target_posix or target_posix.startswith("/") or re.match(r"^[A-Za-z]:", target_posix):
        raise UnsafeArchiveError(f"{archive}: {kind} {name!r} points to {target!r}, "
                                 f"outside the extraction folder")
    # symlink targets are relative to the link's folder, hard link targets to the root
    base = PurePosixPath() if hard else PurePosixPath(name.replace("\\", "/")).parent
    if not _inside(base / target_posix):
        raise UnsafeArchiveError(f"{archive}: {kind} {name!r} points to {target!r}, "
                                 f"outside the extraction folder")


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Extract a zip / tar(.gz,.bz2,.xz) / rar archive into ``dest``; return ``dest``.

    Every member is checked before anything is written: absolute names, ``..``
    components, symlinks or hard links pointing outside ``dest`` and device/FIFO members
    raise :class:`UnsafeArchiveError` naming the member, and then nothing is extracted.
    Tar extraction also runs under Python's ``data`` filter, which re-checks the real
    paths (e.g. against a symlink already present in ``dest``).
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise FileNotFoundError(f"archive not found: {archive}")
    dest.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, dest)
    elif tarfile.is_tarfile(archive):
        _extract_tar(archive, dest)
    elif archive.suffix.lower() == ".rar":
        _extract_rar(archive, dest)
    else:
        raise ValueError(f"{archive}: not a zip, tar or rar archive")
    return dest


def _extract_zip(archive: Path, dest: Path) -> None:
    with zipfile.ZipFile(archive) as zf:
        infos = zf.infolist()
        plan = []
        for info in infos:
            rel = _check_name(info.filename, archive)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                _check_link(info.filename, zf.read(info).decode("utf-8", "replace"), False, archive)
            elif stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                # (a zip from a non-Unix tool has no file type bits: a plain file)
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} is a device or "
                                         f"special file")
            plan.append((info, rel, mode))
        root = dest.resolve()
        for info, rel, mode in plan:
            target = dest / rel
            if not target.resolve().is_relative_to(root):  # through a pre-existing symlink
                raise UnsafeArchiveError(f"{archive}: member {info.filename!r} would be written "
                                         f"outside {dest}")
            if info.is_dir() or not rel.parts:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                target.unlink(missing_ok=True)
                os.symlink(zf.read(info).decode("utf-8"), target)
                # lexical checks cannot see links through links: check where it really goes
                if not target.resolve().is_relative_to(root):
                    target.unlink()
                    raise UnsafeArchiveError(f"{archive}: symlink {info.filename!r} resolves "
                                             f"outside {dest}")
                continue
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)


def _extract_tar(archive: Path, dest: Path) -> None:
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for m in members:
            _check_name(m.name, archive)
            if m.issym():
                _check_link(m.name, m.linkname, False, archive)
            elif m.islnk():
                _check_name(m.linkname, archive)
                _check_link(m.name, m.linkname, True, archive)
            elif not (m.isfile() or m.isdir()):
                raise UnsafeArchiveError(f"{archive}: member {m.name!r} is a device, FIFO or "
                                         f"other special file")
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dest, members=members, filter="data")
        else:  # pragma: no cover - Python without extraction filters; members checked above
            tar.extractall(dest, members=members)


def _rar_tool() -> tuple[str, list[str], list[str]]:
    """(tool, list-args, extract-args) of an installed RAR extractor."""
    if shutil.which("unrar"):
        return "unrar", ["lb"], ["x", "-y", "-idq"]
    if shutil.which("bsdtar"):
        return "bsdtar", ["-tf"], ["-xf"]
    raise RuntimeError("extracting a .rar archive needs 'unrar' or 'bsdtar' on PATH "
                       "(Debian: apt-get install unrar-free, or libarchive-tools for bsdtar)")


def _extract_rar(archive: Path, dest: Path) -> None:
    """RAR through an external tool: names checked from its listing, the result re-checked.

    The tool extracts into a fresh folder inside ``dest``; afterwards every path there is
    checked (symlinks must resolve inside it, no special files) before it is moved into
    ``dest``. Both tools refuse absolute and ``..`` names on their own as well.
    """
    tool, list_args, extract_args = _rar_tool()
    listing = subprocess.run([tool, *list_args, str(archive)], capture_output=True, text=True)
    if listing.returncode != 0:
        raise ValueError(f"{archive}: {tool} cannot list it: {listing.stderr.strip()}")
    for name in listing.stdout.splitlines():
        if name.strip():
            _check_name(name.rstrip("\n"), archive)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        if tool == "unrar":
            cmd = [tool, *extract_args, str(archive), str(staging) + os.sep]
        else:
            cmd = [tool, *extract_args, str(archive), "-C", str(staging)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise ValueError(f"{archive}: {tool} failed: {done.stderr.strip()}")
        root = staging.resolve()
        for path in sorted(staging.rglob("*")):
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                if not path.resolve().is_relative_to(root):
                    raise UnsafeArchiveError(f"{archive}: symlink {path.relative_to(staging)} "
                                             f"points outside the extraction folder")
            elif not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
                raise UnsafeArchiveError(f"{archive}: member {path.relative_to(staging)} is a "
                                         f"device, FIFO or other special file")
        _merge_tree(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _merge_tree(src: Path, dest: Path) -> None:
    for item in src.iterdir():
        target = dest / item.name
        if item.is_dir() and not item.is_symlink() and target.is_dir():
            _merge_tree(item, target)
        else:
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)


# --------------------------------------------------------------------------- fetch

def fetch_dataset(name: str, dest: str | os.PathLike, existing: str | os.PathLike | None = None,
                  keep_archives: bool = True, retries: int = 5, backoff: float = 2.0,
                  progress: bool = True, source: DatasetSource | None = None) -> Path:
    """Make dataset ``name`` available and return its raw root (what ``prepare`` reads).

    With ``existing`` (a folder the user already has), only its layout is checked and
    nothing is downloaded. Otherwise archives go to ``dest/archives`` (resumable) and are
    extracted into ``dest/raw``; a marker per archive makes a rerun skip finished
    extractions. ``source`` overrides the registry entry's (tests, mirrors).
    """
    kind = get_kind(name)
    if existing is not None:
        return kind.find_root(existing)
    src = source or kind.source
    if src is None:
        raise ValueError(f"{name}: there is nothing to download: this kind reads files you "
                         f"already have ({kind.layout})")
    dest = Path(dest)
    archives, raw = dest / "archives", dest / "raw"
    archives.mkdir(parents=True, exist_ok=True)
    raw.mkdir(parents=True, exist_ok=True)
    if src.needs_account:
        paths = download_cityscapes(archives, [f.filename for f in src.files], progress=progress)
    else:
        paths = [download(f.url, archives / f.filename, f.sha256, f.size, retries, backoff,
                          progress) for f in src.files]
    for path in paths:
        marker = raw / f".extracted-{path.name}"
        if marker.exists() and marker.read_text() == _archive_stamp(path):
            continue
        if progress:
            sys.stderr.write(f"extracting {path.name} into {raw}\n")
        safe_extract(path, raw)
        marker.write_text(_archive_stamp(path))
        if not keep_archives:
            path.unlink()
    return kind.find_root(raw)


def _archive_stamp(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size} {info.st_mtime_ns}"


# --------------------------------------------------------------------------- cityscapes

CITYSCAPES_ENV = ("CITYSCAPES_USERNAME", "CITYSCAPES_PASSWORD")


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


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def download_cityscapes(dest: str | os.PathLike,
                        packages: Sequence[str] = ("gtFine_trainvaltest.zip",
                                                   "leftImg8bit_trainvaltest.zip"),
                        progress: bool = True) -> list[Path]:
    """Download Cityscapes packages into ``dest`` with ``cityscapesscripts``; return the paths.

    Credentials come from ``CITYSCAPES_USERNAME`` / ``CITYSCAPES_PASSWORD``; they are
    handed to the package's login in memory (its prompts are answered, its offer to store
    them is declined) and removed from any error message. Each package is downloaded
    into ``dest/.partial`` (resumed there on a rerun, deleted on an MD5 mismatch) and
    moved into ``dest`` once the package's MD5 check passed. Packages already in ``dest``
    are not downloaded again.
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
    secrets = (password,)

    def answer(prompt: str = "") -> str:
        # the package asks for the user name, then whether to store credentials in a file
        return "n" if "store" in prompt.lower() else username

    fake_getpass = types.SimpleNamespace(getpass=lambda prompt="": password)
    staging = dest / ".partial"
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with mock.patch.object(downloader, "input", answer, create=True), \
             mock.patch.object(downloader, "getpass", fake_getpass, create=True):
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
                            f"{_redact(f'{type(err).__name__}: {err}', secrets)}") from None
    return [dest / p for p in packages]
