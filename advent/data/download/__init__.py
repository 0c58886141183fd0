"""Getting the real datasets onto disk: verified, resumable downloads and safe extraction.

* :func:`download` (:mod:`.http`) fetches one URL into ``dest``, resuming an interrupted
  transfer and checking size and SHA-256 when known.
* :func:`safe_extract` (:mod:`.extract`) unpacks zip, tar and rar archives and refuses
  members that would land outside the target folder.
* :func:`download_cityscapes` (:mod:`.cityscapes`) goes through the Cityscapes account
  login, with credentials from the environment that are never printed, logged or written.
* :func:`fetch_dataset` downloads and extracts one registered kind (its ``source`` in
  :mod:`advent.data.registry`), or only checks a folder the user already has, and
  returns the *raw root* that :mod:`advent.data.raw` prepares.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from advent.data.download.cityscapes import CITYSCAPES_ENV, download_cityscapes
from advent.data.download.extract import UnsafeArchiveError, safe_extract
from advent.data.download.http import ChecksumError, DownloadError, download
from advent.data.registry import DatasetSource, get_kind

__all__ = ["CITYSCAPES_ENV", "ChecksumError", "DownloadError", "UnsafeArchiveError",
           "download", "download_cityscapes", "fetch_dataset", "safe_extract"]


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
