"""The nginx.conf stapel generates, checked by the real `nginx -t` (Debian's nginx-light): natively as stapel runs it
(-p, -e stderr, nothing under /etc/nginx or /var), and a broken one is refused (the check can fail)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from test_kinds_nginx_adminer import bins, stack_in, tmp_path  # noqa: F401 - fixtures

import validators
from stapel.components import nginx
from stapel.runtimes.native.runtime import NativeContext


def nginx_t(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([validators.required("nginx", "apt-get install nginx-light"), "-t", *argv[1:]],
                          capture_output=True, text=True, timeout=30, check=False)


def test_the_native_config_passes_nginx_t(tmp_path: Path, bins: Path) -> None:  # noqa: F811
    stack = stack_in(tmp_path, bins)
    node, ctx = stack.nodes["web"], NativeContext(stack)
    spec = nginx.native(node, ctx)
    nginx.prepare(node, ctx)
    done = nginx_t(spec.argv)
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr and "test is successful" in done.stderr
    conf = Path(spec.argv[4])
    conf.write_text(conf.read_text().replace("server_tokens off;", "server_tokens off;\n    proxy_passs x;"))
    done = nginx_t(spec.argv)
    assert done.returncode == 1 and 'unknown directive "proxy_passs"' in done.stderr
