"""Reading zip archives (Inspect ``.eval`` logs) without letting a small file inflate into a huge one.

A 400 KB archive can hold a member that inflates to gigabytes. Each member's declared size is checked
before it is opened, and the bytes actually inflated are counted while they are read, since a header
can lie; past a cap the archive is refused with one line naming the file and the member.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

from agenteval.errors import TraceError

#: Largest inflated size of one member; an Inspect sample of this size is already extreme.
MAX_MEMBER_BYTES = 256 * 1024 * 1024
#: Largest inflated size of all the members read from one archive.
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
_CHUNK = 1024 * 1024


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.0f} MiB"


def read_members(
    path: Path,
    source: str,
    suffix: str = ".json",
    *,
    max_member: int | None = None,
    max_total: int | None = None,
) -> Iterator[tuple[str, bytes]]:
    """(name, inflated bytes) of each member whose name ends with ``suffix``, in archive order.

    Args:
        path: the zip file.
        source: how errors name the file.
        suffix: only members whose names end with it are read.
        max_member: cap on one member's inflated size (default ``MAX_MEMBER_BYTES``).
        max_total: cap on the inflated size of all members read (default ``MAX_ARCHIVE_BYTES``).

    Raises:
        TraceError: a member is (or inflates) past a cap; the archive is not a readable zip.
    """
    max_member = MAX_MEMBER_BYTES if max_member is None else max_member
    max_total = MAX_ARCHIVE_BYTES if max_total is None else max_total
    total = 0
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir() or not info.filename.endswith(suffix):
                    continue
                cap = min(max_member, max_total - total)
                limit = _limit(max_member, max_total, total)
                if info.file_size > cap:
                    raise TraceError(f"zip member {info.filename!r} would inflate to {_mib(info.file_size)}, "
                                     f"over {limit}: not read", source=source)
                data = _read_capped(archive, info, cap)
                if data is None:
                    raise TraceError(f"zip member {info.filename!r} inflates past its declared size and over "
                                     f"{limit}: not read", source=source)
                total += len(data)
                yield info.filename, data
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, EOFError) as exc:
        raise TraceError(f"not a readable zip archive: {exc}".splitlines()[0], source=source) from None


def _limit(max_member: int, max_total: int, total: int) -> str:
    if max_member <= max_total - total:
        return f"the limit of {_mib(max_member)} per member"
    return f"the limit of {_mib(max_total)} for the whole archive"


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | None:
    """A member's bytes, read in chunks; None as soon as they pass ``cap``, whatever its header said."""
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(_CHUNK):
            size += len(chunk)
            if size > cap:
                return None
            chunks.append(chunk)
    return b"".join(chunks)
