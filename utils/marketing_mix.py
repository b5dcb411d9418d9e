"""Marketing-mix models of a tenant: check the data, fit off the event loop, store, answer.

A model is stored first with `status: fitting`; the fit runs in a worker thread and
writes its progress and then its result (`ready`) or its error (`failed`), each write a
compare-and-set on the document's `version` while it is still fitting, so a model
deleted meanwhile stays deleted. The request waits `SYNC_SECONDS` for the fit: a fit done
by then answers 201 with the model, a longer one 202 with the job to poll.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool

from engine.errors import EngineError
from engine.mmm import MarketingMixModel, MMMData, load_csv, load_rows
from engine.mmm.answers import curves, decomposition, summary
from models.mmm import MAX_CHANNELS, ModelSettings
from utils.crud import clients
from utils.crud import models as model_docs
from utils.db import Store, utcnow
from utils.deps import not_found

logger = logging.getLogger("oktopus")

SYNC_SECONDS = 4.0
# Sampler settings of every fit (the engine's defaults: 1,000 posterior draws).
SAMPLER: dict = {}
PROGRESS_STEP = 0.1


def prepare(source: list[dict] | str, settings: ModelSettings) -> tuple[MMMData, MarketingMixModel]:
    """Parse rows or CSV text and check the model can be fitted: EngineError (422) if not."""
    loader = load_csv if isinstance(source, str) else load_rows
    data = loader(source, kpi=settings.kpi, date_column=settings.date, controls=settings.controls)
    if len(data.channels) > MAX_CHANNELS:
        raise EngineError(f"the data has {len(data.channels)} channels; fit at most {MAX_CHANNELS}")
    model = MarketingMixModel(
        saturation=settings.saturation,
        max_lag=settings.max_lag,
        holdout=settings.holdout,
        priors=[prior.model_dump() for prior in settings.priors],
        roi_prior=settings.roi_prior,
        **SAMPLER,
    )
    model.prepare(data)
    return data, model


def _new_doc(client_id: str, data: MMMData, model: MarketingMixModel) -> dict:
    return {
        "client_id": client_id,
        "created_at": utcnow(),
        "version": 0,
        "status": "fitting",
        "progress": 0.0,
        "kpi": data.kpi,
        "periods": data.periods,
        "channels": list(data.channels),
        "settings": {
            "saturation": model.saturation,
            "max_lag": model.max_lag,
            "holdout": model.holdout,
            "roi_prior": model.roi_prior_used,
        },
    }


def _write(store: Store, doc: dict, fields: dict) -> bool:
    """Compare-and-set on the model still fitting at the version this job last wrote."""
    applied = model_docs.compare_and_set(
        store,
        doc["_id"],
        {"version": doc["version"], "status": "fitting"},
        {"$set": fields, "$inc": {"version": 1}},
    )
    if applied:
        doc["version"] += 1
    return applied


def _fit(store: Store, doc: dict, model: MarketingMixModel, data: MMMData) -> None:
    """Run one fit and write its outcome (worker thread); a deleted model stays deleted."""
    reported = [0.0]

    def progress(fraction: float) -> None:
        if fraction - reported[0] >= PROGRESS_STEP and fraction < 1:
            reported[0] = fraction
            _write(store, doc, {"progress": round(0.95 * fraction, 3)})

    try:
        model.fit(data, progress=progress)
        result = {
            "summary": summary(model),
            "decomposition": decomposition(model),
            "curves": curves(model),
            "model": model.to_dict(),
        }
    except Exception as error:  # a background job's boundary: the model says it failed
        logger.warning("Marketing-mix fit %s failed: %s", doc["_id"], error)
        _write(store, doc, {"status": "failed", "error": str(error)})
        return
    _write(store, doc, {"status": "ready", "progress": 1.0, **result})


async def create(
    store: Store, client_id: str, data: MMMData, model: MarketingMixModel, jobs: set
) -> tuple[dict, bool]:
    """Store a new model and fit it; returns the document and whether the fit is done.
    A fit failing within the request raises EngineError and leaves nothing stored."""
    doc = await store.call(model_docs.insert, store, _new_doc(client_id, data, model))
    # Deleting a client removes the client, then its models: one stored meanwhile either
    # went with it or is seen without its client here.
    if not await store.call(clients.exists, store, client_id):
        await store.call(model_docs.delete, store, doc["_id"])
        raise not_found("Client")
    job = dict(doc)
    task = asyncio.ensure_future(run_in_threadpool(_fit, store, job, model, data))
    jobs.add(task)
    task.add_done_callback(jobs.discard)
    done, _ = await asyncio.wait({task}, timeout=SYNC_SECONDS)
    tenant = {"client_id": client_id}
    current = await store.call(model_docs.get_owned, store, tenant, doc["_id"], model_docs.SUMMARY)
    if done and current is not None and current["status"] == "failed":
        # Failed within the request: answered 422 like bad data, and nothing kept.
        await store.call(model_docs.delete, store, doc["_id"])
        raise EngineError(f"the fit failed: {current['error']}")
    return current or doc, bool(done)


INTERRUPTED = "the fit was interrupted by a restart of the server; fit the model again"


def fail_interrupted(store: Store) -> int:
    """At start-up, mark the models a previous process left `fitting` as failed (their fit
    ended with that process); how many. Each mark is a compare-and-set on the version."""
    failed = 0
    for doc in model_docs.fitting(store):
        job = {"_id": doc["_id"], "version": doc.get("version", 0)}
        failed += _write(store, job, {"status": "failed", "error": INTERRUPTED})
    return failed


def render(doc: Mapping[str, Any]) -> dict:
    """The API's answer for a stored model (summary fields empty while fitting)."""
    result = doc.get("summary") or {}
    return {
        "id": doc["_id"],
        "status": doc["status"],
        "progress": doc.get("progress", 0.0),
        "kpi": doc["kpi"],
        "periods": doc["periods"],
        "channels": result.get("channels", []),
        "diagnostics": result.get("diagnostics"),
        "warnings": result.get("warnings", []),
        "settings": doc.get("settings"),
        "error": doc.get("error"),
    }
