"""Files: atomic output, JSON, safe loading of PyTorch files, and the digests that
fingerprint inputs.

Every writer goes to a temporary sibling first and is moved into place with
``os.replace`` only once complete, so an interrupted stage leaves the previous
output (or nothing) rather than a truncated one that a later stage would trust.
A write that fails for want of space or permission raises an ``OSError`` naming the
output path (not the temporary), for :mod:`advent.cli` to say so in one line.
"""
from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import pickletools
import re
import shutil
import socket
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Iterator

#: Write errors that belong to the output being written, whatever call raised them.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}


def _temp_prefix(path: Path) -> str:
    """``.<name>.<host>-<pid>.``: lets a later run find the temporaries of a killed one."""
    return f".{path.name}.{socket.gethostname()}-{os.getpid()}."


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporaries that killed processes (``kill -9``, power loss) of this
    host left next to ``path``; a live process's temporary is kept. Returns those removed."""
    path = Path(path)
    pattern = re.compile(re.escape(f".{path.name}.{socket.gethostname()}-") + r"(\d+)\.[^.]+\.tmp")
    removed = []
    if not path.parent.is_dir():
        return removed
    for entry in path.parent.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not _process_alive(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` again, naming ``path`` (the output) instead of a temporary or nothing."""
    return OSError(err.errno, err.strerror or os.strerror(err.errno or 0), str(path))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it onto ``path`` on success.

    Works for files and folders; a file never replaces a folder (``IsADirectoryError``
    naming ``path``). On an exception the temporary is removed and ``path`` is left as
    it was; no space, a read-only folder or a denied permission
    raise an ``OSError`` whose ``filename`` is ``path`` (or the folder it goes in).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    except OSError as err:
        failed = Path(err.filename) if err.filename else path.parent
        raise _naming(err, failed if not failed.name.startswith(".") else path.parent) from None
    target = tmp / path.name
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            if not target.is_dir():
                # Only a folder replaces a folder: a file put in its place would delete
                # everything the folder holds.
                raise IsADirectoryError(errno.EISDIR, "is a folder, not a file", str(path))
            # os.replace cannot overwrite a non-empty folder: swap it out first.
            old = tmp / (path.name + ".old")
            os.replace(path, old)
            os.replace(target, path)
        else:
            os.replace(target, path)
    except OSError as err:
        inside = err.filename is not None and Path(err.filename).is_relative_to(tmp)
        if inside or (err.filename is None and err.errno in _WRITE_ERRNOS):
            raise _naming(err, path) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected a JSON file at {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


class _WriteRecorder:
    """A file's ``write`` that keeps the ``OSError`` it raised: torch.save turns it into
    a RuntimeError that names neither the cause nor the file."""

    def __init__(self, file) -> None:
        self.file = file
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self.file.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.file.flush()


def torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file; no space or permission raise an
    ``OSError`` naming ``path``."""
    import torch

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            writer = _WriteRecorder(f)
            try:
                torch.save(obj, writer)
            except RuntimeError:
                if writer.error is not None:
                    raise writer.error from None
                raise


class UnreadableFileError(ValueError):
    """A file is not what it should be (truncated, another format, unsafe to load); the
    message names it and says what it is when that is known."""


def load_torch_file(path: str | os.PathLike, what: str = "PyTorch file") -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU: the one way this project reads
    model files, resume checkpoints and pretrained weights.

    A file that cannot be read so raises :class:`UnreadableFileError` naming ``path``,
    ``what`` it should have been and what it is instead (empty, truncated, JSON text,
    a pickle that would run code, a zip of another format). PyTorch's own message is
    never passed on: it advises loading with ``weights_only=False``, which would run
    whatever code the file carries.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with warnings.catch_warnings():
            # "Detected pickle protocol N": noise for a file that is refused anyway.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\._weights_only")
            return torch.load(path, map_location="cpu", weights_only=True)
    except (PermissionError, IsADirectoryError, MemoryError):
        raise
    except Exception:  # noqa: BLE001 - every reason becomes one message, torch's text dropped
        raise UnreadableFileError(f"{path}: not a readable {what}: {describe_file(path)}") from None


#: Globals a weights file may name: tensor rebuilding and plain containers.
_SAFE_GLOBALS = re.compile(r"torch(\..+)?|collections\.OrderedDict|_codecs\.encode"
                           r"|builtins\.(set|frozenset|bytearray|complex|slice)")


def _pickle_globals(data: bytes) -> tuple[list[str], bool]:
    """(the globals the pickles in ``data`` name, whether one ends early), read by
    pickletools without running anything. Legacy torch files are several pickles in a row."""
    found: list[str] = []
    strings: list[str] = []
    pos = 0
    for _ in range(4):
        if pos >= len(data) or data[pos] != 0x80:  # PROTO: another pickle follows
            break
        try:
            for op, arg, at in pickletools.genops(data[pos:]):
                if op.name == "GLOBAL":
                    found.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    found.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str) and "UNICODE" in op.name:
                    strings.append(arg)
                elif op.name == "STOP":
                    pos += at + 1
                    break
        except ValueError:  # "pickle exhausted before seeing STOP"
            return found, True
    return found, False


def missing(path: str | os.PathLike, kind: str = "folder") -> str:
    """Why ``path`` is not the ``kind`` ("folder" or "file") an error expected there:
    "not found", or that it is the other kind."""
    path = Path(path)
    if kind == "folder" and path.exists() and not path.is_dir():
        return "is a file, not a folder"
    if kind == "file" and path.is_dir():
        return "is a folder, not a file"
    return "not found"


def describe_file(path: str | os.PathLike) -> str:
    """What the file at ``path`` is, for an error message, read without unpickling it."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # pickles precede a legacy torch file's tensor bytes
    if not data:
        return "an empty file"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                pickles = [n for n in names if n.endswith("/data.pkl")]
                if not pickles:
                    return f"a zip archive of another format (members: {', '.join(names[:4])})"
                unsafe = [g for g in _pickle_globals(archive.read(pickles[0]))[0]
                          if not _SAFE_GLOBALS.fullmatch(g)]
                if unsafe:
                    return (f"a PyTorch file whose pickle would call {', '.join(unsafe[:3])} "
                            f"when loaded: refused, nothing was run")
                bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            return "truncated or damaged (its zip directory is missing or unreadable)"
        if bad is not None:
            return f"damaged (member {bad} fails its checksum)"
        return "a PyTorch file of another kind that torch.load(weights_only=True) does not read"
    if data[:1] == b"\x80":
        globals_, truncated = _pickle_globals(data)
        unsafe = [g for g in globals_ if not _SAFE_GLOBALS.fullmatch(g)]
        if unsafe:
            return (f"a pickle that would call {', '.join(unsafe[:3])} when loaded: "
                    f"refused, nothing was run")
        return "a truncated pickle" if truncated else "a pickle, not a PyTorch weights file"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of an unknown format"
    try:
        json.loads(text)
    except ValueError:
        return "a text file"
    return "a JSON text"


def describe_object(obj: Any) -> str:
    """What a loaded object is, for an error message: 'a dict with keys [...]'."""
    if isinstance(obj, dict):
        keys = [str(k) for k in list(obj)[:6]]
        return f"a dict with keys {keys}" + (" ..." if len(obj) > 6 else "")
    return f"a {type(obj).__name__}"


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def weights_fingerprint(path: str, key: str) -> dict[str, str]:
    """``{"path", "sha256"}`` of the weights file a parameter names (``{"path": ""}`` when
    it names none): a DVC dependency that follows the file's bytes, not its mtime, so a
    fresh clone of a committed file reruns nothing. FileNotFoundError names ``key``."""
    if not path:
        return {"path": ""}
    if not Path(path).is_file():
        raise FileNotFoundError(f"{key}: no file at {path}")
    return {"path": path, "sha256": sha256_file(path)}


def digest_of(**parts: Any) -> str:
    """Hex SHA-256 of JSON-able parts (dataclasses included), independent of key order:
    the fingerprint of a run or a preparation."""
    blob = json.dumps({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
                       for k, v in parts.items()}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()
