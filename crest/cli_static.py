"""``crest static-app new DIR`` and ``crest static-app build DIR --out app.zip``."""

from __future__ import annotations

import click

from crest.static_app import BX24_URLS, LOCAL_BX24_URL, StaticAppError, build, new

__all__ = ["static_app_group"]


@click.group("static-app")
def static_app_group() -> None:
    """Static local applications: HTML and JavaScript the portal hosts itself."""


@click.command("new")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option("--title", default="My static app", show_default=True, help="The app's page title.")
@click.option("--no-install", is_flag=True, help="Leave out install.html (the app is installed at once).")
@click.option(
    "--bx24-url",
    type=click.Choice(sorted(BX24_URLS)),
    default=LOCAL_BX24_URL,
    show_default=True,
    help="Where the pages load BX24 from (the local portal's path, or Bitrix24's).",
)
def new_command(directory: str, title: str, no_install: bool, bx24_url: str) -> None:
    """Write a starter app: index.html shows the current user's name; install.html finishes the install."""
    try:
        written = new(directory, title=title, install=not no_install, bx24_url=bx24_url)
    except StaticAppError as exc:
        raise click.ClickException(str(exc)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"next: crest static-app build {directory} --out app.zip")


@click.command("build")
@click.argument("directory", type=click.Path(exists=True, file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The archive to write (app.zip).")
def build_command(directory: str, out: str) -> None:
    """Check the app in DIRECTORY (index.html, relative links, size limits) and zip it for upload."""
    try:
        result = build(directory, out)
    except StaticAppError as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise click.ClickException(f"{len(exc.problems)} problem(s); no archive written") from None
    for name in result.skipped:
        click.echo(f"skipped {name}", err=True)
    click.echo(
        f"{result.out}: {result.files} files, {result.total_bytes} bytes "
        f"({result.archive_bytes} zipped); upload it on the portal's Developer resources page"
    )


static_app_group.add_command(new_command)
static_app_group.add_command(build_command)
