"""An async web service that solves one input per request on Nextmv, through one client.

    pip install fastapi uvicorn
    NEXTMV_API_KEY=any NEXTMV_ENDPOINT=http://127.0.0.1:8710 \
        uvicorn --app-dir examples/web_service app:app --port 8000
    curl -X POST localhost:8000/solve -H 'content-type: application/json' \
        -d '{"input": {"capacity": 10, "items": []}}'

One `AsyncClient` is opened in the app's lifespan and shared by every request: its pool of
keep-alive connections, its rate buckets and its 429 cool-down are the service's, however many
requests are in flight. Each request submits a run, waits for its result at most
RUN_TIMEOUT_SECONDS, and cancels the run when it gives up.
"""

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

import asyncrun

APP_ID = os.environ.get("NEXTMV_APP_ID", "my-app")
RUN_TIMEOUT_SECONDS = float(os.environ.get("RUN_TIMEOUT_SECONDS", "60"))
# At most 10 connections to Nextmv whatever the number of requests in flight; the rate buckets
# of the standard plan (5 run creations/s, ...) shared by every request.
LIMITS = asyncrun.Limits(max_connections=10, rate=asyncrun.RateLimits.standard())


class SolveRequest(BaseModel):
    input: Any
    options: dict[str, str] = Field(default_factory=dict)


class SolveResponse(BaseModel):
    run_id: str
    status: str
    output: Any


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with asyncrun.AsyncClient(limits=LIMITS) as client:  # NEXTMV_API_KEY, NEXTMV_ENDPOINT
        app.state.nextmv = client.application(APP_ID)
        yield


app = FastAPI(lifespan=lifespan)


@app.post("/solve")
async def solve(body: SolveRequest, request: Request) -> SolveResponse:
    nextmv: asyncrun.AsyncApplication = request.app.state.nextmv
    run_id = await nextmv.new_run(input=body.input, options=body.options)
    try:
        async with asyncio.timeout(RUN_TIMEOUT_SECONDS):
            result = await nextmv.run_result_with_polling(run_id)
    except TimeoutError as timeout:
        await nextmv.cancel_run(run_id)  # nobody waits for it any more
        detail = f"run {run_id} took over {RUN_TIMEOUT_SECONDS} s; canceled"
        raise HTTPException(504, detail) from timeout
    return SolveResponse(run_id=run_id, status=str(result.metadata.status_v2), output=result.output)
