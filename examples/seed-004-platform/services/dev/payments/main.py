"""A fake payments API for dev and the tests (seed 004: services/dev/* never go to prod). It can be told to fail or
to be slow, and it remembers every call, so a test can see the orders service's retries, backoff and rate limit.

  POST /charges {order_id, amount_cents}   201 {charge_id}; 402 when amount_cents > 1,000,000 (refused: permanent);
                                           503 while `fail_next` lasts; answers after `delay` seconds
  POST /control {fail_next, delay, reset}  set the behaviour; reset forgets the calls
  GET  /calls                              every call: {at (epoch seconds), idempotency_key, status}
  GET  /health

Standard library plus the kit's tiny ASGI server; HOST and PORT from stapel.
"""

from __future__ import annotations

import asyncio
import json
import time

from stapel.kit import config, health

STATE: dict = {"fail_next": 0, "delay": 0.0, "calls": []}


class Settings(config.Config):
    listen: config.Listen


async def reply(send, status: int, body) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


async def app(scope: dict, receive, send) -> None:
    if scope["type"] != "http":
        return
    body = json.loads((await receive()).get("body") or b"{}")
    route = (scope["method"], scope["path"])
    if route == ("POST", "/charges"):
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        call = {"at": time.time(), "idempotency_key": headers.get("idempotency-key"), "status": 201}
        STATE["calls"].append(call)
        if STATE["delay"]:
            await asyncio.sleep(STATE["delay"])
        if STATE["fail_next"] > 0:
            STATE["fail_next"] -= 1
            call["status"] = 503
            return await reply(send, 503, {"error": "payments are down (told to fail)"})
        if body.get("amount_cents", 0) > 1_000_000:
            call["status"] = 402
            return await reply(send, 402, {"error": "charge refused"})
        return await reply(send, 201, {"charge_id": f"ch_{body.get('order_id')}"})
    if route == ("POST", "/control"):
        if body.get("reset"):
            STATE["calls"].clear()
        STATE["fail_next"] = int(body.get("fail_next", 0))
        STATE["delay"] = float(body.get("delay", 0.0))
        return await reply(send, 200, {k: v for k, v in STATE.items() if k != "calls"})
    if route == ("GET", "/calls"):
        return await reply(send, 200, STATE["calls"])
    if route == ("GET", "/health"):
        return await reply(send, 200, {"ok": True})
    await reply(send, 404, {"error": "not found"})


async def main() -> None:
    settings = config.load(Settings)
    print(json.dumps({"service": "payments-fake", "msg": "listening", "port": settings.listen.port}), flush=True)
    await health.serve(settings.listen.host, settings.listen.port, app)


if __name__ == "__main__":
    asyncio.run(main())
