"""TLS client files for etcd and fleet's API: fleetctl's --ca-file/--cert-file/--key-file
and fleetd's etcd_cafile/etcd_certfile/etcd_keyfile (upstream pkg.ReadTLSConfigFiles)."""

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSFiles:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""

    def __bool__(self):
        return bool(self.ca_file or self.cert_file or self.key_file)

    def ssl_context(self):
        """Verify the server against ca_file (else the system's CAs); present cert/key if given."""
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or None)
        return context

    def etcd_client_options(self):
        """The same, as python-etcd's Client takes it."""
        options = {}
        if self.ca_file:
            options["ca_cert"] = self.ca_file
        if self.cert_file:
            options["cert"] = (self.cert_file, self.key_file) if self.key_file else self.cert_file
        return options
