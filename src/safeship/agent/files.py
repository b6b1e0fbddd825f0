"""Writing the agent's state so a crash at any instant leaves the old or the new file whole.

tmp file in the same directory, fsync, rename over the target, fsync the directory: the
POSIX recipe for an atomic replace that survives power loss. Readers (the agent at start,
the router workers watching for a new split) therefore never see half a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # state is the owner's
    with open(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def save(path: Path, model: BaseModel) -> None:
    write_atomically(path, model.model_dump_json(indent=1).encode())


def load(path: Path, kind: type[M]) -> M:
    """The model stored at `path`, or an empty one when there is no file yet."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return kind()
    return kind.model_validate_json(text)
