"""The baseline for benchmarks/next_load.py: a bare FastAPI endpoint doing no work."""

from fastapi import FastAPI

app = FastAPI()


@app.post("/bare")
def bare(body: dict | None = None) -> dict:
    return {"ok": True}
