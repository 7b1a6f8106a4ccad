"""03-docker's checks on the live cluster: plausible wrong answers fail with a hint that points
the way, the right answers pass."""

from __future__ import annotations

import pytest

from labs import checks
from labs.exercises import docker as ex
from labs.exercises.common import CORE_01, CORE_02, CORE_03

pytestmark = pytest.mark.integration
IMAGE = "lab/hello:1"


@pytest.fixture
def clean(cluster, progress_home):
    from labs import lesson
    checks.load_exercises()
    lesson.CLEANUPS["03-docker"](cluster)
    for entry in checks.exercises_of("03-docker"):
        entry.reset(cluster, **entry.params)
    yield cluster
    lesson.CLEANUPS["03-docker"](cluster)


def build(cluster, machine):
    cluster[machine].run(f"docker build -q -t {IMAGE} -", input=ex.HELLO_DOCKERFILE)


def copy(cluster, machine):
    archive = b"".join(cluster.docker(CORE_01).images.get(IMAGE).save(named=True))
    cluster.docker(machine).images.load(archive)


def test_an_image_built_again_is_not_the_copy(clean):
    build(clean, CORE_01)
    copy(clean, CORE_02)
    build(clean, CORE_03)
    result = checks.check("docker-image-everywhere", clean)
    assert not result.ok and result.message.startswith("core-03 has an image lab/hello:1, but not core-01's")


def test_one_machine_copied_is_not_every_machine(clean):
    build(clean, CORE_01)
    copy(clean, CORE_02)
    result = checks.check("docker-image-everywhere", clean)
    assert not result.ok and result.message.startswith("core-03 lacks lab/hello:1")


def test_the_image_copied_everywhere_passes(clean):
    build(clean, CORE_01)
    for machine in (CORE_02, CORE_03):
        copy(clean, machine)
    assert checks.check("docker-image-everywhere", clean).ok


def serve(cluster, restart=""):
    cluster[CORE_02].run(f"mkdir -p {ex.WEB_PAGE} && echo hi > {ex.WEB_PAGE}/index.html && "
                         f"docker run -d --name web {restart} -p 8080:80 -v {ex.WEB_PAGE}:/www:ro "
                         f"busybox httpd -f -p 80 -h /www")


def test_a_web_server_without_restart_policy_fails(clean):
    serve(clean)
    result = checks.check("docker-web", clean)
    assert not result.ok and "its restart policy is 'no'" in result.message


def test_a_web_server_on_another_port_fails(clean):
    clean[CORE_02].run("docker run -d --name web --restart always -p 8081:80 busybox httpd -f -p 80")
    assert "publishes 8081, not 8080" in checks.check("docker-web", clean).message


def test_a_web_server_that_comes_back_passes(clean):
    serve(clean, "--restart always")
    assert checks.check("docker-web", clean).ok


def announce(cluster, value):
    script = f'wget -qO- --post-data "value={value}" http://172.17.0.1:2379/v2/keys/workshop/web'
    cluster[CORE_02].run(f"docker run --name announcer busybox sh -c '{script}'")


def test_announcing_the_containers_own_address_fails(clean):
    serve(clean, "--restart always")
    announce(clean, "$(hostname -i):80")
    result = checks.check("docker-announce", clean)
    assert not result.ok and "a 172.17.x.x address is a container's" in result.message


def test_announcing_written_from_the_machine_not_the_container_fails(clean):
    serve(clean, "--restart always")
    clean[CORE_02].run("docker run --name announcer busybox true && ETCDCTL_API=2 etcdctl set "
                       "/workshop/web/x \"$COREOS_PRIVATE_IPV4:8080\"")
    result = checks.check("docker-announce", clean)
    assert not result.ok and "the container must do the writing" in result.message


def test_announcing_the_machines_address_passes(clean):
    serve(clean, "--restart always")
    ip = clean[CORE_02].run("echo $COREOS_PRIVATE_IPV4").stdout.strip()
    announce(clean, f"{ip}:8080")
    assert checks.check("docker-announce", clean).ok


def test_the_created_leftover_is_not_a_second_server(clean):
    entry = checks.EXERCISES["docker-second-web"]
    entry.breaks(clean, **entry.params)
    result = checks.check("docker-second-web", clean)
    assert not result.ok and "left it behind" in result.message


def test_a_second_server_on_a_free_port_passes(clean):
    entry = checks.EXERCISES["docker-second-web"]
    entry.breaks(clean, **entry.params)
    clean[CORE_01].run(f"docker rm web2 && docker run -d --name web2 -p 8083:80 "
                       f"-v {ex.WEB_PAGE}:/www:ro busybox httpd -f -p 80 -h /www && sleep 1")
    assert checks.check("docker-second-web", clean).ok
