"""The agent's hands on local systemd, through `systemctl` subprocesses.

fleet talked D-Bus (systemd/manager.go); docs/fleet.md §2.3 lists
the CLI equivalents. Unit files live in units_directory (/run/fleet/units/)
and are linked into /run/systemd/system with `systemctl link --runtime`.
The agent only uses the methods of `SystemctlManager`, so unit tests can
hand it an in-memory double instead.
"""

import logging
import os
import subprocess

from .names import is_recognized_unit_file

log = logging.getLogger("fleet.systemd")

DEFAULT_UNITS_DIRECTORY = "/run/fleet/units/"


class SystemdError(RuntimeError):
    """A systemctl call failed."""


class SystemctlManager:
    """fleet's systemd manager on top of the `systemctl` command."""

    def __init__(self, units_directory=DEFAULT_UNITS_DIRECTORY, systemctl="systemctl", user=False):
        """`user`: the calling user's systemd instance (fleet's `systemd_user`), `systemctl --user`."""
        self.units_directory = units_directory
        self.systemctl = [systemctl, "--user"] if user else [systemctl]

    def _run(self, *args):
        command = self.systemctl + list(args)
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemdError("%s: %s" % (" ".join(command), (result.stderr or result.stdout).strip()))
        return result.stdout

    def _path(self, name):
        return os.path.join(self.units_directory, name)

    def unit_names(self):
        """fleet units currently on disk, sorted."""
        try:
            names = os.listdir(self.units_directory)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if is_recognized_unit_file(n))

    def unit_text(self, name):
        with open(self._path(name)) as unit_file:
            return unit_file.read()

    def load(self, name, text, has_install_section):
        """Write the unit file (0644), link it at runtime, enable it if it has [Install]."""
        os.makedirs(self.units_directory, exist_ok=True)
        path = self._path(name)
        with open(path, "w") as unit_file:
            unit_file.write(text)
        os.chmod(path, 0o644)
        self._run("link", "--runtime", "--force", path)
        if has_install_section:
            try:
                self._run("enable", "--runtime", "--force", path)
            except SystemdError as error:
                os.remove(path)
                raise SystemdError("Failed to enable systemd unit %s: %s" % (name, error))

    def unload(self, name):
        """Stop; only if that worked, disable, reset-failed and remove the file (issue #1216)."""
        self.stop(name)
        self._run("disable", "--runtime", name)
        try:
            self._run("reset-failed", name)
        except SystemdError as error:
            log.debug("reset-failed %s: %s", name, error)
        try:
            os.remove(self._path(name))
        except FileNotFoundError:
            pass

    def load_many(self, units):
        """`load` of several (name, text) units without [Install]: one `systemctl link`."""
        os.makedirs(self.units_directory, exist_ok=True)
        paths = []
        for name, text in units:
            path = self._path(name)
            with open(path, "w") as unit_file:
                unit_file.write(text)
            os.chmod(path, 0o644)
            paths.append(path)
        self._run("link", "--runtime", "--force", *paths)

    def unload_many(self, names):
        """`unload` of several units: one stop, and (only if it worked) one disable."""
        self._run("stop", "--no-block", *names)
        self._run("disable", "--runtime", *names)
        try:
            self._run("reset-failed", *names)
        except SystemdError as error:
            log.debug("reset-failed: %s", error)
        for name in names:
            try:
                os.remove(self._path(name))
            except FileNotFoundError:
                pass

    def start_many(self, names):
        self._run("start", "--no-block", *names)

    def start(self, name):
        self._run("start", "--no-block", name)

    def stop(self, name):
        self._run("stop", "--no-block", name)

    def reload(self):
        self._run("daemon-reload")

    def states(self, names):
        """name → (LoadState, ActiveState, SubState) from one `systemctl show`."""
        if not names:
            return {}
        output = self._run("show", "--property=Id,LoadState,ActiveState,SubState", *names)
        return parse_show_output(output, names)


def parse_show_output(output, names):
    """Split `systemctl show` of several units (blank-line separated, in argument order)."""
    blocks = [block for block in output.strip("\n").split("\n\n")]
    states = {}
    for name, block in zip(names, blocks):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        states[name] = (props.get("LoadState", ""), props.get("ActiveState", ""), props.get("SubState", ""))
    return states
