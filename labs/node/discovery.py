"""The lab's own etcd discovery service, standing in for discovery.etcd.io.

discovery.etcd.io was a small web front on an etcd cluster: ``GET /new?size=N`` made a
token directory ``/_etcd/registry/<token>`` holding ``_config/size`` and answered with
``https://discovery.etcd.io/<token>``; requests to ``/<token>...`` were proxied to that
directory in the backing etcd's v2 keys API, which is what the members' discovery client
talks to. This module does the same with one local etcd 3.4 (``--enable-v2=true``).

It runs in its own container (``python3 -m labs.node.discovery serve``) and is stdlib-only,
so the machine image carries it; :func:`new_url` is the client the host side uses.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

REGISTRY = "/v2/keys/_etcd/registry"
ETCD_CLIENT_PORT = 2379
DEFAULT_SIZE = 3


def new_url(service: str, size: int = DEFAULT_SIZE, timeout: float = 10) -> str:
    """Mint a token on the discovery service at ``service`` (like ``curl discovery.etcd.io/new``)."""
    with urllib.request.urlopen(f"{service}/new?size={size}", timeout=timeout) as response:
        return response.read().decode().strip()


class DiscoveryHandler(http.server.BaseHTTPRequestHandler):
    """``/new?size=N`` mints a token; ``/<token>[/...]`` is proxied to the registry."""

    server_version = "lab-discovery/1"
    public_base = ""  # e.g. http://10.17.3.10:8087, set by serve()

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/new":
            self.mint(urllib.parse.parse_qs(url.query))
        elif url.path == "/health":
            self.proxy("GET", "/health", b"")
        else:
            self.proxy_registry("GET")

    def do_PUT(self) -> None:
        self.proxy_registry("PUT")

    def do_DELETE(self) -> None:
        self.proxy_registry("DELETE")

    def mint(self, query: dict[str, list[str]]) -> None:
        size_text = query.get("size", [str(DEFAULT_SIZE)])[0]
        if not size_text.isdigit() or int(size_text) < 1:
            self.reply(400, f"invalid size {size_text!r}: size must be a positive integer\n")
            return
        token = secrets.token_hex(16)
        body = urllib.parse.urlencode({"value": size_text}).encode()
        status, _, _ = self.etcd("PUT", f"{REGISTRY}/{token}/_config/size", body)
        if status not in (200, 201):
            self.reply(502, f"the registry refused the token (HTTP {status})\n")
            return
        self.reply(200, f"{self.public_base}/{token}")

    def proxy_registry(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        if url.path in ("", "/"):
            self.reply(404, "usage: GET /new?size=N, then use the URL it returns\n")
            return
        target = REGISTRY + url.path + (f"?{url.query}" if url.query else "")
        length = int(self.headers.get("Content-Length") or 0)
        self.proxy(method, target, self.rfile.read(length) if length else b"")

    def proxy(self, method: str, target: str, body: bytes) -> None:
        status, headers, payload = self.etcd(method, target, body,
                                             self.headers.get("Content-Type"))
        self.send_response(status)
        for name in ("Content-Type", "X-Etcd-Index", "X-Etcd-Cluster-Id", "X-Raft-Index",
                     "X-Raft-Term"):
            if name in headers:
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def etcd(self, method: str, target: str, body: bytes,
             content_type: str | None = "application/x-www-form-urlencoded"):
        """One request to the local etcd; a watch (``wait=true``) may block for long."""
        connection = http.client.HTTPConnection("127.0.0.1", ETCD_CLIENT_PORT, timeout=3600)
        try:
            headers = {"Content-Type": content_type} if body and content_type else {}
            connection.request(method, target, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        except OSError as error:
            return 502, {}, f"registry unreachable: {error}\n".encode()
        finally:
            connection.close()

    def reply(self, status: int, text: str) -> None:
        payload = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        sys.stderr.write("discovery: " + format % args + "\n")


def start_etcd(data_dir: str) -> subprocess.Popen:
    """The registry: a single etcd 3.4 member with the v2 API on, reachable on the lab network."""
    return subprocess.Popen([
        "etcd", "--name", "discovery", "--data-dir", data_dir, "--enable-v2=true",
        "--listen-client-urls", f"http://0.0.0.0:{ETCD_CLIENT_PORT}",
        "--advertise-client-urls", f"http://127.0.0.1:{ETCD_CLIENT_PORT}",
        "--listen-peer-urls", "http://127.0.0.1:2380",
        "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
        "--initial-cluster", "discovery=http://127.0.0.1:2380",
    ])


def wait_for_etcd(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{ETCD_CLIENT_PORT}/health", timeout=2):
                return
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline:
                raise SystemExit("discovery: etcd did not become healthy")
            time.sleep(0.1)


def serve(listen_port: int, public_base: str, data_dir: str) -> int:
    etcd = start_etcd(data_dir)
    wait_for_etcd()
    DiscoveryHandler.public_base = public_base.rstrip("/")
    server = http.server.ThreadingHTTPServer(("0.0.0.0", listen_port), DiscoveryHandler)
    server.daemon_threads = True

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"discovery: serving {public_base}/new?size=N", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        etcd.terminate()
        etcd.wait(timeout=10)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m labs.node.discovery")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="run the discovery service (in its container)")
    serve_cmd.add_argument("--port", type=int, default=8087)
    serve_cmd.add_argument("--public-base", required=True,
                           help="URL prefix the machines use to reach this service")
    serve_cmd.add_argument("--data-dir", default="/var/lib/discovery")
    args = parser.parse_args(argv)
    return serve(args.port, args.public_base, args.data_dir)


if __name__ == "__main__":
    sys.exit(main())
