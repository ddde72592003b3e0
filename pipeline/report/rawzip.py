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
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return Deflated(c.compress(data) + c.flush(), zlib.crc32(data) & 0xFFFFFFFF, len(data))


def _dos_time(t: float) -> tuple[int, int]:
    lt = time.localtime(t)
    year = max(lt.tm_year, 1980)
    return ((lt.tm_hour << 11) | (lt.tm_min << 5) | (lt.tm_sec // 2),
            ((year - 1980) << 9) | (lt.tm_mon << 5) | lt.tm_mday)


class RawZip:
    """Write a zip file member by member: ``add(name, bytes)`` compresses, ``add(name, Deflated)`` copies."""

    def __init__(self, path: Path):
        self._fh = open(path, "wb")
        self._entries: list[tuple[bytes, int, int, int, int, int]] = []
        self._time, self._date = _dos_time(time.time())

    def add(self, name: str, content: bytes | Deflated, level: int = 6) -> None:
        member = content if isinstance(content, Deflated) else deflate(content, level)
        raw = name.encode("utf-8")
        flags = 0 if raw.isascii() else 0x800
        offset = self._fh.tell()
        if max(offset, len(member.data), member.size) >= _LIMIT or len(self._entries) >= 0xFFFF:
            raise ValueError("zip member or archive too large for a plain zip")
        self._fh.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 8, self._time, self._date, member.crc,
                                   len(member.data), member.size, len(raw), 0))
        self._fh.write(raw)
        self._fh.write(member.data)
        self._entries.append((raw, flags, member.crc, len(member.data), member.size, offset))

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
        self._fh.close()
