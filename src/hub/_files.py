"""Files only this user may read: the audit trail, its keys and its writer's state."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["private_dir", "replace_private", "write_new_private"]


def private_dir(path: Path) -> None:
    """Create ``path`` and any missing folder above it with mode 0700.

    Folders that exist already keep their mode: the hub tightens only what it makes.
    """
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        # mkdir's mode is masked by the umask; the folder must not be.
        os.chmod(folder, 0o700)


def _written_aside(path: Path, data: bytes) -> str:
    """A new temporary file of mode 0600 next to ``path``, holding ``data`` on disk."""
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    return temporary


def write_new_private(path: Path, data: bytes) -> bool:
    """Write ``data`` to a new file of mode 0600, unless one exists; True when written.

    The file appears whole or not at all (written aside, then linked into place), so two
    processes starting together end up with one file between them.
    """
    temporary = _written_aside(path, data)
    try:
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True


def replace_private(path: Path, data: bytes) -> None:
    """Replace ``path`` with a file of mode 0600 holding ``data``, atomically and durably."""
    temporary = _written_aside(path, data)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    # The rename itself is durable once the folder is synced.
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
