"""A minimal zip writer that accepts members compressed in advance.

The 整改通知 notices are Word packages of which only two small parts differ from notice to notice; the others
(styles of ~800 KB among them) are the same every time. Python's zipfile compresses every member it writes;
this writer stores members deflated once per process (:func:`deflate`) as they are, and compresses only the
parts that change. The archive is an ordinary zip (deflate, no zip64: members and archives stay far below 4 GB
and 65,535 entries; :class:`ValueError` otherwise), readable by Word, WPS, LibreOffice and zipfile.
"""

from __future__ import annotations

import struct
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Deflated", "deflate", "RawZip"]

_LIMIT = 0xFFFFFFFF


@dataclass(frozen=True)
class Deflated:
    """A member's content, raw-deflated: *data* compressed, *crc* and *size* of the uncompressed bytes."""
    data: bytes
    crc: int
    size: int


def deflate(data: bytes, level: int = 6) -> Deflated:
    # a small part gets a small window: zlib sets up (and clears) far less state, the stream stays plain deflate
    wbits = -15 if len(data) > 4096 else -10
    c = zlib.compressobj(level, zlib.DEFLATED, wbits)
    return Deflated(c.compress(data) + c.flush(), zlib.crc32(data) & 0xFFFFFFFF, len(data))


def _dos_time(t: float) -> tuple[int, int]:
    lt = time.localtime(t)
    year = max(lt.tm_year, 1980)
    return ((lt.tm_hour << 11) | (lt.tm_min << 5) | (lt.tm_sec // 2),
            ((year - 1980) << 9) | (lt.tm_mon << 5) | lt.tm_mday)


class RawZip:
    """Write a zip file member by member: ``add(name, bytes)`` compresses, ``add(name, Deflated)`` copies,
    ``open(name)`` streams (one member at a time)."""

    def __init__(self, path: Path):
        self._fh = open(path, "wb")
        self._entries: list[tuple[bytes, int, int, int, int, int]] = []
        self._time, self._date = _dos_time(time.time())
        self._stream: _Stream | None = None

    def _header(self, name: str, crc: int, csize: int, size: int) -> tuple[bytes, int, int]:
        if self._stream is not None:
            raise ValueError("a member is being streamed")
        raw = name.encode("utf-8")
        flags = 0 if raw.isascii() else 0x800
        offset = self._fh.tell()
        if max(offset, csize, size) >= _LIMIT or len(self._entries) >= 0xFFFF:
            raise ValueError("zip member or archive too large for a plain zip")
        self._fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, self._time, self._date, crc,
                                   csize, size, len(raw), 0))
        self._fh.write(raw)
        return raw, flags, offset

    def add(self, name: str, content: bytes | Deflated, level: int = 6) -> None:
        member = content if isinstance(content, Deflated) else deflate(content, level)
        raw, flags, offset = self._header(name, member.crc, len(member.data), member.size)
        self._fh.write(member.data)
        self._entries.append((raw, flags, member.crc, len(member.data), member.size, offset))

    def open(self, name: str, level: int = 6) -> _Stream:
        """A member written piece by piece (its sizes and CRC are filled into its header when it is closed)."""
        raw, flags, offset = self._header(name, 0, 0, 0)
        self._stream = _Stream(self, raw, flags, offset, level)
        return self._stream

    def close(self) -> None:
        start = self._fh.tell()
        for raw, flags, crc, csize, size, offset in self._entries:
            self._fh.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, flags, 8, self._time,
                                       self._date, crc, csize, size, len(raw), 0, 0, 0, 0, 0o600 << 16, offset))
            self._fh.write(raw)
        end = self._fh.tell()
        if end >= _LIMIT:
            raise ValueError("zip archive too large for a plain zip")
        self._fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(self._entries), len(self._entries),
                                   end - start, start, 0))
        self._fh.close()

    def abort(self) -> None:
        self._stream = None
        self._fh.close()


class _Stream:
    def __init__(self, z: RawZip, raw: bytes, flags: int, offset: int, level: int):
        self._z, self._raw, self._flags, self._offset = z, raw, flags, offset
        self._c = zlib.compressobj(level, zlib.DEFLATED, -15)
        self._crc = self._size = self._csize = 0

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        out = self._c.compress(data)
        self._csize += len(out)
        self._z._fh.write(out)

    def close(self) -> None:
        out = self._c.flush()
        self._csize += len(out)
        fh = self._z._fh
        fh.write(out)
        if max(self._size, self._csize, fh.tell()) >= _LIMIT:
            raise ValueError("zip member too large for a plain zip")
        end = fh.tell()
        fh.seek(self._offset + 14)
        fh.write(struct.pack("<III", self._crc & 0xFFFFFFFF, self._csize, self._size))
        fh.seek(end)
        self._z._entries.append((self._raw, self._flags, self._crc & 0xFFFFFFFF, self._csize, self._size,
                                 self._offset))
        self._z._stream = None
