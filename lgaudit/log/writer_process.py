"""The writer process: appends a recorder's batches outside the graph's interpreter.

A Python process runs one thread at a time (the GIL): in the graph's own process, the
writer's hashing, JSON and SQL compete with the graph for it, however many cores the
machine has. ``AppenderProcess`` starts a Python running ``main`` below, which imports
only the chain writer (not LangGraph, LangChain or the rest of lgaudit: it starts in a
fraction of a second, while the recorder goes on writing from its own thread) and appends
the batches it is handed, one at a time, in order, each committed before it answers. The
batched writer stays the one place events queue: the process only takes a batch once the
one before is committed, so "handed over" still means "committed before any later event".

Protocol (pipes, length-prefixed pickles): parent -> child ``("open", url)`` first, then
``("batch", events)`` or ``("close",)``; child -> parent ``("ready",)`` once, then per batch
``("failed", kind, message)`` for each attempt that failed (the child retries with backoff,
as the in-process writer does) and ``("ok", n)`` once it is committed, or
``("unreadable", message)`` for a batch it cannot unpickle (the parent writes that one itself).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from lgaudit.errors import StoreUnavailableError

_HEADER = struct.Struct("<Q")


class AppenderGone(Exception):
    """The writer process ended (or its pipe broke) with a batch possibly unanswered."""


class AppenderRefused(Exception):
    """A batch cannot travel to the writer process (not picklable, or not unpicklable
    there): the caller writes it in its own process."""


class AppenderProcess:
    """The parent's handle on a writer process (used by one thread: the batched writer's)."""

    def __init__(self, url: str) -> None:
        if os.name != "posix":
            raise OSError("the writer process needs POSIX pipes")
        if not os.path.basename(sys.executable or "").lower().startswith("python"):
            # an embedding host (uWSGI, a frozen app): its executable is not Python's
            raise OSError(f"no Python interpreter to run it ({sys.executable!r})")
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])  # where ``lgaudit`` is importable
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            # not ``-m``: lgaudit's package imports this module, and runpy would run it
            # twice and warn on the app's stderr
            [sys.executable, "-c", "from lgaudit.log.writer_process import main; main()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
            start_new_session=True,  # a Ctrl-C for the app is not one for its writer
        )
        self.ready = False
        self._send(("open", url))  # the URL may hold a password: not on the command line

    @property
    def pid(self) -> int:
        return self._proc.pid

    def poll_ready(self) -> bool:
        """Whether the process is ready for batches (never blocks)."""
        if self.ready:
            return True
        if self._proc.poll() is not None:
            raise AppenderGone(f"writer process exited with code {self._proc.returncode}")
        out = self._proc.stdout
        assert out is not None
        try:
            readable = select.select([out], [], [], 0)[0]
        except (OSError, ValueError) as e:
            raise AppenderGone(f"writer process pipe unusable: {e}") from e
        if readable:
            self.ready = self._recv()[0] == "ready"
        return self.ready

    def append(self, events: Sequence[Any], on_failure: Callable[[str, str], None]) -> None:
        """Hand over one batch and return once it is committed; ``on_failure(kind,
        message)`` is called for each failed attempt while the process retries."""
        try:
            data = pickle.dumps(("batch", list(events)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - an object pickle cannot carry
            raise AppenderRefused(f"{type(e).__name__}: {e}") from e
        self._write(data)
        while True:
            reply = self._recv()
            if reply[0] == "ok":
                return
            if reply[0] == "unreadable":
                raise AppenderRefused(reply[1])
            on_failure(reply[1], reply[2])

    def close(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop the process: after the batch in hand (``kill``: at once)."""
        proc = self._proc
        if proc.poll() is None and not kill:
            try:
                self._send(("close",))
            except AppenderGone:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                kill = True
        if proc.poll() is None and kill:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    # -- frames -----------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        self._write(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    def _write(self, data: bytes) -> None:
        pipe = self._proc.stdin
        assert pipe is not None
        try:
            pipe.write(_HEADER.pack(len(data)))
            view = memoryview(data)
            while view:  # a raw pipe may take part of it
                view = view[pipe.write(view) or 0 :]
        except (BrokenPipeError, OSError, ValueError) as e:
            raise AppenderGone(f"writer process pipe closed: {e}") from e

    def _recv(self) -> tuple[Any, ...]:
        out = self._proc.stdout
        assert out is not None
        message = _read_frame(out)
        if message is None:
            self._proc.wait()
            raise AppenderGone(f"writer process exited with code {self._proc.returncode}")
        return message


def _read_exact(pipe: IO[bytes], n: int) -> bytes | None:
    parts: list[bytes] = []
    while n:
        chunk = pipe.read(n)
        if not chunk:
            return None
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def _read_frame(pipe: IO[bytes]) -> Any:
    header = _read_exact(pipe, _HEADER.size)
    if header is None:
        return None
    data = _read_exact(pipe, _HEADER.unpack(header)[0])
    return None if data is None else pickle.loads(data)


# -- the writer process ---------------------------------------------------------------------


def main() -> None:
    """The writer process: append batches read on stdin."""
    from lgaudit.log.append import ChainWriter, plan_append
    from lgaudit.log.chain import event_hash_of, rows_digest

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the protocol pipe
    parent = os.getppid()

    def send(message: tuple[Any, ...]) -> None:
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            out.write(_HEADER.pack(len(data)) + data)
            out.flush()
        except OSError:
            pass  # the parent is gone; what it handed over is still committed

    opened = _read_frame(inp)
    if not opened or opened[0] != "open":
        return
    writer = ChainWriter(opened[1], event_hash_of, rows_digest, background_checkpoints=True)
    try:
        writer.connect()  # ready means connected: the first batch does not wait for it
    except Exception:  # noqa: BLE001 - the store is down: the first append retries it
        pass
    known_blobs: dict[str, None] = {}
    known_runs: set[str] = set()
    gc.collect()
    gc.freeze()  # what is imported by now is never garbage: full collections skip it
    send(("ready",))
    try:
        while True:
            header = _read_exact(inp, _HEADER.size)
            if header is None:
                return  # the parent is gone: everything handed over is committed
            raw = _read_exact(inp, _HEADER.unpack(header)[0])
            if raw is None:
                return
            try:
                message = pickle.loads(raw)
            except Exception as e:  # noqa: BLE001 - a class only the parent has
                send(("unreadable", f"{type(e).__name__}: {e}"))
                continue
            if message[0] == "close":
                return
            events = message[1]
            delay = 0.05
            given_up_at = None
            while True:
                try:
                    runs, blobs, new_blobs = plan_append(events, known_blobs, known_runs)
                    writer.append(events, runs, blobs, new_blobs)
                    known_runs.update(runs)
                    known_blobs.update(dict.fromkeys(new_blobs))
                    if len(known_blobs) > 200_000:
                        known_blobs.clear()  # only makes a blob travel again; stored once
                    send(("ok", len(events)))
                    break
                except Exception as e:  # noqa: BLE001 - reported, retried like in-process
                    kind = "unavailable" if isinstance(e, StoreUnavailableError) else "error"
                    send(("failed", kind, str(e) or type(e).__name__))
                    if os.getppid() != parent:
                        given_up_at = given_up_at or time.monotonic() + 60
                        if time.monotonic() > given_up_at:
                            print(f"lgaudit writer process: batch lost: {e}", file=sys.stderr)
                            return
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
    finally:
        writer.close()
