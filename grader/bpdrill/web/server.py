"""`bpdrill serve`: the kit as a local web page (Starlette, served by uvicorn; the `web` extra).

Security, as Jupyter's server does it: the server listens on 127.0.0.1 only; a random token
is in the address it prints, and every request must carry it (`?token=` in the address, or
the X-Bpdrill-Token header); a request that changes anything (save, check, hint, drill) must
carry it in the header, which no cross-site form or image can set, and a cross-site script
cannot send without a CORS permission this server never gives; a Host header that is not
this address is refused (DNS rebinding).

The page edits the workspace file itself, so the page and the terminal see each other's saves
(watchfiles reports a save to the page as it happens). A save from the page names the
content it started from; when the file changed since, the save is refused and the page says
so (a stale page never overwrites), and "keep mine" keeps the file's version in .attempts/
first. Checks run through practice.checking, that is grading.runner's isolated workers: no
learner code ever runs in the server's process.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import socket
import threading
from importlib import resources
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response, \
    StreamingResponse
from starlette.routing import Route

from bpdrill import catalog, i18n
from bpdrill.grading import formats
from bpdrill.grading.report import diagnosis_text
from bpdrill.i18n import t
from bpdrill.practice import checking, drill, history, interview, workspace
from bpdrill.practice.overview import exercise_rows

HEADER = "x-bpdrill-token"
STATIC = resources.files("bpdrill.web").joinpath("static")
SAFE_METHODS = ("GET", "HEAD")


def page_strings() -> dict:
    """Every sentence the page shows, in the learner's language."""
    return {
        "exercises": t("Exercises"), "exercise": t("exercise"), "level": t("level"), "status": t("status"),
        "best score": t("best score"), "best time": t("best time"), "title": t("title"),
        "passes_now": t("passes now"), "solved_before": t("solved before"), "not_started": t("not started"),
        "in_progress": t("in progress"), "check": t("Check"), "save": t("Save"), "hint": t("Hint"),
        "drill": t("Drill"), "interview": t("Interview"), "back": t("All exercises"),
        "saved": t("saved"), "unsaved": t("unsaved changes"), "checking": t("checking ..."),
        "changed": t("The file changed on disk (another editor or the terminal) while you edited here."),
        "load": t("Load the file"), "keep mine": t("Keep mine (the file's version is kept in .attempts/)"),
        "reloaded": t("loaded the file as saved elsewhere"), "history": t("Time to green, drill by drill"),
        "no history": t("No solved drill yet: start one with Drill."),
        "confirm drill": t("A fresh skeleton replaces the file (your attempt is kept in .attempts/). Start?"),
        "interview on": t("Interview mode: a blank page, no hints; diagnoses name the mistake, not the fix."),
        "keys": t("Ctrl+Enter checks, Ctrl+S saves"), "limit": t("limit"), "seconds": t("seconds"),
        "error": t("error"),
    }


class TokenGate:
    """Refuses every request without the token, with a foreign Host, or (when it changes
    anything) without the token in its header or from a foreign Origin."""

    def __init__(self, app, token: str, port: int):
        self.app, self.token = app, token
        self.hosts = {f"127.0.0.1:{port}", f"localhost:{port}"}
        self.origins = {f"http://{host}" for host in self.hosts}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        reason = self.refusal(request)
        if reason is not None:
            return await PlainTextResponse(reason, status_code=403)(scope, receive, send)
        return await self.app(scope, receive, send)

    def refusal(self, request: Request) -> str | None:
        if request.headers.get("host", "") not in self.hosts:
            return t("refused: this server answers only at 127.0.0.1")
        in_header = _same(request.headers.get(HEADER, ""), self.token)
        if request.method in SAFE_METHODS:
            if in_header or _same(request.query_params.get("token", ""), self.token):
                return None
            return t("refused: the address needs the token that `bpdrill serve` printed")
        origin = request.headers.get("origin")
        if not in_header or (origin is not None and origin not in self.origins):
            return t("refused: a change needs the page's token in its header")
        return None


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


class Kit:
    """The workspace the page serves, and one check at a time (a check uses every core)."""

    def __init__(self, ws: Path, token: str):
        self.ws, self.token = ws, token
        self.grading = threading.Lock()

    def history(self) -> history.History:
        return history.History.open()

    # ---- what the page reads --------------------------------------------------------------
    def overview(self) -> dict:
        hist = self.history()
        try:
            return {"workspace": str(self.ws), "exercises": exercise_rows(hist, self.ws)}
        finally:
            hist.close()

    def exercise(self, name: str) -> dict:
        ex = catalog.get(name)
        lang = i18n.language()
        path = self.ws / ex.filename
        text = _text(self.ws, path)
        hist = self.history()
        try:
            running = hist.active_drill(str(self.ws))
            mine = running if running is not None and running.exercise == name else None
            in_interview = interview.is_interview(hist, mine)
            drills = [{"started": d.started, "green_seconds": d.green_seconds, "limit_seconds": d.limit_seconds,
                       "interview": d.id in interview.drill_ids(hist)}
                      for d in hist.drills(name, str(self.ws))]
        finally:
            hist.close()
        return {"name": name, "title": ex.text("title", lang), "task": ex.text("task", lang),
                "file": str(path), "text": text, "hash": workspace.content_hash(path),
                "hints": 0 if in_interview else len(ex.hints), "interview": in_interview,
                "minutes": ex.minutes, "clock": _clock(mine), "drills": drills}

    # ---- what the page changes ------------------------------------------------------------
    def save(self, name: str, text: str, base: str | None, force: bool) -> dict | None:
        """Write text if the file is still base (or force: the file's version kept first).
        None when written; else the file as it is now (a conflict)."""
        path = self.ws / f"{name}.py"
        now = workspace.content_hash(path)
        if now != base and not force:
            return {"text": _text(self.ws, path), "hash": now}
        workspace.save(self.ws, name, text.encode("utf-8"), keep=now != base)
        return None

    def check(self, name: str) -> dict:
        with self.grading:
            hist = self.history()
            try:
                done = checking.check(self.ws, [name], hist)
            finally:
                hist.close()
        # Each diagnosis at its line, said as the report says it (in interview mode: the mistake
        # and its place, never the fix).
        marks = [{"line": c.diagnosis.line, "message": f"{c.shown or c.name}: {diagnosis_text(c.diagnosis, done.interview)}"}
                 for e in done.report.exercises for c in e.checks
                 if not c.passed and c.diagnosis is not None and c.diagnosis.line]
        return {"report": done.report.to_json(), "html": formats.html_table(done.report, plain=done.interview),
                "marks": marks, "clock": done.clock, "interview": done.interview,
                "hash": workspace.content_hash(self.ws / f"{name}.py")}

    def hint(self, name: str) -> tuple[int, dict]:
        ex = catalog.get(name)
        hist = self.history()
        try:
            if interview.active(hist, self.ws, name) is not None:
                return 403, {"error": t("no hints in an interview drill: an interviewer gives none. Practise {name} "
                                        "with hints in a plain `bpdrill drill {name}`", name=name)}
            if not ex.hints:
                return 404, {"error": t("no hints are written for {name} yet", name=name)}
            level = hist.next_hint_level(name, str(self.ws), len(ex.hints)) or 1
        finally:
            hist.close()
        return 200, {"level": level, "deepest": len(ex.hints), "text": ex.hint(level, i18n.language()),
                     "heading": t("Hint {level}/{deepest} for {name}:", level=level, deepest=len(ex.hints),
                                  name=name)}

    def start_drill(self, name: str, blank_page: bool) -> dict:
        hist = self.history()
        try:
            started = (interview.start if blank_page else drill.start)(hist, self.ws, name, None)
        finally:
            hist.close()
        return {"kept": str(started.kept) if started.kept else None}


def _text(ws: Path, path: Path) -> str:
    """The learner's file as the editor shows it ("" when missing); read defensively (a FIFO or
    a link out of the workspace is a WorkspaceError, never a hang)."""
    try:
        return workspace.read_file(path, ws).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _clock(running) -> dict | None:
    if running is None:
        return None
    return {"elapsed_seconds": running.elapsed(), "limit_seconds": running.limit_seconds,
            "solved": running.solved, "time_to_green_seconds": running.green_seconds,
            "line": drill.clock_line(running)}


def create_app(ws: Path, token: str, port: int):
    kit = Kit(ws, token)

    def known(request: Request) -> str | None:
        name = request.path_params["name"].lower()
        return name if name in catalog.names() else None

    async def page(request: Request):
        html = STATIC.joinpath("index.html").read_text(encoding="utf-8")
        html = html.replace("{{TOKEN}}", token).replace("{{LANG}}", i18n.language())
        html = html.replace("{{STRINGS}}", json.dumps(page_strings(), ensure_ascii=False).replace("</", "<\\/"))
        return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                                           # never inside another site's frame (clickjacking)
                                           "X-Frame-Options": "DENY",
                                           "Content-Security-Policy": "frame-ancestors 'none'"})

    async def static(request: Request):
        name = request.path_params["file"]
        if name not in ("editor.js", "app.js", "style.css", "editor.LICENSES.txt"):
            return PlainTextResponse("", status_code=404)
        return FileResponse(str(STATIC.joinpath(name)))

    async def overview(request: Request):
        return JSONResponse(await run_in_threadpool(kit.overview))

    def per_exercise(answer):
        """A route about one exercise: answer(request, name) for a name the catalog knows, a 404
        naming it otherwise; a WorkspaceError (a FIFO, a link out of the workspace) is a 500 that
        says it."""
        async def route(request: Request):
            name = known(request)
            if name is None:
                return JSONResponse({"error": t("unknown exercise {name!r}", name=request.path_params["name"])}, 404)
            try:
                return await answer(request, name)
            except workspace.WorkspaceError as exc:
                return JSONResponse({"error": str(exc)}, 500)
        return route

    @per_exercise
    async def exercise(request: Request, name: str):
        return JSONResponse(await run_in_threadpool(kit.exercise, name))

    @per_exercise
    async def save(request: Request, name: str):
        body = await _body(request)
        if not isinstance(body.get("text"), str):
            return JSONResponse({"error": "text"}, 400)
        conflict = await run_in_threadpool(kit.save, name, body["text"], body.get("base"), bool(body.get("force")))
        if conflict is not None:
            return JSONResponse(conflict, 409)
        return JSONResponse({"hash": workspace.content_hash(ws / f"{name}.py")})

    @per_exercise
    async def check(request: Request, name: str):
        return JSONResponse(await run_in_threadpool(kit.check, name))

    @per_exercise
    async def hint(request: Request, name: str):
        status, body = await run_in_threadpool(kit.hint, name)
        return JSONResponse(body, status)

    @per_exercise
    async def start_drill(request: Request, name: str):
        body = await _body(request)
        return JSONResponse(await run_in_threadpool(kit.start_drill, name, bool(body.get("interview"))))

    async def events(request: Request):
        """Server-sent events: the file's hash whenever it changes on disk (watchfiles)."""
        name = known(request)
        if name is None:
            return Response(status_code=404)
        return StreamingResponse(_changes(request, ws, name), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", page),
        Route("/static/{file}", static),
        Route("/api/exercises", overview),
        Route("/api/exercises/{name}", exercise),
        Route("/api/exercises/{name}/file", save, methods=["PUT"]),
        Route("/api/exercises/{name}/check", check, methods=["POST"]),
        Route("/api/exercises/{name}/hint", hint, methods=["POST"]),
        Route("/api/exercises/{name}/drill", start_drill, methods=["POST"]),
        Route("/api/exercises/{name}/events", events),
    ]
    return TokenGate(Starlette(routes=routes), token, port)


async def _body(request: Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _changes(request: Request, ws: Path, name: str):
    """The file's new hash after each change that settles, until the page goes away."""
    import watchfiles

    path = ws / f"{name}.py"
    stop = asyncio.Event()
    last = workspace.content_hash(path)
    yield f"data: {json.dumps({'hash': last})}\n\n"

    async def watch_disconnect():
        while not await request.is_disconnected():
            await asyncio.sleep(0.5)
        stop.set()

    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        # The folder, not the file: editors save by writing a new file and renaming it over the
        # old one. Every second without a change the content is compared all the same, so a
        # save made while the watcher was starting is not missed.
        async for _ in watchfiles.awatch(ws, watch_filter=lambda change, where: Path(where).name == path.name,
                                         stop_event=stop, debounce=100, step=20, recursive=False,
                                         rust_timeout=1000, yield_on_timeout=True):
            now = workspace.content_hash(path)
            if now != last:
                last = now
                yield f"data: {json.dumps({'hash': now})}\n\n"
    finally:
        watcher.cancel()


def serve(ws: Path, port: int = 0, open_browser: bool = False, echo=print) -> None:
    """Serve ws on 127.0.0.1:port (0: a free port) until Ctrl-C. OSError when the port is taken."""
    import uvicorn

    token = secrets.token_urlsafe(24)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))  # never another interface
    sock.listen(128)  # from now on a visit waits for the server instead of being refused
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/?token={token}"
    echo(t("bpdrill serves the workspace {path} at", path=ws))
    echo(f"    {url}")
    echo(t("only this computer can open it, and only with the token; Ctrl-C stops"))
    if open_browser:
        import webbrowser
        webbrowser.open(url)
    config = uvicorn.Config(create_app(ws, token, port), log_level="warning", lifespan="off",
                            timeout_graceful_shutdown=1, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
