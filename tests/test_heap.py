"""The tap's command keeps large blocks out of the heap (glibc's fixed mmap threshold).

Each case runs in a fresh interpreter and asks glibc itself (``mallinfo2``: bytes in mapped
blocks) where a 2 MB block went after a 3 MB one was freed: with the dynamic threshold, the
free raised it to 3 MB and the 2 MB block is carved from the heap, where it would stay as
RSS after being freed; with the tap's command built, the threshold stays fixed and the block
is mapped on its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

try:
    GLIBC = os.confstr("CS_GNU_LIBC_VERSION")
except (AttributeError, ValueError, OSError):
    GLIBC = None

pytestmark = pytest.mark.skipif(not GLIBC, reason="glibc's allocator only")

PROBE = """
import ctypes, sys

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "tap":
    from tap_atlassian.tap import TapAtlassian

    TapAtlassian.get_singer_command()  # what `tap-atlassian` runs first
libc.free(libc.malloc(3_000_000))  # a dynamic threshold rises to 3 MB here
before = libc.mallinfo2().hblkhd
block = libc.malloc(2_000_000)
print(libc.mallinfo2().hblkhd - before >= 2_000_000)
"""


def _mapped_after_a_large_free(case: str) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, case], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    return run.stdout.strip() == "True"


def test_a_plain_interpreter_carves_large_blocks_from_the_heap_once_one_was_freed() -> None:
    """The control: what the tap's command changes (without it this test's pair would pass
    for a probe that measured nothing).
    """
    assert _mapped_after_a_large_free("bare") is False


def test_the_tap_command_keeps_every_large_block_mapped() -> None:
    assert _mapped_after_a_large_free("tap") is True


def test_the_environment_still_decides_when_it_sets_the_threshold() -> None:
    """``MALLOC_MMAP_THRESHOLD_`` (glibc's own tunable) is left to win: the tap does not set it."""
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "4194304"}
    code = "from tap_atlassian import heap; print(heap.keep_large_blocks_mapped())"
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, env=env
    )
    assert run.stdout.strip() == "False"
