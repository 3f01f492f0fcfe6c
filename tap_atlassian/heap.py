"""A heap that stays flat over a long sync: large buffers always in their own mapping (glibc).

A sync reads answers of a few MB (a Cloud search page of 100 issues with ``fields=*all`` is
about 2 MB) in worker threads, holds each until its records are written, then frees it.
glibc's allocator serves a block that large with ``mmap`` and gives it back to the system
when freed, but only until the first such free: it then raises its *mmap threshold* to that
block's size (the dynamic threshold, meant for programs that re-allocate one large block),
and every later page is carved from a thread arena's heap instead. Freed there, between
smaller objects still alive, those megabytes are rarely handed back, and each worker's
arena keeps its own high-water mark: the tap's peak RSS grew with the length of the run
(129 MB after 20,000 issues, 144 MB after 200,000). With the threshold set, glibc keeps it
fixed ("if the parameter is set, the dynamic adjustment is disabled", GNU C Library manual,
Malloc Tunable Parameters, https://www.gnu.org/software/libc/manual/html_node/Malloc-Tunable-Parameters.html),
so every answer above it is mapped on its own and unmapped when freed (peak RSS about
115 MB at 200,000 issues, reached in the first minutes). The cost is a page-zeroing ``mmap`` per
large answer, a few per second.

Only the tap's command sets it (``TapAtlassian.get_singer_command``): a process that imports
the package keeps its allocator as it was. Other C libraries (musl, macOS, Windows) are
left alone. ``MALLOC_MMAP_THRESHOLD_`` in the environment (glibc's own tunable) still wins.
"""

from __future__ import annotations

import contextlib
import ctypes
import os

M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
THRESHOLD = 128 * 1024  # glibc's initial value, now fixed: larger blocks are always mapped


def keep_large_blocks_mapped() -> bool:
    """Fix glibc's mmap threshold at :data:`THRESHOLD`; whether it was set (False: not glibc,
    or the environment sets it already).
    """
    glibc = None
    with contextlib.suppress(AttributeError, ValueError, OSError):  # no confstr, or not this name
        glibc = os.confstr("CS_GNU_LIBC_VERSION")
    if not glibc or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, THRESHOLD))
