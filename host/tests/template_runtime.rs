//! The `template` world through the runtime: the platform's default
//! component (`guests/default-template`) plans the platform's templates,
//! reports parameter and template errors as field errors and escapes what
//! parameters put into markup; the example component
//! (`examples/template-landing-page`) narrows where it applies; the
//! sandbox's limits hold for template calls too.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bbws_host::blobs::FsBlobs;
use bbws_host::domain::FieldError;
use bbws_host::domain::site::{Environment, SiteStatus};
use bbws_host::domain::template::{TemplateSpec, WpOperation, WpPage};
use bbws_host::runtime::bindings::TemplatePre;
use bbws_host::runtime::{
    GuestError, HostState, Kind, Limits, Runtime, RuntimeConfig, Scope, ScopeSite, content_hash,
};
use bbws_host::runtime::{MAX_COMPONENT_BYTES, Origin};
use bbws_host::service::decisions::DEFAULT_POLICY;
use bbws_host::service::sites::catalogue::{DEFAULT_TEMPLATE, platform_templates};

const LANDING_PAGE: &[u8] = include_bytes!(env!("BBWS_GUEST_EXAMPLE_LANDING_PAGE"));

fn runtime() -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    (rt, dir)
}

async fn prepare(rt: &Runtime, bytes: &[u8]) -> TemplatePre<HostState> {
    rt.prepare_template(&content_hash(bytes), bytes)
        .await
        .unwrap()
}

fn template(id: &str) -> TemplateSpec {
    platform_templates()
        .into_iter()
        .find(|t| t.id == id)
        .unwrap()
}

fn site(environment: Environment) -> ScopeSite {
    ScopeSite {
        id: "site_00000000000000000000000000000001".into(),
        tenant_id: "ten_00000000000000000000000000000001".into(),
        name: "acme-www".into(),
        environment,
        status: SiteStatus::Active,
    }
}

fn scope() -> Arc<Scope> {
    Arc::new(Scope::default())
}

fn field(field: &str, message: &str) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn plan(
    rt: &Runtime,
    pre: &TemplatePre<HostState>,
    spec: &TemplateSpec,
    environment: Environment,
    parameters: &str,
) -> Result<Vec<WpOperation>, Vec<FieldError>> {
    rt.template_plan(
        pre,
        spec,
        &site(environment),
        parameters,
        scope(),
        Limits::default(),
        &Origin::new("test", "test"),
    )
    .unwrap()
}

fn page<'a>(ops: &'a [WpOperation], slug: &str) -> &'a WpPage {
    ops.iter()
        .find_map(|op| match op {
            WpOperation::UpsertPage(p) if p.slug == slug => Some(p),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no page {slug} in {ops:?}"))
}

#[tokio::test]
async fn the_default_component_plans_business_basic() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let ops = plan(
        &rt,
        &pre,
        &template("business-basic"),
        Environment::Dev,
        r#"{"businessName": "Acme", "contactEmail": "hello@acme.example", "phone": "+44 20 7946 0000"}"#,
    )
    .unwrap();
    let steps: Vec<String> = ops.iter().map(WpOperation::describe).collect();
    assert_eq!(
        steps,
        [
            "setOption blogname",
            "setOption blogdescription",
            "upsertPage home",
            "upsertPage about",
            "upsertPage contact",
            "createMenu Main",
        ]
    );
    assert_eq!(
        ops[0],
        WpOperation::SetOption {
            name: "blogname".into(),
            value: "Acme".into()
        }
    );
    // The default tagline.
    assert_eq!(
        ops[1],
        WpOperation::SetOption {
            name: "blogdescription".into(),
            value: "Welcome to our website".into()
        }
    );
    let home = page(&ops, "home");
    assert_eq!(home.title, "Acme");
    assert_eq!(home.status, "publish");
    assert!(
        home.content
            .contains("<h1 class=\"wp-block-heading\">Acme</h1>")
    );
    assert_eq!(page(&ops, "about").title, "About Acme");
    let contact = page(&ops, "contact");
    assert!(
        contact
            .content
            .contains(r#"<a href="mailto:hello@acme.example">hello@acme.example</a>"#),
        "{}",
        contact.content
    );
    assert!(contact.content.contains("Telephone: +44 20 7946 0000"));
    assert_eq!(
        ops[5],
        WpOperation::CreateMenu {
            name: "Main".into(),
            items: vec!["home".into(), "about".into(), "contact".into()],
        }
    );
    // The plan's JSON form is the one `preview` answers.
    let json = serde_json::to_value(&ops[5]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"op": "createMenu", "name": "Main", "items": ["home", "about", "contact"]})
    );
}

#[tokio::test]
async fn the_blog_template_adds_posts_and_sets_posts_per_page() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let blog = template("blog");
    let params = r#"{"blogName": "Notes", "authorName": "Ada", "contactEmail": "ada@example.com", "postsPerPage": 5}"#;
    let ops = plan(&rt, &pre, &blog, Environment::Dev, params).unwrap();
    assert!(ops.contains(&WpOperation::SetOption {
        name: "posts_per_page".into(),
        value: "5".into()
    }));
    let posts: Vec<&WpPage> = ops
        .iter()
        .filter_map(|op| match op {
            WpOperation::CreatePost(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].title, "Welcome to Notes");
    assert_eq!(posts[1].status, "draft");

    // `when`: without sample posts there are none.
    let params = r#"{"blogName": "Notes", "authorName": "Ada", "contactEmail": "ada@example.com", "samplePosts": false}"#;
    let ops = plan(&rt, &pre, &blog, Environment::Dev, params).unwrap();
    assert!(
        !ops.iter()
            .any(|op| matches!(op, WpOperation::CreatePost(_)))
    );
}

#[tokio::test]
async fn parameter_problems_are_field_errors() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let spec = template("business-basic");
    let validate = |params: &str| {
        rt.template_validate(
            &pre,
            &spec,
            params,
            scope(),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap()
    };
    assert_eq!(
        validate("{}"),
        [
            field("parameters.businessName", "is required"),
            field("parameters.contactEmail", "is required"),
        ]
    );
    assert_eq!(
        validate(r#"{"businessName": "", "contactEmail": "a@b.c", "tagline": 7, "colour": "red"}"#),
        [
            field("parameters.businessName", "must not be empty"),
            field("parameters.tagline", "must be a string"),
            field("parameters.colour", "is not a parameter of this template"),
        ]
    );
    assert_eq!(
        validate("[]"),
        [field("parameters", "the parameters must be a JSON object")]
    );
    assert_eq!(
        validate(r#"{"businessName": "Acme", "contactEmail": "a@b.c"}"#),
        []
    );
    // plan answers the same problems, and no operations.
    assert_eq!(
        plan(&rt, &pre, &spec, Environment::Dev, "{}").unwrap_err(),
        validate("{}")
    );
}

#[tokio::test]
async fn a_malformed_template_is_one_template_error() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let spec = TemplateSpec {
        id: "tpl_00000000000000000000000000000001".into(),
        name: "Broken".into(),
        body_json: r#"{"operations": [{"op": "upsertPage", "slug": "x", "title": "Hi {{who}}"}]}"#
            .into(),
    };
    let expected = vec![field(
        "template",
        "operations[0] (upsertPage): title: unknown placeholder {{who}} (not a parameter, site.name or site.environment)",
    )];
    let errors = rt
        .template_validate(
            &pre,
            &spec,
            "{}",
            scope(),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    assert_eq!(errors, expected);
    assert_eq!(
        plan(&rt, &pre, &spec, Environment::Dev, "{}").unwrap_err(),
        expected
    );
    let schema: serde_json::Value = serde_json::from_str(
        &rt.template_schema(
            &pre,
            &spec,
            scope(),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(schema["not"], serde_json::json!({}));
}

#[tokio::test]
async fn parameters_cannot_inject_markup() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let params = serde_json::json!({
        "businessName": "<script>alert('x')</script>",
        "contactEmail": "\"><img src=x onerror=alert(1)>",
        "about": "Fish & Chips",
    })
    .to_string();
    let ops = plan(
        &rt,
        &pre,
        &template("business-basic"),
        Environment::Dev,
        &params,
    )
    .unwrap();
    // An option is text, not markup: as given.
    assert_eq!(
        ops[0],
        WpOperation::SetOption {
            name: "blogname".into(),
            value: "<script>alert('x')</script>".into()
        }
    );
    let home = page(&ops, "home");
    assert_eq!(
        home.title,
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    );
    assert!(!home.content.contains("<script"), "{}", home.content);
    let contact = &page(&ops, "contact").content;
    assert!(
        contact.contains(r#"href="mailto:&quot;&gt;&lt;img src=x onerror=alert(1)&gt;""#),
        "{contact}"
    );
    assert!(!contact.contains("<img"), "{contact}");
    assert!(
        page(&ops, "about")
            .content
            .contains("<p>Fish &amp; Chips</p>")
    );
}

#[tokio::test]
async fn the_schema_is_derived_from_the_parameters() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let text = rt
        .template_schema(
            &pre,
            &template("business-basic"),
            scope(),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["title"], "Business (basic)");
    assert_eq!(
        schema["required"],
        serde_json::json!(["businessName", "contactEmail"])
    );
    assert_eq!(
        schema["properties"]["businessName"]["maxLength"],
        serde_json::json!(80)
    );
    assert_eq!(schema["additionalProperties"], false);
}

#[tokio::test]
async fn the_example_refuses_prod_without_confirmation() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, LANDING_PAGE).await;
    let spec = TemplateSpec {
        id: "tpl_00000000000000000000000000000002".into(),
        name: "Landing page".into(),
        body_json: r#"{"sectionTitles": ["Why us", "Prices"]}"#.into(),
    };
    let params = r#"{"headline": "Big <news>", "contactEmail": "hi@acme.example", "sections": 2}"#;
    assert_eq!(
        plan(&rt, &pre, &spec, Environment::Prod, params).unwrap_err(),
        [field(
            "parameters.confirmProd",
            "must be true to apply this template to acme-www, a PROD site"
        )]
    );
    let confirmed = r#"{"headline": "Big <news>", "contactEmail": "hi@acme.example", "sections": 2, "confirmProd": true}"#;
    let ops = plan(&rt, &pre, &spec, Environment::Prod, confirmed).unwrap();
    assert_eq!(
        ops,
        plan(&rt, &pre, &spec, Environment::Dev, params).unwrap()
    );
    let landing = page(&ops, "landing");
    assert_eq!(landing.title, "Big &lt;news&gt;");
    assert!(landing.content.contains("Why us") && landing.content.contains("Prices"));

    // Its own rules.
    let errors = rt
        .template_validate(
            &pre,
            &spec,
            r#"{"headline": "x", "contactEmail": "nobody", "sections": 6}"#,
            scope(),
            Limits::default(),
            &Origin::new("test", "test"),
        )
        .unwrap();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["parameters.contactEmail", "parameters.sections"]);
}

#[tokio::test]
async fn template_calls_run_under_the_limits() {
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, DEFAULT_TEMPLATE).await;
    let spec = template("business-basic");
    let params = r#"{"businessName": "Acme", "contactEmail": "a@b.c"}"#;

    // A plan larger than the plan limit is refused.
    let small = Limits {
        plan_bytes: 200,
        ..Limits::default()
    };
    let err = rt
        .template_plan(
            &pre,
            &spec,
            &site(Environment::Dev),
            params,
            scope(),
            small,
            &Origin::new("test", "test"),
        )
        .unwrap_err();
    assert!(
        matches!(err, GuestError::OutputTooLarge { limit: 200, .. }),
        "{err:?}"
    );

    // A body too large for the guest's memory stops it cleanly.
    let huge = TemplateSpec {
        body_json: format!(
            r#"{{"description": "{}", "operations": []}}"#,
            "x".repeat(8 << 20)
        ),
        ..spec.clone()
    };
    let tight = Limits {
        memory_bytes: 2 << 20,
        ..Limits::default()
    };
    let err = rt
        .template_validate(
            &pre,
            &huge,
            params,
            scope(),
            tight,
            &Origin::new("test", "test"),
        )
        .unwrap_err();
    assert!(matches!(err, GuestError::Limit("memory")), "{err:?}");

    // And a deadline of 1 ms is not long enough for that body (reading it
    // takes about 20 ms here).
    let err = rt
        .template_validate(
            &pre,
            &huge,
            params,
            scope(),
            Limits {
                deadline: std::time::Duration::from_millis(1),
                memory_bytes: Limits::CEILING_MEMORY,
                ..Limits::default()
            },
            &Origin::new("test", "test"),
        )
        .unwrap_err();
    assert!(matches!(err, GuestError::Timeout(_)), "{err:?}");
}

#[tokio::test]
async fn components_are_checked_cached_and_kept_to_their_world() {
    let (rt, _dir) = runtime();
    // Validation pre-links a template component and keeps it: preparing it
    // afterwards compiles nothing.
    let info = rt
        .validate(Kind::Template, LANDING_PAGE, MAX_COMPONENT_BYTES)
        .await
        .unwrap();
    assert_eq!(info.hash, content_hash(LANDING_PAGE));
    assert!(info.exports.contains(&"plan".to_string()));
    prepare(&rt, LANDING_PAGE).await;
    assert_eq!(rt.stats().compiled.load(Relaxed), 0);

    // A policy is not a template, and a template is not a policy.
    assert!(
        rt.validate(Kind::Template, DEFAULT_POLICY, MAX_COMPONENT_BYTES)
            .await
            .is_err()
    );
    assert!(
        rt.validate(Kind::Policy, DEFAULT_TEMPLATE, MAX_COMPONENT_BYTES)
            .await
            .is_err()
    );
    let policy = rt
        .prepare(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY)
        .await
        .unwrap();
    drop(policy);
    let err = rt
        .prepare_template(&content_hash(DEFAULT_POLICY), DEFAULT_POLICY)
        .await
        .err()
        .expect("a policy is not a template");
    assert!(matches!(err, GuestError::Load(_)), "{err:?}");
    assert!(rt.cached(&content_hash(LANDING_PAGE)).is_none());

    // A restart loads the template's artifact instead of compiling.
    let dir = tempfile::tempdir().unwrap();
    let first = Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    prepare(&first, DEFAULT_TEMPLATE).await;
    assert_eq!(first.stats().compiled.load(Relaxed), 1);
    let second =
        Runtime::new(RuntimeConfig::default(), Arc::new(FsBlobs::new(dir.path()))).unwrap();
    prepare(&second, DEFAULT_TEMPLATE).await;
    assert_eq!(second.stats().compiled.load(Relaxed), 0);
    assert_eq!(second.stats().artifacts_loaded.load(Relaxed), 1);
}

/// A guest's log line reaches the host's log at the guest's level, under
/// the target `bbws::guest`, tagged with the tenant, the component and the
/// world.
#[tokio::test]
async fn guest_log_lines_are_tagged_with_tenant_component_and_world() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let (rt, _dir) = runtime();
    let pre = prepare(&rt, LANDING_PAGE).await;
    let spec = TemplateSpec {
        id: "tpl_00000000000000000000000000000002".into(),
        name: "Landing page".into(),
        body_json: "{}".into(),
    };
    let lines = Captured::default();
    let subscriber = tracing_subscriber::registry().with(
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .without_time()
            .with_writer(lines.clone()),
    );
    let hash = content_hash(LANDING_PAGE);
    let origin = Origin::new("ten_0000000000000000000000000000000a", hash.as_str());
    let refused = tracing::subscriber::with_default(subscriber, || {
        rt.template_plan(
            &pre,
            &spec,
            &site(Environment::Prod),
            r#"{"headline": "x", "contactEmail": "hi@acme.example", "sections": 1}"#,
            scope(),
            Limits::default(),
            &origin,
        )
    });
    assert!(matches!(refused, Ok(Err(_))), "{refused:?}");
    let text = lines.text();
    let line = text
        .lines()
        .find(|l| l.contains("refused to plan for PROD site"))
        .unwrap_or_else(|| panic!("no guest line in:\n{text}"));
    for part in [
        " INFO ",
        "bbws::guest",
        "tenant=ten_0000000000000000000000000000000a",
        &format!("component={hash}"),
        "world=template",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
}

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}
