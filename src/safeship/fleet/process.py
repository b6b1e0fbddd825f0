"""Supervision of one child process: spawn it so it can never outlive us, stop it, reap it.

The local provider (fleet/local.py) builds replicas on top of this. Three layers keep children
from becoming orphans:

1. every child asks the kernel for `PR_SET_PDEATHSIG(SIGTERM)`, so it is signalled even if
   safeship is SIGKILLed (the signal follows the *thread* that forked it, so spawn from the
   thread that runs the event loop, not from a worker thread that may exit);
2. every live child is in a registry that an `atexit` hook and, when nobody else handles
   SIGTERM, a SIGTERM handler stop synchronously;
3. the provider's own `close()`, which stops them gracefully and asynchronously.

Each child runs in its own session (process group) so a terminal Ctrl-C reaches safeship only,
which then drains and stops its children in order.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import FrameType

_PR_SET_PDEATHSIG = 1


class ChildProcess:
    """A spawned child with its stdout/stderr in files; `stop` always reaps it."""

    def __init__(self, popen: subprocess.Popen[bytes], *, stderr_path: Path) -> None:
        self._popen = popen
        self.stderr_path = stderr_path

    @property
    def pid(self) -> int:
        return self._popen.pid

    @property
    def argv(self) -> list[str]:
        return [str(a) for a in self._popen.args]  # type: ignore[union-attr]

    def poll(self) -> int | None:
        """The exit code if the child has exited (reaping it), else None."""
        return self._popen.poll()

    def stderr_tail(self, lines: int = 20) -> str:
        """The last `lines` lines the child wrote to stderr, for error messages."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    async def wait(self, grace: float) -> int | None:
        """Wait up to `grace` seconds for the child to exit; its exit code or None."""
        if (code := self.poll()) is not None:
            return code
        # A pidfd becomes readable when the process exits: no polling, no child watcher thread.
        exited = asyncio.Event()
        loop = asyncio.get_running_loop()
        fd = os.pidfd_open(self.pid)
        loop.add_reader(fd, exited.set)
        try:
            async with asyncio.timeout(grace):
                await exited.wait()
        except TimeoutError:
            pass
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return self.poll()

    async def stop(self, grace: float) -> int:
        """SIGTERM the child's group, wait up to `grace` s, then SIGKILL; return the exit code."""
        self._signal(signal.SIGTERM)
        code = await self.wait(grace)
        if code is None:
            self._signal(signal.SIGKILL)
            code = await self.wait(5.0)
        _LIVE.discard(self)
        return code if code is not None else self._popen.wait()

    def stop_now(self, grace: float) -> int:
        """Blocking `stop`, for exit hooks and signal handlers where no event loop runs."""
        self._signal(signal.SIGTERM)
        try:
            code = self._popen.wait(grace)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            code = self._popen.wait()
        _LIVE.discard(self)
        return code

    def _signal(self, sig: signal.Signals) -> None:
        # The child leads its own group; signalling the group also reaches anything it forked
        # (e.g. a shell wrapper's child). An unreaped child keeps its pgid, so this is safe.
        if self._popen.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, sig)


def spawn(
    argv: Sequence[str], *, env: Mapping[str, str], stdout_path: Path, stderr_path: Path
) -> ChildProcess:
    """Start `argv` in its own session, tied to our life, output into the two files."""
    _install_exit_hooks()
    popen = start_in_session(
        argv, env=env, stdout_path=stdout_path, stderr_path=stderr_path, tied=True
    )
    child = ChildProcess(popen, stderr_path=stderr_path)
    _LIVE.add(child)
    return child


def start_in_session(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    stdout_path: Path,
    stderr_path: Path,
    tied: bool,
) -> subprocess.Popen[bytes]:
    """`argv` in its own session (it leads its process group), output appended to the two
    files; `tied`: it gets SIGKILL when we die (PR_SET_PDEATHSIG), else it outlives us."""
    with stdout_path.open("ab") as out, stderr_path.open("ab") as err:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=dict(env),
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()) if tied else None,
        )


def stop_all_now(timeout: float = 5.0) -> None:
    """Stop every live child of this process: SIGTERM all at once, then SIGKILL stragglers."""
    children = list(_LIVE)
    for child in children:
        child._signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        child.stop_now(max(0.0, deadline - time.monotonic()))


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """A preexec_fn that makes the kernel SIGTERM the child when its parent dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: no dlopen in child

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died between fork and prctl: follow it now
            os.kill(os.getpid(), signal.SIGTERM)

    return preexec


_LIVE: set[ChildProcess] = set()
_hooks_installed = False


def _install_exit_hooks() -> None:
    """Once per process: stop children at interpreter exit and on an unhandled SIGTERM."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(stop_all_now)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Stop the children first, then die of SIGTERM as if we had no handler, so our own exit
    # status still says "terminated" to whoever sent it.
    stop_all_now()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
