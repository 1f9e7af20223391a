"""``crest serve`` and ``crest deploy``: the app in production.

``crest serve`` runs the app under gunicorn (the ``[app]`` extra) with the event worker as a
process of its own, and stops both together: the web processes only receive events (they
answer in milliseconds), the worker runs the handlers. ``crest deploy`` writes what a Debian
server needs around it: an nginx site (TLS, the body limit, access logs without query strings,
no ``X-Frame-Options``: the app sends its own per-portal ``frame-ancestors``), systemd units
for the web and the worker, and an environment file with fresh secrets (mode 0600).
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from crest.private_files import write_private_file

__all__ = ["deploy_command", "serve_command"]

#: gunicorn's access log without the query string, which may carry what the portal put there.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)ss'


def _router_of(app_spec: str) -> str:
    """``app:create_app()`` (gunicorn's form) -> ``app:create_app`` (the worker's)."""
    module, _, attr = app_spec.partition(":")
    return f"{module}:{attr.split('(', 1)[0]}"


@click.command("serve")
@click.option("--app", "app_spec", default="app:create_app()", show_default=True, help="gunicorn's app spec.")
@click.option("--workers", type=int, default=2, show_default=True, help="gunicorn worker processes.")
@click.option("--bind", default="127.0.0.1:8000", show_default=True, help="Address gunicorn listens on.")
@click.option("--router", default=None, help="The worker's --router (default: derived from --app).")
@click.option("--no-worker", is_flag=True, help="Only the web processes (run `crest worker` elsewhere).")
@click.option(
    "--lease", type=float, default=None, help="The worker's lease in seconds (crest worker --lease)."
)
def serve_command(
    app_spec: str, workers: int, bind: str, router: str | None, no_worker: bool, lease: float | None
) -> None:
    """Run the app under gunicorn and the event worker beside it, until SIGTERM or Ctrl-C."""
    # Web processes receive only; the app they import reads this through Settings.
    os.environ["CREST_EVENTS_WORKER"] = "off"
    web = [
        sys.executable, "-m", "gunicorn",
        "--workers", str(workers),
        "--bind", bind,
        "--access-logfile", "-",
        "--access-logformat", ACCESS_LOG_FORMAT,
        "--forwarded-allow-ips", "127.0.0.1",
        app_spec,
    ]  # fmt: skip
    commands = [("web", web)]
    if not no_worker:
        worker = [sys.executable, "-m", "crest.cli", "worker", "--router", router or _router_of(app_spec)]
        if lease is not None:
            worker += ["--lease", str(lease)]
        commands.append(("worker", worker))
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    children = {name: subprocess.Popen(cmd) for name, cmd in commands}
    click.echo(f"serving {app_spec} on {bind} ({', '.join(children)}); stop with Ctrl-C", err=True)
    failed = ""
    while not stop.wait(0.5):
        gone = [name for name, proc in children.items() if proc.poll() is not None]
        if gone:
            failed = f"{gone[0]} exited with {children[gone[0]].returncode}"
            break
    for proc in children.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in children.values():
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if failed:
        raise click.ClickException(f"{failed}; stopped the rest")
    click.echo("stopped", err=True)


def nginx_site(
    *, name: str, domain: str, upstream: str, cert: str, key: str, listen: str, http_port: int, log_dir: str
) -> str:
    redirect = (
        f"""
server {{
    listen {http_port};
    server_name {domain};
    access_log {log_dir}/{name}.access.log {name}_plain;
    return 301 https://$host$uri;
}}
"""
        if http_port
        else ""
    )
    return f"""# nginx site of {name}, written by `crest deploy`. Install it:
#   cp {name}.nginx.conf /etc/nginx/sites-available/{name}
#   ln -s /etc/nginx/sites-available/{name} /etc/nginx/sites-enabled/ && nginx -t && systemctl reload nginx

# No query strings in the access log: what the portal puts there (DOMAIN, APP_SID) is nobody's business.
log_format {name}_plain '$remote_addr [$time_local] "$request_method $uri $server_protocol" '
                        '$status $body_bytes_sent $request_time';
{redirect}
server {{
    listen {listen} ssl;
    server_name {domain};
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;

    access_log {log_dir}/{name}.access.log {name}_plain;
    error_log {log_dir}/{name}.error.log warn;

    # The app refuses bigger bodies itself (413); nginx stops them before they are read.
    client_max_body_size 1m;

    # No X-Frame-Options and no Content-Security-Policy here: the app sends one frame-ancestors
    # naming the installed portal, and any header added here would block the portal's iframe.
    location / {{
        proxy_pass http://{upstream};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto https;
        proxy_read_timeout 75s;
    }}
}}
"""


def _unit(description: str, *, user: str, app_dir: str, name: str, exec_start: str, extra: str = "") -> str:
    return f"""# systemd unit written by `crest deploy`: cp to /etc/systemd/system/, then
#   systemctl daemon-reload && systemctl enable --now {name}-web {name}-worker
[Unit]
Description={description}
After=network-online.target
Wants=network-online.target

[Service]
User={user}
WorkingDirectory={app_dir}
EnvironmentFile=/etc/{name}.env
{extra}ExecStart={exec_start}
Restart=always
RestartSec=2
UMask=0077
NoNewPrivileges=true
PrivateTmp=true
ProtectSystem=full

[Install]
WantedBy=multi-user.target
"""


@click.command("deploy")
@click.option("--domain", required=True, help="The app's public host name (what the portal opens).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("deploy"),
    show_default=True,
)
@click.option(
    "--name", default=None, help="Name of the site, units and env file (default: the app folder's name)."
)
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the app lives on the server (default: here).",
)
@click.option("--upstream", default="127.0.0.1:8000", show_default=True, help="Where crest serve listens.")
@click.option("--cert", default=None, help="TLS certificate (default: Let's Encrypt's path for --domain).")
@click.option("--key", default=None, help="TLS key (default: Let's Encrypt's path for --domain).")
@click.option("--listen", default="443", show_default=True, help="nginx's TLS listen address.")
@click.option(
    "--http-port", type=int, default=80, show_default=True, help="Port redirected to https (0: none)."
)
@click.option("--log-dir", default="/var/log/nginx", show_default=True)
@click.option("--user", default="www-data", show_default=True, help="The user the app runs as.")
@click.option("--workers", type=int, default=2, show_default=True)
def deploy_command(
    domain: str,
    out_dir: Path,
    name: str | None,
    app_dir: Path | None,
    upstream: str,
    cert: str | None,
    key: str | None,
    listen: str,
    http_port: int,
    log_dir: str,
    user: str,
    workers: int,
) -> None:
    """Write the nginx site, the systemd units and the environment file for a server."""
    where = (app_dir or Path.cwd()).resolve()
    site = name or where.name
    out_dir.mkdir(parents=True, exist_ok=True)
    crest = f"{where}/.venv/bin/crest"
    files = {
        f"{site}.nginx.conf": nginx_site(
            name=site,
            domain=domain,
            upstream=upstream,
            cert=cert or f"/etc/letsencrypt/live/{domain}/fullchain.pem",
            key=key or f"/etc/letsencrypt/live/{domain}/privkey.pem",
            listen=listen,
            http_port=http_port,
            log_dir=log_dir,
        ),
        f"{site}-web.service": _unit(
            f"{site}: web (gunicorn)",
            user=user,
            app_dir=str(where),
            name=site,
            exec_start=f"{crest} serve --app 'app:create_app()' --workers {workers} --bind {upstream} --no-worker",
        ),
        f"{site}-worker.service": _unit(
            f"{site}: event worker",
            user=user,
            app_dir=str(where),
            name=site,
            exec_start=f"{crest} worker --router app:create_app",
        ),
    }
    for filename, text in files.items():
        (out_dir / filename).write_text(text, encoding="utf-8")
    env = f"""# /etc/{site}.env (mode 0600): the app's secrets, read by both units. Fill in the first two
# from Bitrix24's Developer resources (your local application's client id and secret).
CREST_CLIENT_ID=
CREST_CLIENT_SECRET=
CREST_APP_BASE_URL=https://{domain}
CREST_SECRET_KEY={secrets.token_urlsafe(32)}
CREST_OPERATOR_KEY={secrets.token_urlsafe(24)}
CREST_STORE=sqlite:/var/lib/{site}/crest.sqlite
"""
    write_private_file(out_dir / f"{site}.env", env)
    for filename in [*files, f"{site}.env"]:
        click.echo(f"wrote {out_dir / filename}")
    click.echo(f"next: README, 'Deploy' (install the files, then `crest checkserver --url https://{domain}`)")
