"""Routes of user profiles and summaries (mem0ai 2.2.1's get_profile, generate_profile,
profile settings, sample_profiles, get_profile_job, get_summary): engram.profiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Header

from engram import schemas as s
from engram.server.routing import Auth, route


@route("GET", "/v2/entities/user/{entity_id}/profile/", model=s.Profile, tag="profiles")
def get_profile(ctx: Auth, entity_id: str) -> dict[str, Any]:
    return ctx.memory.profiles.get(entity_id)


@route("GET", "/v2/profiles/settings/", model=s.ProfileSettingsOut, tag="profiles")
def get_profile_settings(ctx: Auth) -> dict[str, Any]:
    return ctx.memory.profiles.settings()


@route("POST", "/v2/profiles/settings/", model=s.ProfileSettingsOut, tag="profiles")
def update_profile_settings(ctx: Auth, body: s.ProfileSettingsUpdate) -> dict[str, Any]:
    return ctx.memory.profiles.update_settings(body.model_dump(exclude_unset=True))


@route("POST", "/v2/profiles/jobs/", model=s.ProfileJobCreated, tag="profiles")
def create_profile_job(
    ctx: Auth,
    body: s.ProfileJobRequest,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    return ctx.memory.profiles.create_job(body.model_dump(), idempotency_key)


@route("GET", "/v2/profiles/jobs/{job_id}/", model=s.ProfileJobStatus, tag="profiles")
def get_profile_job(ctx: Auth, job_id: str) -> dict[str, Any]:
    return ctx.memory.profiles.job(job_id)


@route("POST", "/v1/summary/", model=s.Summary, tag="profiles")
def get_summary(ctx: Auth, body: s.SummaryRequest) -> dict[str, Any]:
    return ctx.memory.profiles.summary(body.filters)
