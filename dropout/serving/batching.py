"""Server-side batching: concurrent requests to one signature run as one model call.

The first request waits at most ``timeout_s`` for others to join; a batch closes early once it
holds ``max_batch_size`` examples (a single larger request runs alone, never split). Inputs are
concatenated along the batch dimension and the outputs split back by each request's row range.
The model runs in a worker thread, so the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class _Pending:
    inputs: dict[str, np.ndarray]
    rows: int
    future: asyncio.Future


class Batcher:
    """Queue of pending requests for one (version, signature); start with :meth:`start`."""

    def __init__(
        self,
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        *,
        max_batch_size: int,
        timeout_s: float,
        executor: concurrent.futures.Executor,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(f"serving.max_batch_size must be at least 1, got {max_batch_size}")
        self._run = run
        self.max_batch_size = max_batch_size
        self.timeout_s = max(0.0, timeout_s)
        self._executor = executor
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self.batches = 0  # model calls made, for tests and monitoring
        self.largest_batch = 0
        self.requests = 0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        await self._queue.join()
        if self._task:
            self._task.cancel()

    async def submit(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        future = asyncio.get_running_loop().create_future()
        self.requests += 1
        await self._queue.put(_Pending(inputs, rows, future))
        return await future

    async def _collect(self) -> list[_Pending]:
        first = await self._queue.get()
        batch, rows = [first], first.rows
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        while rows < self.max_batch_size:
            try:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                else:
                    item = self._queue.get_nowait()
            except TimeoutError:
                break
            if rows + item.rows > self.max_batch_size:
                # Too big to join: it opens the next batch.
                await self._run_batch(batch)
                batch, rows = [item], item.rows
                deadline = loop.time() + self.timeout_s
                continue
            batch.append(item)
            rows += item.rows
        return batch

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            await self._run_batch(batch)

    async def _run_batch(self, batch: list[_Pending]) -> None:
        try:
            names = list(batch[0].inputs)
            merged = {
                n: np.concatenate([p.inputs[n] for p in batch]) if len(batch) > 1 else batch[0].inputs[n]
                for n in names
            }
            rows = sum(p.rows for p in batch)
            self.batches += 1
            self.largest_batch = max(self.largest_batch, rows)
            loop = asyncio.get_running_loop()
            try:
                outputs: dict[str, Any] = await loop.run_in_executor(self._executor, self._run, merged)
            except Exception as exc:  # noqa: BLE001 - handed to the request(s) at fault
                if len(batch) == 1:
                    if not batch[0].future.done():
                        batch[0].future.set_exception(exc)
                    return
                # One bad request must not fail the others it was batched with: run each alone.
                for p in batch:
                    try:
                        alone = await loop.run_in_executor(self._executor, self._run, p.inputs)
                        if not p.future.done():
                            p.future.set_result(alone)
                    except Exception as single:  # noqa: BLE001
                        if not p.future.done():
                            p.future.set_exception(single)
                return
            start = 0
            for p in batch:
                part = {k: v[start : start + p.rows] for k, v in outputs.items()}
                start += p.rows
                if not p.future.done():
                    p.future.set_result(part)
        finally:
            for _ in batch:
                self._queue.task_done()
