"""Benchmark: what one sign-in (or tablet PIN) costs to check, with the configured hash
(Argon2id at OWASP's minimum) against Werkzeug's default scrypt, in the same run.

    python bench/hashing.py                         # PASSWORD_HASH_METHOD (config.py)
    python bench/hashing.py --method scrypt:32768:8:1 --repeat 21

Each method hashes a password, then checks it, `--repeat` times; the median CPU time of
this process (time.process_time: scrypt with p=1 runs on one core) is reported, so other
work on the machine does not count, and the median wall time beside it. The baseline is
Werkzeug's default method ("scrypt", today N=2^15, r=8, p=1), measured the same way in
the same run; for reference, OWASP's scrypt minimum (N=2^17, r=8, p=1) is measured too
(--no-owasp skips it). A check of a right secret and of a wrong one cost the same.

The last line printed is always

    hash_ms=... check_ms=... default_check_ms=... ratio=... sign_ins_per_core_per_s=...

where ratio is check_ms / default_check_ms and sign_ins_per_core_per_s is 1000 / check_ms
(the checks one core can make in a second, nothing else counted). Exits 1 if a check
gives a wrong answer, 0 otherwise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bulkbuy.services import hashing  # noqa: E402
from config import Config  # noqa: E402

SECRET = "correct horse battery"  # noqa: S105 - a benchmark's sample password
OWASP_SCRYPT_MINIMUM = "scrypt:131072:8:1"


def timed(call, repeat: int) -> tuple[float, float]:
    """(median CPU ms, median wall ms) of `call()` over `repeat` runs, after one warm-up."""
    call()
    cpu, wall = [], []
    for _ in range(repeat):
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        call()
        cpu.append((time.process_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - wall_start) * 1000)
    return statistics.median(cpu), statistics.median(wall)


def measure(method: str, repeat: int) -> tuple[str, float, float]:
    """(the method, hash CPU ms, check CPU ms), each line printed."""
    made = hashing.make(SECRET, method)
    prefix = method
    if not hashing.verify(made, SECRET) or hashing.verify(made, SECRET + "x"):
        raise SystemExit(f"ERROR: {prefix} checked a secret wrongly")
    hash_cpu, hash_wall = timed(lambda: hashing.make(SECRET, method), repeat)
    check_cpu, check_wall = timed(lambda: hashing.verify(made, SECRET), repeat)
    print(f"{prefix}: hash {hash_cpu:.1f} ms CPU ({hash_wall:.1f} wall), "
          f"check {check_cpu:.1f} ms CPU ({check_wall:.1f} wall)", flush=True)
    return prefix, hash_cpu, check_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default=Config.PASSWORD_HASH_METHOD,
                        help="argon2id:<KiB>:<passes>:<lanes> or a Werkzeug method "
                             "(default: PASSWORD_HASH_METHOD)")
    parser.add_argument("--repeat", type=int, default=11, help="runs per figure (median)")
    parser.add_argument("--no-owasp", action="store_true",
                        help="skip measuring OWASP's scrypt minimum (the slowest)")
    args = parser.parse_args()

    _, hash_ms, check_ms = measure(args.method, args.repeat)
    _, _, default_check_ms = measure("scrypt:32768:8:1", args.repeat)
    if not args.no_owasp:
        measure(OWASP_SCRYPT_MINIMUM, max(3, args.repeat // 2))
    print(f"hash_ms={hash_ms:.1f} check_ms={check_ms:.1f} "
          f"default_check_ms={default_check_ms:.1f} ratio={check_ms / default_check_ms:.2f} "
          f"sign_ins_per_core_per_s={1000 / check_ms:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
