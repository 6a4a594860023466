"""Measure what a worker killed with SIGKILL loses: it records as fast as it can, is killed at
varying moments, and the serving process's sum is compared with what it had recorded.

    python -m benchmarks.prefork_sigkill
"""

from __future__ import annotations

import mmap
import os
import re
import signal
import struct
import tempfile
import time


def main(trials: int = 5) -> None:
    os.environ.setdefault("OTELSVC_PREFORK_DIR", tempfile.mkdtemp(prefix="otelsvc-pf-kill-"))
    import otelsvc

    guard = otelsvc.start(service_name="kill", prometheus="127.0.0.1:0", set_global=False, runtime_metrics=False)
    counter = guard.counter("work", description="Work done")
    shared = mmap.mmap(-1, 8)
    previous = 0.0
    for trial in range(trials):
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            handle, n = counter.bind(), 0
            while True:
                handle.add(1)
                n += 1
                if n % 100 == 0:
                    shared[:8] = struct.pack("q", n)
                    time.sleep(0.001)
        time.sleep(1.5 + trial * 0.37)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        lived = time.monotonic() - started
        recorded = struct.unpack("q", shared[:8])[0]
        time.sleep(0.2)
        found = re.search(r"^work_total\{.*\} (\S+)$", guard.render_metrics().decode(), re.M)
        total = float(found.group(1)) if found else 0.0
        kept, previous = total - previous, total
        rate = recorded / lived
        print(f"killed after {lived:.2f} s: recorded {recorded}, kept {kept:.0f}, lost {recorded - kept:.0f} "
              f"= {(recorded - kept) / rate:.2f} s of its counts", flush=True)
    guard.shutdown()


if __name__ == "__main__":
    main()
