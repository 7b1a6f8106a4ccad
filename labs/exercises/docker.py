"""Exercises of notebook 03-docker."""

from __future__ import annotations

import json

from labs.checks import exercise, failed, passed
from labs.exercises.common import sh_quote

WEB_PAGE = "/home/core/www"


def _container(cluster, machine, name):
    """The container `name` on `machine` (docker SDK object), or None."""
    import docker
    client = cluster.docker(machine)
    try:
        return client.containers.get(name)
    except docker.errors.NotFound:
        return None
    finally:
        client.close()


def _from_image(container, image) -> bool:
    tags = container.image.tags if container.image else []
    return any(tag.split(":")[0] == image for tag in tags)


# --- a web server with a published port ------------------------------------------------------

@exercise("docker-web", "A web server on another machine, port 8080 published", "03-docker",
          machine="core-02", name="web", image="busybox", port=8080)
def docker_web(cluster, machine, name, image, port):
    container = _container(cluster, machine, name)
    if container is None:
        return failed(f"there is no container named {name!r} on {machine}: on {machine}, "
                      f"`docker run -d --name {name} -p {port}:80 -v {WEB_PAGE}:/www:ro {image} "
                      f"httpd -f -p 80 -h /www` (after writing {WEB_PAGE}/index.html)")
    if not _from_image(container, image):
        tags = container.image.tags if container.image else []
        return failed(f"the container {name!r} on {machine} runs {', '.join(tags) or 'an untagged image'}, "
                      f"expected {image}: remove it (`docker rm -f {name}`) and run it from {image}")
    if container.status != "running":
        return failed(f"the container {name!r} on {machine} exists but is {container.status}: "
                      f"its command ended (`docker logs {name}` says why); httpd needs -f to stay "
                      f"in the foreground and an existing -h directory; `docker rm {name}`, then "
                      f"run it again")
    published = [binding.get("HostPort") for bindings in
                 (container.attrs["NetworkSettings"].get("Ports") or {}).values()
                 for binding in (bindings or [])]
    if str(port) not in published:
        return failed(f"{name!r} runs on {machine} but publishes "
                      f"{', '.join(sorted(set(published))) or 'no port'}, not {port}: "
                      f"`docker rm -f {name}`, then run it again with `-p {port}:80`")
    answer = cluster[machine].run(
        f"for i in $(seq 25); do curl -sf http://127.0.0.1:{port}/ && exit 0; sleep 0.2; done; "
        f"exit 1", check=False, timeout=30)
    if not answer.ok:
        return failed(f"{name!r} publishes port {port} on {machine}, but "
                      f"`curl http://127.0.0.1:{port}/` gets no page: does httpd listen on the "
                      f"container's port 80 (`-p 80`), and is there an index.html in its -h "
                      f"directory?")
    first = answer.stdout.strip().splitlines()[0][:80] if answer.stdout.strip() else "(empty page)"
    return passed(f"{name!r} on {machine} answers on port {port}: {first}")


@docker_web.solution
def _(cluster, machine, name, image, port):
    cluster[machine].run(f"mkdir -p {WEB_PAGE} && "
                         f"echo \"<h1>hello from $(hostname)</h1>\" > {WEB_PAGE}/index.html && "
                         f"(docker rm -f {name} >/dev/null 2>&1; true) && "
                         f"docker run -d --name {name} -p {port}:80 -v {WEB_PAGE}:/www:ro "
                         f"{image} httpd -f -p 80 -h /www")


@docker_web.reset
def _(cluster, machine, name, image, port):
    cluster[machine].run(f"docker rm -f {name}; rm -rf {WEB_PAGE}", check=False)


# --- a container that writes into etcd -------------------------------------------------------

@exercise("docker-announce", "A container announces itself in etcd", "03-docker",
          machine="core-03", name="announcer", directory="/workshop/announce", reader="core-01")
def docker_announce(cluster, machine, name, directory, reader):
    container = _container(cluster, machine, name)
    if container is None:
        return failed(f"there is no container named {name!r} on {machine}: on {machine}, "
                      f"`docker run --name {name} busybox sh -c 'wget -qO- --post-data "
                      f"\"value=$(hostname)\" http://172.17.0.1:2379/v2/keys{directory}'`")
    hostname = container.attrs["Config"]["Hostname"]
    read = cluster[reader].run(f"curl -s 'http://127.0.0.1:2379/v2/keys{directory}?recursive=true'",
                               check=False, timeout=15)
    try:
        reply = json.loads(read.stdout)
    except ValueError:
        return failed(f"could not read {directory} on {reader}: {read.stderr.strip() or read.stdout[:80]}")
    nodes = [n for n in (reply.get("node") or {}).get("nodes", []) or [] if not n.get("dir")]
    if not nodes:
        return failed(f"{reader} finds nothing under {directory}: did {name!r} reach etcd? "
                      f"`docker logs {name}` on {machine}; inside a container, etcd is at "
                      f"172.17.0.1:2379 (docker0), not 127.0.0.1")
    for node in nodes:
        if node.get("value") == hostname or node["key"].rsplit("/", 1)[-1] == hostname:
            return passed(f"{reader} reads {node['key']} = {node.get('value')!r}, written by "
                          f"{name!r} (hostname {hostname}) on {machine}")
    values = ", ".join(repr(n.get("value")) for n in nodes[:4])
    return failed(f"{directory} holds {values}, but not the hostname of {name!r} on {machine} "
                  f"({hostname}): inside the container, `$(hostname)` is the container's "
                  f"hostname; was the key written by another container?")


@docker_announce.solution
def _(cluster, machine, name, directory, reader):
    script = f'wget -qO- --post-data "value=$(hostname)" http://172.17.0.1:2379/v2/keys{directory}'
    cluster[machine].run(f"(docker rm -f {name} >/dev/null 2>&1; true) && "
                         f"docker run --name {name} busybox sh -c {sh_quote(script)}")


@docker_announce.reset
def _(cluster, machine, name, directory, reader):
    cluster[machine].run(f"docker rm -f {name}", check=False)
    cluster[reader].run(f"ETCDCTL_API=2 etcdctl rm --recursive {directory}", check=False)


# --- an image copied between machines with the SDK -------------------------------------------

HELLO_DOCKERFILE = 'FROM busybox\nCMD ["echo", "hello from lab/hello:1"]\n'


@exercise("docker-image-copy", "Copy an image to another machine with the SDK", "03-docker",
          image="lab/hello:1", source="core-01", machine="core-03")
def docker_image_copy(cluster, image, source, machine):
    listed = cluster[machine].run(f"docker image inspect -f '{{{{.Id}}}}' {image}", check=False)
    if not listed.ok:
        return failed(f"{machine} has no image {image}: save it on {source} and load it on "
                      f"{machine}: `blob = b''.join(cluster.docker({source!r}).images.get("
                      f"{image!r}).save(named=True))`, then "
                      f"`cluster.docker({machine!r}).images.load(blob)`")
    ran = cluster[machine].run(f"docker run --pull=never --rm {image}", check=False, timeout=30)
    if not ran.ok:
        return failed(f"{machine} has {image}, but `docker run --rm {image}` fails: "
                      f"{(ran.stderr or ran.stdout).strip()[-120:]}")
    return passed(f"{machine} has {image} ({listed.stdout.strip()[7:19]}) and runs it: "
                  f"{ran.stdout.strip()}")


@docker_image_copy.solution
def _(cluster, image, source, machine):
    cluster[source].run(f"docker image inspect {image} >/dev/null 2>&1 || "
                        f"docker build -q -t {image} - >/dev/null", input=HELLO_DOCKERFILE)
    src, dst = cluster.docker(source), cluster.docker(machine)
    try:
        dst.images.load(b"".join(src.images.get(image).save(named=True)))
    finally:
        src.close()
        dst.close()


@docker_image_copy.reset
def _(cluster, image, source, machine):
    cluster.run_all(f"docker rmi {image}", check=False)
