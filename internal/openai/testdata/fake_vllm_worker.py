"""A runpod-python worker that follows worker-vllm's contract for OpenAI
requests, with a fake engine instead of a model: it reads openai_route and
openai_input from the job input, and for "stream": true yields chunks on a
timer (TOKEN_INTERVAL seconds apart); otherwise it yields the JSON answer
once. Started unmodified by `sluice serve` (runpod.serverless.start).

Shapes, as worker-vllm yields them (docs/spec/openai.md):
- chat streaming: SSE text, one "data: {...}\\n\\n" event per string, then
  "data: [DONE]\\n\\n" (RAW_OPENAI_OUTPUT=1, worker-vllm's default);
- completions streaming: lists of chunk objects (RAW_OPENAI_OUTPUT=0);
- errors: an {"error": {...}} object (vLLM's ErrorResponse), which
  runpod-python turns into a FAILED job.
Every chunk carries "yielded_at" (time.time() just before the yield) so the
client can measure the relay latency."""
import asyncio
import os
import time

import runpod

MODEL = os.environ.get("FAKE_MODEL", "sluice/fake-llm")
INTERVAL = float(os.environ.get("TOKEN_INTERVAL", "0.05"))


def tokens_for(body):
    if "messages" in body:
        text = " ".join(str(m.get("content", "")) for m in body["messages"] if m.get("role") == "user")
    else:
        text = str(body.get("prompt", ""))
    words = text.split() or ["empty"]
    n = int(body.get("max_tokens") or len(words))
    return [words[i % len(words)] for i in range(n)]


def error(message, kind, code, param=None):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def chunk(job_id, chat, token, finish=None, first=False):
    if chat:
        delta = {"role": "assistant", "content": ""} if first else ({} if finish else {"content": token})
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        obj = "chat.completion.chunk"
    else:
        choice = {"index": 0, "text": "" if finish else token, "logprobs": None, "finish_reason": finish}
        obj = "text_completion"
    return {"id": "cmpl-" + job_id, "object": obj, "created": int(time.time()), "model": MODEL,
            "choices": [choice], "yielded_at": time.time()}


def sse(obj):
    import json
    return "data: " + json.dumps(obj) + "\n\n"


async def handler(job):
    inp = job["input"]
    if inp.get("openai_input"):
        route, body = inp.get("openai_route") or "/v1/chat/completions", inp["openai_input"]
    elif inp.get("openai_route"):
        route, body = inp["openai_route"], None
    else:
        yield error("Job input must contain openai_route", "worker_error", None)
        return

    if route == "/v1/models":
        yield {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "sluice-test"}]}
        return
    if route not in ("/v1/chat/completions", "/v1/completions"):
        yield error("Invalid route " + route, "NotFoundError", 404)
        return
    if body.get("model") != MODEL:
        yield error("The model `%s` does not exist." % body.get("model"), "NotFoundError", 404, "model")
        return

    chat = route == "/v1/chat/completions"
    toks = tokens_for(body)
    if not body.get("stream"):
        await asyncio.sleep(INTERVAL * len(toks))
        text = " ".join(toks)
        if chat:
            choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": "stop"}
        yield {"id": "cmpl-" + job["id"], "object": "chat.completion" if chat else "text_completion",
               "created": int(time.time()), "model": MODEL, "choices": [choice],
               "usage": {"prompt_tokens": len(toks), "completion_tokens": len(toks), "total_tokens": 2 * len(toks)}}
        return

    if chat:
        yield sse(chunk(job["id"], True, "", first=True))
    for i, tok in enumerate(toks):
        await asyncio.sleep(INTERVAL)
        word = tok if i == 0 else " " + tok
        if chat:
            yield sse(chunk(job["id"], True, word))
        else:
            yield [chunk(job["id"], False, word)]
    if chat:
        yield sse(chunk(job["id"], True, "", finish="stop")) + "data: [DONE]\n\n"
    else:
        yield [chunk(job["id"], False, "", finish="stop")]


runpod.serverless.start({
    "handler": handler,
    "concurrency_modifier": lambda current: 4,
    "return_aggregate_stream": True,
})
