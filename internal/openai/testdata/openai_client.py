"""The real OpenAI Python SDK against `sluice serve`, unmodified: only
base_url points at http://HOST/v2/ENDPOINT/openai/v1. Prints one JSON object
with what each call returned; the Go test checks it.

argv: base_url api_key model latency_runs"""
import json
import sys
import time

import httpx
import openai
from openai import OpenAI

base_url, key, model, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=60)
out = {"sdk_version": openai.__version__}
messages = [{"role": "user", "content": "one two three four"}]

chat = client.chat.completions.create(model=model, messages=messages)
out["chat"] = {"content": chat.choices[0].message.content, "finish_reason": chat.choices[0].finish_reason,
               "object": chat.object, "model": chat.model, "total_tokens": chat.usage.total_tokens}


def stream_chat(max_tokens):
    """Streams one chat completion; returns the text, each chunk's relay
    latency (arrival at the SDK minus the worker's yield, ms) and the time
    from the request to the first content token (ms)."""
    t0 = time.time()
    first = None
    text, lat, roles, finish = [], [], [], None
    for c in client.chat.completions.create(model=model, messages=messages, stream=True, max_tokens=max_tokens):
        now = time.time()
        extra = c.model_extra or {}
        if "yielded_at" in extra:
            lat.append((now - extra["yielded_at"]) * 1000)
        d = c.choices[0].delta
        if d.role:
            roles.append(d.role)
        if d.content:
            if first is None:
                first = (now - t0) * 1000
            text.append(d.content)
        finish = c.choices[0].finish_reason or finish
    return "".join(text), lat, first, roles, finish


text, lat, first, roles, finish = stream_chat(4)
out["chat_stream"] = {"content": text, "chunks": len(lat), "roles": roles, "finish_reason": finish}


def native_stream(max_tokens):
    """The baseline: the same job through Sluice's own API (/run, then
    /stream as SSE), read with httpx; returns each chunk's relay latency (ms)."""
    root = base_url.split("/openai/")[0]
    hdr = {"Authorization": "Bearer " + key}
    body = {"model": model, "messages": messages, "stream": True, "max_tokens": max_tokens}
    job = httpx.post(root + "/run", headers=hdr, timeout=60,
                     json={"input": {"openai_route": "/v1/chat/completions", "openai_input": body}}).json()
    lat = []
    with httpx.stream("GET", root + "/stream/" + job["id"], headers={**hdr, "Accept": "text/event-stream"}, timeout=60) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "chunk":
                now = time.time()
                text = json.loads(line[6:])  # the worker's SSE string
                for part in text.split("\n\n"):
                    if part.startswith("data: {"):
                        lat.append((now - json.loads(part[6:])["yielded_at"]) * 1000)
            elif event == "done":
                break
    return lat


# Relay latency: the worker's yield of a chunk to its arrival in the client,
# through the OpenAI route (the SDK) and, interleaved, through /run + /stream
# (the baseline), over several streams (the worker is warm).
firsts, alls, base_firsts, base_alls = [], [], [], []
for _ in range(runs):
    _, lat, _, _, _ = stream_chat(4)
    firsts.append(lat[1])  # lat[0] is the role chunk; lat[1] the first content token
    alls.extend(lat)
    lat = native_stream(4)
    base_firsts.append(lat[1])
    base_alls.extend(lat)
out["latency_ms"] = {"first_token": firsts, "all_chunks": alls, "native_first_token": base_firsts, "native_all_chunks": base_alls}

comp = client.completions.create(model=model, prompt="alpha beta gamma")
out["completion"] = {"text": comp.choices[0].text, "object": comp.object}
parts = [c.choices[0].text for c in client.completions.create(model=model, prompt="alpha beta gamma", stream=True)]
out["completion_stream"] = "".join(parts)

out["models"] = [m.id for m in client.models.list()]

try:
    client.chat.completions.create(model="no-such-model", messages=messages)
    out["error"] = "no error raised"
except openai.NotFoundError as e:
    out["error"] = {"status": e.status_code, "message": e.message, "type": e.body.get("type") if isinstance(e.body, dict) else None}

try:
    client.chat.completions.create(model="no-such-model", messages=messages, stream=True)
    out["stream_error"] = "no error raised"
except openai.NotFoundError as e:
    out["stream_error"] = {"status": e.status_code}

try:
    OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0).models.list()
    out["bad_key"] = "no error raised"
except openai.AuthenticationError as e:
    out["bad_key"] = {"status": e.status_code, "code": e.code}

# A stream the client abandons after two chunks: Sluice cancels its job.
raw = client.chat.completions.with_raw_response.create(model=model, messages=messages, stream=True, max_tokens=400)
stream = raw.parse()
got = 0
for c in stream:
    got += 1
    if got == 2:
        break
stream.close()
out["abandoned"] = {"job_id": raw.headers.get("x-request-id"), "chunks": got}

print(json.dumps(out))
