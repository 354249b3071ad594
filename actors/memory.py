"""Keep a long-running process's memory where it levelled, whatever the messages' sizes.

With glibc's defaults a freed large block (a 1 MiB message body, say) raises the size from
which blocks get their own mapping, so later bodies of that size come from the heap and
fragment it; with one heap arena per thread, a worker with eight threads then keeps
growing. The hostile suite showed it: 20,000 messages, a tenth of them 256 KiB to 2 MiB,
took two worker processes from 252 to 291 MB and still climbing. With a fixed threshold
(blocks of 64 KiB or more are mapped and given back when freed) and two arenas, the same
run levelled at 235 to 241 MB. The settings are glibc's `mallopt`; elsewhere nothing is
changed.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger("ordercare.memory")

#: glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
#: Blocks at least this large get their own mapping, returned to the system when freed.
MMAP_THRESHOLD = 64 * 1024
#: Free memory at the top of the heap beyond this is given back.
TRIM_THRESHOLD = 128 * 1024
#: Heap arenas shared by all threads (glibc's default is eight per core).
ARENAS = 2


def tune_malloc() -> bool:
    """Apply the settings above to this process and the processes it forks; True when the
    C library is glibc and took them."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    settings = ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (M_ARENA_MAX, ARENAS))  # fmt: skip
    applied = all(mallopt(param, value) == 1 for param, value in settings)
    if not applied:
        log.warning("malloc tuning refused by the C library")
    return applied
