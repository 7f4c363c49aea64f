//! A template body, parsed and checked once per call: its parameters, and
//! its operations with every `{{placeholder}}` resolved to what it names.
//! Anything wrong with the body is a [`BodyError`]: the template's fault,
//! not the caller's.

use alloc::borrow::ToOwned;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use alloc::{format, vec};

use bbws_guest::{Site, escape_html};
use serde_json::{Map, Value};

/// What is wrong with a body, with where: `operations[2] (upsertPage): ...`.
pub type BodyError = String;

/// A parameter's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    String,
    Boolean,
    Integer,
}

impl Type {
    pub fn as_str(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Boolean => "boolean",
            Type::Integer => "integer",
        }
    }
}

/// One declared parameter.
#[derive(Debug)]
pub struct Param {
    pub name: String,
    pub ty: Type,
    pub required: bool,
    pub default: Option<Value>,
    pub description: Option<String>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub choices: Option<Vec<Value>>,
    pub minimum: Option<i64>,
    pub maximum: Option<i64>,
}

/// A parsed body.
#[derive(Debug)]
pub struct Body {
    pub description: Option<String>,
    pub params: Vec<Param>,
    pub operations: Vec<Operation>,
}

/// One operation of the body, before substitution.
#[derive(Debug)]
pub struct Operation {
    /// A boolean parameter: the operation is planned only when it is true.
    pub when: Option<String>,
    pub action: Action,
}

#[derive(Debug)]
pub enum Action {
    UpsertPage(PageText),
    CreatePost(PageText),
    SetOption { name: Text, value: Text },
    ActivatePlugin { slug: Text },
    CreateMenu { name: Text, items: Vec<Text> },
}

#[derive(Debug)]
pub struct PageText {
    pub slug: Text,
    pub title: Text,
    pub content: Text,
    pub status: Text,
}

/// A string field: literal text and placeholders.
#[derive(Debug, Default)]
pub struct Text(Vec<Piece>);

#[derive(Debug)]
enum Piece {
    Literal(String),
    /// The parameter at this index of [`Body::params`].
    Param(usize),
    SiteName,
    SiteEnvironment,
}

/// The keys a body may have at the top level.
const BODY_KEYS: &[&str] = &["name", "description", "parameters", "operations"];

/// The keys a parameter declaration may have.
const PARAM_KEYS: &[&str] = &[
    "type",
    "required",
    "default",
    "description",
    "minLength",
    "maxLength",
    "enum",
    "minimum",
    "maximum",
];

impl Body {
    /// Parses and checks `json`.
    pub fn parse(json: &str) -> Result<Body, BodyError> {
        let value: Value =
            serde_json::from_str(json).map_err(|e| format!("the body is not JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err("the body must be a JSON object".into());
        };
        only_keys(&top, BODY_KEYS, "the body")?;
        let description = optional_string(&top, "description", "the body")?;
        if let Some(name) = top.get("name")
            && !name.is_string()
        {
            return Err("the body's name must be a string".into());
        }

        let params = match top.get("parameters") {
            None => Vec::new(),
            Some(Value::Object(declared)) => declared
                .iter()
                .map(|(name, decl)| Param::parse(name, decl))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("parameters must be an object of declarations".into()),
        };

        let operations = match top.get("operations") {
            Some(Value::Array(ops)) => ops
                .iter()
                .enumerate()
                .map(|(i, op)| {
                    Operation::parse(op, &params).map_err(|e| format!("operations[{i}]{e}"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err("operations must be an array".into()),
            None => return Err("the body has no operations".into()),
        };

        Ok(Body {
            description,
            params,
            operations,
        })
    }

    /// The index of the parameter `name`.
    fn param(&self, name: &str) -> Option<usize> {
        find(&self.params, name)
    }
}

fn find(params: &[Param], name: &str) -> Option<usize> {
    params.iter().position(|p| p.name == name)
}

impl Param {
    fn parse(name: &str, decl: &Value) -> Result<Param, BodyError> {
        let at = format!("parameters.{name}");
        if !valid_name(name) {
            return Err(format!(
                "{at}: a parameter name is letters, digits and _, starting with a letter"
            ));
        }
        if name == "template" {
            return Err(format!(
                "{at}: \"template\" is reserved (errors of the template itself are named so)"
            ));
        }
        let Value::Object(decl) = decl else {
            return Err(format!("{at}: a declaration must be an object"));
        };
        only_keys(decl, PARAM_KEYS, &at)?;
        let ty = match decl.get("type").and_then(Value::as_str) {
            Some("string") => Type::String,
            Some("boolean") => Type::Boolean,
            Some("integer") => Type::Integer,
            _ => {
                return Err(format!(
                    "{at}: type must be \"string\", \"boolean\" or \"integer\""
                ));
            }
        };
        let required = match decl.get("required") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(format!("{at}: required must be true or false")),
        };
        let count = |key: &str| -> Result<Option<u64>, BodyError> {
            match decl.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| format!("{at}: {key} must be a whole number of at least 0")),
            }
        };
        let bound = |key: &str| -> Result<Option<i64>, BodyError> {
            match decl.get(key) {
                None => Ok(None),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("{at}: {key} must be an integer")),
            }
        };
        let param = Param {
            name: name.to_string(),
            ty,
            required,
            default: decl.get("default").cloned(),
            description: optional_string(decl, "description", &at)?,
            min_length: count("minLength")?,
            max_length: count("maxLength")?,
            choices: match decl.get("enum") {
                None => None,
                Some(Value::Array(choices)) if !choices.is_empty() => Some(choices.clone()),
                Some(_) => return Err(format!("{at}: enum must be a non-empty array")),
            },
            minimum: bound("minimum")?,
            maximum: bound("maximum")?,
        };

        if ty != Type::String && (param.min_length.is_some() || param.max_length.is_some()) {
            return Err(format!(
                "{at}: minLength and maxLength apply to strings only"
            ));
        }
        if ty != Type::Integer && (param.minimum.is_some() || param.maximum.is_some()) {
            return Err(format!("{at}: minimum and maximum apply to integers only"));
        }
        if ty == Type::Boolean && param.choices.is_some() {
            return Err(format!("{at}: enum does not apply to booleans"));
        }
        if let (Some(min), Some(max)) = (param.min_length, param.max_length)
            && min > max
        {
            return Err(format!("{at}: minLength is above maxLength"));
        }
        if let (Some(min), Some(max)) = (param.minimum, param.maximum)
            && min > max
        {
            return Err(format!("{at}: minimum is above maximum"));
        }
        for choice in param.choices.iter().flatten() {
            param
                .check_type(choice)
                .map_err(|why| format!("{at}: every enum value {why}"))?;
        }
        if let Some(default) = &param.default {
            if param.required {
                return Err(format!(
                    "{at}: a required parameter has no default (the caller must give it)"
                ));
            }
            param
                .check(default)
                .map_err(|why| format!("{at}: the default {why}"))?;
        }
        Ok(param)
    }

    /// Whether `value` has this parameter's type; if not, why not.
    fn check_type(&self, value: &Value) -> Result<(), String> {
        let fits = match self.ty {
            Type::String => value.is_string(),
            Type::Boolean => value.is_boolean(),
            Type::Integer => value.is_i64(),
        };
        if fits {
            return Ok(());
        }
        Err(match self.ty {
            Type::String => "must be a string".into(),
            Type::Boolean => "must be true or false".into(),
            Type::Integer => "must be an integer".into(),
        })
    }

    /// Whether `value` is acceptable for this parameter; if not, why not
    /// (a sentence that follows the parameter's name).
    pub fn check(&self, value: &Value) -> Result<(), String> {
        self.check_type(value)?;
        if let Some(text) = value.as_str() {
            let length = text.chars().count() as u64;
            if let Some(min) = self.min_length
                && length < min
            {
                return Err(if min == 1 {
                    "must not be empty".into()
                } else {
                    format!("must be at least {min} characters long")
                });
            }
            if let Some(max) = self.max_length
                && length > max
            {
                return Err(format!("must be at most {max} characters long"));
            }
        }
        if let Some(number) = value.as_i64() {
            if let Some(min) = self.minimum
                && number < min
            {
                return Err(format!("must be at least {min}"));
            }
            if let Some(max) = self.maximum
                && number > max
            {
                return Err(format!("must be at most {max}"));
            }
        }
        if let Some(choices) = &self.choices
            && !choices.contains(value)
        {
            let listed: Vec<String> = choices.iter().map(Value::to_string).collect();
            return Err(format!("must be one of {}", listed.join(", ")));
        }
        Ok(())
    }
}

/// `[A-Za-z][A-Za-z0-9_]*`: usable as a placeholder and a form field.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn only_keys(object: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), BodyError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => Err(format!(
            "{at}: unknown field \"{unknown}\" (known: {})",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, BodyError> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("{at}: {key} must be a string")),
    }
}

impl Operation {
    /// Parses one operation; errors start after `operations[i]`.
    fn parse(op: &Value, params: &[Param]) -> Result<Operation, BodyError> {
        let Value::Object(op) = op else {
            return Err(": an operation must be an object".into());
        };
        let Some(kind) = op.get("op").and_then(Value::as_str) else {
            return Err(": an operation needs \"op\" (upsertPage, createPost, setOption, activatePlugin or createMenu)".into());
        };
        let at = |e: String| format!(" ({kind}): {e}");
        let fields: &[&str] = match kind {
            "upsertPage" | "createPost" => &["op", "when", "slug", "title", "content", "status"],
            "setOption" => &["op", "when", "name", "value"],
            "activatePlugin" => &["op", "when", "slug"],
            "createMenu" => &["op", "when", "name", "items"],
            other => {
                return Err(format!(
                    ": unknown op \"{other}\" (known: upsertPage, createPost, setOption, activatePlugin, createMenu)"
                ));
            }
        };
        if let Some(unknown) = op.keys().find(|k| !fields.contains(&k.as_str())) {
            return Err(at(format!(
                "unknown field \"{unknown}\" (known: {})",
                fields[1..].join(", ")
            )));
        }
        let when = match op.get("when") {
            None => None,
            Some(Value::String(name)) => match find(params, name) {
                Some(i) if params[i].ty == Type::Boolean => Some(name.clone()),
                Some(_) => {
                    return Err(at(format!(
                        "when names {name}, which is not a boolean parameter"
                    )));
                }
                None => return Err(at(format!("when names {name}, which is not a parameter"))),
            },
            Some(_) => return Err(at("when must name a boolean parameter".into())),
        };
        let text = |key: &str, default: Option<&str>| -> Result<Text, BodyError> {
            let raw = match op.get(key) {
                Some(Value::String(s)) => s.clone(),
                // An option's value may be written as a number or a boolean.
                Some(v @ (Value::Number(_) | Value::Bool(_))) if key == "value" => v.to_string(),
                Some(_) => return Err(at(format!("{key} must be a string"))),
                None => match default {
                    Some(d) => d.to_owned(),
                    None => return Err(at(format!("{key} is missing"))),
                },
            };
            Text::parse(&raw, params).map_err(|e| at(format!("{key}: {e}")))
        };
        let page = || -> Result<PageText, BodyError> {
            Ok(PageText {
                slug: text("slug", None)?,
                title: text("title", None)?,
                content: text("content", Some(""))?,
                status: text("status", Some("publish"))?,
            })
        };
        let action = match kind {
            "upsertPage" => Action::UpsertPage(page()?),
            "createPost" => Action::CreatePost(page()?),
            "setOption" => Action::SetOption {
                name: text("name", None)?,
                value: text("value", None)?,
            },
            "activatePlugin" => Action::ActivatePlugin {
                slug: text("slug", None)?,
            },
            _ => Action::CreateMenu {
                name: text("name", None)?,
                items: match op.get("items") {
                    Some(Value::Array(items)) => items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| match item {
                            Value::String(s) => {
                                Text::parse(s, params).map_err(|e| at(format!("items[{i}]: {e}")))
                            }
                            _ => Err(at(format!("items[{i}] must be a page slug (a string)"))),
                        })
                        .collect::<Result<_, _>>()?,
                    _ => return Err(at("items must be an array of page slugs".into())),
                },
            },
        };
        Ok(Operation { when, action })
    }
}

impl Text {
    /// Splits `raw` at its `{{placeholders}}`, each of which must name a
    /// parameter, `site.name` or `site.environment`.
    fn parse(raw: &str, params: &[Param]) -> Result<Text, String> {
        let mut pieces = Vec::new();
        let mut rest = raw;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Literal(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err("a {{ is not closed by }}".into());
            };
            let name = after[..close].trim();
            pieces.push(match name {
                "site.name" => Piece::SiteName,
                "site.environment" => Piece::SiteEnvironment,
                _ => match find(params, name) {
                    Some(i) => Piece::Param(i),
                    None => {
                        return Err(format!(
                            "unknown placeholder {{{{{name}}}}} (not a parameter, site.name or site.environment)"
                        ));
                    }
                },
            });
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest.to_owned()));
        }
        Ok(Text(pieces))
    }

    /// The text with each placeholder replaced by its value; with `escape`,
    /// the values (not the template's own text) are HTML-escaped.
    pub fn render(&self, values: &Values, site: &Site, escape: bool) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            let value: &str = match piece {
                Piece::Literal(text) => {
                    out.push_str(text);
                    continue;
                }
                Piece::Param(i) => &values.text[*i],
                Piece::SiteName => &site.name,
                Piece::SiteEnvironment => site.environment.as_str(),
            };
            if escape {
                out.push_str(&escape_html(value));
            } else {
                out.push_str(value);
            }
        }
        out
    }
}

/// The parameters of one call, checked, with defaults applied.
pub struct Values {
    /// By parameter index: true for a boolean parameter that is true.
    pub on: Vec<bool>,
    /// By parameter index: the value as placeholder text (`""` when an
    /// optional parameter without a default is not given).
    pub text: Vec<String>,
}

/// A problem with the parameters: (parameter name, message). The name is
/// empty when the problem is with the parameters object as a whole.
pub type ParamProblem = (String, String);

impl Body {
    /// Checks `parameters_json` against the declarations: every problem, or
    /// the values to plan with.
    pub fn values(&self, parameters_json: &str) -> Result<Values, Vec<ParamProblem>> {
        let given = match serde_json::from_str::<Value>(parameters_json) {
            Ok(Value::Object(given)) => given,
            Ok(_) => {
                return Err(vec![(
                    String::new(),
                    "the parameters must be a JSON object".into(),
                )]);
            }
            Err(e) => {
                return Err(vec![(
                    String::new(),
                    format!("the parameters are not JSON: {e}"),
                )]);
            }
        };
        let mut problems = Vec::new();
        let mut values = Values {
            on: Vec::with_capacity(self.params.len()),
            text: Vec::with_capacity(self.params.len()),
        };
        for param in &self.params {
            let value = match given.get(&param.name) {
                Some(Value::Null) | None => param.default.as_ref(),
                Some(v) => Some(v),
            };
            match value {
                None if param.required => {
                    problems.push((param.name.clone(), "is required".into()));
                }
                Some(v) => {
                    if let Err(why) = param.check(v) {
                        problems.push((param.name.clone(), why));
                    }
                }
                None => {}
            }
            values.on.push(value == Some(&Value::Bool(true)));
            values.text.push(match value {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            });
        }
        for name in given.keys() {
            if self.param(name).is_none() {
                problems.push((name.clone(), "is not a parameter of this template".into()));
            }
        }
        if problems.is_empty() {
            Ok(values)
        } else {
            Err(problems)
        }
    }
}
