"""`lvcd ui`: a browser page over one shot manifest (keyframes per shot, previews, renders and their progress).

FastAPI + uvicorn + one static page (plain HTML/JS/CSS in `static/`, no build step), installed with the optional
extra `pip install lvcd[ui]`. `project.py` holds everything the page reads and changes (through lvcd.shots' own
manifest code), `jobs.py` the background renders, `app.py` the HTTP API. Nothing here is imported by the rest of
lvcd.
"""

from __future__ import annotations

import ipaddress
import os

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def missing_extra_message(e: ImportError) -> str:
    return (
        f"`lvcd ui` needs the optional packages of the ui extra ({e.name} is missing); install them with "
        "`pip install 'lvcd[ui]'`"
    )


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(
    manifest: str | os.PathLike, *, host: str = "127.0.0.1", port: int = 7860, work=None, log_level: str = "warning"
) -> None:
    """Serve the page for `manifest` until interrupted."""
    import uvicorn

    from .app import create_app

    app = create_app(manifest, work=work, local_only=is_loopback(host))
    uvicorn.run(app, host=host, port=port, log_level=log_level)
