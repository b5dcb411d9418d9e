"""Optional narration of an analysis by a language model behind an OpenAI-compatible API.

The structured analysis is always the answer; the narrative is an extra. Any failure (no key,
an error status, a timeout, an answer without text) becomes a short `narrative_error` and never
an exception. The API key goes in the Authorization header only: it is never logged or returned.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from utils.settings import Settings

logger = logging.getLogger("oktopus.narration")

SYSTEM_PROMPT = (
    "You are a paid-media performance analyst and budget strategist. You receive the "
    "structured analysis of one optimization run (JSON): per-campaign trends, anomalies, "
    "saturation, learning status, budget-shift recommendations and warnings. Explain in plain "
    "language, in at most 200 words, what is happening, which recommendations to act on and "
    "why, quoting the numbers given. Do not invent numbers that are not in the analysis."
)


async def _post(url: str, body: dict, headers: dict, seconds: float) -> httpx.Response:
    """POST with one deadline for the whole exchange: a server that trickles bytes cannot hold
    the request past it (httpx's own timeouts bound each read, not the total)."""
    async with httpx.AsyncClient(timeout=seconds) as client:
        return await asyncio.wait_for(client.post(url, json=body, headers=headers), seconds)


def narrate(analysis: dict[str, Any], settings: Settings) -> tuple[str | None, str | None]:
    """(narrative, None) from the configured model, or (None, why there is none)."""
    if settings.llm_api_key is None or not settings.llm_api_key.get_secret_value():
        return None, "Narration is off: LLM_API_KEY is not set."
    url = settings.llm_base_url.rstrip("/") + "/chat/completions"
    body = {
        "model": settings.llm_model,
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": json.dumps(analysis, separators=(",", ":"))},
        ],
    }
    headers = {"Authorization": f"Bearer {settings.llm_api_key.get_secret_value()}"}
    try:
        response = asyncio.run(_post(url, body, headers, settings.llm_timeout_seconds))
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"]
    except (httpx.TimeoutException, TimeoutError):
        error = f"The language model did not answer within {settings.llm_timeout_seconds:g} s."
    except httpx.HTTPStatusError as status_error:
        error = f"The language model answered HTTP {status_error.response.status_code}."
    except httpx.HTTPError:
        error = "The language model could not be reached."
    except (ValueError, KeyError, IndexError, TypeError):
        error = "The language model's answer had no text in it."
    else:
        if isinstance(text, str) and text.strip():
            return text.strip(), None
        error = "The language model's answer had no text in it."
    logger.warning("No narrative: %s", error)
    return None, error
