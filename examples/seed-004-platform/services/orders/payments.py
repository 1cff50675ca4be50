"""The external payments API as an adapter (seed 004: a separate client in the infrastructure layer): stapel.kit.http
gives the timeouts (connect, read, and a total over all attempts), exponential backoff with jitter on timeouts, 429
and 5xx, the client's rate limit, and the mapping to the domain: Unavailable (temporary: the order stays placed and
the caller may retry) or Permanent (a refused charge, never retried)."""

from __future__ import annotations

from stapel.kit.http import Client, Timeouts


class Payments:
    def __init__(self, base_url: str, *, rate: float, read_timeout: float, attempts: int = 3) -> None:
        self.client = Client(base_url, name="payments", attempts=attempts, wait_initial=0.2, wait_max=2.0, rate=rate,
                             timeout=Timeouts(connect=1, read=read_timeout, total=max(10.0, 4 * read_timeout)))

    async def charge(self, order_id: int, total_cents: int) -> str:
        """The charge's id. The order's id is the Idempotency-Key: a retried POST never charges twice."""
        response = await self.client.post("/charges", json={"order_id": order_id, "amount_cents": total_cents},
                                          idempotency_key=f"order-{order_id}")
        return response.json()["charge_id"]

    async def close(self) -> None:
        await self.client.close()
