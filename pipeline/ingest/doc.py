"""Legacy Word (.doc, Word 97–2003) → .docx bytes through headless LibreOffice, then read as DOCX.

    docx_bytes = convert_doc(doc_bytes)            # raises SofficeError with a bilingual message

Each conversion runs `soffice --headless --norestore --convert-to docx --outdir OUT in.doc` in its own temporary
folder with HOME and the LibreOffice user profile (-env:UserInstallation) pointing inside it, so parallel workers
never share a profile and nothing is left behind. On timeout the whole process group is killed (soffice starts
soffice.bin as a child); so it is when the worker reading the document is stopped by the batch's time limit
(pipeline/isolation.py kills the group it was told about and removes the folder).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

NOT_INSTALLED = ("需要安装 LibreOffice 才能读取 .doc 文件（apt-get install libreoffice-writer-nogui） | "
                 "Reading legacy .doc needs LibreOffice (apt-get install libreoffice-writer-nogui)")


class SofficeError(RuntimeError):
    """LibreOffice is missing or a conversion failed; the message is '中文 | English'."""


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def soffice_available() -> bool:
    return soffice_path() is not None


def soffice_convert(data: bytes, src_ext: str, target: str, timeout: float = 120) -> bytes:
    """Convert `data` (a file with extension `src_ext`) with `soffice --convert-to target`; returns the output bytes.

    `target` is what --convert-to takes: "docx", "doc:MS Word 97", "pdf", ...
    """
    exe = soffice_path() if soffice_available() else None
    if exe is None:
        raise SofficeError(NOT_INSTALLED)
    out_ext = target.split(":", 1)[0]
    with tempfile.TemporaryDirectory(prefix="soffice-") as tmp:
        tmpdir = Path(tmp)
        src = tmpdir / f"input.{src_ext}"
        src.write_bytes(data)
        outdir = tmpdir / "out"
        outdir.mkdir()
        home = tmpdir / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), TMPDIR=str(tmpdir))
        cmd = [exe, f"-env:UserInstallation={(tmpdir / 'profile').as_uri()}", "--headless", "--norestore",
               "--nologo", "--nodefault", "--nolockcheck", "--convert-to", target, "--outdir", str(outdir), str(src)]
        proc = subprocess.Popen(cmd, cwd=tmpdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        from ..isolation import track_process_group

        track_process_group(proc.pid, str(tmpdir))  # killed with this worker if it is stopped (time limit)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise SofficeError(f"LibreOffice 转换超时（{timeout:.0f} 秒） | LibreOffice conversion timed out after "
                               f"{timeout:.0f} s") from None
        finally:
            if proc.poll() is None:
                _kill_group(proc)
        out = outdir / f"input.{out_ext}"
        if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
            detail = (stderr or stdout or b"").decode("utf-8", "replace").strip().splitlines()
            detail = detail[-1][:300] if detail else f"exit code {proc.returncode}"
            raise SofficeError(f"LibreOffice 无法转换该文件（文件可能已损坏或不是Word文档） | LibreOffice could not "
                               f"convert the file (damaged or not a Word document): {detail}")
        return out.read_bytes()


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the soffice process we started and its children (its own session/process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def convert_doc(data: bytes, timeout: float = 120) -> bytes:
    """Legacy .doc bytes → .docx bytes (headless LibreOffice). Raises SofficeError when soffice is not installed
    ("需要安装 LibreOffice 才能读取 .doc 文件… | Reading legacy .doc needs LibreOffice…") or the conversion fails."""
    return soffice_convert(data, "doc", "docx", timeout=timeout)
