"""`fleetd`: the daemon every machine runs (fleet.service).

Configuration comes from /etc/fleet/fleet.conf (or --config) overridden by
FLEET_* environment variables. SIGTERM/SIGINT stop it gracefully with a purge;
SIGHUP reloads the configuration and rebuilds the server; SIGUSR1 dumps its
state as JSON to stdout.
"""

import argparse
import json
import logging
import signal
import sys
import threading

from . import api
from .config import DEFAULT_CONFIG_PATH, ConfigError, load_config
from .etcdclient import FailoverClient
from .machine import MACHINE_ID_PATH, MachineIDError, detect_public_ip, local_machine_state
from .registry import Registry
from .schema import FLEET_VERSION
from .server import Server
from .systemd import SystemctlManager
from .tls import TLSFiles


def build_registry(config):
    """fleet's keys in the etcd of `etcd_servers`, with its TLS files and credentials."""
    tls = TLSFiles(config.etcd_cafile, config.etcd_certfile, config.etcd_keyfile)
    client = FailoverClient(config.etcd_servers, config.etcd_request_timeout, tls,
                            config.etcd_username, config.etcd_password)
    return Registry(client, config.etcd_key_prefix)


def config_problems(config):
    """Settings fleetd takes but does not act on, each said in the log (never silently dropped)."""
    problems = ["Config option %s is no longer supported - ignoring" % name
                for name, value in (("verify_units", config.verify_units),
                                    ("authorized_keys_file", config.authorized_keys_file)) if value]
    if config.enable_grpc:
        problems.append("Config option enable_grpc is not supported by this fleet (no gRPC registry) - ignoring")
    tls = config.etcd_cafile or config.etcd_certfile or config.etcd_keyfile
    if tls and not any(url.startswith("https://") for url in config.etcd_servers):
        problems.append("Config options etcd_cafile, etcd_certfile and etcd_keyfile secure https:// etcd_servers "
                        "only; none of %s is one" % ",".join(config.etcd_servers))
    return problems


def build_server(config, machine_id_path=MACHINE_ID_PATH):
    machine = local_machine_state(config, machine_id_path)
    refresh = None if config.public_ip else (lambda: local_machine_state(config, machine_id_path, detect_public_ip))
    systemd = SystemctlManager(config.units_directory, user=config.systemd_user)
    return Server(config, build_registry(config), systemd, machine, refresh)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fleetd")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help="Path to config file")
    parser.add_argument("--version", action="store_true", help="Print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        print("fleetd version %s" % FLEET_VERSION)
        return 0

    events = {"stop": threading.Event(), "reload": threading.Event()}
    wake = threading.Event()

    def on_signal(signum, _frame):
        if signum == signal.SIGUSR1:
            events.setdefault("dump", threading.Event()).set()
        else:
            events["reload" if signum == signal.SIGHUP else "stop"].set()
        wake.set()
        if server is not None and signum in (signal.SIGTERM, signal.SIGINT):
            server.stopping.set()  # also interrupts a registration still retrying

    server = None
    resuming = False
    http_api = api.API()
    listeners = api.listeners_from_env()
    api_server = api.APIServer(listeners, http_api) if listeners else None
    if api_server is not None:
        api_server.start()  # answers 503 until the server has registered
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(signum, on_signal)

    while True:
        try:
            config = load_config(args.config)
        except ConfigError as error:
            print("Failed loading config: %s" % error, file=sys.stderr)
            return 1
        logging.basicConfig(level=logging.DEBUG if config.verbosity > 0 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr, force=True)
        for problem in config_problems(config):
            logging.getLogger("fleet").error("%s", problem)
        try:
            server = build_server(config)
        except MachineIDError as error:
            logging.getLogger("fleet").error("%s", error)
            return 1
        logging.getLogger("fleet").info("Starting fleetd version %s", FLEET_VERSION)
        http_api.backend = server
        http_api.token_limit = config.token_limit
        server.start(resuming=resuming)
        while not (events["stop"].is_set() or events["reload"].is_set()):
            wake.wait()
            wake.clear()
            if events.get("dump") is not None and events["dump"].is_set():
                events["dump"].clear()
                print(json.dumps(server.dump_state(), indent=2), flush=True)
        if events["stop"].is_set():
            logging.getLogger("fleet").info("Gracefully shutting down")
            server.stop(purge=True)
            return 0
        events["reload"].clear()
        logging.getLogger("fleet").info("Reloading configuration")
        server.stop(purge=False)
        resuming = True


if __name__ == "__main__":
    sys.exit(main())
