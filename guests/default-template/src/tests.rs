//! The interpreter on the build machine: `cargo test -p bbws-default-template`
//! in `guests/`.

use super::*;

const BODY: &str = r#"{
  "name": "Test",
  "description": "A test template.",
  "parameters": {
    "businessName": {"type": "string", "required": true, "minLength": 1, "maxLength": 20,
                     "description": "The business."},
    "tagline": {"type": "string", "default": "Welcome"},
    "withBlog": {"type": "boolean", "default": true},
    "withShop": {"type": "boolean"},
    "colour": {"type": "string", "enum": ["blue", "green"]},
    "posts": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}
  },
  "operations": [
    {"op": "setOption", "name": "blogname", "value": "{{businessName}}"},
    {"op": "setOption", "name": "posts_per_page", "value": "{{posts}}"},
    {"op": "upsertPage", "slug": "about", "title": "About {{businessName}}",
     "content": "<p>{{tagline}}</p><p>{{ site.name }} ({{site.environment}}), {{colour}}</p>"},
    {"op": "createPost", "when": "withBlog", "slug": "hello", "title": "Hello", "status": "draft"},
    {"op": "activatePlugin", "when": "withShop", "slug": "woocommerce"},
    {"op": "createMenu", "name": "Main", "items": ["home", "about"]}
  ]
}"#;

fn info(body: &str) -> TemplateInfo {
    TemplateInfo {
        id: "tpl_test".into(),
        name: "Test".into(),
        body_json: body.into(),
    }
}

fn site() -> Site {
    Site {
        id: "site_1".into(),
        tenant_id: "ten_1".into(),
        name: "Acme <Shop>".into(),
        environment: bbws_guest::Environment::Dev,
        status: bbws_guest::SiteStatus::Active,
    }
}

fn validate(params: &str) -> Vec<(String, String)> {
    DefaultTemplate::validate(&info(BODY), params)
        .into_iter()
        .map(|e| (e.name, e.message))
        .collect()
}

fn plan(params: &str) -> Result<Vec<WpOperation>, Vec<ParamError>> {
    DefaultTemplate::plan(&info(BODY), &site(), params)
}

fn err(name: &str, message: &str) -> (String, String) {
    (name.into(), message.into())
}

#[test]
fn valid_parameters_have_no_errors() {
    assert_eq!(validate(r#"{"businessName": "Acme"}"#), vec![]);
    assert_eq!(
        validate(
            r#"{"businessName": "Acme", "colour": "blue", "posts": 3, "withBlog": false, "tagline": null}"#
        ),
        vec![]
    );
}

#[test]
fn every_problem_is_reported_by_parameter() {
    assert_eq!(
        validate(
            r#"{"businessName": "", "tagline": 3, "withBlog": "yes", "colour": "red", "posts": 51, "extra": 1}"#
        ),
        vec![
            err("businessName", "must not be empty"),
            err("tagline", "must be a string"),
            err("withBlog", "must be true or false"),
            err("colour", "must be one of \"blue\", \"green\""),
            err("posts", "must be at most 50"),
            err("extra", "is not a parameter of this template"),
        ]
    );
    assert_eq!(validate("{}"), vec![err("businessName", "is required")]);
    assert_eq!(
        validate(r#"{"businessName": "x", "posts": 2.5}"#),
        vec![err("posts", "must be an integer")]
    );
    assert_eq!(
        validate(r#"{"businessName": "123456789012345678901"}"#),
        vec![err("businessName", "must be at most 20 characters long")]
    );
    // Lengths count characters, not bytes.
    assert_eq!(
        validate(r#"{"businessName": "ééééééééééééééééééé"}"#),
        vec![]
    );
}

#[test]
fn parameters_that_are_not_an_object_are_one_error_with_no_name() {
    let errors = validate("[1]");
    assert_eq!(
        errors,
        vec![err("", "the parameters must be a JSON object")]
    );
    let errors = validate("{nope");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, "");
    assert!(
        errors[0].1.starts_with("the parameters are not JSON"),
        "{errors:?}"
    );
}

#[test]
fn plan_substitutes_applies_defaults_and_honours_when() {
    let ops = plan(r#"{"businessName": "Acme", "colour": "green"}"#).unwrap();
    assert_eq!(
        ops,
        vec![
            WpOperation::SetOption(("blogname".into(), "Acme".into())),
            WpOperation::SetOption(("posts_per_page".into(), "10".into())),
            WpOperation::UpsertPage(WpPage {
                slug: "about".into(),
                title: "About Acme".into(),
                content: "<p>Welcome</p><p>Acme &lt;Shop&gt; (DEV), green</p>".into(),
                status: "publish".into(),
            }),
            WpOperation::CreatePost(WpPage {
                slug: "hello".into(),
                title: "Hello".into(),
                content: "".into(),
                status: "draft".into(),
            }),
            WpOperation::CreateMenu(WpMenu {
                name: "Main".into(),
                items: vec!["home".into(), "about".into()],
            }),
        ]
    );

    let ops = plan(r#"{"businessName": "Acme", "withBlog": false, "withShop": true, "posts": 5}"#)
        .unwrap();
    let described: Vec<String> = ops
        .iter()
        .map(|op| match op {
            WpOperation::UpsertPage(p) => format!("page {} {}", p.slug, p.content),
            WpOperation::CreatePost(p) => format!("post {}", p.slug),
            WpOperation::SetOption((k, v)) => format!("option {k}={v}"),
            WpOperation::ActivatePlugin(s) => format!("plugin {s}"),
            WpOperation::CreateMenu(m) => format!("menu {}", m.name),
        })
        .collect();
    assert_eq!(
        described,
        vec![
            "option blogname=Acme",
            "option posts_per_page=5",
            // An optional parameter neither given nor defaulted is "".
            "page about <p>Welcome</p><p>Acme &lt;Shop&gt; (DEV), </p>",
            "plugin woocommerce",
            "menu Main",
        ]
    );
}

#[test]
fn values_are_escaped_in_titles_and_content_but_not_elsewhere() {
    let ops = plan(r#"{"businessName": "<i>A&B's \"C\"</i>", "tagline": "<b>hi</b>"}"#).unwrap();
    assert_eq!(
        ops[0],
        WpOperation::SetOption(("blogname".into(), "<i>A&B's \"C\"</i>".into()))
    );
    let WpOperation::UpsertPage(page) = &ops[2] else {
        panic!("{ops:?}")
    };
    assert_eq!(
        page.title,
        "About &lt;i&gt;A&amp;B&#39;s &quot;C&quot;&lt;/i&gt;"
    );
    assert!(
        page.content.starts_with("<p>&lt;b&gt;hi&lt;/b&gt;</p>"),
        "{}",
        page.content
    );
}

#[test]
fn plan_refuses_invalid_parameters_with_the_same_errors() {
    assert_eq!(
        plan(r#"{"colour": "red"}"#).unwrap_err(),
        vec![
            ParamError::new("businessName", "is required"),
            ParamError::new("colour", "must be one of \"blue\", \"green\""),
        ]
    );
}

fn template_error(body: &str) -> String {
    let errors = DefaultTemplate::validate(&info(body), "{}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].name, "template");
    let planned = DefaultTemplate::plan(&info(body), &site(), "{}").unwrap_err();
    assert_eq!(planned, errors);
    errors[0].message.clone()
}

#[test]
fn an_unknown_placeholder_is_a_template_error() {
    let message = template_error(
        r#"{"operations": [{"op": "upsertPage", "slug": "x", "title": "Hi {{who}}"}]}"#,
    );
    assert_eq!(
        message,
        "operations[0] (upsertPage): title: unknown placeholder {{who}} (not a parameter, site.name or site.environment)"
    );
    let message = template_error(
        r#"{"operations": [{"op": "setOption", "name": "x", "value": "{{site.id}}"}]}"#,
    );
    assert!(
        message.contains("unknown placeholder {{site.id}}"),
        "{message}"
    );
    let message = template_error(
        r#"{"operations": [{"op": "createMenu", "name": "x", "items": ["{{open"]}]}"#,
    );
    assert_eq!(
        message,
        "operations[0] (createMenu): items[0]: a {{ is not closed by }}"
    );
}

#[test]
fn a_malformed_body_is_one_template_error() {
    assert!(template_error("not json").starts_with("the body is not JSON"));
    assert_eq!(template_error("[]"), "the body must be a JSON object");
    assert_eq!(template_error("{}"), "the body has no operations");
    assert_eq!(
        template_error(r#"{"operations": [], "paramaters": {}}"#),
        "the body: unknown field \"paramaters\" (known: name, description, parameters, operations)"
    );
    assert_eq!(
        template_error(r#"{"parameters": {"a": {"type": "float"}}, "operations": []}"#),
        "parameters.a: type must be \"string\", \"boolean\" or \"integer\""
    );
    assert_eq!(
        template_error(
            r#"{"parameters": {"a": {"type": "string", "default": "", "minLength": 1}}, "operations": []}"#
        ),
        "parameters.a: the default must not be empty"
    );
    assert_eq!(
        template_error(
            r#"{"parameters": {"a": {"type": "string", "required": true, "default": "x"}}, "operations": []}"#
        ),
        "parameters.a: a required parameter has no default (the caller must give it)"
    );
    assert_eq!(
        template_error(r#"{"parameters": {"a b": {"type": "string"}}, "operations": []}"#),
        "parameters.a b: a parameter name is letters, digits and _, starting with a letter"
    );
    assert_eq!(
        template_error(r#"{"parameters": {"template": {"type": "string"}}, "operations": []}"#),
        "parameters.template: \"template\" is reserved (errors of the template itself are named so)"
    );
    assert_eq!(
        template_error(r#"{"operations": [{"op": "deleteSite"}]}"#),
        "operations[0]: unknown op \"deleteSite\" (known: upsertPage, createPost, setOption, activatePlugin, createMenu)"
    );
    assert_eq!(
        template_error(r#"{"operations": [{"op": "upsertPage", "slug": "x"}]}"#),
        "operations[0] (upsertPage): title is missing"
    );
    assert_eq!(
        template_error(
            r#"{"parameters": {"a": {"type": "string"}}, "operations": [{"op": "activatePlugin", "slug": "x", "when": "a"}]}"#
        ),
        "operations[0] (activatePlugin): when names a, which is not a boolean parameter"
    );
    assert_eq!(
        template_error(
            r#"{"operations": [{"op": "activatePlugin", "slug": "x", "colour": "red"}]}"#
        ),
        "operations[0] (activatePlugin): unknown field \"colour\" (known: when, slug)"
    );
}

#[test]
fn a_status_or_slug_that_renders_wrong_is_a_template_error() {
    let body = r#"{"parameters": {"s": {"type": "string", "default": "published"}, "slug": {"type": "string"}},
                   "operations": [{"op": "upsertPage", "slug": "{{slug}}x", "title": "t", "status": "{{s}}"}]}"#;
    let errors = DefaultTemplate::plan(&info(body), &site(), "{}").unwrap_err();
    assert_eq!(
        errors,
        vec![ParamError::new(
            "template",
            "operations[0]: status must be publish or draft, not \"published\""
        )]
    );
    let errors = DefaultTemplate::plan(&info(body), &site(), r#"{"s": "draft", "slug": " "}"#);
    assert!(errors.is_ok(), "{errors:?}");
    let body = r#"{"parameters": {"slug": {"type": "string"}},
                   "operations": [{"op": "upsertPage", "slug": "{{slug}}", "title": "t"}]}"#;
    let errors = DefaultTemplate::plan(&info(body), &site(), "{}").unwrap_err();
    assert_eq!(errors[0].message, "operations[0]: the slug is empty");
}

#[test]
fn the_schema_follows_the_declarations() {
    let schema: Value =
        serde_json::from_str(&DefaultTemplate::parameter_schema(&info(BODY))).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["title"], "Test");
    assert_eq!(schema["description"], "A test template.");
    assert_eq!(schema["additionalProperties"], false);
    assert_eq!(schema["required"], json!(["businessName"]));
    // In declaration order.
    let names: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
    assert_eq!(
        names,
        [
            "businessName",
            "tagline",
            "withBlog",
            "withShop",
            "colour",
            "posts"
        ]
    );
    assert_eq!(
        schema["properties"]["businessName"],
        json!({"type": "string", "description": "The business.", "minLength": 1, "maxLength": 20})
    );
    assert_eq!(
        schema["properties"]["withBlog"],
        json!({"type": "boolean", "default": true})
    );
    assert_eq!(
        schema["properties"]["colour"],
        json!({"type": "string", "enum": ["blue", "green"]})
    );
    assert_eq!(
        schema["properties"]["posts"],
        json!({"type": "integer", "default": 10, "minimum": 1, "maximum": 50})
    );
}

#[test]
fn a_malformed_body_has_a_schema_that_accepts_nothing() {
    let schema: Value =
        serde_json::from_str(&DefaultTemplate::parameter_schema(&info("{"))).unwrap();
    assert_eq!(schema["not"], json!({}));
    assert!(
        schema["description"]
            .as_str()
            .unwrap()
            .starts_with("The template is malformed: the body is not JSON"),
        "{schema}"
    );
}

/// The platform's templates parse, and plan with their required parameters.
#[test]
fn the_platform_templates_plan() {
    for (name, body) in [
        (
            "business-basic",
            include_str!("../../../host/templates/business-basic.json"),
        ),
        ("blog", include_str!("../../../host/templates/blog.json")),
    ] {
        let template = info(body);
        let schema: Value =
            serde_json::from_str(&DefaultTemplate::parameter_schema(&template)).unwrap();
        assert!(schema.get("not").is_none(), "{name}: {schema}");
        let mut params = Map::new();
        for required in schema["required"].as_array().unwrap() {
            let required = required.as_str().unwrap();
            let ty = schema["properties"][required]["type"].as_str().unwrap();
            let value = match ty {
                "string" => match schema["properties"][required]["enum"].get(0) {
                    Some(first) => first.clone(),
                    None => Value::from("Acme & Sons"),
                },
                "integer" => schema["properties"][required]["minimum"].clone(),
                _ => Value::Bool(true),
            };
            params.insert(required.into(), value);
        }
        let params = Value::Object(params).to_string();
        let ops = DefaultTemplate::plan(&template, &site(), &params)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(ops.len() >= 5, "{name}: {ops:?}");
        assert!(
            !ops.iter()
                .any(|op| matches!(op, WpOperation::ActivatePlugin(_))),
            "{name}: platform templates activate no plugins"
        );
    }
}
