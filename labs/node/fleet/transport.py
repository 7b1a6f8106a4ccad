"""fleetctl's SSH: the `--tunnel` to etcd and commands on other machines.

Both shell out to the system OpenSSH client (docs/fleet.md §6). FLEETCTL_SSH_CONFIG,
if set, is passed as `ssh -F`, so a lab's generated ssh_config (host
aliases, keys, ports, pinned host keys) works for tunnels and remote commands
alike: with it, the config decides the port of a `--tunnel` host given
without `:port` and which known_hosts file to check against (only
`--strict-host-key-checking=false` still overrides it).
"""

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time

GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
# The key fleetctl offers to trust when a host has several: OpenSSH's own preference.
KEY_PREFERENCE = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa")
ALGORITHM_NAMES = {"ssh-rsa": "RSA", "ssh-dss": "DSA", "ecdsa-sha2-nistp256": "ECDSA",
                   "ecdsa-sha2-nistp384": "ECDSA", "ecdsa-sha2-nistp521": "ECDSA"}  # ssh/known_hosts.go algoString
TRUST_PROMPT = ("The authenticity of host '%s' can't be established.\n"
                "%s key fingerprint is %s.\n"
                "Are you sure you want to continue connecting (yes/no)? ")


class HostKeyError(OSError):
    """The user did not trust an unknown host key."""


class SSHOptions:
    """The ssh settings shared by tunnels and remote commands."""

    def __init__(self, username="core", timeout=10.0, strict_host_key_checking=True,
                 known_hosts_file="~/.fleetctl/known_hosts", config_file=None):
        self.username = username
        self.timeout = timeout
        self.strict_host_key_checking = strict_host_key_checking
        self.known_hosts_file = os.path.expanduser(known_hosts_file)
        self.config_file = config_file if config_file is not None else os.environ.get("FLEETCTL_SSH_CONFIG")

    def base_command(self, port=None):
        command = ["ssh"]
        if self.config_file:
            command += ["-F", self.config_file]
        if self.strict_host_key_checking:
            if not self.config_file:
                command += ["-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + self.known_hosts_file]
        else:
            command += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        command += ["-o", "ConnectTimeout=%d" % max(1, int(self.timeout))]
        if port is not None:
            command += ["-p", str(port)]
        return command


def known_hosts_address(host, port):
    """How known_hosts names a host: `host` on port 22, else `[host]:port`."""
    return host if port in (None, 22) else "[%s]:%d" % (host, port)


def trust_host(host, port, options, via=None, scan=None, stdin=None, stderr=None):
    """fleet's HostKeyChecker before fleetctl's own ssh reaches `host`: a host in the known_hosts
    files passes; an unknown one is shown with its key's MD5 fingerprint and, if the user answers
    yes, added to --known-hosts-file; no raises HostKeyError. A changed key is OpenSSH's to refuse.
    Nothing to do without strict host key checking or with an ssh config (FLEETCTL_SSH_CONFIG)."""
    if not options.strict_host_key_checking or options.config_file:
        return
    address = known_hosts_address(host, port)
    if any(_knows(path, address) for path in (options.known_hosts_file,) + GLOBAL_KNOWN_HOSTS):
        return
    keys = (scan or _scan_keys)(host, port, options, via)
    if not keys:
        return  # unreachable: let ssh say so
    key_type, blob = min(keys, key=lambda key: KEY_PREFERENCE.index(key[0]) if key[0] in KEY_PREFERENCE else 99)
    algorithm = ALGORITHM_NAMES.get(key_type, key_type)
    fingerprint = ":".join("%02x" % byte for byte in hashlib.md5(base64.b64decode(blob)).digest())
    stdin, stderr = stdin or sys.stdin, stderr or sys.stderr
    stderr.write(TRUST_PROMPT % (address, algorithm, fingerprint))
    stderr.flush()
    if stdin.readline().strip().lower() not in ("yes", "y"):
        stderr.write("Host key verification failed.\n")
        raise HostKeyError("unauthorized host")
    directory = os.path.dirname(options.known_hosts_file)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    with open(options.known_hosts_file, "a") as known_hosts:
        known_hosts.write("%s %s %s\n" % (address, key_type, blob))
    stderr.write("Warning: Permanently added '%s' (%s) to the list of known hosts.\n" % (address, algorithm))


def _knows(path, address):
    if not os.path.exists(path):
        return False
    return subprocess.run(["ssh-keygen", "-F", address, "-f", path], capture_output=True).returncode == 0


def _scan_keys(host, port, options, via=None):
    """[(key type, base64 blob)] the host offers, asked with ssh-keyscan (on `via` when tunnelling)."""
    command = ["ssh-keyscan", "-T", str(max(1, int(options.timeout))), "-p", str(port or 22), host]
    if via:
        command = remote_command(via, command, options)
    try:
        output = subprocess.run(command, capture_output=True, text=True, timeout=options.timeout + 10).stdout
    except subprocess.TimeoutExpired:
        return []
    return [tuple(line.split()[1:3]) for line in output.splitlines()
            if line and not line.startswith("#") and len(line.split()) >= 3]


def split_host_port(address, default_port=22):
    """`host[:port]` → (host, port); `default_port` (may be None) without `:port`."""
    host, _, port = address.rpartition(":")
    if not host:
        return address, default_port
    return host, int(port)


def tunnel_command(tunnel, remote_host, remote_port, options, local_port):
    """The ssh argv forwarding 127.0.0.1:<local_port> to <remote_host>:<remote_port> via `tunnel`
    (to the unix socket <remote_host> when `remote_port` is None)."""
    # Without `:port`, an ssh config (FLEETCTL_SSH_CONFIG) may name the port: don't override it.
    host, port = split_host_port(tunnel, None if options.config_file else 22)
    command = options.base_command(port)
    if options.username:
        command += ["-l", options.username]
    remote = remote_host if remote_port is None else "%s:%d" % (remote_host, remote_port)
    return command + ["-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes", "-N",
                      "-L", "127.0.0.1:%d:%s" % (local_port, remote), host]


class Tunnel:
    """`ssh -N -L <local port>:<remote host>:<remote port> <tunnel host>` for one fleetctl run
    (`-L <local port>:<remote socket>` when `remote_port` is None)."""

    def __init__(self, tunnel, remote_host, remote_port, options, stdin=None, stderr=None):
        host, port = split_host_port(tunnel, None if options.config_file else 22)
        try:
            trust_host(host, port, options, stdin=stdin, stderr=stderr)
        except HostKeyError as error:
            raise OSError("failed initializing SSH client: %s" % error) from None
        self.local_port = _free_local_port()
        command = tunnel_command(tunnel, remote_host, remote_port, options, self.local_port)
        self.host = command[-1]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        self._wait_until_open(options.timeout)

    @property
    def local_url(self):
        return "http://127.0.0.1:%d" % self.local_port

    def _wait_until_open(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace").strip()
                raise OSError("failed initializing SSH client: %s" % (error or "ssh exited"))
            try:
                with socket.create_connection(("127.0.0.1", self.local_port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.close()
        raise OSError("failed initializing SSH client: timed out connecting to %s" % self.host)

    def close(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _free_local_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def remote_command(host, command, options, port=22, forward_agent=False, via=None):
    """The ssh argv that runs `command` (a list; empty = interactive shell) on `host`."""
    argv = options.base_command(port)
    if forward_agent:
        argv.append("-A")
    if via:
        argv += ["-J", via]
    if options.username:
        argv += ["-l", options.username]
    if not command:
        return argv + ["-t", host]
    return argv + [host, "--"] + list(command)


def run(argv):
    """Run a command attached to our terminal; its exit code."""
    return subprocess.call(argv)
