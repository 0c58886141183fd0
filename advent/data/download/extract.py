"""Safe archive extraction: zip, tar (plain, gz, bz2, xz) and rar (through an external tool).

Every member name and link target is checked before anything is written: names or
links that would land outside the extraction folder, and device/FIFO members, raise
:class:`UnsafeArchiveError` naming the member.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

_COPY_BLOCK = 1 << 20


class UnsafeArchiveError(ValueError):
    """An archive member would escape the extraction folder or is not a plain file/folder/link."""


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
                shutil.copyfileobj(src, out, _COPY_BLOCK)


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
