"""Promoting a site to PROD takes an admin (or owner): operators may promote
DEV to SIT but not to production. Everything else is allowed: the platform's
own access rules run first, so a tenant policy can only narrow them.

The same policy as ../policy-no-prod-for-operators (Rust) and
../policy-js (JavaScript), reason for reason.
"""

import wit_world
from wit_world.imports import log
from wit_world.imports.types import Decision_Allow, Decision_Deny, Request


def attribute(request: Request, name: str):
    """The value of a resource attribute (the first, if named twice)."""
    return next((v for k, v in request.resource.attributes if k == name), None)


class WitWorld(wit_world.WitWorld):
    def authorize(self, request: Request):
        to_prod = (
            request.action == "site.promote"
            and attribute(request, "targetEnvironment") == "PROD"
        )
        if not to_prod:
            return Decision_Allow(f"{request.action}: not a promotion to PROD")
        # The platform administrator runs the platform; this policy is about
        # the tenant's own people.
        if request.principal.platform_admin:
            return Decision_Allow("site.promote: platform admin")
        if not request.roles:
            return Decision_Deny("site.promote: promoting to PROD takes admin")
        role = max((binding.role for binding in request.roles), key=lambda r: r.value)
        name = role.name.lower()
        if name in ("admin", "owner"):
            return Decision_Allow(f"site.promote: {name} may promote to PROD")
        log.write(log.Level.INFO, f"denied a promotion to PROD: the caller holds {name}")
        return Decision_Deny(f"site.promote: promoting to PROD takes admin; holds {name}")
