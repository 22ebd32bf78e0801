"""The care console: alerts live from MQTT, acknowledgement over MQTT, residents' trends.

A small FastAPI app, server-rendered HTML (no front-end build), a few lines of JavaScript for
the live inbox (server-sent events). Sign-in with argon2-hashed passwords; server-side sessions
in an HttpOnly, SameSite=Strict cookie; a CSRF token in every form; per-site access — the same
rule as the MQTT ACL: a user sees and acknowledges only their sites' alerts and residents.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from vitalgate.cloud_bridge.topics import ALERT_FILTER, Topics
from vitalgate.cloud_bridge.wire import Ack, Alert, AlertState, dump_payload, parse_payload
from vitalgate.config import MqttSettings
from vitalgate.console.users import ConsoleConfig, User
from vitalgate.service import cancel_and_wait

log = logging.getLogger(__name__)
SESSION_COOKIE = "vitalgate_session"
SESSION_S = 8 * 3600


@dataclass
class Session:
    user: User
    csrf: str
    expires: float


@dataclass
class Hub:
    """The latest state of every alert seen on MQTT, and the live listeners."""

    alerts: dict[str, Alert] = field(default_factory=dict)
    listeners: set[asyncio.Queue[Alert]] = field(default_factory=set)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    def update(self, a: Alert) -> None:
        self.alerts[a.alert_id] = a
        for q in list(self.listeners):
            q.put_nowait(a)


def _visible(user: User, a: Alert) -> bool:
    return a.site in user.sites


def _page(title: str, body: str, user: User | None = None) -> HTMLResponse:
    who = f'<span class="who">{html.escape(user.name)} ({html.escape(user.role)}) — <a href="/logout">sign out</a></span>' if user else ""
    return HTMLResponse(f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)} · vitalgate</title>
<style>body{{font-family:sans-serif;margin:1.5em}}table{{border-collapse:collapse;width:100%}}
td,th{{border-bottom:1px solid #ddd;padding:.35em;text-align:left;vertical-align:top}}
tr.critical{{background:#fde0e0;font-weight:bold}}tr.urgent{{background:#fff0d9}}
tr.acknowledged{{color:#777}}.who{{float:right}}img{{max-width:100%}}</style></head>
<body><header>{who}<h1>{html.escape(title)}</h1></header>{body}</body></html>""")


_RANK = {"critical": 3, "urgent": 2, "warning": 1, "info": 0}


def _row(a: Alert, csrf: str) -> str:
    e = html.escape
    closed = a.state in (AlertState.ACKNOWLEDGED, AlertState.RESOLVED)
    ack = (f'{e(a.acknowledged_by or "")}' if closed else
           f'<form method="post" action="/alerts/{e(a.alert_id)}/ack"><input type="hidden" name="csrf" value="{e(csrf)}">'
           f'<input name="note" placeholder="note" size="12"><button>Acknowledge</button></form>'
           f'<form method="post" action="/alerts/{e(a.alert_id)}/escalate"><input type="hidden" name="csrf" value="{e(csrf)}">'
           f'<input name="why" placeholder="why" size="12"><button class="escalate">Escalate</button></form>')
    return (f'<tr id="a-{e(a.alert_id)}" class="{e(a.severity.value)} {e(a.state.value)}">'
            f"<td>{e(a.severity.value)}</td><td>{a.triggered_at:%Y-%m-%d %H:%M}</td>"
            f'<td><a href="/residents/{e(a.resident)}">{e(a.resident)}</a></td><td>{e(a.site)}</td>'
            f"<td>{e(a.rule)}</td><td>{e(a.reason)}</td><td>{e(a.state.value)}</td><td>{ack}</td></tr>")


_LIVE_JS = """
<script>
const src = new EventSource('/events');
src.onmessage = (m) => {
  const d = JSON.parse(m.data);
  const old = document.getElementById('a-' + d.alert_id);
  const tmp = document.createElement('tbody'); tmp.innerHTML = d.row;
  const row = tmp.firstElementChild;
  if (old) { old.replaceWith(row); } else { document.getElementById('inbox').prepend(row); }
  if (d.severity === 'critical' && d.state !== 'acknowledged') {
    try { const c = new AudioContext(); const o = c.createOscillator(); o.connect(c.destination);
          o.start(); o.stop(c.currentTime + 0.3); } catch (e) {}
    document.title = '(!) ' + document.title.replace(/^\\(!\\) /, '');
  }
};
</script>"""


def create_app(config: ConsoleConfig, mqtt: MqttSettings, *, store: Path | None = None) -> FastAPI:
    """The console app; it subscribes to ``mqtt`` for alerts while it runs."""
    hub = Hub()
    sessions: dict[str, Session] = {}

    async def follow() -> None:
        from vitalgate.cloud_bridge.connection import (
            Backoff,
            connect,
            honour_swallowed_cancel,
            raise_if_cancelling,
        )

        backoff = Backoff(mqtt.reconnect_min_s, mqtt.reconnect_max_s)
        while True:
            honour_swallowed_cancel()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    client, _ = await connect(stack, mqtt, client_id=f"vitalgate-console-{secrets.token_hex(4)}")
                    await client.subscribe(ALERT_FILTER, qos=1)
                    honour_swallowed_cancel()  # aiomqtt's wait_for may have eaten a stop
                    hub.connected.set()
                    backoff.reset()
                    async for msg in client.messages:
                        raw = msg.payload if isinstance(msg.payload, bytes) else str(msg.payload).encode()
                        with contextlib.suppress(ValueError):
                            a = parse_payload(raw, source=str(msg.topic))
                            if isinstance(a, Alert):
                                hub.update(a)
            except aiomqtt.MqttError as err:
                raise_if_cancelling(err)
                hub.connected.clear()
                log.warning("console: MQTT %s (%s); retrying", mqtt.url, err)
            await asyncio.sleep(backoff.next_delay())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(follow(), name="console-mqtt")
        try:
            yield
        finally:
            # Bounded: ask again if a cancellation was swallowed inside the MQTT client.
            if not await cancel_and_wait((task,)):
                log.error("console: the MQTT follower did not stop")

    app = FastAPI(title="vitalgate care console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub

    def session_of(request: Request) -> Session | None:
        sid = request.cookies.get(SESSION_COOKIE)
        s = sessions.get(sid or "")
        if s is None or s.expires < time.time():
            return None
        return s

    def require(request: Request) -> Session:
        s = session_of(request)
        if s is None:
            raise HTTPException(status_code=303, headers={"Location": "/login"})
        return s

    def check_csrf(request: Request, s: Session, token: str) -> None:
        origin = request.headers.get("origin")
        if origin and origin != f"{request.url.scheme}://{request.url.netloc}":
            raise HTTPException(403, "cross-site request refused")
        if not secrets.compare_digest(token, s.csrf):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page")

    @app.get("/login", response_class=HTMLResponse)
    async def login_form() -> HTMLResponse:
        return _page("Sign in", '<form method="post" action="/login"><p><label>User <input name="username" autofocus></label></p>'
                     '<p><label>Password <input name="password" type="password"></label></p><button>Sign in</button></form>')

    @app.post("/login")
    async def login(username: str = Form(...), password: str = Form(...)) -> Response:
        user = config.authenticate(username, password)
        if user is None:
            return HTMLResponse("<p>Wrong user or password. <a href='/login'>Try again</a></p>", status_code=401)
        sid = secrets.token_urlsafe(32)
        sessions[sid] = Session(user, secrets.token_urlsafe(32), time.time() + SESSION_S)
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict", max_age=SESSION_S)
        return resp

    @app.get("/logout")
    async def logout(request: Request) -> Response:
        sessions.pop(request.cookies.get(SESSION_COOKIE) or "", None)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    @app.get("/", response_class=HTMLResponse)
    async def inbox(request: Request, site: str | None = None, rule: str | None = None) -> HTMLResponse:
        s = require(request)
        rows = [a for a in hub.alerts.values() if _visible(s.user, a)
                and (site is None or a.site == site) and (rule is None or a.rule == rule)]
        open_first = sorted(rows, key=lambda a: (a.state in (AlertState.ACKNOWLEDGED, AlertState.RESOLVED),
                                                 -_RANK[a.severity.value], a.triggered_at))
        body = ("<p>Sites: " + ", ".join(html.escape(x) for x in s.user.sites) + ". New alerts appear live.</p>"
                "<table><thead><tr><th>severity</th><th>when</th><th>resident</th><th>site</th><th>rule</th>"
                '<th>reason</th><th>state</th><th>acknowledge</th></tr></thead><tbody id="inbox">'
                + "".join(_row(a, s.csrf) for a in open_first) + "</tbody></table>" + _LIVE_JS)
        return _page("Alerts", body, s.user)

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        s = session_of(request)
        if s is None:
            raise HTTPException(401, "sign in first")
        queue: asyncio.Queue[Alert] = asyncio.Queue()
        hub.listeners.add(queue)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while True:
                    try:
                        a = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if _visible(s.user, a):
                        data = json.dumps({"alert_id": a.alert_id, "severity": a.severity.value,
                                           "state": a.state.value, "row": _row(a, s.csrf)})
                        yield f"data: {data}\n\n".encode()
            finally:
                hub.listeners.discard(queue)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    def own_alert(request: Request, alert_id: str, csrf: str) -> tuple[Session, Alert]:
        """The signed-in user's session and an alert of one of their sites (CSRF checked)."""
        s = require(request)
        check_csrf(request, s, csrf)
        a = hub.alerts.get(alert_id)
        if a is None or not _visible(s.user, a):
            raise HTTPException(404, "no such alert among your sites")
        return s, a

    async def publish(topic: str, payload: bytes) -> None:
        async with aiomqtt.Client(*_host_port(mqtt.url), username=mqtt.username, password=mqtt.secret(),
                                  identifier=f"vitalgate-console-{secrets.token_hex(4)}") as c:
            await c.publish(topic, payload, qos=1)

    @app.post("/alerts/{alert_id}/ack")
    async def acknowledge(request: Request, alert_id: str, csrf: str = Form(""), note: str = Form("")) -> Response:
        s, a = own_alert(request, alert_id, csrf)
        ack = Ack(alert_id=a.alert_id, by=s.user.name, role=s.user.role, at=datetime.now(UTC), note=note[:1024] or None)
        await publish(Topics(a.site, a.gateway).ack(a.resident), dump_payload(ack))
        log.info("console: %s acknowledged %s (%s) for %s", s.user.name, a.rule, a.alert_id, a.resident)
        return RedirectResponse("/", status_code=303)

    @app.post("/alerts/{alert_id}/escalate")
    async def escalate(request: Request, alert_id: str, csrf: str = Form(""), why: str = Form("")) -> Response:
        from vitalgate.gateway.remote import sign

        s, a = own_alert(request, alert_id, csrf)
        if config.command_key_file is None:
            raise HTTPException(503, "escalation needs the site's command key (command_key_file in console.toml)")
        key = config.command_key_file.read_bytes().strip()
        body = sign(key, {"alert_id": a.alert_id, "by": s.user.name, "why": why.strip() or "escalated from the console"})
        await publish(Topics(a.site, a.gateway).cmd("alert/escalate"), json.dumps(body).encode())
        log.info("console: %s escalated %s (%s) for %s", s.user.name, a.rule, a.alert_id, a.resident)
        return RedirectResponse("/", status_code=303)

    @app.get("/residents/{resident}", response_class=HTMLResponse)
    async def resident_page(request: Request, resident: str) -> HTMLResponse:
        s = require(request)
        from vitalgate.console.vmstore import TrendStoreError

        try:
            obs, alerts, sites = await _resident_data(store, config.victoria_url, hub, resident)
        except TrendStoreError as err:
            log.error("console: %s", err)
            raise HTTPException(503, "the trend store is unavailable; try again later") from err
        if not sites or not sites <= set(s.user.sites):
            raise HTTPException(403, "this resident is not in your sites")
        from vitalgate.records.report import charts
        from vitalgate.signal.rules import RuleConfig

        imgs = "".join(f'<figure><img alt="{html.escape(c.title)}" src="data:image/png;base64,'
                       f'{base64.b64encode(c.png).decode()}"><figcaption>{html.escape(c.title)}</figcaption></figure>'
                       for c in charts(obs, RuleConfig()))
        rows = "".join(_row(a, s.csrf) for a in sorted(alerts, key=lambda a: a.triggered_at, reverse=True))
        from vitalgate.records.report import strip_png

        strips = "".join(
            f'<figure><img alt="ECG strip {html.escape(a.rule)}" src="data:image/png;base64,'
            f'{base64.b64encode(strip_png(a.ecg_strip.samples_uv, a.ecg_strip.fs_hz, a.reason[:80])).decode()}">'
            f"<figcaption>{html.escape(a.rule)} at {a.triggered_at:%Y-%m-%d %H:%M}</figcaption></figure>"
            for a in alerts if a.ecg_strip is not None and a.ecg_strip.samples_uv
        )
        body = (f"<p>Resident {html.escape(resident)} — sites {', '.join(sorted(sites))}; {len(obs)} reading(s).</p>"
                f"<h2>Trends</h2>{imgs or '<p>No readings yet.</p>'}<h2>Alerts</h2><table><tbody>{rows}</tbody></table>"
                + (f"<h2>ECG strips</h2>{strips}" if strips else "") +
                "<p>Follow-up report: <code>vitalgate report " + html.escape(resident) + " --from … --to …</code></p>")
        return _page(f"Resident {resident}", body, s.user)

    @app.get("/hut", response_class=HTMLResponse)
    async def hut(request: Request) -> HTMLResponse:
        s = require(request)
        held = _held(config.outboxes)
        rows = "".join(f"<tr><td>{html.escape(rid)}</td><td>{html.escape(reason)}</td><td>{html.escape(body[:160])}</td></tr>"
                       for rid, reason, body in held)
        checkins = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(r)}</td><td>{a}</td><td>{u}</td><td>{html.escape(b)}</td></tr>"
            for k, r, a, u, b in _checkins_today(config.outboxes)
        )
        body = ("<h2>Today's check-ins</h2><table><thead><tr><th>kit</th><th>resident</th><th>from</th><th>until</th>"
                f"<th>by</th></tr></thead><tbody>{checkins}</tbody></table><h2>Pending readings</h2>"
                "<p>Readings held because nobody could be sure whose they are. Assign them with "
                "<code>vitalgate kit assign READING RESIDENT --by … --why …</code>.</p>"
                f"<table><thead><tr><th>reading</th><th>reason</th><th>reading</th></tr></thead><tbody>{rows}</tbody></table>")
        return _page("Health hut: pending readings", body, s.user)

    return app


def _host_port(url: str) -> tuple[str, int]:
    from vitalgate.cloud_bridge.connection import broker_address

    host, port, _ = broker_address(url)
    return host, port


async def _resident_data(store: Path | None, victoria_url: str | None, hub: Hub,
                         resident: str) -> tuple[list[Any], list[Alert], set[str]]:
    """The resident's readings (VictoriaMetrics and/or the SQLite store), alerts and sites."""
    alerts = [a for a in hub.alerts.values() if a.resident == resident]
    obs: list[Any] = []
    if victoria_url is not None:
        from vitalgate.console.vmstore import resident_points

        obs = list(await asyncio.to_thread(resident_points, victoria_url, resident))
    if store is not None:
        stored, old = await asyncio.to_thread(_from_sqlite, store, resident)
        obs += stored
        alerts += [a for a in old if a.alert_id not in hub.alerts]
    sites = {o.site for o in obs} | {a.site for a in alerts}
    return obs, alerts, sites


def _from_sqlite(store: Path, resident: str) -> tuple[list[Any], list[Alert]]:
    if not store.exists():
        return [], []
    from vitalgate.cloud_bridge.sinks import SqliteSink

    sink = SqliteSink(store)
    try:
        return ([o for o in sink.observations() if o.resident == resident],
                [a for a in sink.alerts() if a.resident == resident])
    finally:
        sink.close()


def _checkins_today(outboxes: list[Path]) -> list[tuple[str, str, str, str, str]]:
    """Check-ins since midnight (UTC) in the kit state beside each hut gateway's outbox."""
    import sqlite3

    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    out: list[tuple[str, str, str, str, str]] = []
    for p in outboxes:
        db_path = p.parent / "kit.sqlite"
        if not db_path.exists():
            continue
        db = sqlite3.connect(db_path, timeout=5)
        try:
            for kit, resident, at, until, by in db.execute(
                "SELECT kit, resident, at, until, by FROM checkins WHERE at >= ? ORDER BY at", (midnight,)
            ):
                out.append((kit, resident, f"{datetime.fromtimestamp(at, UTC):%H:%M}",
                            f"{datetime.fromtimestamp(until, UTC):%H:%M}", by))
        finally:
            db.close()
    return out


def _held(outboxes: list[Path]) -> list[tuple[str, str, str]]:
    from vitalgate.gateway.outbox import Outbox

    out: list[tuple[str, str, str]] = []
    for p in outboxes:
        if p.exists():
            with Outbox(p) as box:
                out += box.held()
    return out
