"""``python -m deploy.validate [ROOT]``: validate the deployment files offline; exit 1 on problems."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from deploy.validate import validate_all
from deploy.validate.errors import DeployCheckError


@click.command()
@click.argument("root", type=click.Path(exists=True, file_okay=False, path_type=Path), default=".")
def main(root: Path) -> None:
    """Check docker-compose.yml, deploy/ and their agreement with the code under ROOT (default: .)."""
    try:
        problems = validate_all(root)
    except DeployCheckError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    for problem in problems:
        click.echo(str(problem))
    click.echo(f"{len(problems)} problem(s)" if problems else "deploy files valid")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
