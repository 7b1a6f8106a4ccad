"""Exercises of notebook 03-docker, and what the notebook leaves behind."""

from __future__ import annotations

import json
import time

from labs import lesson
from labs.checks import exercise, failed, passed
from labs.exercises.common import CORE_01, CORE_02, any_machine, private_ips, settled, sh_quote

WEB_PAGE = "/home/core/www"
CONTAINERS = "ticker flaky solo web web2 announcer"
HELLO_DOCKERFILE = 'FROM busybox\nCMD ["echo", "hello from lab/hello:1"]\n'


@lesson.cleanup("03-docker")
def _(cluster):
    cluster.run_all(f"docker rm -f {CONTAINERS} >/dev/null 2>&1; docker rmi lab/hello:1 "
                    f">/dev/null 2>&1; rm -rf {WEB_PAGE}; true")
    any_machine(cluster).run("ETCDCTL_API=2 etcdctl rm --recursive /workshop/web", check=False)


def _state(machine, name) -> dict | None:
    """`docker inspect NAME` on the machine, or None when there is no such container."""
    out = machine.run(f"docker inspect {name}", check=False)
    return json.loads(out.stdout)[0] if out.ok else None


def _published(state) -> list[str]:
    return sorted({binding.get("HostPort") for bindings in
                   (state["NetworkSettings"].get("Ports") or {}).values()
                   for binding in (bindings or [])} - {None})


def _image_id(machine, image) -> str | None:
    out = machine.run(f"docker image inspect -f '{{{{.Id}}}}' {image}", check=False)
    return out.stdout.strip() if out.ok else None


# --- the image on every machine, copied with the SDK ---------------------------------------------

@exercise("docker-image-everywhere", "One image on every machine, copied not rebuilt", "03-docker",
          image="lab/hello:1", source=CORE_01)
def docker_image_everywhere(cluster, image, source):
    show = (f"src = cluster.docker({source!r})\nfor name in cluster.machines:\n"
            f"    if name != {source!r}:\n        cluster.docker(name).images.load("
            f"b\"\".join(src.images.get({image!r}).save(named=True)))")
    original = _image_id(cluster[source], image)
    if original is None:
        return failed(f"{source} has no image {image}: step 3 builds it there; run that cell first")
    missing, rebuilt = [], []
    for name in cluster.machines:
        found = _image_id(cluster[name], image)
        if found is None:
            missing.append(name)
        elif found != original:
            rebuilt.append(name)
    if rebuilt:
        return failed(f"{', '.join(rebuilt)} {'has' if len(rebuilt) == 1 else 'have'} an image "
                      f"{image}, but not {source}'s: its ID differs ({original[7:19]} on "
                      f"{source}). A `docker build` makes a new image (its ID covers the time "
                      f"it was made); the task is to copy the one there is — remove it "
                      f"(`docker rmi`) and copy", show)
    if missing:
        return failed(f"{', '.join(missing)} {'lacks' if len(missing) == 1 else 'lack'} {image}: "
                      f"step 4 copied it to one machine from Python; every machine is a loop",
                      show)
    return passed(f"every machine has {image} with {source}'s ID {original[7:19]}: one image, "
                  f"copied, not rebuilt")


@docker_image_everywhere.solution
def _(cluster, image, source):
    cluster[source].run(f"docker image inspect {image} >/dev/null 2>&1 || "
                        f"docker build -q -t {image} - >/dev/null", input=HELLO_DOCKERFILE)
    src = cluster.docker(source)
    try:
        archive = b"".join(src.images.get(image).save(named=True))
        for name in cluster.machines:
            if name != source:
                cluster[name].run(f"docker rmi {image}", check=False)
                destination = cluster.docker(name)
                try:
                    destination.images.load(archive)
                finally:
                    destination.close()
    finally:
        src.close()


@docker_image_everywhere.reset
def _(cluster, image, source):
    cluster.run_all(f"docker rmi {image}", check=False)


# --- a web server that comes back -------------------------------------------------------------

WEB_RUN = ("docker run -d --name {name} --restart unless-stopped -p {port}:80 "
           "-v {page}:/www:ro busybox httpd -f -p 80 -h /www")
RESTARTING = ("always", "unless-stopped", "on-failure")


@exercise("docker-web", "A web server that comes back", "03-docker", machine=CORE_02,
          name="web", port=8080)
def docker_web(cluster, machine, name, port):
    m = cluster[machine]
    show = (f"%%remote {machine}\nmkdir -p {WEB_PAGE}\necho \"<h1>hello from $(hostname)</h1>\" "
            f"> {WEB_PAGE}/index.html\n" + WEB_RUN.format(name=name, port=port, page=WEB_PAGE))
    state = _state(m, name)
    if state is None:
        return failed(f"there is no container named {name!r} on {machine}: step 5 ran one on "
                      f"core-01", show)
    if not state["State"]["Running"]:
        return failed(f"{name!r} on {machine} exists but is {state['State']['Status']}: "
                      f"`docker logs {name}` says why it ended; remove it and run it again", show)
    if str(port) not in _published(state):
        return failed(f"{name!r} on {machine} publishes {', '.join(_published(state)) or 'no port'}"
                      f", not {port} (step 5)", show)
    policy = state["HostConfig"]["RestartPolicy"]["Name"] or "no"
    if policy not in RESTARTING:
        return failed(f"{name!r} serves on {port}, but its restart policy is {policy!r}: when "
                      f"httpd dies, it stays dead — step 2 shows the policies", show)
    page = cluster[CORE_01].run(f"curl -sf http://{machine}:{port}/", check=False)
    if not page.ok:
        return failed(f"{name!r} publishes {port} on {machine}, but core-01 gets no page from "
                      f"http://{machine}:{port}/: is there an index.html in the directory httpd "
                      f"serves (-h), mounted into the container?", show)
    before = state["RestartCount"]
    m.run(f"sudo kill -KILL {state['State']['Pid']}")        # as the kernel's OOM killer would
    restarted = settled(lambda: (now := _state(m, name)) and now["State"]["Running"]
                        and now["RestartCount"] > before, timeout=20)
    if not restarted:
        return failed(f"the check killed httpd in {name!r} (SIGKILL), and docker did not start "
                      f"it again within 20 s (policy {policy!r})", show)
    return passed(f"{name!r} on {machine} serves {page.stdout.strip()[:60]!r} on port {port}; "
                  f"the check killed httpd, and docker started it again (policy {policy!r})")


@docker_web.solution
def _(cluster, machine, name, port):
    cluster[machine].run(f"mkdir -p {WEB_PAGE} && "
                         f"echo \"<h1>hello from $(hostname)</h1>\" > {WEB_PAGE}/index.html && "
                         f"(docker rm -f {name} >/dev/null 2>&1; true) && "
                         + WEB_RUN.format(name=name, port=port, page=WEB_PAGE))


@docker_web.reset
def _(cluster, machine, name, port):
    cluster[machine].run(f"docker rm -f {name}; rm -rf {WEB_PAGE}", check=False)


# --- a container announces the web server, at the address others reach -------------------------

@exercise("docker-announce", "A container announces the web server", "03-docker",
          machine=CORE_02, name="announcer", directory="/workshop/web", port=8080)
def docker_announce(cluster, machine, name, directory, port):
    show = (f"%%remote {machine}\ndocker run --name {name} -e ADDR=\"$COREOS_PRIVATE_IPV4:{port}\" "
            f"busybox sh -c 'wget -qO- --post-data \"value=$ADDR\" "
            f"http://172.17.0.1:2379/v2/keys{directory}'")
    wanted = f"{private_ips(cluster)[machine]}:{port}"
    state = _state(cluster[machine], name)
    if state is None:
        return failed(f"there is no container named {name!r} on {machine}: notebook 02 (step 3) "
                      f"had a container write into etcd", show)
    listed = any_machine(cluster).run(
        f"curl -s 'http://127.0.0.1:2379/v2/keys{directory}?recursive=true&quorum=true'", check=False)
    nodes = [n for n in (json.loads(listed.stdout or "{}").get("node") or {}).get("nodes", []) or []
             if not n.get("dir")]
    values = [n.get("value", "") for n in nodes]
    if wanted in values:
        logs = cluster[machine].run(f"docker logs {name} 2>&1", check=False).stdout
        if wanted not in logs:
            return failed(f"{directory} holds {wanted!r}, but {name!r}'s output does not show "
                          f"that it wrote it: the container must do the writing", show)
        page = cluster[CORE_01].run(f"curl -sf http://{wanted}/", check=False)
        if not page.ok:
            return failed(f"{name!r} announced {wanted!r} — the right address — but nothing "
                          f"answers there: the web server of the exercise above must run", show)
        return passed(f"{name!r} on {machine} announced {wanted!r} in {directory}; core-01 gets "
                      f"the page there: an address other machines can use")
    if not values:
        return failed(f"{directory} is empty: did {name!r} reach etcd? `docker logs {name}` on "
                      f"{machine}; inside a container, etcd is at docker0's address", show)
    if any(value.startswith("172.17.") for value in values):
        return failed(f"{directory} holds {', '.join(map(repr, values))}: a 172.17.x.x address is "
                      f"a container's, on {machine}'s own docker0 — no other machine reaches it "
                      f"(notebook 06 shows why). Announce the machine's address and the published "
                      f"port; the container must be told it from outside", show)
    return failed(f"{directory} holds {', '.join(map(repr, values))}, not {wanted!r}: the "
                  f"address other machines reach {machine} at (/etc/environment) and the port "
                  f"the web server publishes", show)


@docker_announce.solution
def _(cluster, machine, name, directory, port):
    from labs.checks import EXERCISES
    web = EXERCISES["docker-web"]
    web.solve(cluster, **web.params)
    script = f'wget -qO- --post-data "value=$ADDR" http://172.17.0.1:2379/v2/keys{directory}'
    cluster[machine].run(f"(docker rm -f {name} >/dev/null 2>&1; true) && "
                         f"docker run --name {name} -e ADDR=\"$COREOS_PRIVATE_IPV4:{port}\" "
                         f"busybox sh -c {sh_quote(script)}")


@docker_announce.reset
def _(cluster, machine, name, directory, port):
    cluster[machine].run(f"docker rm -f {name}", check=False)
    any_machine(cluster).run(f"ETCDCTL_API=2 etcdctl rm --recursive {directory}", check=False)


# --- repair: a second web server beside the first -------------------------------------------------

@exercise("docker-second-web", "A second web server beside the first", "03-docker",
          machine=CORE_01, name="web2", taken=8080)
def docker_second_web(cluster, machine, name, taken):
    m = cluster[machine]
    show = (f"%%remote {machine}\ndocker rm {name}\ndocker run -d --name {name} -p 8082:80 "
            f"-v {WEB_PAGE}:/www:ro busybox httpd -f -p 80 -h /www")
    first = _state(m, "web")
    if first is None or not first["State"]["Running"]:
        return failed(f"the first web server, 'web' on {machine}, does not run any more: both "
                      f"must serve (step 5 starts it)", show)
    state = _state(m, name)
    if state is None:
        return failed(f"there is no container {name!r} on {machine}: run it again, on a port "
                      f"that is free", show)
    if not state["State"]["Running"]:
        return failed(f"{name!r} on {machine} is {state['State']['Status']}: the failed `docker "
                      f"run` of the break-it left it behind, holding its name — what the "
                      f"prediction was about", show)
    ports = _published(state)
    if not ports or str(taken) in ports:
        return failed(f"{name!r} runs but publishes {', '.join(ports) or 'no port'}: it needs a "
                      f"port of its own", show)
    page = m.run(f"curl -sf http://127.0.0.1:{ports[0]}/", check=False)
    if not page.ok:
        return failed(f"{name!r} publishes {ports[0]}, but nothing answers there: httpd needs "
                      f"a page to serve (-h and a mounted directory)", show)
    return passed(f"'web' serves on {taken} and {name!r} on {ports[0]}, both on {machine}")


@docker_second_web.breaks
def _(cluster, machine, name, taken):
    from labs.checks import EXERCISES
    web = EXERCISES["docker-web"]
    web.solve(cluster, machine=machine, name="web", port=taken)
    cluster[machine].run(f"docker run -d --name {name} -p {taken}:80 busybox httpd -f -p 80",
                         check=False)


@docker_second_web.solution
def _(cluster, machine, name, taken):
    cluster[machine].run(f"docker rm -f {name} >/dev/null 2>&1; docker run -d --name {name} "
                         f"-p 8082:80 -v {WEB_PAGE}:/www:ro busybox httpd -f -p 80 -h /www")
    for _ in range(50):
        if cluster[machine].run("curl -sf http://127.0.0.1:8082/ >/dev/null", check=False).ok:
            return
        time.sleep(0.2)


@docker_second_web.reset
def _(cluster, machine, name, taken):
    """Both servers go: the break-it started the first one ('web', on port TAKEN) too."""
    cluster[machine].run(f"docker rm -f {name} web", check=False)
