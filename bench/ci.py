"""Where `make test`'s time goes: its phases as name=value lines.

    .venv/bin/python bench/ci.py            # the phases of the last `make test` in this checkout
    .venv/bin/python bench/ci.py --fresh    # clone this commit to a temp dir, run `make test`
                                            # there (the CI's path), print its phases

Targets on this 2-core machine: `make test` from a fresh clone <= 10 min with the image build,
<= 6 min when the image is already built. Phases: host-deps, venv, image, boot, cluster
(from the boot's start: integration tests, notebooks and unsolved notebooks on several labs at
once; their test seconds as cluster_*), unit (after the boot, beside the cluster phase), host,
teardown (tests/run.py writes them).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.run import read_phases  # noqa: E402


def fresh_clone_run() -> tuple[Path, float, int]:
    """`git clone` of HEAD and `make test` in it; (its test lab, wall seconds, exit status)."""
    workdir = Path(tempfile.mkdtemp(prefix="coreos-lab-ci-"))
    subprocess.run(["git", "clone", "-q", str(ROOT), str(workdir / "clone")], check=True)
    start = time.monotonic()
    done = subprocess.run(["make", "test"], cwd=workdir / "clone", stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    return workdir / "clone" / ".lab-test", time.monotonic() - start, done.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fresh", action="store_true", help="run make test on a fresh clone")
    args = parser.parse_args()
    lab_home, wall, status = (fresh_clone_run() if args.fresh else (ROOT / ".lab-test", None, 0))
    phases = read_phases(lab_home / "phases.txt")
    if not phases:
        print(f"# ci: no phases in {lab_home}/phases.txt yet (run `make test`, or this with --fresh)")
        return 0
    for name, seconds in phases.items():
        print(f"ci_{name.replace('-', '_').replace('.', '_')}_s={seconds:.1f}")
    if wall is not None:
        print(f"ci_make_test_wall_s={wall:.1f}")
        print(f"ci_make_test_status={status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
