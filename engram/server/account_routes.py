"""The hosted API's account administration (mem0ai's project.create/delete and project
members), refused by name: a self-hosted Engram has no user accounts; a project exists by
its API keys, which the server's operator makes with `engram keys create --project NAME`."""

from __future__ import annotations

from typing import Any

from engram import schemas as s
from engram.errors import ProjectAccessError
from engram.server.routing import PROJECT_PATH, Auth, route

WHY = ("{what} is not done over the API on a self-hosted Engram: there are no user accounts, "
       "and a project is reached by its API keys, made on the server host with "
       "`engram keys create --project NAME` (revoked with `engram keys revoke`)")  # fmt: skip


def _refuse(what: str) -> Any:
    def handler(ctx: Auth, org_id: str, project_id: str | None = None) -> dict[str, Any]:
        raise ProjectAccessError(WHY.format(what=what))

    handler.__name__ = "refuse_" + what.replace(" ", "_")
    return handler


route("POST", "/api/v1/orgs/organizations/{org_id}/projects/", model=s.Confirmation,
      tag="projects")(_refuse("creating a project"))  # fmt: skip
route("DELETE", PROJECT_PATH, model=s.Confirmation, tag="projects")(_refuse("deleting a project"))
for _method in ("GET", "POST", "PUT", "DELETE"):
    route(_method, PROJECT_PATH + "members/", model=s.Confirmation,
          tag="projects")(_refuse("managing project members"))  # fmt: skip
