"""fleetctl's default driver: the registry questions fleetctl asks, put to fleetd's HTTP API.

fleet v1.0.0's fleetctl talks to `unix:///var/run/fleet.sock` (fleet.socket) with the API
driver unless told `--driver=etcd` (docs/fleet.md §4.2). This client offers the same methods as
`registry.Registry` for what fleetctl needs, so the commands are driver-agnostic.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from .schema import INACTIVE, MachineState, Unit, UnitState
from .tls import TLSFiles
from .unit import UnitFile

API_PATH = "/fleet/v1/"


class APIRequestError(Exception):
    """A request that failed: no answer, or an error status (worded like Go's googleapi)."""


@dataclass
class APIUnit(Unit):
    """A unit as the API reports it: fleetd has already derived its current state."""

    reported_state: str = ""

    def current_state(self, unit_states):
        return None if self.is_global else (self.reported_state or INACTIVE)


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (Go's fleetctl dials "domain-sock" the same way)."""

    def __init__(self, socket_path: str, timeout: float):
        super().__init__("domain-sock", timeout=timeout)
        self.socket_path = socket_path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class APIRegistry:
    """fleetd's API at `endpoint` (`unix:///path` or `http://host:port`)."""

    def __init__(self, endpoint: str, timeout: float, tls=None):
        """`tls` (TLSFiles) for an https:// endpoint."""
        url = urlsplit(endpoint)
        if url.scheme == "unix":
            self.base = "http://domain-sock"
            self.dial = "dial unix %s" % url.path
            self._connection = lambda: UnixHTTPConnection(url.path, timeout)
        elif url.scheme == "http" and url.hostname:
            self.base = "http://%s" % url.netloc
            self.dial = "dial tcp %s" % url.netloc
            self._connection = lambda: http.client.HTTPConnection(url.hostname, url.port or 80,
                                                                  timeout=timeout)
        elif url.scheme == "https" and url.hostname:
            self.base = "https://%s" % url.netloc
            self.dial = "dial tcp %s" % url.netloc
            context = (tls or TLSFiles()).ssl_context()
            self._connection = lambda: http.client.HTTPSConnection(url.hostname, url.port or 443,
                                                                   timeout=timeout, context=context)
        else:
            raise ValueError("unsupported endpoint %r: use unix:///path, http://host:port or https://host:port"
                             % endpoint)

    # --- what fleetctl asks ---------------------------------------------------

    def machines(self):
        return machines_from_json(self._request("GET", "machines"))

    def units(self):
        """Every unit, following the API's pages, sorted by name."""
        pages, token = [], None
        while True:
            pages.append(self._request("GET", "units", query={"nextPageToken": token} if token else None))
            token = pages[-1].get("nextPageToken")
            if not token:
                return units_from_json(pages)

    def unit(self, name):
        """The unit, or None when fleet does not know it."""
        data = self._request("GET", "units/" + quote(name), missing_ok=True)
        return None if data is None else unit_from_json(data)

    def unit_states(self):
        return unit_states_from_json(self._request("GET", "state"))

    def create_unit(self, name, unit_file, target_state=INACTIVE):
        options = [{"section": s, "name": n, "value": v} for s, n, v in unit_file.options]
        self._request("PUT", "units/" + quote(name),
                      {"name": name, "desiredState": target_state, "options": options})

    def set_target_state(self, name, state):
        self._request("PUT", "units/" + quote(name), {"desiredState": state})

    def destroy_unit(self, name):
        """False if the unit did not exist."""
        return self._request("DELETE", "units/" + quote(name), missing_ok=True) is not None

    # --- HTTP -------------------------------------------------------------------

    def _failure(self, error: Exception) -> str:
        """Why there is no answer, worded as Go's net package words it."""
        if isinstance(error, FileNotFoundError):
            return "%s: connect: no such file or directory" % self.dial
        if isinstance(error, ConnectionRefusedError):
            return "%s: connect: connection refused" % self.dial
        if isinstance(error, socket.timeout):
            return "%s: i/o timeout" % self.dial
        return str(error) or type(error).__name__

    def _request(self, method, path, body=None, query=None, missing_ok=False):
        """The decoded JSON answer ({} when empty); None for a 404 when `missing_ok`."""
        target = API_PATH + path + ("?" + urlencode(query) if query else "")
        connection = self._connection()
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            connection.request(method, target, body=None if body is None else json.dumps(body),
                               headers=headers)
            reply = connection.getresponse()
            data = reply.read()
        except (OSError, http.client.HTTPException) as error:
            raise APIRequestError("%s %s%s: %s" % (method.capitalize(), self.base, target,
                                                   self._failure(error))) from None
        finally:
            connection.close()
        if reply.status == 404 and missing_ok:
            return None
        if reply.status >= 400:
            raise APIRequestError("googleapi: Error %d: %s" % (reply.status, _error_message(data)))
        return json.loads(data) if data.strip() else {}


# --- the API's JSON, read (also by labs.exercises.fleet_state, which fetches it over SSH) ------

def machines_from_json(data):
    """GET machines: every machine whose fleetd is alive."""
    return [MachineState(id=m["id"], public_ip=m.get("primaryIP", ""), metadata=m.get("metadata") or {})
            for m in data.get("machines", [])]


def units_from_json(pages):
    """Every page of GET units: the units, sorted by name."""
    return sorted((unit_from_json(data) for page in pages for data in page.get("units", [])),
                  key=lambda unit: unit.name)


def unit_from_json(data):
    options = [(o["section"], o["name"], o["value"]) for o in data.get("options", [])]
    return APIUnit(name=data["name"], unit_file=UnitFile(options),
                   target_state=data.get("desiredState") or INACTIVE,
                   target_machine=data.get("machineID", ""),
                   reported_state=data.get("currentState", ""))


def unit_states_from_json(data):
    """GET state: one row per unit and machine, sorted."""
    states = [UnitState(unit_name=s["name"], machine_id=s.get("machineID", ""),
                        load_state=s.get("systemdLoadState", ""),
                        active_state=s.get("systemdActiveState", ""),
                        sub_state=s.get("systemdSubState", ""), unit_hash=s.get("hash", ""))
              for s in data.get("states", [])]
    return sorted(states, key=lambda s: (s.unit_name, s.machine_id))


def _error_message(data: bytes) -> str:
    try:
        return json.loads(data)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        return data.decode(errors="replace").strip()
