"""A throwaway certificate authority for mTLS between the local proxies.

Made with the openssl CLI at run time in the run's temp dir and deleted with it; nothing is
installed in the system trust store. Each identity gets an EC P-256 key (what Istio's CA issues
by default) and a certificate whose CN and DNS SAN is ``<identity>.rb.local``, which the peer
checks (`verify required` + `verifyhost` in haproxy).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from real_bench.errors import BenchError

DOMAIN = "rb.local"


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"openssl {args[0]} failed: {proc.stderr.strip()[:300]}")


class CertAuthority:
    """CA in `directory`; `issue(name)` returns a PEM file with cert + key for haproxy."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_cert = self.dir / "ca.pem"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/O=real-bench/CN=real-bench throwaway CA", cwd=self.dir)
        (self.dir / "ca.key").chmod(0o600)  # root only; removed with the run's temp dir

    def host(self, name: str) -> str:
        return f"{name}.{DOMAIN}"

    def issue(self, name: str) -> Path:
        host = self.host(name)
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={host}",
                 cwd=self.dir)
        ext = self.dir / f"{name}.ext"
        ext.write_text(f"subjectAltName=DNS:{host}\nextendedKeyUsage=serverAuth,clientAuth\n")
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", ext.name,
                 cwd=self.dir)
        bundle = self.dir / f"{name}.pem"  # haproxy wants cert + key in one file
        bundle.write_text((self.dir / f"{name}.crt").read_text()
                          + (self.dir / f"{name}.key").read_text())
        return bundle

    def key_and_cert(self, name: str) -> tuple[Path, Path]:
        """Separate key and certificate files of an issued identity (nghttpx wants both)."""
        return self.dir / f"{name}.key", self.dir / f"{name}.crt"
