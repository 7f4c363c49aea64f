#!/usr/bin/env bash
# The README's walkthrough as a script: create a user, a tenant, make the
# user its owner, invite a second person, accept the invitation, create a
# site and watch its operation, and install a plugin past the security scan.
# Needs curl and sed. Point it at a server with API and ADMIN_TOKEN:
#   API=http://127.0.0.1:8080 ADMIN_TOKEN=walkthrough-admin examples/walkthrough.sh
set -euo pipefail
API=${API:-http://127.0.0.1:8080}
ADMIN="Authorization: Bearer ${ADMIN_TOKEN:-walkthrough-admin}"
JSON='content-type: application/json'
field() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }   # the last "$1":"..." of a JSON answer

# 1. The platform admin creates a user and a tenant.
ADA=$(curl -sf "$API/v1/users" -H "$ADMIN" -H "$JSON" \
  -d '{"email":"ada@example.com","displayName":"Ada"}' | field userId)
TENANT=$(curl -sf "$API/v1/tenants" -H "$ADMIN" -H "$JSON" \
  -d '{"organisationName":"Acme Hosting","contactEmail":"ops@acme.example"}' | field tenantId)

# 2. Ada becomes the tenant's owner and gets a token of her own.
curl -sf -X PUT "$API/v1/tenants/$TENANT/users/$ADA" -H "$ADMIN" -H "$JSON" -d '{"role":"owner"}'; echo
ADA_TOKEN=$(curl -sf "$API/v1/users/$ADA/tokens" -H "$ADMIN" -H "$JSON" -d '{"name":"laptop"}' | field token)

# 3. Ada invites Bob as a viewer; the e-mail (with its token) lands in the outbox.
curl -sf "$API/v1/tenants/$TENANT/invitations" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"email":"bob@example.com","role":"viewer"}'; echo
INVITE=$(curl -sf "$API/v1/outbox?to=bob@example.com" -H "$ADMIN" | field token)

# 4. Bob accepts (no account needed yet) and receives his own API token.
BOB_TOKEN=$(curl -sf "$API/v1/invitations/accept" -H "$JSON" \
  -d "{\"token\":\"$INVITE\",\"displayName\":\"Bob\"}" | field token)

# 5. Bob sees the tenant; as a viewer he cannot rename it (403 policy_denied).
curl -sf "$API/v1/tenants/$TENANT" -H "Authorization: Bearer $BOB_TOKEN"; echo
curl -s -X PATCH "$API/v1/tenants/$TENANT" -H "Authorization: Bearer $BOB_TOKEN" -H "$JSON" \
  -d '{"organisationName":"Bob was here"}'; echo

# 6. Ada creates a site: 202 at once, PROVISIONING, with an operation to poll.
SITE=$(curl -sf "$API/v1/tenants/$TENANT/sites" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"name":"shop"}')
echo "$SITE"
OP=$(echo "$SITE" | field operationId)
SITE_ID=$(echo "$SITE" | sed -E 's/.*"siteId":"([^"]+)".*/\1/')
until curl -sf "$API/v1/operations/$OP" -H "Authorization: Bearer $ADA_TOKEN" | grep -q '"status":"SUCCEEDED"'; do sleep 0.2; done
curl -sf "$API/v1/tenants/$TENANT/sites/$SITE_ID" -H "Authorization: Bearer $ADA_TOKEN"; echo

# 7. A plugin version with a published critical vulnerability is refused
#    (422 security_scan_failed, with the CVE); the fixed version installs.
curl -s "$API/v1/tenants/$TENANT/sites/$SITE_ID/plugins" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"slug":"contact-form-7","version":"5.3.1"}'; echo
curl -sf "$API/v1/tenants/$TENANT/sites/$SITE_ID/plugins" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"slug":"contact-form-7","version":"5.3.2"}'; echo

# 8. Ada gives the tenant an instance (an ECS service, a database and a file
#    system; the local provider simulates them): its manifest is committed to
#    the GitOps repository, then provisioned. She scales it to 3 tasks.
INST=$(curl -sf "$API/v1/tenants/$TENANT/instances" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"name":"web"}')
echo "$INST"
OP=$(echo "$INST" | field operationId)
INST_ID=$(echo "$INST" | sed -E 's/.*"instanceId":"([^"]+)".*/\1/')
until curl -sf "$API/v1/operations/$OP" -H "Authorization: Bearer $ADA_TOKEN" | grep -q '"status":"SUCCEEDED"'; do sleep 0.2; done
OP=$(curl -sf "$API/v1/tenants/$TENANT/instances/$INST_ID/scale" -H "Authorization: Bearer $ADA_TOKEN" -H "$JSON" \
  -d '{"desiredCount":3}' | field operationId)
until curl -sf "$API/v1/operations/$OP" -H "Authorization: Bearer $ADA_TOKEN" | grep -q '"status":"SUCCEEDED"'; do sleep 0.2; done
curl -sf "$API/v1/tenants/$TENANT/instances/$INST_ID/status" -H "Authorization: Bearer $ADA_TOKEN"; echo
