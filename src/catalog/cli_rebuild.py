"""`tandem rebuild NAME`: a blue/green rebuild on a running server, with live progress."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from catalog.cli_options import SERVER_URL, ServerUrl
from catalog.settings import Settings
from catalog.tokens import admin_token

if TYPE_CHECKING:
    import httpx

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def rebuild(
        name: Annotated[str, typer.Argument(help="The read model, e.g. product_search.")],
        url: ServerUrl = SERVER_URL,
        cancel: Annotated[bool, typer.Option(help="Cancel a running rebuild instead.")] = False,
    ) -> None:
        """Fold a new copy of a read model from position 0 beside the live one; reads
        switch to it once it has caught up (the server keeps serving meanwhile)."""
        import httpx  # here, not at the top: `tandem serve`'s supervisor needs none of it

        settings = Settings.from_env()
        token, _ = admin_token(settings.admin_token, settings.data_dir)
        path = f"{url.rstrip('/')}/admin/projections/{name}/rebuild"
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
            try:
                response = client.delete(path) if cancel else client.post(path)
            except httpx.HTTPError as exc:
                raise typer.BadParameter(f"no server answers at {url}: {exc}") from exc
            if response.status_code >= 400:
                detail = response.json().get("detail", response.text)
                raise typer.BadParameter(str(detail))
            if cancel:
                console.print(f"rebuild of {name} cancelled")
                return
            state = _follow(client, path, name)
        if state["state"] != "switched":
            console.print(f"[red]rebuild of {name} {state['state']}[/]: {state.get('error')}")
            raise typer.Exit(1)
        console.print(
            f"{name} switched to {state['target']} at {state['checkpoint']}"
            f" ({state['events_per_s']:,.0f} events/s)"
        )


def _follow(client: httpx.Client, path: str, name: str) -> dict[str, object]:
    """Show the rebuild's progress until it ends. Percent, not positions: on PostgreSQL a
    position is a transaction id, so the server counts the events behind each."""
    with Progress(
        TextColumn(f"[bold]rebuilding {name}[/bold]"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TextColumn("{task.fields[rate]} events/s"),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("rebuild", total=100, rate="0")
        while True:
            state: dict[str, object] = client.get(path).json()
            progress.update(
                task,
                completed=float(str(state["percent"])),
                rate=f"{float(str(state['events_per_s'])):,.0f}",
            )
            if state["state"] != "running":
                return state
            time.sleep(0.2)
