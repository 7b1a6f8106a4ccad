"""Launch-time faults: bad configuration stops Vagrant clearly; orphans are cleaned up."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from labs.launcher import image, resources
from labs.launcher.dockerhost import docker
from labs.launcher.settings import PROJECT_ROOT, STATE_LABEL


@pytest.fixture
def project_copy(tmp_path):
    """A throwaway copy of the project's vagrant/ beside the real labs package."""
    shutil.copytree(PROJECT_ROOT / "vagrant", tmp_path / "vagrant",
                    ignore=shutil.ignore_patterns(".vagrant"))
    (tmp_path / "labs").symlink_to(PROJECT_ROOT / "labs")
    return tmp_path


def vagrant_status(project, state):
    env = dict(os.environ, LAB_HOME=str(state), VAGRANT_DOTFILE_PATH=str(state / "vagrant"),
               VAGRANT_HOME=str(state / "vagrant.d"),
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
        ours = docker("ps", "-aq", "--no-trunc", "--filter", f"label={STATE_LABEL}={lab_cluster.state}")
        resources.remove_orphaned_labs()
        assert docker("inspect", name, check=False).returncode != 0
        after = docker("ps", "-aq", "--no-trunc", "--filter", f"label={STATE_LABEL}={lab_cluster.state}")
        assert after.stdout == ours.stdout != "", "a live lab's containers must never be touched"
        assert resources.machines(lab_cluster) == dict.fromkeys(["core-01", "core-02", "core-03"],
                                                                  "running")
    finally:
        docker("rm", "-f", name, check=False)


DRIVER_READS = """
require "vagrant"
require Vagrant.source_root.join("plugins/providers/docker/plugin").to_s
ARGV.each { |file| require file }    # as the Vagrantfile loads them
driver = VagrantPlugins::DockerProvider::Driver.new
20.times { driver.read_used_ports; driver.network_defined?("10.255.255.0/24") }
"""


def test_vagrant_reads_the_host_while_other_labs_come_and_go(lab_cluster):
    """Vagrant lists every container and network on the host, then inspects each one. Another
    lab removing one in between made `vagrant up` fail ("No such object", docs/flakes.md); with
    the lab's driver fix loaded (as the Vagrantfile does), 20 reads during such churn succeed."""
    label = "io.coreos-lab.test-churn"
    stop = threading.Event()

    def churn():
        while not stop.is_set():
            made = docker("create", "--label", label, image.machine_tag(), "true").stdout.strip()
            docker("network", "create", "--label", label, f"churn-{made[:12]}")
            docker("rm", made)
            docker("network", "rm", f"churn-{made[:12]}")

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        reads = subprocess.run(
            ["ruby", "-e", DRIVER_READS, *(str(PROJECT_ROOT / f"labs/launcher/vagrant_docker_{name}.rb")
                                           for name in ("calls", "races"))],
            capture_output=True, text=True, timeout=300)
    finally:
        stop.set()
        churner.join()
        for kind in ("container", "network"):
            left = docker(kind, "ls", "-aq" if kind == "container" else "-q",
                          "--filter", f"label={label}").stdout.split()
            if left:
                docker(kind, "rm", *left)
    assert reads.returncode == 0, reads.stderr[-2000:]
