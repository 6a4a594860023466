"""Is this process a worker of a pre-fork server that did not run otelsvc before forking?

gunicorn without ``--preload`` forks workers from a master that ran none of the app's code (the
worker's stack runs through ``Arbiter.spawn_worker``); ``uvicorn --workers`` and multiprocessing
spawn fresh processes (``multiprocessing.parent_process()``). A worker forked from a process that
already runs a guard never gets here: its inherited guard joins the parent's hub at fork.
"""

from __future__ import annotations

import os
import sys

from otelsvc._prefork._paths import ProcessId, process_id

__all__ = ["server_master"]

_GUNICORN_ARBITER = os.path.join("gunicorn", "arbiter.py")


def _in_gunicorn_worker() -> bool:
    if "gunicorn.arbiter" not in sys.modules:
        return False
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "spawn_worker" and code.co_filename.endswith(_GUNICORN_ARBITER):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def server_master() -> ProcessId | None:
    """The process that runs this worker's server (gunicorn master, uvicorn supervisor, pool parent), or None."""
    if _in_gunicorn_worker():
        return process_id(os.getppid())
    mp = sys.modules.get("multiprocessing")
    if mp is not None:
        parent = mp.parent_process()
        if parent is not None and parent.pid:
            return process_id(parent.pid)
    return None
