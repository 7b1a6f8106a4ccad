"""The machine image: built from Debian packages only, rebuilt when its sources change.

Two layers: a Debian bookworm base imported from `mmdebstrap` (no registry needed), and
`image/Dockerfile` on top, which installs the packages and copies the node-side programs.
The tag carries a hash of everything that goes into the image, so "outdated" simply means
"no image with this tag yet".
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from pathlib import Path

from labs.launcher.dockerhost import docker
from labs.errors import LabError
from labs.launcher.settings import PROJECT_ROOT

BASE_IMAGE = "coreos-lab/debian:bookworm"
MACHINE_REPOSITORY = "coreos-lab/machine"
REGISTRY_BASE = "debian:bookworm-slim"
# What goes into the image: image/ and the node side of labs/ (image/Dockerfile copies the same).
IMAGE_SOURCES = ("image", "labs/__init__.py", "labs/node")


def source_files() -> list[Path]:
    files: list[Path] = []
    for entry in IMAGE_SOURCES:
        path = PROJECT_ROOT / entry
        if path.is_dir():
            files += [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        elif path.exists():
            files.append(path)
    return sorted(files)


def machine_tag() -> str:
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return f"{MACHINE_REPOSITORY}:{digest.hexdigest()[:12]}"


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def ensure_base(log) -> str:
    """The base image: local mmdebstrap import, or the registry's debian where one is reachable."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    if shutil.which("mmdebstrap"):
        log(f"building {BASE_IMAGE} with mmdebstrap (about 30 s)")
        with tempfile.TemporaryDirectory(prefix="coreos-lab-") as tmp:
            tarball = Path(tmp, "rootfs.tar")
            result = subprocess.run(["mmdebstrap", "--variant=minbase", "--quiet", "bookworm",
                                     str(tarball)], capture_output=True, text=True)
            if result.returncode != 0:
                raise LabError("mmdebstrap could not build the Debian base:\n"
                               + result.stderr[-2000:],
                               "check that the Debian mirror in /etc/apt/sources.list is reachable")
            docker("import", str(tarball), BASE_IMAGE)
        return BASE_IMAGE
    if docker("pull", REGISTRY_BASE, check=False).returncode == 0:
        return REGISTRY_BASE
    raise LabError("no Debian base image: mmdebstrap is not installed and no registry answers",
                   "install it: `sudo apt-get install mmdebstrap` (Debian/Ubuntu)")


def ensure_machine_image(log) -> str:
    """Build the machine image unless an image of the current sources exists."""
    tag = machine_tag()
    if image_exists(tag):
        return tag
    base = ensure_base(log)
    log(f"building the machine image {tag} (about a minute the first time)")
    process = subprocess.Popen(
        ["docker", "build", "--build-arg", f"BASE={base}", "-f", "image/Dockerfile", "-t", tag,
         "."], cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.communicate()[0]
    if process.returncode != 0:
        raise LabError("the machine image failed to build; the failing step:\n"
                       + failing_step(output), "fix the step above in image/Dockerfile")
    return tag


def failing_step(build_output: str) -> str:
    """The last `Step N/M` of a docker build log and what it printed."""
    lines = build_output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Step ") or line.startswith("#")]
    tail = lines[starts[-1]:] if starts else lines
    return "\n".join(tail[-40:])
