"""Exercises of notebook 03-docker."""

from __future__ import annotations

from labs.checks import exercise, failed, passed


@exercise("docker-web", "Run a container on another machine", "03-docker",
          machine="core-02", name="web", image="busybox")
def docker_web(cluster, machine, name, image):
    import docker
    client = cluster.docker(machine)
    try:
        container = client.containers.get(name)
    except docker.errors.NotFound:
        return failed(f"there is no container named {name!r} on {machine}: "
                      f"`docker run -d --name {name} {image} httpd -f -p 8080` on {machine}")
    finally:
        client.close()
    tags = container.image.tags if container.image else []
    if not any(tag.split(":")[0] == image for tag in tags):
        return failed(f"the container {name!r} on {machine} runs {', '.join(tags) or 'an untagged image'}, "
                      f"expected {image}: remove it (`docker rm -f {name}`) and run it from {image}")
    if container.status != "running":
        return failed(f"the container {name!r} on {machine} exists but is {container.status}: "
                      f"its command ended; give it one that keeps running (`httpd -f -p 8080`), "
                      f"after `docker rm {name}`")
    return passed(f"{name!r} runs on {machine} ({image})")


@docker_web.solution
def _(cluster, machine, name, image):
    cluster[machine].run(f"docker rm -f {name} >/dev/null 2>&1; "
                         f"docker run -d --name {name} {image} httpd -f -p 8080")


@docker_web.reset
def _(cluster, machine, name, image):
    cluster[machine].run(f"docker rm -f {name}", check=False)
