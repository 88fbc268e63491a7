"""A generator runpod-python handler: yields input["n"] chunks.

Set AGGREGATE=1 in the environment for return_aggregate_stream.
"""
import os

import runpod


def handler(job):
    n = int((job["input"] or {}).get("n", 3))
    for i in range(n):
        yield {"chunk": i}


if __name__ == "__main__":
    runpod.serverless.start({
        "handler": handler,
        "return_aggregate_stream": os.environ.get("AGGREGATE") == "1",
    })
