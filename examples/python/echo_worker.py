"""A plain synchronous runpod-python handler: returns its input, or an error.

Input: {"echo": any} -> output {"echo": any}
       {"fail": "msg"} -> raises ValueError(msg)
       {"error": "msg"} -> returns {"error": msg}
       {"refresh": true} -> returns {"refresh_worker": true, ...}
       {"progress": n}  -> sends n progress updates first
       {"sleep": s}     -> sleeps s seconds first (for cancel tests)
"""
import time

import runpod


def handler(job):
    inp = job["input"] or {}
    for i in range(int(inp.get("progress", 0))):
        runpod.serverless.progress_update(job, {"step": i + 1})
    if inp.get("sleep"):
        time.sleep(float(inp["sleep"]))
    if "fail" in inp:
        raise ValueError(inp["fail"])
    if "error" in inp:
        return {"error": inp["error"]}
    out = {"echo": inp.get("echo")}
    if inp.get("refresh"):
        out["refresh_worker"] = True
    return out


if __name__ == "__main__":
    runpod.serverless.start({"handler": handler})
