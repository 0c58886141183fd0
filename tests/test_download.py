"""Downloads against a local HTTP server (127.0.0.1, in a thread) and archive extraction."""
from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import threading
import types
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from advent.data import download as dl
from advent.data.download import (ChecksumError, DownloadError, UnsafeArchiveError, download,
                                  extract, fetch_dataset, safe_extract)
from advent.data.readers import RawDataError
from advent.data.registry import DatasetSource, RemoteFile, get_kind

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Server:
    """Serves ``files``; per-path behaviours set in ``modes``; records every request."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.modes: dict[str, dict] = {}
        self.requests: list[tuple[str, str | None]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                outer.requests.append((self.path, rng))
                mode = outer.modes.get(self.path, {})
                if mode.get("fail", 0) > 0:
                    mode["fail"] -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = outer.files.get(self.path)
                if data is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                if rng and not mode.get("ignore_range"):
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(data):  # as real servers do: 416 with the full size
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = mode.pop("cut", None)  # only on the first request
                if cut is not None:
                    self.wfile.write(body[:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server() as s:
        s.files["/f.bin"] = PAYLOAD
        yield s


def get(server: Server, tmp_path: Path, **kw) -> Path:
    kw.setdefault("backoff", 0.01)
    kw.setdefault("progress", False)
    return download(f"{server.url}/f.bin", tmp_path / "f.bin", **kw)


# --------------------------------------------------------------------------- download

def test_plain_download_verified_and_atomic(server, tmp_path):
    path = get(server, tmp_path, sha256=SHA, size=len(PAYLOAD))
    assert path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]  # no .part / .lock left
    # already there and verified: no second request
    get(server, tmp_path, sha256=SHA)
    assert len(server.requests) == 1


def test_cut_transfer_resumes_with_range(server, tmp_path):
    server.modes["/f.bin"] = {"cut": 30_000}
    path = get(server, tmp_path, sha256=SHA, retries=2)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == [("/f.bin", None), ("/f.bin", "bytes=30000-")]


def test_resume_from_part_left_by_an_earlier_run(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD[:50_000])
    get(server, tmp_path, sha256=SHA)
    assert server.requests == [("/f.bin", "bytes=50000-")]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_complete_part_answered_416_is_kept_and_verified(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(PAYLOAD)
    get(server, tmp_path, sha256=SHA)
    assert server.requests == [("/f.bin", f"bytes={len(PAYLOAD)}-")]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_concurrent_download_of_same_file_is_refused(server, tmp_path):
    import fcntl

    with open(tmp_path / "f.bin.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(DownloadError, match="another process is downloading"):
            get(server, tmp_path)
    assert server.requests == []


def test_server_ignoring_range_restarts(server, tmp_path):
    server.modes["/f.bin"] = {"ignore_range": True}
    (tmp_path / "f.bin.part").write_bytes(b"garbage!" * 1000)  # must not be kept as a prefix
    get(server, tmp_path, sha256=SHA)
    assert server.requests == [("/f.bin", "bytes=8000-")]
    assert (tmp_path / "f.bin").read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_and_names_both(server, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ChecksumError) as err:
        get(server, tmp_path, sha256=wrong)
    assert wrong in str(err.value) and SHA in str(err.value)
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_size_mismatch(server, tmp_path):
    with pytest.raises(DownloadError, match="expected 5 bytes|reports 102400 bytes, expected 5"):
        get(server, tmp_path, size=5)
    assert not (tmp_path / "f.bin").exists()


def test_retries_with_backoff_then_success_or_give_up(server, tmp_path):
    server.modes["/f.bin"] = {"fail": 2}
    assert get(server, tmp_path, retries=2).read_bytes() == PAYLOAD
    assert len(server.requests) == 3
    server.requests.clear()
    server.modes["/f.bin"] = {"fail": 5}
    with pytest.raises(DownloadError, match="giving up after 1 retries: HTTP 503"):
        download(f"{server.url}/f.bin", tmp_path / "g.bin", retries=1, backoff=0.01,
                 progress=False)
    assert len(server.requests) == 2 and not (tmp_path / "g.bin").exists()


def test_not_found_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(f"{server.url}/missing", tmp_path / "m", retries=3, backoff=0.01,
                 progress=False)
    assert len(server.requests) == 1


def test_progress_goes_to_stderr(server, tmp_path, capsys):
    get(server, tmp_path, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "f.bin" in captured.err and "MiB" in captured.err


# --------------------------------------------------------------------------- extraction

def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None,
             mode: str = "w") -> Path:
    data = data or {}
    with tarfile.open(path, mode) as tar:
        for info in members:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def outside_files(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


def test_extract_zip_and_targz(tmp_path):
    archive = make_zip(tmp_path / "ok.zip", {"images/00001.png": b"a", "labels/00001.png": b"b"})
    safe_extract(archive, tmp_path / "x")
    assert (tmp_path / "x/images/00001.png").read_bytes() == b"a"
    tgz = make_tar(tmp_path / "ok.tar.gz",
                   [tar_info("d/f.txt"), tar_info("d/link", tarfile.SYMTYPE, "f.txt")],
                   {"d/f.txt": b"hello"}, mode="w:gz")
    safe_extract(tgz, tmp_path / "y")
    assert (tmp_path / "y/d/link").read_bytes() == b"hello"  # a link inside is fine


def test_zip_with_dotdot_member_is_refused(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", {"ok.txt": b"1", "../evil.txt": b"2"})
    before = outside_files(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=r"'\.\./evil\.txt'.*'\.\.'"):
        safe_extract(archive, tmp_path / "x")
    assert outside_files(tmp_path) == sorted(before + ["x"])
    assert list((tmp_path / "x").iterdir()) == []  # refused before writing anything


def test_tar_with_absolute_path_is_refused(tmp_path):
    target = tmp_path / "abs-target.txt"
    archive = make_tar(tmp_path / "evil.tar", [tar_info(str(target))], {str(target): b"x"})
    with pytest.raises(UnsafeArchiveError, match="absolute path"):
        safe_extract(archive, tmp_path / "x")
    assert not target.exists()


def test_tar_with_escaping_symlink_is_refused(tmp_path):
    archive = make_tar(tmp_path / "evil.tar",
                       [tar_info("data/up", tarfile.SYMTYPE, "../../.."),
                        tar_info("data/up/pwned.txt")], {"data/up/pwned.txt": b"x"})
    with pytest.raises(UnsafeArchiveError, match=r"symlink 'data/up' points to '\.\./\.\./\.\.'"):
        safe_extract(archive, tmp_path / "x")
    assert not (tmp_path / "x/data").exists()
    abs_link = make_tar(tmp_path / "evil2.tar", [tar_info("etc", tarfile.SYMTYPE, "/etc")])
    with pytest.raises(UnsafeArchiveError, match="symlink 'etc' points to '/etc'"):
        safe_extract(abs_link, tmp_path / "x")


def test_tar_hardlink_and_device_are_refused(tmp_path):
    hard = make_tar(tmp_path / "hard.tar", [tar_info("h", tarfile.LNKTYPE, "../../secret")])
    with pytest.raises(UnsafeArchiveError, match="'\\.\\.'"):
        safe_extract(hard, tmp_path / "x")
    dev = make_tar(tmp_path / "dev.tar", [tar_info("null", tarfile.CHRTYPE)])
    with pytest.raises(UnsafeArchiveError, match="'null' is a device"):
        safe_extract(dev, tmp_path / "x")


def test_zip_symlink_through_symlink_is_refused(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, target in (("l1", "."), ("l2", "l1/..")):
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)  # S_IFLNK
            zf.writestr(info, target)
    with pytest.raises(UnsafeArchiveError, match="'l2' resolves outside"):
        safe_extract(archive, tmp_path / "x")
    assert not (tmp_path / "x/l2").exists()


def test_rar_without_tool_gives_install_hint(tmp_path, monkeypatch):
    (tmp_path / "a.rar").write_bytes(b"Rar!\x1a\x07\x00")
    monkeypatch.setattr(extract.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="needs 'unrar' or 'bsdtar'"):
        safe_extract(tmp_path / "a.rar", tmp_path / "x")


FAKE_BSDTAR = """#!/bin/sh
# stands in for bsdtar on a fake .rar: each line of the archive is NAME or NAME>LINKTARGET
if [ "$1" = "-tf" ]; then sed 's/>.*//' "$2"; exit 0; fi
cd "$4" || exit 1
while IFS= read -r line; do
  name=${line%%>*}
  mkdir -p "$(dirname "$name")"
  case "$line" in *">"*) ln -s "${line#*>}" "$name";; *) echo data > "$name";; esac
done < "$2"
"""


@pytest.fixture
def fake_bsdtar(tmp_path, monkeypatch):
    tool = tmp_path / "bin" / "bsdtar"
    tool.parent.mkdir()
    tool.write_text(FAKE_BSDTAR)
    tool.chmod(0o755)
    monkeypatch.setattr(extract.shutil, "which",
                        lambda name: str(tool) if name == "bsdtar" else None)
    monkeypatch.setenv("PATH", f"{tool.parent}{os.pathsep}{os.environ['PATH']}")


def test_rar_through_external_tool(tmp_path, fake_bsdtar):
    (tmp_path / "ok.rar").write_text("RAND/RGB/0000000.png\nRAND/GT/link>../RGB\n")
    safe_extract(tmp_path / "ok.rar", tmp_path / "x")
    assert (tmp_path / "x/RAND/RGB/0000000.png").is_file()
    assert (tmp_path / "x/RAND/GT/link").is_symlink()
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["RAND"]  # staging removed
    (tmp_path / "names.rar").write_text("ok.png\n../evil.png\n")
    with pytest.raises(UnsafeArchiveError, match="'../evil.png'"):
        safe_extract(tmp_path / "names.rar", tmp_path / "y")
    assert not (tmp_path / "evil.png").exists()
    (tmp_path / "link.rar").write_text("a.png\nesc>../../..\n")
    with pytest.raises(UnsafeArchiveError, match="symlink esc points outside"):
        safe_extract(tmp_path / "link.rar", tmp_path / "z")
    assert list((tmp_path / "z").iterdir()) == []  # nothing merged


# --------------------------------------------------------------------------- registry

def test_registry_entries():
    gta = get_kind("gta5").source
    names = [f.filename for f in gta.files]
    assert names[:2] == ["01_images.zip", "02_images.zip"] and len(names) == 20
    assert "10_labels.zip" in names and all(f.sha256 is None for f in gta.files)
    assert all(f.url.startswith(("http://", "https://")) and f.url.endswith(f.filename)
               for f in gta.files)
    assert get_kind("synthia").source.files[0].filename.endswith(".rar")
    assert get_kind("cityscapes").source.needs_account
    with pytest.raises(ValueError, match="known"):
        get_kind("kitti")


def test_fetch_dataset_downloads_extracts_and_reruns_cheaply(server, tmp_path):
    make_zip(tmp_path / "img.zip", {"images/00001.png": b"i"})
    make_zip(tmp_path / "lbl.zip", {"labels/00001.png": b"l"})
    server.files["/img.zip"] = (tmp_path / "img.zip").read_bytes()
    server.files["/lbl.zip"] = (tmp_path / "lbl.zip").read_bytes()
    source = DatasetSource((RemoteFile(f"{server.url}/img.zip", "img.zip"),
                            RemoteFile(f"{server.url}/lbl.zip", "lbl.zip")))
    root = fetch_dataset("gta5", tmp_path / "dl", source=source, progress=False, backoff=0.01)
    assert root == tmp_path / "dl/raw" and (root / "labels/00001.png").read_bytes() == b"l"
    n = len(server.requests)
    assert fetch_dataset("gta5", tmp_path / "dl", source=source, progress=False) == root
    assert len(server.requests) == n  # nothing fetched again


def test_fetch_dataset_with_existing_data_downloads_nothing(tmp_path):
    (tmp_path / "mine/RAND_CITYSCAPES/RGB").mkdir(parents=True)
    (tmp_path / "mine/RAND_CITYSCAPES/GT/LABELS").mkdir(parents=True)
    assert fetch_dataset("synthia", tmp_path / "dl", existing=tmp_path / "mine") == \
        tmp_path / "mine/RAND_CITYSCAPES"
    assert not (tmp_path / "dl").exists()
    with pytest.raises(RawDataError, match="leftImg8bit"):
        fetch_dataset("cityscapes", tmp_path / "dl", existing=tmp_path / "mine")


# --------------------------------------------------------------------------- cityscapes

def test_cityscapes_without_package_explains_install(tmp_path, monkeypatch):
    monkeypatch.setenv("CITYSCAPES_USERNAME", "u")
    monkeypatch.setenv("CITYSCAPES_PASSWORD", "p")
    monkeypatch.setitem(sys.modules, "cityscapesscripts", None)  # import fails
    monkeypatch.setitem(sys.modules, "cityscapesscripts.download", None)
    with pytest.raises(RuntimeError, match="pip install cityscapesscripts"):
        dl.download_cityscapes(tmp_path)


def test_cityscapes_needs_credentials(tmp_path, monkeypatch):
    monkeypatch.delenv("CITYSCAPES_USERNAME", raising=False)
    monkeypatch.delenv("CITYSCAPES_PASSWORD", raising=False)
    with pytest.raises(RuntimeError, match="CITYSCAPES_USERNAME and CITYSCAPES_PASSWORD"):
        dl.download_cityscapes(tmp_path)


def fake_downloader(calls: list, fail_with: str | None = None) -> types.ModuleType:
    """Stands in for cityscapesscripts.download.downloader (same call shapes)."""
    mod = types.ModuleType("cityscapesscripts.download.downloader")
    mod.input = input
    import getpass
    mod.getpass = getpass

    def login():
        user = mod.input("Cityscapes username or email address: ")
        password = mod.getpass.getpass("Cityscapes password: ")
        store = mod.input("Store credentials unencrypted in '/somewhere' [y/N]: ")
        calls.append(("login", user, password, store))
        if fail_with:
            raise Exception(fail_with.format(password=password))
        return "session"

    def download_packages(*, session, package_names, destination_path, resume=False):
        calls.append(("download", session, tuple(package_names), resume))
        print("Downloading cityscapes package ...")
        for name in package_names:
            Path(destination_path, name).write_bytes(b"zip bytes")

    mod.login, mod.download_packages = login, download_packages
    return mod


def install_fake(monkeypatch, mod: types.ModuleType) -> None:
    pkg = types.ModuleType("cityscapesscripts")
    sub = types.ModuleType("cityscapesscripts.download")
    sub.downloader = mod
    pkg.download = sub
    monkeypatch.setitem(sys.modules, "cityscapesscripts", pkg)
    monkeypatch.setitem(sys.modules, "cityscapesscripts.download", sub)
    monkeypatch.setitem(sys.modules, "cityscapesscripts.download.downloader", mod)


def test_cityscapes_download_uses_env_credentials_secretly(tmp_path, monkeypatch, capsys):
    secret = "s3cr3t-Pa55"
    monkeypatch.setenv("CITYSCAPES_USERNAME", "alice")
    monkeypatch.setenv("CITYSCAPES_PASSWORD", secret)
    calls: list = []
    install_fake(monkeypatch, fake_downloader(calls))
    paths = dl.download_cityscapes(tmp_path, ["gtFine_trainvaltest.zip"])
    assert calls[0] == ("login", "alice", secret, "n")  # storing credentials declined
    assert calls[1] == ("download", "session", ("gtFine_trainvaltest.zip",), False)
    assert paths == [tmp_path / "gtFine_trainvaltest.zip"] and paths[0].is_file()
    out = capsys.readouterr()
    assert secret not in out.out + out.err and out.out == ""
    assert all(secret.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    # already present: no login at all
    calls.clear()
    dl.download_cityscapes(tmp_path, ["gtFine_trainvaltest.zip"])
    assert calls == []


def test_cityscapes_errors_never_show_the_password(tmp_path, monkeypatch):
    secret = "hunter2-xyz"
    monkeypatch.setenv("CITYSCAPES_USERNAME", "alice")
    monkeypatch.setenv("CITYSCAPES_PASSWORD", secret)
    install_fake(monkeypatch, fake_downloader([], fail_with="Bad credentials {password}"))
    with pytest.raises(DownloadError) as err:
        dl.download_cityscapes(tmp_path, ["gtFine_trainvaltest.zip"])
    assert "Bad credentials" in str(err.value) and secret not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback


def test_cityscapes_login_prompts_are_answered_only_during_login(tmp_path, monkeypatch):
    import builtins
    import getpass

    monkeypatch.setenv("CITYSCAPES_USERNAME", "alice")
    monkeypatch.setenv("CITYSCAPES_PASSWORD", "pw")
    for fail_with in (None, "Bad credentials"):
        for has_input in (True, False):
            calls: list = []
            mod = fake_downloader(calls, fail_with=fail_with)
            if not has_input:
                del mod.input  # answering must also work where the module has none
            install_fake(monkeypatch, mod)
            dest = tmp_path / f"{fail_with}-{has_input}"
            try:
                dl.download_cityscapes(dest, ["gtFine_trainvaltest.zip"])
            except DownloadError:
                assert fail_with
            assert calls[0] == ("login", "alice", "pw", "n")
            assert mod.getpass is getpass  # the module's own prompts are back
            assert (mod.input is builtins.input) if has_input else not hasattr(mod, "input")


def test_download_cli_help_and_existing(tmp_path, capsys):
    from advent.tools.download import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0 and "--existing" in capsys.readouterr().out
    (tmp_path / "gta/images").mkdir(parents=True)
    (tmp_path / "gta/labels").mkdir()
    assert main(["--dataset", "gta5", "--dest", str(tmp_path / "d"), "--existing",
                 str(tmp_path / "gta"), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "gta")
    assert main(["--dataset", "gta5", "--dest", str(tmp_path / "d"), "--existing",
                 str(tmp_path / "nothing"), "--quiet"]) == 1

