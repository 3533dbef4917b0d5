"""Keep freed tensor memory in the process on CPUs, instead of returning it to the system every step.

With glibc's default settings, each step of CPU training allocates its activations and gradients
(tensors of a few MB each) and frees them again, and the allocator keeps handing that memory back
to the operating system and asking for it again. Every page that comes back costs a page fault:
measured on the default autoencoder, 3,000 to 5,000 faults and 15-20 % of the time of each step, and
more when the interpreter's heap is fragmented, as in a process that also runs tracking and
logging. PyTorch's CPU tuning guide recommends a caching allocator for this reason; setting two
glibc thresholds gets the same effect without one.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys

logger = logging.getLogger(__name__)

# mallopt parameters, from glibc's malloc.h.
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Allocations below this come from the heap, where freed memory is reused; 32 MiB is glibc's maximum.
MMAP_THRESHOLD_BYTES = 32 * 1024**2
# Free memory at the top of the heap is only returned to the system beyond this.
TRIM_THRESHOLD_BYTES = 512 * 1024**2

_applied = False


def reuse_freed_memory() -> bool:
    """Make glibc's malloc reuse freed memory for tensors up to 32 MiB, keeping up to 512 MiB free.

    It applies to the whole process for the rest of its life: after training, memory the process
    freed stays available to it rather than to other programs, as with any caching allocator. It
    does nothing (and returns False) on systems without glibc, such as macOS.

    Returns
    -------
    bool
        True when the settings are in effect.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # int mallopt(int, int): ctypes' default types
    except (OSError, AttributeError):
        return False
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    if not _applied:
        logger.debug("glibc refused the malloc settings; freed memory is returned to the system as usual.")
    return _applied
