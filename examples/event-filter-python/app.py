"""An event filter in Python: ECS task changes are not synced; a deployment
is synced with labels (the tenant, how many resources the event names, and
the deployment's `eventName` from its detail); everything else is synced as
it is.
"""

import json

import wit_world
from wit_world.imports.types import (
    EcsEvent,
    FilterOutcome_Accept,
    FilterOutcome_Annotate,
    FilterOutcome_Drop,
)


class WitWorld(wit_world.WitWorld):
    def filter(self, tenant_id: str, event: EcsEvent):
        if event.detail_type == "ECS Task State Change":
            return FilterOutcome_Drop("event-filter-python: task changes are not synced")
        if event.detail_type == "ECS Deployment State Change":
            detail = json.loads(event.detail_json)
            return FilterOutcome_Annotate(
                [
                    ("tenant", tenant_id),
                    ("resources", str(len(event.resources))),
                    ("eventName", str(detail.get("eventName", ""))),
                ]
            )
        return FilterOutcome_Accept()
