"""fleetd's HTTP API (v1), the subset of docs/fleet.md §5 the lab uses, on stdlib http.server.

Like fleet, fleetd serves it only on listeners systemd hands over (socket
activation: `LISTEN_FDS`, e.g. CoreOS's fleet.socket on /var/run/fleet.sock);
without any, there is no API. Until the server has registered its machine, and
while a failed heartbeat has paused it, every request gets 503 `fleet server
unable to communicate with etcd` (what `TestDetectMachineId` expects of a
duplicate machine ID).

    GET    /fleet/v1/units[?nextPageToken=]   GET|PUT|DELETE /fleet/v1/units/<name>
    GET    /fleet/v1/state[?machineID=&unitName=]   GET /fleet/v1/state/<name>
    GET    /fleet/v1/machines                 PATCH /fleet/v1/machines
"""

import base64
import json
import logging
import os
import re
import socket
import socketserver
import struct
import threading
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, unquote, urlsplit

import etcd

from .names import NameInfo, name_error
from .requirements import options_error
from .schema import FLEET_VERSION, INACTIVE, JOB_STATES, go_json
from .unit import UnitFile, UnitFileError

log = logging.getLogger("fleet.api")

PREFIX = "/fleet/v1"
SD_LISTEN_FDS_START = 3
UNAVAILABLE = "fleet server unable to communicate with etcd"
METADATA_PATH = r"^/([^/]+)/metadata/([A-Za-z0-9_.-]+$)"


class APIError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


# --- JSON shapes (camelCase, Go's omitempty) --------------------------------------

def unit_json(unit, states):
    data = {"name": unit.name,
            "options": [{"section": s, "name": n, "value": v} for s, n, v in unit.unit_file.options]}
    if unit.target_state:
        data["desiredState"] = unit.target_state
    current = unit.current_state(states)
    if current:
        data["currentState"] = current
    if unit.target_machine:
        data["machineID"] = unit.target_machine
    return data


def state_json(state):
    data = {"name": state.unit_name, "hash": state.unit_hash, "machineID": state.machine_id,
            "systemdLoadState": state.load_state, "systemdActiveState": state.active_state,
            "systemdSubState": state.sub_state}
    return {key: value for key, value in data.items() if value}


def machine_json(machine):
    data = {"id": machine.id}
    if machine.public_ip:
        data["primaryIP"] = machine.public_ip
    if machine.metadata:
        data["metadata"] = dict(sorted(machine.metadata.items()))
    return data


def unit_file_from_options(options):
    """API options → UnitFile, checked by a go-systemd round trip (docs/fleet.md §3.5)."""
    if not isinstance(options, list):
        raise APIError(400, "options must be a list")
    triples = []
    for option in options:
        if not isinstance(option, dict):
            raise APIError(400, "invalid unit option")
        triples.append((str(option.get("section", "")), str(option.get("name", "")),
                        str(option.get("value", ""))))
    unit_file = UnitFile(triples)
    try:
        UnitFile.parse(unit_file.canonical_text())
    except UnitFileError as error:
        raise APIError(400, str(error)) from None
    return unit_file


# --- pagination (api/pagination.go) -----------------------------------------------

def encode_token(limit, page):
    return base64.urlsafe_b64encode(struct.pack("<HH", limit, page)).decode()


def decode_token(token, token_limit):
    try:
        limit, page = struct.unpack("<HH", base64.urlsafe_b64decode(token.encode()))
    except (ValueError, struct.error):
        raise APIError(400, "invalid page token") from None
    if limit != token_limit:
        raise APIError(400, "token limit must be %d" % token_limit)
    if page == 0:
        raise APIError(400, "token page must be greater than zero")
    return page


# --- the request handler ----------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    server_version = "fleetd/" + FLEET_VERSION
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # no client address on a unix socket
        log.debug("%s %s", self.command, format % args)

    def do_GET(self):
        self._dispatch("GET")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _dispatch(self, method):
        body = self._read_body()
        try:
            status, payload = self.server.api.handle(method, self.path, self.headers, body)
        except APIError as error:
            status, payload = error.code, {"error": {"code": error.code, "message": error.message}}
        except etcd.EtcdException as error:
            log.error("API request failed: %s", error)
            status, payload = 500, {"error": {"code": 500, "message": "internal server error"}}
        data = b"" if payload is None else (go_json(payload) + "\n").encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and method != "HEAD":
            self.wfile.write(data)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


class API:
    """The request logic, independent of sockets (unit tests call `handle` directly)."""

    def __init__(self, backend=None, token_limit=100):
        self.backend = backend  # a server.Server (registry + healthy event); swapped on SIGHUP
        self.token_limit = token_limit

    @property
    def registry(self):
        return self.backend.registry

    def available(self):
        backend = self.backend
        return backend is not None and backend.registered and backend.healthy.is_set()

    def handle(self, method, raw_path, headers, body):
        url = urlsplit(raw_path)
        path = url.path
        if path != PREFIX and not path.startswith(PREFIX + "/"):
            raise APIError(404, "not found")
        if not self.available():
            raise APIError(503, UNAVAILABLE)
        rest = path[len(PREFIX):].strip("/")
        query = parse_qs(url.query)
        parts = rest.split("/", 1)
        resource, item = parts[0], (unquote(parts[1]) if len(parts) > 1 else None)
        routes = {
            ("units", False, "GET"): lambda: self.list_units(query),
            ("units", True, "GET"): lambda: self.get_unit(item),
            ("units", True, "PUT"): lambda: self.put_unit(item, headers, body),
            ("units", True, "DELETE"): lambda: self.delete_unit(item),
            ("state", False, "GET"): lambda: self.list_states(query),
            ("state", True, "GET"): lambda: self.get_state(item),
            ("machines", False, "GET"): lambda: self.list_machines(),
            ("machines", False, "PATCH"): lambda: self.patch_machines(headers, body),
        }
        route = routes.get((resource, item is not None, method))
        if route is None:
            if any(key[:2] == (resource, item is not None) for key in routes):
                raise APIError(405, "method not allowed")
            raise APIError(404, "not found")
        return route()

    # units

    def list_units(self, query):
        page = 1
        if query.get("nextPageToken"):
            page = decode_token(query["nextPageToken"][0], self.token_limit)
        units = self.registry.units()
        states = self.registry.unit_states()
        start = (page - 1) * self.token_limit
        chunk = units[start:start + self.token_limit]
        result = {"units": [unit_json(u, states) for u in chunk]}
        if start + self.token_limit < len(units):
            result["nextPageToken"] = encode_token(self.token_limit, page + 1)
        return 200, result

    def get_unit(self, name):
        unit = self.registry.unit(name)
        if unit is None:
            raise APIError(404, "unit does not exist")
        return 200, unit_json(unit, self.registry.unit_states())

    def put_unit(self, url_name, headers, body):
        """api/units.go set: create, replace, or change the desired state (docs/fleet.md §5)."""
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            raise APIError(415, "Content-Type must be application/json")
        try:
            request = json.loads(body.decode() or "{}")
        except ValueError as error:
            raise APIError(400, "unable to decode body: %s" % error) from None
        if not isinstance(request, dict):
            raise APIError(400, "unable to decode body: not an object")
        name = request.get("name") or url_name
        if name != url_name:
            raise APIError(400, "name in URL %s differs from unit name in request body %s"
                           % (_go_quote(url_name), _go_quote(name)))
        problem = name_error(name)
        if problem:
            raise APIError(400, problem)
        desired = request.get("desiredState") or ""
        if desired and desired not in JOB_STATES:
            raise APIError(400, "invalid desiredState: %s" % _go_quote(desired))
        options = request.get("options") or []
        existing = self.registry.unit(name)
        if existing is None:
            if not options:
                raise APIError(409, "unit does not exist and options field empty")
            return self._create(name, options, desired)
        if options:
            unit_file = unit_file_from_options(options)
            if unit_file.hash() != existing.hash:
                return self._create(name, options, desired)
        if not desired:
            raise APIError(409, "must provide DesiredState to update existing unit")
        if desired != INACTIVE and NameInfo.of(name).is_template():
            raise APIError(400, 'cannot activate template "%s"' % name)
        self.registry.set_target_state(name, desired)
        return 204, None

    def _create(self, name, options, desired):
        unit_file = unit_file_from_options(options)
        problem = options_error(unit_file)
        if problem:
            raise APIError(400, problem)
        if desired and desired != INACTIVE and NameInfo.of(name).is_template():
            raise APIError(400, 'cannot activate template "%s"' % name)
        self.registry.create_unit(name, unit_file, desired or INACTIVE)
        return 201, None

    def delete_unit(self, name):
        # fleet reads the unit first (api/units.go): a job directory without a unit in it, such
        # as an agent's job-state heartbeat written just after a destroy, is no unit
        if self.registry.unit(name) is None or not self.registry.destroy_unit(name):
            raise APIError(404, "unit does not exist")
        return 204, None

    # states

    def list_states(self, query):
        machine = (query.get("machineID") or [""])[0]
        unit = (query.get("unitName") or [""])[0]
        states = [s for s in self.registry.unit_states()
                  if (not machine or s.machine_id == machine) and (not unit or s.unit_name == unit)]
        return 200, {"states": [state_json(s) for s in states]}

    def get_state(self, name):
        for state in self.registry.unit_states():
            if state.unit_name == name:
                return 200, state_json(state)
        raise APIError(404, "unit state does not exist")

    # machines

    def list_machines(self):
        return 200, {"machines": [machine_json(m) for m in self.registry.machines()]}

    def patch_machines(self, headers, body):
        """JSON-patch-like metadata ops; the value may be {"value": v} (code) or v (docs)."""
        try:
            ops = json.loads(body.decode() or "null")
        except ValueError as error:
            raise APIError(400, "unable to decode body: %s" % error) from None
        if not isinstance(ops, list):
            raise APIError(400, "unable to decode body: expected a list of operations")
        parsed = []
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace"):
                raise APIError(400, "invalid op: expect add, remove, or replace")
            match = re.match(METADATA_PATH, str(op.get("path", "")))
            if match is None:
                raise APIError(400, "machine metadata path invalid")
            value = op.get("value")
            if isinstance(value, dict):
                value = value.get("value")
            if op["op"] != "remove" and (value is None or value == ""):
                raise APIError(400, "invalid value: add and replace require a value")
            parsed.append((op["op"], match.group(1), match.group(2), value))
        for kind, machine_id, key, value in parsed:
            if kind == "remove":
                self.registry.delete_machine_metadata(machine_id, key)
            else:
                self.registry.set_machine_metadata(machine_id, key, str(value))
        return 204, None


def _go_quote(text):
    return json.dumps(text)


# --- listeners and serving ----------------------------------------------------------

def listeners_from_env(environ=None):
    """Sockets passed by systemd (LISTEN_PID/LISTEN_FDS), consumed once: [] without any."""
    environ = os.environ if environ is None else environ
    try:
        count = int(environ.get("LISTEN_FDS", "0"))
        pid = int(environ.get("LISTEN_PID", "0") or 0)
    except ValueError:
        return []
    if count <= 0 or (pid and pid != os.getpid()):
        return []
    for key in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"):
        environ.pop(key, None)
    return [socket.socket(fileno=fd) for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count)]


class _Server(socketserver.ThreadingMixIn, socketserver.BaseServer):
    """A threading HTTP server around an already listening socket of any family."""

    daemon_threads = True

    def __init__(self, sock, api):
        super().__init__(sock.getsockname(), Handler)
        self.socket = sock
        self.api = api

    def fileno(self):
        return self.socket.fileno()

    def get_request(self):
        return self.socket.accept()

    def shutdown_request(self, request):
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        request.close()

    def close_request(self, request):
        request.close()


class APIServer:
    """Serves `api` on each listener in a thread of its own until `close()`."""

    def __init__(self, listeners, api):
        self.api = api
        self.servers = [_Server(sock, api) for sock in listeners]
        self.threads = []

    def start(self):
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, name="fleet-api", daemon=True)
            thread.start()
            self.threads.append(thread)
            log.info("Serving the fleet API on %s", server.socket.getsockname() or "a socket")

    def close(self):
        for server in self.servers:
            server.shutdown()
