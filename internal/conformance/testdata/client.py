"""runpod-python's client against Sluice, unmodified: only
RUNPOD_ENDPOINT_BASE_URL points at `sluice serve`. Prints one JSON object
with what each call returned; the Go test checks it."""
import asyncio
import json
import sys
import time

import aiohttp
import runpod
from runpod.endpoint import AsyncioEndpoint

runpod.api_key = sys.argv[1]
out = {}


def wait_running(job):
    deadline = time.time() + 60
    while job.status() != "IN_PROGRESS":
        if time.time() > deadline:
            raise TimeoutError("job never ran")
        time.sleep(0.05)


echo = runpod.Endpoint("go-echo")
job = echo.run({"echo": "hi"})
out["run_id"] = job.job_id
out["run_output"] = job.output(timeout=60)
out["run_status"] = job.status()
out["run_sync"] = echo.run_sync({"echo": "sync"}, timeout=60)
out["run_explicit_input"] = echo.run({"input": {"echo": "wrapped"}, "policy": {"ttl": 60000}}).output(timeout=60)

stream = runpod.Endpoint("go-stream").run({"n": 3})
out["stream"] = list(stream.stream())

slow = runpod.Endpoint("go-async").run({"n": 1, "sleep": 600})
wait_running(slow)
out["cancel"] = slow.cancel()
out["cancel_status"] = runpod.Endpoint("go-async").run({"n": 1}).output(timeout=60)

parked = runpod.Endpoint("parked")
queued = parked.run({"x": 1})
parked.run({"x": 2})
# A queued job's /status carries Sluice's "waiting" object: runpod-python
# reads the status past it.
out["parked_status"] = queued.status()
out["health_parked"] = parked.health()
out["purge"] = parked.purge_queue()
out["health_echo"] = echo.health()


async def with_asyncio():
    res = {}
    async with aiohttp.ClientSession() as session:
        ep = AsyncioEndpoint("go-echo", session)
        job = await ep.run({"echo": "async"})
        res["status_first"] = await job.status()
        res["output"] = await job.output(timeout=60)
        res["status"] = await job.status()
        sjob = await AsyncioEndpoint("go-stream", session).run({"n": 2})
        res["stream"] = [c async for c in sjob.stream()]
        slow = await AsyncioEndpoint("go-async", session).run({"n": 1, "sleep": 600})
        deadline = time.time() + 60
        while await slow.status() != "IN_PROGRESS":
            if time.time() > deadline:
                raise TimeoutError("job never ran")
            await asyncio.sleep(0.05)
        res["cancel"] = await slow.cancel()
        park = AsyncioEndpoint("parked", session)
        await park.run({"x": 3})
        res["health"] = await park.health()
        res["purge"] = await park.purge_queue()
    return res


out["asyncio"] = asyncio.run(with_asyncio())
print(json.dumps(out))
