"""TLS for the TCP listeners: server credentials from the config's files, rotated on reload.

grpc's dynamic SSL credentials ask a fetcher for a new certificate configuration before every
new connection (`grpc.dynamic_ssl_server_credentials`); the fetcher answers None ("keep the
current one") until `reload` has read new files, then hands them over once. So a reload swaps
the certificate, key and client CA for new connections without closing the listeners, and
connections already open keep the session they negotiated.

Whether client certificates are required is fixed when the listener is made: switching mutual
TLS on or off (adding or removing `client_ca_file`) is refused by a reload and needs a restart.
"""

from __future__ import annotations

import ssl
import threading

import grpc

from photond.security.settings import SecurityConfigError, TlsFiles


def _read(path: object, key: str) -> bytes:
    try:
        with open(str(path), "rb") as f:
            return f.read()
    except OSError as exc:
        raise SecurityConfigError(
            f"security.tls.{key}: cannot read {path}: {exc.strerror}"
        ) from None


def load_certificate_configuration(files: TlsFiles) -> grpc.ServerCertificateConfiguration:
    """Read and check the files: the key must match the certificate, the CA file must parse.

    Checked with the standard library's TLS here, so a wrong file is refused with the key's
    name at start-up or reload, not found out at the first client's handshake.
    """
    cert = _read(files.cert_file, "cert_file")
    key = _read(files.key_file, "key_file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(files.cert_file), str(files.key_file))
    except ssl.SSLError as exc:
        raise SecurityConfigError(
            f"security.tls: {files.cert_file} and {files.key_file} are not a certificate and its "
            f"private key in PEM ({exc.reason or exc})"
        ) from None
    root = None
    if files.client_ca_file is not None:
        root = _read(files.client_ca_file, "client_ca_file")
        try:
            context.load_verify_locations(cafile=str(files.client_ca_file))
        except ssl.SSLError as exc:
            raise SecurityConfigError(
                f"security.tls.client_ca_file: {files.client_ca_file} holds no PEM certificate "
                f"({exc.reason or exc})"
            ) from None
    return grpc.ssl_server_certificate_configuration([(key, cert)], root_certificates=root)


class ServerTls:
    """The TLS state of the TCP listeners: one credentials object, new files on reload."""

    def __init__(self, files: TlsFiles) -> None:
        self.files = files
        self._initial = load_certificate_configuration(files)
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._lock = threading.Lock()
        self.credentials = grpc.dynamic_ssl_server_credentials(
            self._initial,
            self._fetch,  # type: ignore[arg-type]  # grpc-stubs omit "None: keep the current"
            require_client_authentication=files.client_ca_file is not None,
        )

    @property
    def mutual(self) -> bool:
        return self.files.client_ca_file is not None

    def check_reload(self, files: TlsFiles | None) -> grpc.ServerCertificateConfiguration:
        """The new files' configuration, or SecurityConfigError when a reload cannot apply it."""
        if files is None:
            raise SecurityConfigError(
                "security.tls: removing TLS from listeners that have it needs a restart"
            )
        if (files.client_ca_file is not None) != self.mutual:
            raise SecurityConfigError(
                "security.tls.client_ca_file: switching mutual TLS on or off needs a restart"
            )
        return load_certificate_configuration(files)

    def apply(self, files: TlsFiles, configuration: grpc.ServerCertificateConfiguration) -> None:
        """Use `configuration` (from `check_reload`) for every connection from now on."""
        with self._lock:
            self.files = files
            self._pending = configuration

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by gRPC's core before each new connection: None keeps the current files.
        with self._lock:
            configuration, self._pending = self._pending, None
        return configuration
