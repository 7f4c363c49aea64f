//! One RBAC decision through the WebAssembly runtime against the same rules
//! in Cedar, cold loads of the platform policy, and one template plan.
//!
//! `cargo bench -p bbws-host --bench policy` runs, in order:
//!
//! 1. a check that the Cedar translation of the rules (below, in two shapes)
//!    agrees with the RBAC guest on a matrix of requests, so the two sides
//!    decide the same;
//! 2. latency percentiles (p50/p90/p99/p99.9) from a loop timing each call
//!    with `Instant` (`BBWS_BENCH_SAMPLES`, default 100,000), and the
//!    wasm/Cedar ratios: criterion reports means and medians only;
//! 3. cold loads against compiles, and one template plan (business-basic
//!    by the default template component, `BBWS_BENCH_TEMPLATE_SAMPLES`,
//!    default 2,000) beside each tier's deadline;
//! 4. the same decision under variants of the engine configuration (the
//!    runtime's own `EngineSettings`, one knob changed at a time), to show
//!    which settings matter for instantiation (`BBWS_BENCH_KNOBS=0` skips);
//! 5. what running a tenant policy on the guest pool costs beside inline
//!    (`BBWS_BENCH_POOL_SAMPLES`, default 20,000; `BBWS_BENCH_ONLY_POOL=1`
//!    runs only this);
//! 6. with `BBWS_BENCH_LANGUAGE_GUESTS=target/language-guests` (built by
//!    `scripts/build-language-guests.sh`), the Python and JavaScript
//!    policies beside the Rust guest: instantiate + call, with and without
//!    copy-on-write images, cold load and compile, resident memory per
//!    live instance (`BBWS_BENCH_LANGUAGE_SAMPLES`, default 2,000;
//!    `BBWS_BENCH_ONLY_LANGUAGES=1` runs only this);
//! 7. the criterion groups `decision/*` and `load/*`.
//!
//! `BBWS_PROFILE_LOOP=N` instead runs N production decisions and exits (for
//! `perf record` or callgrind); with `BBWS_PROFILE_KEEP_RESIDENT=BYTES` (and
//! optionally `BBWS_PROFILE_POLICY=path.wasm`) on the engine variant with
//! `pagemap_scan` and that `linear_memory_keep_resident`.

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bbws_host::blobs::FsBlobs;
use bbws_host::domain::{TenantRole, TenantStatus, Tier};
use bbws_host::policy::Request as PolicyRequest;
use bbws_host::policy::{RULES, Requires};
use bbws_host::runtime::Origin;
use bbws_host::runtime::bindings::{Policy, PolicyPre, types};
use bbws_host::runtime::{
    HostState, Limits, Runtime, RuntimeConfig, Scope, ScopeTenant, content_hash,
};
use bbws_host::service::decisions::DEFAULT_POLICY;
use bbws_host::service::sites::catalogue::{DEFAULT_TEMPLATE, platform_templates};
use cedar_policy as cedar;
use criterion::{BatchSize, Criterion};
use wasmtime::{PoolingAllocationConfig, Store};

mod common;
use bbws_host::runtime::EngineSettings;
use common::{Knobs, TestEngine, rss_kib};

const CHILD: &str = "ten_0000000000000000000000000000000c";
const PARENT: &str = "ten_0000000000000000000000000000000p";
const USER: &str = "usr_0000000000000000000000000000000a";

// ---------------------------------------------------------------------------
// The request
// ---------------------------------------------------------------------------

/// The benchmarked request: a non-admin user holding `operator` on the
/// parent (inherited) and `viewer` on the tenant itself promotes a site
/// with two attributes. Allowed ("holds operator").
fn sample_request() -> PolicyRequest {
    serde_json::from_value(serde_json::json!({
        "principal": {"userId": USER, "platformAdmin": false},
        "action": "site.promote",
        "tenantId": CHILD,
        "roles": [
            {"tenantId": PARENT, "role": "operator", "inherited": true},
            {"tenantId": CHILD, "role": "viewer", "inherited": false}
        ],
        "resource": {
            "kind": "site",
            "id": "site_0000000000000000000000000000001",
            "attributes": [["targetEnvironment", "PROD"], ["plugin", "woocommerce"]]
        },
        "nowMs": 1_767_225_600_000i64
    }))
    .expect("the sample request parses")
}

/// The tenant and its parent, as the host snapshots them for a decision.
fn sample_scope() -> Scope {
    Scope {
        tenants: vec![
            ScopeTenant {
                id: CHILD.into(),
                organisation_name: "Child Org".into(),
                status: TenantStatus::Active,
                parent_id: Some(PARENT.into()),
                tier: "standard".into(),
            },
            ScopeTenant {
                id: PARENT.into(),
                organisation_name: "Parent Org".into(),
                status: TenantStatus::Active,
                parent_id: None,
                tier: "enterprise".into(),
            },
        ],
        ..Scope::default()
    }
}

fn is_allow(d: &types::Decision) -> bool {
    matches!(d, types::Decision::Allow(_))
}

// ---------------------------------------------------------------------------
// The wasm side
// ---------------------------------------------------------------------------

/// Everything the wasm benchmarks need.
struct Wasm {
    runtime: Arc<Runtime>,
    pre: PolicyPre<HostState>,
    request: PolicyRequest,
    wit: types::Request,
    scope: Scope,
    scope_arc: Arc<Scope>,
    limits: Limits,
    origin: Arc<Origin>,
    _dir: tempfile::TempDir,
}

impl Wasm {
    fn new(rt: &tokio::runtime::Runtime) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path())))
            .expect("runtime");
        let pre = rt
            .block_on(runtime.prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY))
            .expect("the default policy prepares");
        let request = sample_request();
        let scope = sample_scope();
        Self {
            runtime,
            pre,
            wit: types::Request::from(&request),
            request,
            scope_arc: Arc::new(scope.clone()),
            scope,
            limits: Limits::default(),
            origin: Origin::new("platform", content_hash(DEFAULT_POLICY)),
            _dir: dir,
        }
    }

    /// The production call on an already converted request.
    fn decide(&self) -> types::Decision {
        self.runtime
            .authorize(
                &self.pre,
                &self.wit,
                "dec_test",
                self.scope_arc.clone(),
                self.limits,
                &self.origin,
            )
            .expect("decides")
    }

    /// As `Policies::run` calls it: the request and scope converted per call.
    fn decide_converting(&self) -> types::Decision {
        self.runtime
            .authorize(
                &self.pre,
                &types::Request::from(&self.request),
                "dec_test",
                Arc::new(self.scope.clone()),
                self.limits,
                &self.origin,
            )
            .expect("decides")
    }

    fn store(&self) -> Store<HostState> {
        self.runtime.new_store(self.scope_arc.clone(), self.limits)
    }

    /// Store setup, instantiation and the store's drop (the slot's reset), no call.
    fn instantiate_only(&self) {
        let mut store = self.store();
        let policy = self.pre.instantiate(&mut store).expect("instantiates");
        black_box(&policy);
    }

    /// A store set up and dropped, nothing instantiated.
    fn store_only(&self) {
        black_box(self.store());
    }

    /// A live instance for `call only` runs.
    fn instance(&self) -> (Store<HostState>, Policy) {
        let mut store = self.store();
        let policy = self.pre.instantiate(&mut store).expect("instantiates");
        (store, policy)
    }
}

/// Calls on one instance, re-instantiating (untimed) every this many calls:
/// the guest's bump allocator never frees, so an instance is not reused forever.
const CALLS_PER_INSTANCE: u64 = 200;

// ---------------------------------------------------------------------------
// The Cedar side
// ---------------------------------------------------------------------------

/// The cumulative role sets: `viewer` holds every tenant on which the user
/// has at least viewer, and so on up.
const ROLES: [(TenantRole, &str); 4] = [
    (TenantRole::Viewer, "viewer"),
    (TenantRole::Operator, "operator"),
    (TenantRole::Admin, "admin"),
    (TenantRole::Owner, "owner"),
];

fn role_name(r: TenantRole) -> &'static str {
    ROLES
        .iter()
        .find(|(x, _)| *x == r)
        .map(|(_, n)| *n)
        .expect("every role is named")
}

/// The rules of `host/src/policy/rules.rs` in Cedar, generated from the
/// table so the two cannot drift.
///
/// Model: `User` has `platformAdmin: Bool` and four sets of `Tenant`s, one
/// per role, each holding the tenants on which the user has at least that
/// role. Tenants are entities whose parent is their parent tenant (and who
/// also name it in a `parent` attribute), so `t in principal.operator` is
/// "operator on t or on an ancestor of t": Cedar does the inheritance.
/// The request's tenant is `context.tenant`; a role a request would grant
/// is `context.grants`.
///
/// Two shapes of the same rules: each policy's scope lists its actions
/// (`action in [Action::"site.create", ...]`, no action entities needed),
/// or (`groups`) names a group the actions are children of (`action in
/// Action::"role-operator"`, the action hierarchy prebuilt once). The
/// second evaluates about 3x faster; building its entities costs more.
fn cedar_policy_text(groups: bool) -> String {
    let actions = |keep: &dyn Fn(Requires) -> bool| -> Vec<String> {
        RULES
            .iter()
            .filter(|r| keep(r.requires))
            .map(|r| format!("Action::\"{}\"", r.action))
            .collect()
    };
    let mut text = String::new();
    let mut permit = |id: &str, list: Vec<String>, when: &str| {
        if list.is_empty() {
            return;
        }
        // Either the action list in the scope, or (`groups`) the group the
        // actions are children of: `id` names the group.
        let scope = if groups {
            format!("Action::\"{id}\"")
        } else {
            format!("[{}]", list.join(", "))
        };
        text.push_str(&format!(
            "@id(\"{id}\")\npermit (principal, action in {scope}, resource)\n{when};\n\n"
        ));
    };
    permit(
        "platform-admin",
        actions(&|_| true),
        "when { principal.platformAdmin }",
    );
    permit(
        "authenticated",
        actions(&|r| r == Requires::Authenticated),
        "when { true }",
    );
    permit(
        "self",
        actions(&|r| r == Requires::SelfOrPlatformAdmin),
        "when { resource == principal }",
    );
    for (role, name) in ROLES {
        permit(
            &format!("role-{name}"),
            actions(&|r| r == Requires::Role(role)),
            &format!("when {{ context has tenant && context.tenant in principal.{name} }}"),
        );
        permit(
            &format!("ancestor-role-{name}"),
            // The check matrix carries no `suspendedAt`, where a suspension
            // level reads as an ancestor role (the guest's own fallback).
            actions(&|r| r == Requires::AncestorRole(role) || r == Requires::SuspensionLevel(role)),
            &format!(
                "when {{ context has tenant && context.tenant has parent && context.tenant.parent in principal.{name} }}"
            ),
        );
    }
    // The grant ceiling: one may grant at most the highest role one holds.
    text.push_str(
        r#"@id("grant-ceiling")
forbid (principal, action, resource)
when {
  context has grants && context has tenant && context.tenant in principal.viewer &&
  ((context.grants == "owner" && !(context.tenant in principal.owner)) ||
   (context.grants == "admin" && !(context.tenant in principal.admin)) ||
   (context.grants == "operator" && !(context.tenant in principal.operator)))
}
unless { principal.platformAdmin };
"#,
    );
    text
}

/// The group of `cedar_policy_text(true)` an action's rule belongs to.
fn action_group(r: Requires) -> String {
    match r {
        Requires::Authenticated => "authenticated".into(),
        Requires::PlatformAdmin => "platform-admin-only".into(),
        Requires::SelfOrPlatformAdmin => "self".into(),
        Requires::Role(role) => format!("role-{}", role_name(role)),
        Requires::AncestorRole(role) | Requires::SuspensionLevel(role) => {
            format!("ancestor-role-{}", role_name(role))
        }
    }
}

/// The action hierarchy of `cedar_policy_text(true)`: every action is a
/// child of its rule's group and of `platform-admin` (all known actions).
fn action_entities(types: &Types) -> Vec<cedar::Entity> {
    let uid = |id: &str| Types::uid(&types.action, id);
    let mut groups = HashSet::new();
    let mut out = Vec::new();
    for r in RULES {
        let group = action_group(r.requires);
        out.push(cedar::Entity::new_no_attrs(
            uid(r.action),
            HashSet::from([uid(&group), uid("platform-admin")]),
        ));
        groups.insert(group);
    }
    groups.insert("platform-admin".into());
    for g in groups {
        out.push(cedar::Entity::new_no_attrs(uid(&g), HashSet::new()));
    }
    out
}

/// Entity type names, parsed once.
struct Types {
    user: cedar::EntityTypeName,
    tenant: cedar::EntityTypeName,
    action: cedar::EntityTypeName,
    kinds: HashMap<&'static str, cedar::EntityTypeName>,
}

impl Types {
    fn new() -> Self {
        let name = |s: &str| cedar::EntityTypeName::from_str(s).expect("a type name");
        let kinds = [
            ("tenant", "Tenant"),
            ("user", "User"),
            ("invitation", "Invitation"),
            ("site", "Site"),
            ("instance", "Instance"),
            ("extension", "Extension"),
            ("outbox", "Outbox"),
        ]
        .into_iter()
        .map(|(k, t)| (k, name(t)))
        .collect();
        Self {
            user: name("User"),
            tenant: name("Tenant"),
            action: name("Action"),
            kinds,
        }
    }

    fn uid(ty: &cedar::EntityTypeName, id: &str) -> cedar::EntityUid {
        cedar::EntityUid::from_type_name_and_id(ty.clone(), cedar::EntityId::new(id))
    }

    fn kind(&self, kind: &str) -> cedar::EntityTypeName {
        self.kinds.get(kind).cloned().unwrap_or_else(|| {
            let mut t = kind.replace('.', "_");
            if let Some(first) = t.get_mut(0..1) {
                first.make_ascii_uppercase();
            }
            cedar::EntityTypeName::from_str(&t).expect("a type name")
        })
    }
}

/// Everything `Authorizer::is_authorized` needs, built from the same input
/// the wasm guest gets (the request and the scope).
fn cedar_input(
    types: &Types,
    req: &PolicyRequest,
    scope: &Scope,
) -> (cedar::Request, Vec<cedar::Entity>) {
    use cedar::RestrictedExpression as E;
    let principal = Types::uid(&types.user, &req.principal.user_id);
    let mut entities = Vec::with_capacity(scope.tenants.len() + 2);
    let mut seen = HashSet::new();

    // The principal: its role sets, cumulative.
    let mut sets: [Vec<E>; 4] = Default::default();
    for b in &req.roles {
        for (i, (role, _)) in ROLES.iter().enumerate() {
            if b.role >= *role {
                sets[i].push(E::new_entity_uid(Types::uid(&types.tenant, &b.tenant_id)));
            }
        }
    }
    let mut attrs = HashMap::with_capacity(5);
    attrs.insert(
        "platformAdmin".to_string(),
        E::new_bool(req.principal.platform_admin),
    );
    for ((_, name), set) in ROLES.iter().zip(sets) {
        attrs.insert((*name).to_string(), E::new_set(set));
    }
    seen.insert(principal.clone());
    entities
        .push(cedar::Entity::new(principal.clone(), attrs, HashSet::new()).expect("the principal"));

    // The tenant tree: each tenant's parent is its parent tenant.
    for t in &scope.tenants {
        let uid = Types::uid(&types.tenant, &t.id);
        let mut parents = HashSet::new();
        let mut attrs = HashMap::new();
        if let Some(p) = &t.parent_id {
            let parent = Types::uid(&types.tenant, p);
            attrs.insert("parent".to_string(), E::new_entity_uid(parent.clone()));
            parents.insert(parent);
        }
        seen.insert(uid.clone());
        entities.push(cedar::Entity::new(uid, attrs, parents).expect("a tenant"));
    }

    // The resource, a child of the request's tenant, with its attributes.
    let resource = Types::uid(
        &types.kind(&req.resource.kind),
        req.resource.id.as_deref().unwrap_or(""),
    );
    if !seen.contains(&resource) {
        let attrs = req
            .resource
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), E::new_string(v.clone())))
            .collect();
        let parents = req
            .tenant_id
            .iter()
            .map(|t| Types::uid(&types.tenant, t))
            .collect();
        entities.push(cedar::Entity::new(resource.clone(), attrs, parents).expect("the resource"));
    }

    let mut context = Vec::with_capacity(2);
    if let Some(t) = &req.tenant_id {
        context.push((
            "tenant".to_string(),
            E::new_entity_uid(Types::uid(&types.tenant, t)),
        ));
    }
    if let Some(g) = req.resource.grants_role {
        context.push((
            "grants".to_string(),
            E::new_string(role_name(g).to_string()),
        ));
    }
    let request = cedar::Request::new(
        principal,
        Types::uid(&types.action, &req.action),
        resource,
        cedar::Context::from_pairs(context).expect("a context"),
        None,
    )
    .expect("a request");
    (request, entities)
}

struct Cedar {
    authorizer: cedar::Authorizer,
    policies: cedar::PolicySet,
    types: Types,
    /// The action hierarchy, with action groups (none with action lists).
    actions: Option<cedar::Entities>,
    request: cedar::Request,
    entities: cedar::Entities,
}

impl Cedar {
    /// `groups`: actions as children of per-rule groups (`action in
    /// Action::"role-operator"`) instead of lists in each policy's scope.
    fn new(req: &PolicyRequest, scope: &Scope, groups: bool) -> Self {
        let policies = cedar::PolicySet::from_str(&cedar_policy_text(groups))
            .expect("the Cedar policies parse");
        let types = Types::new();
        let actions = groups.then(|| {
            cedar::Entities::from_entities(action_entities(&types), None).expect("actions")
        });
        let mut cedar = Self {
            authorizer: cedar::Authorizer::new(),
            policies,
            types,
            actions,
            request: cedar::Request::new(
                cedar::EntityUid::from_str("User::\"nobody\"").expect("a uid"),
                cedar::EntityUid::from_str("Action::\"none\"").expect("a uid"),
                cedar::EntityUid::from_str("Tenant::\"none\"").expect("a uid"),
                cedar::Context::empty(),
                None,
            )
            .expect("a request"),
            entities: cedar::Entities::empty(),
        };
        (cedar.request, cedar.entities) = cedar.input(req, scope);
        cedar
    }

    /// The request and entities for an input: the request's entities added
    /// to the (prebuilt) action hierarchy, if any.
    fn input(&self, req: &PolicyRequest, scope: &Scope) -> (cedar::Request, cedar::Entities) {
        let (request, entities) = cedar_input(&self.types, req, scope);
        let entities = match &self.actions {
            Some(actions) => actions.clone().add_entities(entities, None),
            None => cedar::Entities::from_entities(entities, None),
        };
        (request, entities.expect("entities"))
    }

    fn allows(&self, req: &PolicyRequest, scope: &Scope) -> bool {
        let (request, entities) = self.input(req, scope);
        let response = self
            .authorizer
            .is_authorized(&request, &self.policies, &entities);
        response.decision() == cedar::Decision::Allow
    }

    /// Request and entities built once: only the evaluation.
    fn decide_prebuilt(&self) -> cedar::Response {
        self.authorizer
            .is_authorized(&self.request, &self.policies, &self.entities)
    }

    /// Request and entities built from the input, then the evaluation.
    fn decide_building(&self, req: &PolicyRequest, scope: &Scope) -> cedar::Response {
        let (request, entities) = self.input(req, scope);
        self.authorizer
            .is_authorized(&request, &self.policies, &entities)
    }
}

/// The Cedar rules must decide as the guest does, or the comparison means
/// nothing. Returns how many requests were compared.
fn check_agreement(wasm: &Wasm, cedar: &Cedar) -> usize {
    use TenantRole::*;
    use bbws_host::policy::RoleBinding as BindingInput;
    let bind = |tenant: &str, role, inherited| BindingInput {
        tenant_id: tenant.into(),
        role,
        inherited,
    };
    let role_sets: Vec<Vec<BindingInput>> = vec![
        vec![],
        vec![bind(CHILD, Viewer, false)],
        vec![bind(PARENT, Operator, true), bind(CHILD, Viewer, false)],
        vec![bind(CHILD, Operator, false)],
        vec![bind(CHILD, Admin, false)],
        vec![bind(PARENT, Admin, true)],
        vec![bind(CHILD, Owner, false)],
        vec![bind(PARENT, Owner, true)],
        vec![bind(PARENT, Owner, true), bind(CHILD, Viewer, false)],
    ];
    let mut actions: Vec<&str> = RULES.iter().map(|r| r.action).collect();
    actions.push("tenant.explode");
    let scope = sample_scope();
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for action in &actions {
        for roles in &role_sets {
            for admin in [false, true] {
                for grants in [None, Some(Operator), Some(Admin), Some(Owner)] {
                    for (kind, id) in [
                        ("site", "site_1"),
                        ("user", USER),
                        ("user", "usr_other"),
                        ("tenant", CHILD),
                    ] {
                        let mut req = sample_request();
                        req.action = (*action).to_string();
                        req.roles = roles.clone();
                        req.principal.platform_admin = admin;
                        req.resource.kind = kind.into();
                        req.resource.id = Some(id.into());
                        req.resource.grants_role = grants;
                        let w = is_allow(
                            &wasm
                                .runtime
                                .authorize(
                                    &wasm.pre,
                                    &types::Request::from(&req),
                                    "dec_test",
                                    Arc::new(scope.clone()),
                                    wasm.limits,
                                    &wasm.origin,
                                )
                                .expect("decides"),
                        );
                        let c = cedar.allows(&req, &scope);
                        compared += 1;
                        if w != c {
                            disagreements.push(format!(
                                "{action} roles={:?} admin={admin} grants={grants:?} resource={kind}:{id}: wasm={w} cedar={c}",
                                roles.iter().map(|b| (b.role, b.inherited)).collect::<Vec<_>>()
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(
        disagreements.is_empty(),
        "Cedar and the RBAC guest disagree on {} of {compared} requests:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    compared
}

// ---------------------------------------------------------------------------
// Percentiles
// ---------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct Summary {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    mean: f64,
}

/// Nanoseconds, sorted, into microsecond percentiles.
fn summarise(mut ns: Vec<u64>) -> Summary {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 * q) as usize).min(ns.len() - 1)] as f64 / 1000.0;
    Summary {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        mean: ns.iter().sum::<u64>() as f64 / ns.len() as f64 / 1000.0,
    }
}

/// Times each of `n` calls of `f` (after `n / 10` untimed warm-up calls).
fn time_each(n: usize, mut f: impl FnMut()) -> Summary {
    for _ in 0..n / 10 {
        f();
    }
    let mut ns = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f();
        ns.push(t.elapsed().as_nanos() as u64);
    }
    summarise(ns)
}

/// Times each of `n` calls on live instances, re-instantiating untimed.
fn time_calls(wasm: &Wasm, n: usize) -> Summary {
    let mut ns = Vec::with_capacity(n);
    let mut warm = n / 10;
    while ns.len() < n {
        let (mut store, policy) = wasm.instance();
        for _ in 0..CALLS_PER_INSTANCE {
            let t = Instant::now();
            black_box(
                policy
                    .call_authorize(&mut store, &wasm.wit)
                    .expect("decides"),
            );
            let took = t.elapsed().as_nanos() as u64;
            if warm > 0 {
                warm -= 1;
            } else if ns.len() < n {
                ns.push(took);
            }
        }
    }
    summarise(ns)
}

fn print_row(name: &str, s: Summary) {
    println!(
        "{name:<60} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        s.p50, s.p90, s.p99, s.p999, s.mean
    );
}

fn print_header(title: &str) {
    println!("\n{title}");
    println!(
        "{:<60} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "(microseconds)", "p50", "p90", "p99", "p99.9", "mean"
    );
}

fn percentiles(wasm: &Wasm, lists: &Cedar, groups: &Cedar, n: usize) {
    print_header(&format!("decision latency, {n} timed calls each"));
    let full = time_each(n, || {
        black_box(wasm.decide());
    });
    print_row("wasm: instantiate + call (authorize)", full);
    let conv = time_each(n, || {
        black_box(wasm.decide_converting());
    });
    print_row("wasm: + per-call input conversion", conv);
    let store = time_each(n, || wasm.store_only());
    print_row("wasm part: store new + drop", store);
    let inst = time_each(n, || wasm.instantiate_only());
    print_row("wasm part: store + instantiate + drop", inst);
    let call = time_calls(wasm, n);
    print_row("wasm part: call on a live instance", call);
    let (req, scope) = (&wasm.request, &wasm.scope);
    let mut cedar = Vec::new();
    for (name, model) in [("action lists", lists), ("action groups", groups)] {
        let pre = time_each(n, || {
            black_box(model.decide_prebuilt());
        });
        print_row(
            &format!("cedar ({name}): is_authorized, input prebuilt"),
            pre,
        );
        let build = time_each(n, || {
            black_box(model.decide_building(req, scope));
        });
        print_row(
            &format!("cedar ({name}): build input + is_authorized"),
            build,
        );
        cedar.push((name, pre, build));
    }

    println!("\nratios wasm/cedar                              p50      p99");
    for (name, pre, build) in cedar {
        println!(
            "{:<44} {:>6.2}x {:>7.2}x",
            format!("input prebuilt, cedar with {name}"),
            full.p50 / pre.p50,
            full.p99 / pre.p99
        );
        println!(
            "{:<44} {:>6.2}x {:>7.2}x",
            format!("input built per call, cedar with {name}"),
            conv.p50 / build.p50,
            conv.p99 / build.p99
        );
    }
}

// ---------------------------------------------------------------------------
// Engine configuration variants
// ---------------------------------------------------------------------------

/// The default policy compiled on an engine variant.
struct Variant {
    engine: TestEngine,
    pre: PolicyPre<HostState>,
}

impl Variant {
    fn new(knobs: Knobs, policy: &[u8]) -> anyhow::Result<Self> {
        let engine = TestEngine::new(knobs)?;
        let pre = engine
            .prepare(policy)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        Ok(Self { engine, pre })
    }

    fn decide(&self, req: &types::Request, scope: &Arc<Scope>, limits: Limits) -> bool {
        let decision = self.engine.decide(&self.pre, req, scope.clone(), limits);
        is_allow(&decision.expect("decides"))
    }

    fn instantiate_only(&self, scope: &Arc<Scope>, limits: Limits) {
        let mut store = self.engine.store(scope.clone(), limits);
        black_box(self.pre.instantiate(&mut store).expect("instantiates"));
    }
}

fn knob_sweep(wasm: &Wasm, n: usize) {
    let base = Knobs::baseline();
    let keep = |bytes: usize| {
        Knobs::with(|e| {
            e.linear_memory_keep_resident = bytes;
            e.table_keep_resident = 4 << 10;
        })
    };
    let scan = |bytes: usize| Knobs {
        engine: EngineSettings {
            pagemap_scan: true,
            ..keep(bytes).engine
        },
        ..base
    };
    let variants: Vec<(&str, Knobs)> = vec![
        ("baseline (Runtime::new before 1b897f4)", base),
        (
            "table_keep_resident 4 KiB only",
            Knobs::with(|e| e.table_keep_resident = 4 << 10),
        ),
        (
            "pagemap_scan + keep_resident 256 KiB, tables madvised",
            Knobs {
                engine: EngineSettings {
                    table_keep_resident: 0,
                    ..scan(256 << 10).engine
                },
                ..base
            },
        ),
        ("keep_resident 64 KiB (memset, no scan)", keep(64 << 10)),
        (
            "keep_resident 256 KiB (memset, no scan: Auto without the ioctl)",
            keep(256 << 10),
        ),
        ("keep_resident 1 MiB (memset, no scan)", keep(1 << 20)),
        ("pagemap_scan + keep_resident 64 KiB", scan(64 << 10)),
        (
            "pagemap_scan + keep_resident 256 KiB (= Runtime::new now)",
            scan(256 << 10),
        ),
        ("pagemap_scan + keep_resident 1 MiB", scan(1 << 20)),
        (
            "decommit_batch_size 32",
            Knobs::with(|e| e.decommit_batch_size = 32),
        ),
        (
            "pagemap_scan + keep 256 KiB + batch 32",
            Knobs {
                engine: EngineSettings {
                    decommit_batch_size: 32,
                    ..scan(256 << 10).engine
                },
                ..base
            },
        ),
        (
            "memory_init_cow off",
            Knobs::with(|e| e.memory_init_cow = false),
        ),
        (
            "PROPOSED: cow off + pagemap_scan + keep 256 KiB",
            Knobs::proposed(),
        ),
        (
            "max_memory_size 4 MiB",
            Knobs::with(|e| e.max_memory_size = 4 << 20),
        ),
        (
            "memory_reservation 32 MiB, guard 64 KiB",
            Knobs::with(|e| {
                e.memory_reservation = Some(32 << 20);
                e.memory_guard_size = Some(64 << 10);
            }),
        ),
        (
            "table_lazy_init off",
            Knobs::with(|e| e.table_lazy_init = false),
        ),
        (
            "no epoch interruption",
            Knobs::with(|e| e.epoch_interruption = false),
        ),
        (
            "no resource limiter",
            Knobs {
                limiter: false,
                ..base
            },
        ),
        (
            "on-demand allocator (no pooling)",
            Knobs::with(|e| e.pooling = false),
        ),
    ];
    print_header(&format!(
        "engine variants: full decision / instantiate only, {n} timed calls each (pagemap scan available: {})",
        PoolingAllocationConfig::is_pagemap_scan_available()
    ));
    run_variants(wasm, n, DEFAULT_POLICY, &variants);

    // Other builds of the guest (`name=path.wasm,...`), under the variants
    // that matter most: what a change to the SDK would buy.
    let others = std::env::var("BBWS_BENCH_ALT_POLICIES").unwrap_or_default();
    for (name, path) in others.split(',').filter_map(|p| p.split_once('=')) {
        let bytes = std::fs::read(path).expect("an alternative policy component");
        print_header(&format!("guest build `{name}` ({path}, {} B)", bytes.len()));
        let few: Vec<(&str, Knobs)> = variants
            .iter()
            .filter(|(v, _)| {
                v.starts_with("baseline")
                    || v.starts_with("pagemap_scan + keep_resident 256 KiB (=")
                    || *v == "decommit_batch_size 32"
                    || *v == "pagemap_scan + keep 256 KiB + batch 32"
                    || v.starts_with("PROPOSED")
            })
            .cloned()
            .collect();
        run_variants(wasm, n, &bytes, &few);
    }
}

fn run_variants(wasm: &Wasm, n: usize, policy: &[u8], variants: &[(&str, Knobs)]) {
    let (req, scope, limits) = (&wasm.wit, &wasm.scope_arc, wasm.limits);
    // `BBWS_BENCH_KNOB_FILTER=a,b`: only the variants whose name contains one of these.
    let filter = std::env::var("BBWS_BENCH_KNOB_FILTER").unwrap_or_default();
    let wanted = |name: &str| filter.is_empty() || filter.split(',').any(|f| name.contains(f));
    for &(name, knobs) in variants.iter().filter(|(name, _)| wanted(name)) {
        let v = match Variant::new(knobs, policy) {
            Ok(v) => v,
            Err(e) => {
                println!("{name:<60} not available: {e:#}");
                continue;
            }
        };
        assert!(v.decide(req, scope, limits));
        let full = time_each(n, || {
            black_box(v.decide(req, scope, limits));
        });
        print_row(&format!("{name}: decision"), full);
        let inst = time_each(n, || v.instantiate_only(scope, limits));
        print_row(&format!("{name}: instantiate"), inst);
    }
}

// ---------------------------------------------------------------------------
// Criterion
// ---------------------------------------------------------------------------

fn decision_benches(c: &mut Criterion, wasm: &Wasm, cedar: &Cedar, groups: &Cedar) {
    let mut g = c.benchmark_group("decision");
    g.bench_function("wasm", |b| b.iter(|| black_box(wasm.decide())));
    g.bench_function("wasm_converting_input", |b| {
        b.iter(|| black_box(wasm.decide_converting()))
    });
    g.bench_function("wasm_instantiate_only", |b| {
        b.iter(|| wasm.instantiate_only())
    });
    g.bench_function("wasm_call_only", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                let (mut store, policy) = wasm.instance();
                let batch = (iters - done).min(CALLS_PER_INSTANCE);
                let t = Instant::now();
                for _ in 0..batch {
                    black_box(
                        policy
                            .call_authorize(&mut store, &wasm.wit)
                            .expect("decides"),
                    );
                }
                total += t.elapsed();
                done += batch;
            }
            total
        })
    });
    g.bench_function("cedar", |b| b.iter(|| black_box(cedar.decide_prebuilt())));
    let (req, scope) = (&wasm.request, &wasm.scope);
    g.bench_function("cedar_building_input", |b| {
        b.iter(|| black_box(cedar.decide_building(req, scope)))
    });
    g.bench_function("cedar_groups", |b| {
        b.iter(|| black_box(groups.decide_prebuilt()))
    });
    g.bench_function("cedar_groups_building_input", |b| {
        b.iter(|| black_box(groups.decide_building(req, scope)))
    });
    g.finish();
}

fn load_benches(c: &mut Criterion, rt: &tokio::runtime::Runtime) {
    let hash = content_hash(DEFAULT_POLICY);
    // A blob dir that holds the precompiled artifact of this engine.
    let warm = tempfile::tempdir().expect("tempdir");
    {
        let runtime = Runtime::new(
            RuntimeConfig::default(),
            Arc::new(FsBlobs::new(warm.path())),
        )
        .expect("runtime");
        rt.block_on(runtime.prepare(&hash, DEFAULT_POLICY))
            .expect("prepares");
        assert_eq!(runtime.stats().compiled.load(Ordering::Relaxed), 1);
    }
    let mut g = c.benchmark_group("load");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("cold-artifact", |b| {
        b.iter_batched(
            || {
                Runtime::new(
                    RuntimeConfig::default(),
                    Arc::new(FsBlobs::new(warm.path())),
                )
                .expect("runtime")
            },
            |runtime| {
                let pre = rt
                    .block_on(runtime.prepare(&hash, DEFAULT_POLICY))
                    .expect("prepares");
                debug_assert_eq!(runtime.stats().artifacts_loaded.load(Ordering::Relaxed), 1);
                (runtime, pre)
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("compile", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let runtime =
                    Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path())))
                        .expect("runtime");
                (dir, runtime)
            },
            |(dir, runtime)| {
                let pre = rt
                    .block_on(runtime.prepare(&hash, DEFAULT_POLICY))
                    .expect("prepares");
                debug_assert_eq!(runtime.stats().compiled.load(Ordering::Relaxed), 1);
                (dir, runtime, pre)
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Cold loads timed by hand, for a direct ratio (criterion prints each alone).
fn load_ratio(rt: &tokio::runtime::Runtime, n: usize) {
    let hash = content_hash(DEFAULT_POLICY);
    let warm = tempfile::tempdir().expect("tempdir");
    {
        let runtime = Runtime::new(
            RuntimeConfig::default(),
            Arc::new(FsBlobs::new(warm.path())),
        )
        .expect("runtime");
        rt.block_on(runtime.prepare(&hash, DEFAULT_POLICY))
            .expect("prepares");
    }
    let artifact_bytes = std::fs::read_dir(warm.path().join("artifacts"))
        .ok()
        .and_then(|mut d| d.next())
        .and_then(|e| e.ok())
        .and_then(|e| std::fs::read_dir(e.path()).ok())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        })
        .unwrap_or(0);
    let time = |fresh_dir: bool| {
        let mut ns = Vec::with_capacity(n);
        for _ in 0..n {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = if fresh_dir { dir.path() } else { warm.path() };
            let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(path)))
                .expect("runtime");
            let t = Instant::now();
            let pre = rt
                .block_on(runtime.prepare(&hash, DEFAULT_POLICY))
                .expect("prepares");
            ns.push(t.elapsed().as_nanos() as u64);
            drop(pre);
        }
        summarise(ns)
    };
    let cold = time(false);
    let compile = time(true);
    print_header(&format!(
        "Runtime::prepare of the default policy ({} B component, {artifact_bytes} B artifact), {n} fresh runtimes each",
        DEFAULT_POLICY.len()
    ));
    print_row("load/cold-artifact", cold);
    print_row("load/compile", compile);
    println!(
        "compile / cold-artifact: {:.1}x at p50, {:.1}x in mean",
        compile.p50 / cold.p50,
        compile.mean / cold.mean
    );
}

/// One plan of the platform's business-basic template by the default
/// template component (a fresh instance, the body parsed, the plan
/// written), beside the deadline each tier gives it. A figure, not a test:
/// on a loaded machine a timed assertion fails for the wrong reason, and
/// that the runtime stops a call at its deadline is tested in
/// `host/tests/template_runtime.rs`.
fn template_plan(rt: &tokio::runtime::Runtime, n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path())))
        .expect("runtime");
    let pre = rt
        .block_on(runtime.prepare_template(&content_hash(DEFAULT_TEMPLATE), DEFAULT_TEMPLATE))
        .expect("prepares the default template component");
    let spec = platform_templates()
        .into_iter()
        .find(|t| t.id == "business-basic")
        .expect("the business-basic template");
    let site: bbws_host::runtime::ScopeSite = serde_json::from_value(serde_json::json!({
        "id": "site_00000000000000000000000000000001",
        "tenantId": CHILD,
        "name": "acme-www",
        "environment": "DEV",
        "status": "ACTIVE"
    }))
    .expect("the sample site parses");
    let params = r#"{"businessName": "Acme", "contactEmail": "a@b.c"}"#;
    let scope = Arc::new(Scope::default());
    // A deadline no plan nears, so that a slow call shows in the
    // percentiles instead of ending the run.
    let limits = Limits {
        deadline: Duration::from_secs(1),
        ..Limits::default()
    };
    let plan = || {
        runtime
            .template_plan(
                &pre,
                &spec,
                &site,
                params,
                scope.clone(),
                limits,
                &Origin::new("platform", "template"),
            )
            .expect("plans within the limits")
            .expect("the parameters are valid")
    };
    assert!(!plan().is_empty(), "business-basic plans some operations");
    print_header(&format!("template plan, {n} timed calls"));
    let s = time_each(n, || {
        black_box(plan());
    });
    print_row("business-basic by the default template component", s);
    for tier in [Tier::Free, Tier::Standard, Tier::Premium] {
        let deadline = Limits::for_tier(tier).deadline;
        println!(
            "p99 is {:.1}% of the {tier:?} tier's deadline ({deadline:?})",
            s.p99 / deadline.as_micros() as f64 * 100.0
        );
    }
}

/// What running a tenant's policy on the guest pool (off the request
/// threads, as `Policies::decide` runs every component but the platform's)
/// costs beside calling it inline: the same decision, awaited one after
/// another from a two-worker runtime like the server's, inline against
/// through `GuestPool::run` (a permit of the tenant's share, a slot, the
/// hand-off to a blocking thread and back).
fn pool_cost(wasm: &Wasm, n: usize) {
    use bbws_host::runtime::pool::Budget;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let (runtime, pre, wit, scope, limits) = (
        wasm.runtime.clone(),
        wasm.pre.clone(),
        wasm.wit.clone(),
        wasm.scope_arc.clone(),
        wasm.limits,
    );
    let origin = Origin::new("ten_bench", "bench");
    let (inline, pooled) = rt.block_on(async move {
        let mut inline = Vec::with_capacity(n);
        let mut pooled = Vec::with_capacity(n);
        for round in 0..2 * n {
            let t = Instant::now();
            if round % 2 == 0 {
                black_box(
                    runtime
                        .authorize(&pre, &wit, "dec_test", scope.clone(), limits, &origin)
                        .expect("decides"),
                );
                inline.push(t.elapsed().as_nanos() as u64);
            } else {
                let budget = Budget::new(Duration::from_millis(100));
                let (rt2, pre2, wit2, scope2, origin2) = (
                    runtime.clone(),
                    pre.clone(),
                    wit.clone(),
                    scope.clone(),
                    origin.clone(),
                );
                let d = runtime
                    .pool()
                    .run("ten_bench", &budget, limits, move |limits| {
                        rt2.authorize(&pre2, &wit2, "dec_test", scope2, limits, &origin2)
                    })
                    .await
                    .expect("decides");
                black_box(d);
                pooled.push(t.elapsed().as_nanos() as u64);
            }
        }
        (inline, pooled)
    });
    let (inline, pooled) = (summarise(inline), summarise(pooled));
    print_header("A tenant policy inline against on the guest pool (interleaved)");
    let line = format!(
        "  pool / inline: p50 {:.2}x, p99 {:.2}x; added at p50: {:.1} us",
        pooled.p50 / inline.p50,
        pooled.p99 / inline.p99,
        pooled.p50 - inline.p50
    );
    print_row("inline (on the async thread)", inline);
    print_row("guest pool (blocking slot)", pooled);
    println!("{line}");
}

// ---------------------------------------------------------------------------
// Guests in other languages
// ---------------------------------------------------------------------------

/// The policies of `examples/policy-python` and `examples/policy-js`
/// (built by `scripts/build-language-guests.sh` into `dir`) beside the
/// Rust RBAC guest, on the sample request: instantiate + call on the
/// production runtime (their size puts them on the large engine, with
/// copy-on-write images and 4 MiB a slot kept resident) and on the same
/// engine without copy-on-write, and with nothing kept resident;
/// the cold load from a stored artifact and the compile; and the resident
/// memory one live instance holds (`held` instances live at once, after a
/// call each, over the VmRSS before them).
fn languages(rt: &tokio::runtime::Runtime, dir: &std::path::Path, n: usize) {
    let guests: Vec<(&str, Vec<u8>)> = [
        ("Rust (RBAC, the SDK)", DEFAULT_POLICY.to_vec()),
        (
            "Python (componentize-py)",
            std::fs::read(dir.join("policy-python.wasm")).expect("policy-python.wasm"),
        ),
        (
            "JavaScript (componentize-js)",
            std::fs::read(dir.join("policy-js.wasm")).expect("policy-js.wasm"),
        ),
    ]
    .into_iter()
    .collect();
    let request = types::Request::from(&sample_request());
    let scope = Arc::new(sample_scope());
    let limits = Limits {
        deadline: Duration::from_secs(1),
        memory_bytes: 64 << 20,
        ..Limits::default()
    };
    let origin = Origin::new("bench", "bench");
    let no_cow = RuntimeConfig {
        large_engine: EngineSettings {
            memory_init_cow: false,
            ..EngineSettings::large()
        },
        ..RuntimeConfig::default()
    };
    let resident = RuntimeConfig {
        large_engine: EngineSettings {
            linear_memory_keep_resident: 0,
            ..EngineSettings::large()
        },
        ..RuntimeConfig::default()
    };
    print_header(&format!(
        "policies in other languages, the sample request, {n} timed decisions each"
    ));
    let mut rust_p50 = 0.0;
    for (name, bytes) in &guests {
        let hash = content_hash(bytes);
        for (variant, config) in [
            ("", RuntimeConfig::default()),
            (", no copy-on-write", no_cow.clone()),
            (", nothing kept resident", resident.clone()),
        ] {
            if variant.is_empty() || bytes.len() > bbws_host::runtime::LARGE_COMPONENT_BYTES {
                let dir = tempfile::tempdir().expect("tempdir");
                let runtime =
                    Runtime::new(config, Arc::new(FsBlobs::new(dir.path()))).expect("runtime");
                let pre = rt
                    .block_on(runtime.prepare(&hash, bytes))
                    .expect("prepares");
                let first = Instant::now();
                black_box(
                    runtime
                        .authorize(&pre, &request, "dec_bench", scope.clone(), limits, &origin)
                        .expect("decides"),
                );
                let first = first.elapsed();
                let s = time_each(n, || {
                    black_box(
                        runtime
                            .authorize(&pre, &request, "dec_bench", scope.clone(), limits, &origin)
                            .expect("decides"),
                    );
                });
                if rust_p50 == 0.0 {
                    rust_p50 = s.p50;
                }
                print_row(&format!("{name}: instantiate + call{variant}"), s);
                println!(
                    "{:<60} {:>8.2} (the first decision after the load)",
                    "",
                    first.as_secs_f64() * 1e6
                );
                let engine = pre.instance_pre().engine().clone();
                let inst = time_each(n, || {
                    let mut store = bbws_host::runtime::new_store(
                        &engine,
                        HostState::new(scope.clone(), limits),
                    );
                    black_box(pre.instantiate(&mut store).expect("instantiates"));
                });
                print_row(
                    &format!("{name}: instantiate + drop, no call{variant}"),
                    inst,
                );
                if variant.is_empty() {
                    println!(
                        "{:<60} {:>7.1}x of the Rust guest at p50",
                        "",
                        s.p50 / rust_p50
                    );
                }
            }
        }
    }
    print_header(
        "loading a policy: from its stored artifact on a fresh runtime, and compiling it (5 each)",
    );
    for (name, bytes) in &guests {
        let hash = content_hash(bytes);
        let warm = tempfile::tempdir().expect("tempdir");
        let (mut cold, mut compile) = (Vec::new(), Vec::new());
        for i in 0..10 {
            let fresh = tempfile::tempdir().expect("tempdir");
            let path = if i % 2 == 0 {
                fresh.path()
            } else {
                warm.path()
            };
            let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(path)))
                .expect("runtime");
            let t = Instant::now();
            let pre = rt
                .block_on(runtime.prepare(&hash, bytes))
                .expect("prepares");
            let took = t.elapsed().as_nanos() as u64;
            if i % 2 == 0 {
                compile.push(took)
            } else {
                cold.push(took)
            }
            drop(pre);
            if i == 0 {
                // Fill the warm directory with this runtime's artifact.
                let seed = Runtime::new(
                    RuntimeConfig::default(),
                    Arc::new(FsBlobs::new(warm.path())),
                )
                .expect("runtime");
                rt.block_on(seed.prepare(&hash, bytes)).expect("prepares");
            }
        }
        print_row(
            &format!("{name}: cold load from the artifact"),
            summarise(cold),
        );
        print_row(
            &format!("{name}: compile ({} KB component)", bytes.len() / 1000),
            summarise(compile),
        );
    }
    let held = 8;
    println!(
        "
resident memory of a live instance ({held} held at once, one call each)"
    );
    for (name, bytes) in &guests {
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path())))
            .expect("runtime");
        let pre = rt
            .block_on(runtime.prepare(&content_hash(bytes), bytes))
            .expect("prepares");
        let engine = pre.instance_pre().engine().clone();
        let before = rss_kib();
        let mut live = Vec::new();
        for _ in 0..held {
            let mut store =
                bbws_host::runtime::new_store(&engine, HostState::new(scope.clone(), limits));
            let policy = pre.instantiate(&mut store).expect("instantiates");
            black_box(
                policy
                    .call_authorize(&mut store, &request)
                    .expect("decides"),
            );
            let memory = store.data().memory_bytes;
            live.push((store, memory));
        }
        let per = (rss_kib().saturating_sub(before)) as f64 / held as f64;
        let memory = live[0].1 as f64 / (1 << 20) as f64;
        println!(
            "{:<60} {per:>8.0} KiB resident ({memory:.1} MiB of linear memory)",
            format!("{name}")
        );
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let wasm = Wasm::new(&rt);
    assert!(is_allow(&wasm.decide()), "the sample request is allowed");

    if let (Some(n), Ok(keep)) = (
        std::env::var("BBWS_PROFILE_LOOP")
            .ok()
            .and_then(|v| v.parse::<usize>().ok()),
        std::env::var("BBWS_PROFILE_KEEP_RESIDENT"),
    ) {
        // The loop on the baseline engine with pagemap_scan and this much
        // kept resident, optionally on another build of the guest.
        let policy = match std::env::var("BBWS_PROFILE_POLICY") {
            Ok(path) => std::fs::read(path).expect("the policy to profile"),
            Err(_) => DEFAULT_POLICY.to_vec(),
        };
        let keep = keep.parse().expect("bytes");
        let knobs = Knobs::with(|e| {
            e.pagemap_scan = true;
            e.linear_memory_keep_resident = keep;
            e.table_keep_resident = 4 << 10;
        });
        let v = Variant::new(knobs, &policy).expect("the variant engine");
        let t = Instant::now();
        for _ in 0..n {
            black_box(v.decide(&wasm.wit, &wasm.scope_arc, wasm.limits));
        }
        println!("{n} decisions in {:?}", t.elapsed());
        return;
    }
    if let Some(n) = std::env::var("BBWS_PROFILE_LOOP")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        let t = Instant::now();
        for _ in 0..n {
            black_box(wasm.decide());
        }
        println!("{n} decisions in {:?}", t.elapsed());
        return;
    }

    let language_guests = std::env::var("BBWS_BENCH_LANGUAGE_GUESTS")
        .ok()
        .filter(|d| !d.is_empty());
    if env_usize("BBWS_BENCH_ONLY_LANGUAGES", 0) != 0 {
        let dir = language_guests.expect(
            "BBWS_BENCH_LANGUAGE_GUESTS: the directory scripts/build-language-guests.sh builds into",
        );
        languages(
            &rt,
            dir.as_ref(),
            env_usize("BBWS_BENCH_LANGUAGE_SAMPLES", 2_000),
        );
        return;
    }
    if env_usize("BBWS_BENCH_ONLY_POOL", 0) != 0 {
        pool_cost(&wasm, env_usize("BBWS_BENCH_POOL_SAMPLES", 20_000));
        return;
    }
    if env_usize("BBWS_BENCH_ONLY_KNOBS", 0) != 0 {
        knob_sweep(&wasm, env_usize("BBWS_BENCH_KNOB_SAMPLES", 50_000));
        return;
    }

    let cedar = Cedar::new(&wasm.request, &wasm.scope, false);
    let groups = Cedar::new(&wasm.request, &wasm.scope, true);
    for model in [&cedar, &groups] {
        assert_eq!(
            model.decide_prebuilt().decision(),
            cedar::Decision::Allow,
            "Cedar allows the sample request"
        );
    }
    let mut c = Criterion::default().configure_from_args();
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`)
    // criterion runs each benchmark once and only the agreement check runs.
    let quick =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--test");
    for (name, model) in [("action lists", &cedar), ("action groups", &groups)] {
        let compared = check_agreement(&wasm, model);
        println!(
            "Cedar ({name}) and the RBAC guest agree on all {compared} requests of the check matrix."
        );
    }
    if !quick {
        println!(
            "Cedar policies (action lists):\n{}",
            cedar_policy_text(false)
        );
        println!(
            "Cedar policies (action groups):\n{}",
            cedar_policy_text(true)
        );
        percentiles(
            &wasm,
            &cedar,
            &groups,
            env_usize("BBWS_BENCH_SAMPLES", 100_000),
        );
        load_ratio(&rt, env_usize("BBWS_BENCH_LOAD_SAMPLES", 30));
        template_plan(&rt, env_usize("BBWS_BENCH_TEMPLATE_SAMPLES", 2_000));
        if env_usize("BBWS_BENCH_KNOBS", 1) != 0 {
            knob_sweep(&wasm, env_usize("BBWS_BENCH_KNOB_SAMPLES", 50_000));
        }
        pool_cost(&wasm, env_usize("BBWS_BENCH_POOL_SAMPLES", 20_000));
        if let Some(dir) = &language_guests {
            languages(
                &rt,
                dir.as_ref(),
                env_usize("BBWS_BENCH_LANGUAGE_SAMPLES", 2_000),
            );
        } else {
            println!(
                "\n(policies in other languages skipped: set BBWS_BENCH_LANGUAGE_GUESTS to the directory scripts/build-language-guests.sh builds into)"
            );
        }
        println!();
    }
    decision_benches(&mut c, &wasm, &cedar, &groups);
    load_benches(&mut c, &rt);
    c.final_summary();
}
