"""HTTP for webhooks: connect only to the address that was checked, follow no redirect.

urllib3 resolves a host when it opens a connection. Here the connection classes resolve
it themselves through addresses.checked_addresses and connect to one of those checked
addresses, so no second lookup can return another (private) address between the check
and the connect. TLS still verifies the certificate for the URL's host name (urllib3
uses `host` for SNI and the hostname check, not the address connected to).
"""

from __future__ import annotations

import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from notifications import addresses


class _CheckedAddressMixin(HTTPConnection):
    """Resolve, check, and connect to a checked address; a refusal is not retried."""

    def _new_conn(self) -> socket.socket:
        checked = addresses.checked_addresses(self._dns_host, self.port)  # AddressRefused
        last_error: OSError | None = None
        for address in checked:
            try:
                sock = socket.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address
                )
            except TimeoutError as error:
                raise ConnectTimeoutError(
                    self, f"Connection to {self.host} timed out (connect timeout={self.timeout})"
                ) from error
            except OSError as error:
                last_error = error
                continue
            for option in self.socket_options or ():
                sock.setsockopt(*option)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class CheckedHTTPConnection(_CheckedAddressMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedAddressMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAddressAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": CheckedHTTPConnectionPool,
            "https": CheckedHTTPSConnectionPool,
        }


def session() -> requests.Session:
    """A session that reaches only checked addresses and ignores proxy variables (a proxy
    would do its own lookup, and reach whatever it can)."""
    http = requests.Session()
    http.trust_env = False
    adapter = CheckedAddressAdapter(max_retries=0)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http
