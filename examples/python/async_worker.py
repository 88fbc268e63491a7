"""An async-generator runpod-python handler with concurrency > 1 (batch take).

Input: {"n": k, "sleep": s} yields k chunks, sleeping s seconds before each.
A job cancelled while running sees asyncio.CancelledError (job-stop).
"""
import asyncio
import os

import runpod


async def handler(job):
    inp = job["input"] or {}
    for i in range(int(inp.get("n", 3))):
        await asyncio.sleep(float(inp.get("sleep", 0)))
        yield {"chunk": i}


def concurrency(current):
    return int(os.environ.get("CONCURRENCY", "4"))


if __name__ == "__main__":
    runpod.serverless.start({
        "handler": handler,
        "concurrency_modifier": concurrency,
        "return_aggregate_stream": True,
    })
