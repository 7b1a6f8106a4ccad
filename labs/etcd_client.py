"""python-etcd's Client (etcd's v2 API) through an EtcdTunnel, as `cluster.etcd()` returns it.

Imported only when a notebook asks for an etcd client, so `labs` loads without python-etcd.
"""

from __future__ import annotations

import etcd

from labs.tunnels import EtcdTunnel


class _Headers:
    """A urllib3 response with the `getheader(s)` python-etcd 0.4.5 calls.

    urllib3 2.x deprecates them (the warnings would land in notebook outputs) and 2.6.0
    removed them; `.headers` works everywhere.
    """

    def __init__(self, response):
        self._response = response

    def __getattr__(self, name):
        return getattr(self._response, name)

    def getheader(self, name, default=None):
        return self._response.headers.get(name, default)

    def getheaders(self):
        return self._response.headers


class LabEtcdClient(etcd.Client):
    """python-etcd's Client on an EtcdTunnel; connection errors name the machines."""

    def __init__(self, tunnel: EtcdTunnel, read_timeout: float = 60, owns_tunnel: bool = False):
        self.tunnel = tunnel
        self._owns_tunnel = owns_tunnel
        super().__init__(host="127.0.0.1", port=tunnel.port, read_timeout=read_timeout,
                         allow_reconnect=False)

    @property
    def member(self) -> str:
        """The machine whose etcd answered last."""
        return self.tunnel.current

    def api_execute(self, path, method, params=None, timeout=None):
        try:
            return _Headers(super().api_execute(path, method, params=params, timeout=timeout))
        except etcd.EtcdWatchTimedOut:
            raise
        except etcd.EtcdConnectionFailed as error:
            detail = self.tunnel.last_failure or str(error)
            raise etcd.EtcdConnectionFailed(
                f"etcd did not answer through the SSH tunnel (last member: "
                f"{self.tunnel.current}; {detail}). If a machine was halted, the next call "
                f"uses another member; `lab status` shows what runs", cause=error) from error

    def _check_cluster_id(self, response):
        super()._check_cluster_id(_Headers(response))

    def __repr__(self) -> str:
        return f"<etcd client via SSH tunnel to {self.tunnel.current}>"

    def close(self) -> None:
        self.http.clear()
        if self._owns_tunnel:
            self.tunnel.close()

    def __del__(self):
        try:
            if self._owns_tunnel:
                self.tunnel.close()
        except Exception:
            pass
        try:
            super().__del__()
        except Exception:
            pass
