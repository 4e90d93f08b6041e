"""The FastAPI app behind `lvcd ui`: one static page and a JSON API under /api over one manifest (`Project`).

    GET    /api/shots                                  the manifest's shots, keyframes, options, status
    GET    /api/progress                               per-shot status (from the status files) and the render job
    GET    /api/frames/{frame}.png?kind=line|color&width=N   a frame (lineart, or its colour) as a thumbnail
    GET    /api/shots/{shot}/keyframes/{frame}/image   a keyframe image named by the manifest
    POST   /api/shots/{shot}/keyframes                 multipart `file` (+ `frame`, `mode` replace|add): upload
    DELETE /api/shots/{shot}/keyframes/{frame}         remove a keyframe
    PATCH  /api/shots/{shot}/options                   JSON {option: value | null}
    POST   /api/shots/{shot}/preview                   colour the shot's first window
    POST   /api/render                                 JSON {"shots": [..]} (none: every shot + the assembled video)
    GET    /api/download/shots/{shot}.zip              a finished shot's PNG frames
    GET    /api/download/video                         the assembled video

Errors are JSON `{"error": "...", "problems": [...]}` with a 4xx status; the message names the input and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ._shots import ManifestError
from .jobs import Renderer
from .project import Project, UIError

STATIC = Path(__file__).parent / "static"
FORM_OVERHEAD = 64 << 10  # multipart headers and the small fields around the file


CSRF_HEADER = "x-lvcd"  # every change must carry it: a form on another web site cannot send it (CORS preflight)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def create_app(
    manifest: str | os.PathLike | Project, *, work: str | os.PathLike | None = None, local_only: bool = True
) -> FastAPI:
    """The app for one manifest. `local_only`: answer only requests addressed to this machine by a loopback name
    (a web page cannot reach the API through DNS rebinding)."""
    project = manifest if isinstance(manifest, Project) else Project(manifest, work=work)
    renderer = Renderer(project)
    app = FastAPI(title="lvcd", docs_url="/api/docs", redoc_url=None, openapi_url="/api/openapi.json")
    app.state.project, app.state.renderer = project, renderer

    @app.middleware("http")
    async def _guard(request: Request, call_next):
        host = request.headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if local_only and name not in LOCAL_HOSTS:
            return JSONResponse(
                {
                    "error": f"this lvcd ui serves 127.0.0.1 only, not {host!r}; open "
                    "http://localhost:PORT/ (or start it with --host)",
                    "problems": [],
                },
                status_code=421,
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and request.headers.get(CSRF_HEADER) != "1":
            return JSONResponse(
                {
                    "error": f"changes need the `{CSRF_HEADER}: 1` header (the page sends it; a form on "
                    "another site cannot)",
                    "problems": [],
                },
                status_code=403,
            )
        return await call_next(request)

    @app.exception_handler(UIError)
    async def _ui_error(request: Request, e: UIError):
        return JSONResponse({"error": e.message, "problems": e.problems}, status_code=e.status)

    @app.exception_handler(ManifestError)
    async def _manifest_error(request: Request, e: ManifestError):
        return JSONResponse(
            {
                "error": f"{project.path.name} is not a valid manifest; fix it in a text editor (the "
                "page reloads it by itself)",
                "problems": e.problems,
            },
            status_code=422,
        )

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/shots")
    def shots():
        return {**project.describe(), "job": renderer.progress()["job"]}

    @app.get("/api/progress")
    def progress():
        return renderer.progress()

    @app.get("/api/frames/{frame}.png")
    def frame_png(frame: int, kind: str = "line", width: int = 320):
        data = project.frame_png(frame, kind, width)
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-cache"})

    @app.get("/api/shots/{shot}/keyframes/{frame}/image")
    def keyframe_image(shot: str, frame: int):
        return FileResponse(project.keyframe_file(shot, frame), headers={"Cache-Control": "no-cache"})

    @app.post("/api/shots/{shot}/keyframes")
    async def upload_keyframe(shot: str, request: Request):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > project.max_upload + FORM_OVERHEAD:
            raise UIError(
                413,
                f"the upload is {int(length) / 2**20:.1f} MB; the limit is "
                f"{project.max_upload / 2**20:.0f} MB (export the keyframe as PNG at the frame size)",
            )
        try:
            form = await request.form()
        except Exception as e:  # malformed multipart
            raise UIError(
                400, f"could not read the upload ({e}); send multipart/form-data with a `file` field"
            ) from None
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise UIError(400, "the upload has no `file` field; send the coloured keyframe image as `file`")
        data = await file.read(project.max_upload + 1)
        if len(data) > project.max_upload:
            raise UIError(
                413,
                f"{file.filename!r} is too large: the limit is {project.max_upload / 2**20:.0f} MB "
                "(export the keyframe as PNG at the frame size)",
            )
        frame = form.get("frame") or None
        mode = str(form.get("mode") or "replace")
        return await run_in_threadpool(
            project.set_keyframe, shot, data, file.filename, str(frame) if frame is not None else None, mode=mode
        )

    @app.delete("/api/shots/{shot}/keyframes/{frame}")
    def remove_keyframe(shot: str, frame: int):
        return project.remove_keyframe(shot, frame)

    @app.patch("/api/shots/{shot}/options")
    async def set_options(shot: str, request: Request):
        try:
            body = await request.json()
        except ValueError:
            raise UIError(400, 'send the options as a JSON object, e.g. {"backend": "bucket"}') from None
        return await run_in_threadpool(project.set_options, shot, body)

    @app.post("/api/shots/{shot}/preview")
    def preview(shot: str):
        return project.preview(shot)

    @app.post("/api/render")
    async def render(request: Request):
        body = {}
        if (await request.body()).strip():
            try:
                body = await request.json()
            except ValueError:
                raise UIError(400, 'send {"shots": [names]} as JSON (or nothing, to render every shot)') from None
        shots = body.get("shots") if isinstance(body, dict) else None
        if shots is not None and (not isinstance(shots, list) or not all(isinstance(s, str) for s in shots)):
            raise UIError(400, "`shots` must be a list of shot names")
        return await run_in_threadpool(renderer.start, shots)

    @app.get("/api/download/shots/{shot}.zip")
    def download_shot(shot: str):
        data, filename = project.shot_zip(shot)
        return Response(
            data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )

    @app.get("/api/download/video")
    def download_video():
        out = project.output_path()
        if not out.is_file():
            raise UIError(404, f"{out.name} is not assembled yet; press render all")
        return FileResponse(out, filename=out.name)

    return app
