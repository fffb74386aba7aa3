"""Child processes that must not outlive the process that started them (query workers,
dump writers): an orphan would go on evaluating a query nobody waits for, or rename an
older dump over a newer one."""

from __future__ import annotations

import os
import signal


def die_with_parent(parent: int | None = None) -> None:
    """Linux: SIGKILL this process when its parent dies (PR_SET_PDEATHSIG; sent when the
    *thread* that started it ends, so start it from a thread that lives as long as it
    should). With ``parent``, a parent that died before the call is noticed too."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)
