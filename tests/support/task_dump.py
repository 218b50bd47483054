"""`kill -USR1 <pytest pid>` writes every asyncio task's await stack to `<basetemp>/tasks-<pid>.txt`.

For a suite that stops making progress: py-spy shows threads, but a stuck coroutine sits in an
idle loop's select() and only its task's stack says what it awaits. Tasks of every loop are
written (the test's own, each worker pool's), each naming its loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from types import FrameType


def _dump(path: Path) -> None:
    out = io.StringIO()
    tasks = [task for task in list(asyncio.tasks._all_tasks) if not task.done()]  # every loop's
    out.write(f"===== {len(tasks)} tasks\n")
    for task in tasks:
        out.write(f"--- {task!r} on loop {id(task.get_loop()):x}\n")
        task.print_stack(file=out)
    out.write("===== threads\n")
    for thread_id, frame in _frames().items():
        out.write(f"--- thread {thread_id}\n{''.join(traceback.format_stack(frame))}")
    path.write_text(out.getvalue())


def _frames() -> dict[int, FrameType]:
    return dict(sys._current_frames())


def install(directory: Path) -> None:
    """Registers the handler (main thread only, which is where pytest runs)."""
    if threading.current_thread() is not threading.main_thread():
        return
    path = directory / f"tasks-{os.getpid()}.txt"
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: _dump(path))
