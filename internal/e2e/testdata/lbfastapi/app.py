# Runpod's load-balancing worker example, in its shape: a FastAPI app with
# GET /ping (Runpod's health check) and POST /generate, served by uvicorn
# on $PORT. Test additions: /stream (a StreamingResponse whose second chunk
# waits for POST /release) and the worker id in every answer. Loopback only.
import asyncio
import os

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

app = FastAPI()
worker = os.getenv("RUNPOD_POD_ID", "")
request_count = 0
release = asyncio.Event()


class GenerationRequest(BaseModel):
    prompt: str
    max_tokens: int = 100
    temperature: float = 0.7


@app.get("/ping")
async def health_check():
    return {"status": "healthy"}


@app.post("/generate")
async def generate(request: GenerationRequest):
    global request_count
    request_count += 1
    return {
        "generated_text": f"Response to: {request.prompt} (request #{request_count})",
        "worker": worker,
    }


@app.get("/stats")
async def stats():
    return {"total_requests": request_count}


@app.get("/stream")
async def stream():
    async def tokens():
        yield "first\n"
        await release.wait()
        yield "second\n"

    return StreamingResponse(tokens(), media_type="text/plain")


@app.post("/release")
async def do_release():
    release.set()
    return {"released": True}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.getenv("PORT", "80")), log_level="info")
