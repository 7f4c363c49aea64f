// Promoting a site to PROD takes an admin (or owner): operators may promote
// DEV to SIT but not to production. Everything else is allowed: the
// platform's own access rules run first, so a tenant policy can only narrow
// them.
//
// The same policy as ../policy-no-prod-for-operators (Rust) and
// ../policy-python (Python), reason for reason.

import { write } from "bbws:platform/log@0.1.0";

// Roles, weakest first: the WIT enum `tenant-role` arrives as its name.
const ROLES = ["viewer", "operator", "admin", "owner"];

const allow = (reason) => ({ tag: "allow", val: reason });
const deny = (reason) => ({ tag: "deny", val: reason });

// The value of a resource attribute (the first, if named twice).
function attribute(request, name) {
  const found = request.resource.attributes.find(([key]) => key === name);
  return found ? found[1] : undefined;
}

export function authorize(request) {
  const toProd =
    request.action === "site.promote" && attribute(request, "targetEnvironment") === "PROD";
  if (!toProd) return allow(`${request.action}: not a promotion to PROD`);
  // The platform administrator runs the platform; this policy is about the
  // tenant's own people.
  if (request.principal.platformAdmin) return allow("site.promote: platform admin");
  if (request.roles.length === 0) return deny("site.promote: promoting to PROD takes admin");
  const role = request.roles
    .map((binding) => binding.role)
    .reduce((a, b) => (ROLES.indexOf(b) > ROLES.indexOf(a) ? b : a));
  if (ROLES.indexOf(role) >= ROLES.indexOf("admin")) {
    return allow(`site.promote: ${role} may promote to PROD`);
  }
  write("info", `denied a promotion to PROD: the caller holds ${role}`);
  return deny(`site.promote: promoting to PROD takes admin; holds ${role}`);
}
