"""A python-etcd client over several endpoints, trying each in turn.

fleet's `etcd_servers` lists several URLs (default both 2379 and 4001 on
localhost). python-etcd's own reconnect drops a failed server for good, so a
fleetd would stay deaf after an etcd restart; here every request starts with
the last server that answered and falls back to the others.
"""

from urllib.parse import urlparse

import etcd
import urllib3


class FailoverClient:
    """read/write/delete/watch on the first endpoint that answers."""

    def __init__(self, endpoints, timeout, tls=None, username="", password=""):
        """`tls` (TLSFiles) applies to https:// endpoints; `username`/`password` to all."""
        if not endpoints:
            raise ValueError("no etcd endpoints given")
        self.endpoints = list(endpoints)
        self.timeout = timeout
        self._clients = [_client_for(url, timeout, tls, username, password) for url in self.endpoints]
        self._preferred = 0

    def read(self, key, **kwargs):
        return self._call("read", key, **kwargs)

    def write(self, key, value, **kwargs):
        return self._call("write", key, value, **kwargs)

    def delete(self, key, **kwargs):
        return self._call("delete", key, **kwargs)

    def _call(self, method, *args, **kwargs):
        last_error = None
        count = len(self._clients)
        for offset in range(count):
            index = (self._preferred + offset) % count
            try:
                result = getattr(self._clients[index], method)(*args, **kwargs)
            except etcd.EtcdWatchTimedOut:
                raise  # a quiet watch, not a dead server
            except etcd.EtcdConnectionFailed as error:
                last_error = error
                continue
            except (urllib3.exceptions.HTTPError, OSError) as error:
                last_error = etcd.EtcdConnectionFailed(str(error), cause=error)
                continue
            self._preferred = index
            return result
        raise last_error


def _client_for(url, timeout, tls, username, password):
    parsed = urlparse(url if "://" in url else "http://" + url)
    port = parsed.port or (443 if parsed.scheme == "https" else 2379)
    options = tls.etcd_client_options() if tls and parsed.scheme == "https" else {}
    if username:
        options.update(username=username, password=password)
    return etcd.Client(host=parsed.hostname or "127.0.0.1", port=port,
                       protocol=parsed.scheme or "http", read_timeout=timeout, **options)


def parse_endpoints(value):
    """`a,b` or `["a","b"]` (fleet accepts both) → list of URLs."""
    value = value.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [item.strip().strip('"').strip("'") for item in value.split(",") if item.strip().strip('"\'')]
