"""Launch-time faults: bad configuration stops Vagrant clearly; orphans are cleaned up."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from labs import image, provision
from labs.dockerhost import docker
from labs.settings import PROJECT_ROOT, STATE_LABEL


@pytest.fixture
def project_copy(tmp_path):
    """A throwaway copy of the project's vagrant/ beside the real labs package."""
    shutil.copytree(PROJECT_ROOT / "vagrant", tmp_path / "vagrant",
                    ignore=shutil.ignore_patterns(".vagrant"))
    (tmp_path / "labs").symlink_to(PROJECT_ROOT / "labs")
    return tmp_path


def vagrant_status(project, state):
    env = dict(os.environ, LAB_HOME=str(state), VAGRANT_DOTFILE_PATH=str(state / "vagrant"),
               LAB_PYTHON=os.sys.executable,
               LAB_REGISTRY=str(state.parent / "labs.json"))
    return subprocess.run(["vagrant", "status"], cwd=project / "vagrant", env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("value", ["0", "12", '"three"'])
def test_num_instances_out_of_range_is_refused(project_copy, value):
    config = project_copy / "vagrant" / "config.rb"
    config.write_text(config.read_text().replace("$num_instances=3", f"$num_instances={value}"))
    result = vagrant_status(project_copy, project_copy / ".lab")
    assert result.returncode != 0
    assert "$num_instances must be a whole number from 1 to 9" in result.stderr + result.stdout


def test_nine_instances_are_accepted(project_copy):
    config = project_copy / "vagrant" / "config.rb"
    config.write_text(config.read_text().replace("$num_instances=3", "$num_instances=9"))
    result = vagrant_status(project_copy, project_copy / ".lab")
    assert result.returncode == 0, result.stderr
    assert "core-09" in result.stdout


def test_orphans_of_a_deleted_lab_are_removed(tmp_path, lab_cluster):
    gone = tmp_path / "deleted-checkout" / ".lab"
    name = f"orphan-{os.getpid()}"
    docker("run", "-d", "--name", name, "--label", f"{STATE_LABEL}={gone}", "--entrypoint",
           "sleep", image.BASE_IMAGE, "300")
    try:
        provision.remove_orphaned_labs()
        assert docker("inspect", name, check=False).returncode != 0
        assert provision.cluster_healthy(lab_cluster), "a live lab must never be touched"
    finally:
        docker("rm", "-f", name, check=False)
