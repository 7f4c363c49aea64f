//! EventBridge event patterns: [`Pattern::parse`] checks a pattern's JSON
//! text and [`Pattern::matches`] tests an event (its whole JSON, envelope
//! and `detail`) against it, as EventBridge does.
//!
//! The language is AWS's ("Creating event patterns", "Content filtering",
//! "Comparison operators" in the EventBridge user guide); where the guide is
//! silent, this follows Event Ruler (`aws/event-ruler`), the open-source
//! matcher EventBridge runs:
//!
//! - A pattern is a non-empty object. A field's value is a nested pattern
//!   (an object) or a leaf: a non-empty array of match values. All fields
//!   must match; a leaf matches when any of its values does.
//! - Match values are strings, numbers, `true`, `false` and `null`, matched
//!   exactly (numbers numerically: `300` is `3.0e2`), or one-key operator
//!   objects: `prefix`, `suffix` (a string, or `{"equals-ignore-case": s}`),
//!   `equals-ignore-case`, `wildcard` (`*` for any run of characters, `\*`
//!   for a star, `\\` for a backslash; no `**`), `anything-but` (a string, a
//!   number, a list of only strings or only numbers, or an object of one of
//!   `prefix`, `suffix`, `equals-ignore-case`, `wildcard` with a string or a
//!   list of strings), `numeric` (`["=", x]`, `[">" | ">=", x]`,
//!   `["<" | "<=", x]` or `[">" | ">=", x, "<" | "<=", y]` with `x < y`),
//!   `exists` (`true` or `false`) and `cidr` (`"10.0.0.0/24"`, IPv4 or
//!   IPv6).
//! - `"$or": [p1, p2, ...]` (two or more objects) at any object level holds
//!   when one of them does, read at that same level; inside it, operator
//!   names (`prefix`, `numeric`, ...) cannot name fields.
//! - A leaf's values are the event's value there: a string, number,
//!   boolean or `null`, or every such value in an array (nested arrays
//!   flattened). Objects are not values: operators apply to leaves only, so
//!   `exists: true` does not match an object and `exists: false` does.
//!   `exists: false` matches a field that has no values; every other
//!   operator needs one value that satisfies it. `anything-but` matches a
//!   value it does not exclude, of any type.
//! - A nested pattern meeting an array of objects matches when one object
//!   matches all of it (two fields are never satisfied by different
//!   elements of one array).
//! - A key given twice counts once, the last (as the user guide says).

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::IpAddr;

use serde_json::{Map, Number, Value};

/// A parsed, checked event pattern.
#[derive(Debug)]
pub struct Pattern {
    root: Fields,
}

/// An object level of a pattern: every field must match, and every `$or`
/// group must have a member that matches.
#[derive(Debug)]
struct Fields {
    fields: Vec<(String, Condition)>,
    any_of: Vec<Vec<Fields>>,
}

/// What a field of the pattern asks of the event's field.
#[derive(Debug)]
enum Condition {
    Nested(Fields),
    Leaf(Vec<Matcher>),
}

/// One match value of a leaf.
#[derive(Debug)]
enum Matcher {
    Equals(Literal),
    Prefix(Affix),
    Suffix(Affix),
    EqualsIgnoreCase(String),
    Wildcard(Glob),
    AnythingBut(Exclusion),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

/// A value matched exactly.
#[derive(Debug)]
enum Literal {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// The text of a `prefix` or `suffix`; ignoring case, it is kept
/// lower-cased.
#[derive(Debug)]
struct Affix {
    text: String,
    ignore_case: bool,
}

/// What an `anything-but` excludes.
#[derive(Debug)]
enum Exclusion {
    /// These strings, or these numbers.
    Values(Vec<Literal>),
    Prefixes(Vec<String>),
    Suffixes(Vec<String>),
    /// Lower-cased.
    IgnoringCase(Vec<String>),
    Wildcards(Vec<Glob>),
}

/// A `numeric` condition: a bound below and/or above, each inclusive or not.
#[derive(Debug)]
struct Range {
    lower: Option<Bound>,
    upper: Option<Bound>,
}

#[derive(Clone, Copy, Debug)]
struct Bound {
    value: f64,
    inclusive: bool,
}

/// A `wildcard` value: the literal runs between its stars (one run more
/// than there are stars).
#[derive(Debug)]
struct Glob {
    runs: Vec<String>,
}

/// A `cidr` block.
#[derive(Debug)]
enum Cidr {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

/// The operator names Event Ruler reserves: inside `$or` they cannot name
/// fields (so a misplaced operator is an error, not a field).
const RESERVED: &[&str] = &[
    "exactly",
    "equals-ignore-case",
    "prefix",
    "suffix",
    "anything-but",
    "exists",
    "wildcard",
    "numeric",
    "cidr",
    "=",
    "<",
    "<=",
    ">",
    ">=",
    "regex",
    "not-wildcard",
    "not-equals-ignore-case",
    "date-after",
    "date-on-or-after",
    "date-before",
    "date-on-or-before",
    "in-date-range",
    "ip-address-in-range",
    "ip-address-not-in-range",
];

const OR: &str = "$or";

impl Pattern {
    /// Parses and checks `text`, an event pattern; the error says what is
    /// wrong, and where (a dotted path of the pattern's fields).
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("the pattern is not JSON: {e}"))?;
        let Value::Object(map) = &value else {
            return Err("the pattern is not a JSON object".into());
        };
        Ok(Pattern {
            root: Fields::parse(map, "", false)?,
        })
    }

    /// Whether `event` (the whole event, envelope and `detail`) matches.
    pub fn matches(&self, event: &Value) -> bool {
        self.root.matches(Some(event))
    }
}

/// `message`, prefixed by the pattern path it is about (if any).
fn at(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_string()
    } else {
        format!("{path}: {message}")
    }
}

fn child(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

impl Fields {
    fn parse(map: &Map<String, Value>, path: &str, in_or: bool) -> Result<Fields, String> {
        if map.is_empty() {
            return Err(at(path, "empty objects are not allowed"));
        }
        let mut fields = Vec::new();
        let mut any_of = Vec::new();
        for (name, value) in map {
            if name == OR {
                any_of.push(parse_or(value, path)?);
                continue;
            }
            let here = child(path, name);
            if in_or && RESERVED.contains(&name.as_str()) {
                return Err(at(
                    &here,
                    &format!("`{name}` is an operator and cannot name a field inside $or"),
                ));
            }
            let condition = match value {
                Value::Object(nested) => Condition::Nested(Fields::parse(nested, &here, in_or)?),
                Value::Array(values) => Condition::Leaf(parse_leaf(values, &here)?),
                _ => return Err(at(&here, "must be an object or an array")),
            };
            fields.push((name.clone(), condition));
        }
        Ok(Fields { fields, any_of })
    }

    /// `value` is the event's value where this level sits, `None` when the
    /// event has nothing there.
    fn matches(&self, value: Option<&Value>) -> bool {
        match value {
            Some(Value::Object(map)) => self.matches_object(Some(map)),
            Some(Value::Array(items)) => {
                let mut objects = Vec::new();
                objects_in(items, &mut objects);
                if objects.is_empty() {
                    self.matches_object(None)
                } else {
                    objects.iter().any(|o| self.matches_object(Some(o)))
                }
            }
            _ => self.matches_object(None),
        }
    }

    fn matches_object(&self, map: Option<&Map<String, Value>>) -> bool {
        self.fields
            .iter()
            .all(|(name, condition)| condition.matches(map.and_then(|m| m.get(name))))
            && self
                .any_of
                .iter()
                .all(|group| group.iter().any(|f| f.matches_object(map)))
    }
}

fn parse_or(value: &Value, path: &str) -> Result<Vec<Fields>, String> {
    let here = child(path, OR);
    let Value::Array(members) = value else {
        return Err(at(&here, "must be an array of objects"));
    };
    if members.len() < 2 {
        return Err(at(&here, "must have at least 2 objects"));
    }
    members
        .iter()
        .map(|member| match member {
            // Read at the level of the `$or` itself, not below it.
            Value::Object(map) => Fields::parse(map, path, true),
            _ => Err(at(&here, "must hold only objects")),
        })
        .collect()
}

/// The objects of an array, nested arrays flattened.
fn objects_in<'a>(items: &'a [Value], out: &mut Vec<&'a Map<String, Value>>) {
    for item in items {
        match item {
            Value::Object(map) => out.push(map),
            Value::Array(inner) => objects_in(inner, out),
            _ => {}
        }
    }
}

/// The leaf values of an event's field: the scalar itself, or the scalars
/// of an array (nested arrays flattened); none for an object or nothing.
fn leaf_values<'a>(value: Option<&'a Value>, out: &mut Vec<&'a Value>) {
    match value {
        None | Some(Value::Object(_)) => {}
        Some(Value::Array(items)) => {
            for item in items {
                leaf_values(Some(item), out);
            }
        }
        Some(scalar) => out.push(scalar),
    }
}

impl Condition {
    fn matches(&self, value: Option<&Value>) -> bool {
        match self {
            Condition::Nested(fields) => fields.matches(value),
            Condition::Leaf(matchers) => {
                let mut values = Vec::new();
                leaf_values(value, &mut values);
                matchers.iter().any(|m| m.matches(&values))
            }
        }
    }
}

fn parse_leaf(values: &[Value], path: &str) -> Result<Vec<Matcher>, String> {
    if values.is_empty() {
        return Err(at(path, "empty arrays are not allowed"));
    }
    values
        .iter()
        .map(|value| match value {
            Value::Object(op) => parse_operator(op, path),
            Value::Array(_) => Err(at(
                path,
                "match values must be strings, numbers, true, false, null or operator objects",
            )),
            scalar => Ok(Matcher::Equals(
                Literal::of(scalar).expect("a scalar is a literal"),
            )),
        })
        .collect()
}

/// The one key of an operator object and its value.
fn single<'a>(op: &'a Map<String, Value>, path: &str) -> Result<(&'a str, &'a Value), String> {
    let mut entries = op.iter();
    match (entries.next(), entries.next()) {
        (Some((name, value)), None) => Ok((name, value)),
        (None, _) => Err(at(path, "an operator object needs an operator")),
        (Some(_), Some(_)) => Err(at(path, "an operator object takes exactly one operator")),
    }
}

fn parse_operator(op: &Map<String, Value>, path: &str) -> Result<Matcher, String> {
    let (name, value) = single(op, path)?;
    let here = child(path, name);
    let string = |what: &str| -> Result<String, String> {
        value
            .as_str()
            .map(ToString::to_string)
            .ok_or_else(|| at(&here, &format!("{what} takes a string")))
    };
    Ok(match name {
        "prefix" => Matcher::Prefix(parse_affix(value, &here, "prefix")?),
        "suffix" => Matcher::Suffix(parse_affix(value, &here, "suffix")?),
        "equals-ignore-case" => Matcher::EqualsIgnoreCase(string(name)?.to_lowercase()),
        "wildcard" => Matcher::Wildcard(Glob::parse(&string(name)?).map_err(|e| at(&here, &e))?),
        "anything-but" => Matcher::AnythingBut(parse_anything_but(value, &here)?),
        "numeric" => Matcher::Numeric(parse_numeric(value, &here)?),
        "exists" => match value {
            Value::Bool(exists) => Matcher::Exists(*exists),
            _ => return Err(at(&here, "exists takes true or false")),
        },
        "cidr" => Matcher::Cidr(Cidr::parse(&string(name)?).map_err(|e| at(&here, &e))?),
        _ => return Err(at(path, &format!("unknown operator `{name}`"))),
    })
}

fn parse_affix(value: &Value, path: &str, what: &str) -> Result<Affix, String> {
    match value {
        Value::String(text) => Ok(Affix {
            text: text.clone(),
            ignore_case: false,
        }),
        Value::Object(op) => match single(op, path)? {
            ("equals-ignore-case", Value::String(text)) => Ok(Affix {
                text: text.to_lowercase(),
                ignore_case: true,
            }),
            ("equals-ignore-case", _) => Err(at(path, "equals-ignore-case takes a string")),
            (other, _) => Err(at(path, &format!("unknown {what} operator `{other}`"))),
        },
        _ => Err(at(
            path,
            &format!("{what} takes a string or {{\"equals-ignore-case\": string}}"),
        )),
    }
}

fn parse_anything_but(value: &Value, path: &str) -> Result<Exclusion, String> {
    match value {
        Value::String(_) | Value::Number(_) => {
            Ok(Exclusion::Values(Vec::from([
                Literal::of(value).expect("a scalar is a literal")
            ])))
        }
        Value::Array(items) => {
            let strings = items.iter().all(Value::is_string);
            let numbers = items.iter().all(Value::is_number);
            if items.is_empty() || !(strings || numbers) {
                return Err(at(
                    path,
                    "an anything-but list must hold only strings or only numbers",
                ));
            }
            Ok(Exclusion::Values(
                items
                    .iter()
                    .map(|item| Literal::of(item).expect("a scalar is a literal"))
                    .collect(),
            ))
        }
        Value::Object(op) => {
            let (name, inner) = single(op, path)?;
            let here = child(path, name);
            let texts = || strings_of(inner, &here, name);
            let affixes = || {
                let texts = texts()?;
                if texts.iter().any(String::is_empty) {
                    return Err(at(&here, &format!("an empty {name} is not allowed")));
                }
                Ok(texts)
            };
            match name {
                "prefix" => Ok(Exclusion::Prefixes(affixes()?)),
                "suffix" => Ok(Exclusion::Suffixes(affixes()?)),
                "equals-ignore-case" => Ok(Exclusion::IgnoringCase(
                    texts()?.iter().map(|t| t.to_lowercase()).collect(),
                )),
                "wildcard" => Ok(Exclusion::Wildcards(
                    texts()?
                        .iter()
                        .map(|t| Glob::parse(t).map_err(|e| at(&here, &e)))
                        .collect::<Result<_, _>>()?,
                )),
                _ => Err(at(path, &format!("unknown anything-but operator `{name}`"))),
            }
        }
        _ => Err(at(
            path,
            "anything-but takes a string, a number, a list of them, or an operator object",
        )),
    }
}

/// A string, or a non-empty list of strings.
fn strings_of(value: &Value, path: &str, what: &str) -> Result<Vec<String>, String> {
    let wrong = || at(path, &format!("{what} takes a string or a list of strings"));
    match value {
        Value::String(text) => Ok(Vec::from([text.clone()])),
        Value::Array(items) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(ToString::to_string).ok_or_else(wrong))
            .collect(),
        _ => Err(wrong()),
    }
}

fn parse_numeric(value: &Value, path: &str) -> Result<Range, String> {
    let Value::Array(terms) = value else {
        return Err(at(
            path,
            "numeric takes a list such as [\">\", 0, \"<=\", 5]",
        ));
    };
    let bound = |op: &Value, number: &Value| -> Result<(String, Bound), String> {
        let Some(op) = op.as_str() else {
            return Err(at(path, "a numeric operator must be a string"));
        };
        let Some(value) = number.as_f64() else {
            return Err(at(
                path,
                &format!("the value after `{op}` must be a number"),
            ));
        };
        let inclusive = matches!(op, "=" | "<=" | ">=");
        Ok((op.to_string(), Bound { value, inclusive }))
    };
    let unknown = |op: &str| at(path, &format!("unknown numeric operator `{op}`"));
    match terms.as_slice() {
        [op, x] => {
            let (op, b) = bound(op, x)?;
            match op.as_str() {
                "=" => Ok(Range {
                    lower: Some(b),
                    upper: Some(b),
                }),
                ">" | ">=" => Ok(Range {
                    lower: Some(b),
                    upper: None,
                }),
                "<" | "<=" => Ok(Range {
                    lower: None,
                    upper: Some(b),
                }),
                other => Err(unknown(other)),
            }
        }
        [op1, x, op2, y] => {
            let (op1, lower) = bound(op1, x)?;
            let (op2, upper) = bound(op2, y)?;
            if !matches!(op1.as_str(), ">" | ">=") || !matches!(op2.as_str(), "<" | "<=") {
                return Err(at(
                    path,
                    "a numeric range is a lower bound (> or >=) then an upper bound (< or <=)",
                ));
            }
            if lower.value >= upper.value {
                return Err(at(
                    path,
                    "a numeric range's lower bound must be below its upper",
                ));
            }
            Ok(Range {
                lower: Some(lower),
                upper: Some(upper),
            })
        }
        _ => Err(at(
            path,
            "numeric takes one comparison or a range, such as [\">\", 0, \"<=\", 5]",
        )),
    }
}

impl Literal {
    fn of(value: &Value) -> Option<Literal> {
        Some(match value {
            Value::String(s) => Literal::String(s.clone()),
            Value::Number(n) => Literal::Number(as_f64(n)),
            Value::Bool(b) => Literal::Bool(*b),
            Value::Null => Literal::Null,
            Value::Array(_) | Value::Object(_) => return None,
        })
    }

    fn equals(&self, value: &Value) -> bool {
        match (self, value) {
            (Literal::String(a), Value::String(b)) => a == b,
            (Literal::Number(a), Value::Number(b)) => *a == as_f64(b),
            (Literal::Bool(a), Value::Bool(b)) => a == b,
            (Literal::Null, Value::Null) => true,
            _ => false,
        }
    }
}

fn as_f64(n: &Number) -> f64 {
    // Every JSON number serde_json parses has an f64 form.
    n.as_f64().unwrap_or(f64::NAN)
}

impl Matcher {
    /// Whether a field with these leaf values matches.
    fn matches(&self, values: &[&Value]) -> bool {
        match self {
            Matcher::Exists(exists) => values.is_empty() != *exists,
            _ => values.iter().any(|value| self.matches_value(value)),
        }
    }

    fn matches_value(&self, value: &Value) -> bool {
        let text = value.as_str();
        match self {
            Matcher::Equals(literal) => literal.equals(value),
            Matcher::Prefix(affix) => text.is_some_and(|s| affix.prefix_of(s)),
            Matcher::Suffix(affix) => text.is_some_and(|s| affix.suffix_of(s)),
            Matcher::EqualsIgnoreCase(lower) => text.is_some_and(|s| s.to_lowercase() == *lower),
            Matcher::Wildcard(glob) => text.is_some_and(|s| glob.matches(s)),
            Matcher::AnythingBut(exclusion) => !exclusion.excludes(value),
            Matcher::Numeric(range) => match value {
                Value::Number(n) => range.contains(as_f64(n)),
                _ => false,
            },
            Matcher::Exists(_) => true,
            Matcher::Cidr(cidr) => text.is_some_and(|s| cidr.contains(s)),
        }
    }
}

impl Affix {
    fn prefix_of(&self, s: &str) -> bool {
        if self.ignore_case {
            s.to_lowercase().starts_with(&self.text)
        } else {
            s.starts_with(&self.text)
        }
    }

    fn suffix_of(&self, s: &str) -> bool {
        if self.ignore_case {
            s.to_lowercase().ends_with(&self.text)
        } else {
            s.ends_with(&self.text)
        }
    }
}

impl Exclusion {
    fn excludes(&self, value: &Value) -> bool {
        let text = value.as_str();
        match self {
            Exclusion::Values(literals) => literals.iter().any(|l| l.equals(value)),
            Exclusion::Prefixes(prefixes) => {
                text.is_some_and(|s| prefixes.iter().any(|p| s.starts_with(p.as_str())))
            }
            Exclusion::Suffixes(suffixes) => {
                text.is_some_and(|s| suffixes.iter().any(|p| s.ends_with(p.as_str())))
            }
            Exclusion::IgnoringCase(lowers) => text.is_some_and(|s| {
                let s = s.to_lowercase();
                lowers.contains(&s)
            }),
            Exclusion::Wildcards(globs) => text.is_some_and(|s| globs.iter().any(|g| g.matches(s))),
        }
    }
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        let above = self.lower.is_none_or(|b| {
            if b.inclusive {
                x >= b.value
            } else {
                x > b.value
            }
        });
        let below = self.upper.is_none_or(|b| {
            if b.inclusive {
                x <= b.value
            } else {
                x < b.value
            }
        });
        above && below
    }
}

impl Glob {
    /// Parses a wildcard value: `*` is any run of characters, `\*` a star
    /// and `\\` a backslash; `**` and any other escape are errors.
    fn parse(text: &str) -> Result<Glob, String> {
        let mut runs = Vec::from([String::new()]);
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '*' => {
                    if chars.peek().is_some_and(|&(_, next)| next == '*') {
                        return Err(format!("consecutive wildcard characters at position {i}"));
                    }
                    runs.push(String::new());
                }
                '\\' => match chars.next() {
                    Some((_, escaped @ ('*' | '\\'))) => {
                        runs.last_mut().expect("never empty").push(escaped)
                    }
                    _ => {
                        return Err(format!(
                            "invalid escape at position {i} (only \\* and \\\\ are allowed)"
                        ));
                    }
                },
                c => runs.last_mut().expect("never empty").push(c),
            }
        }
        Ok(Glob { runs })
    }

    /// Whether `s` matches: the first run begins it, the last ends it, and
    /// the runs between occur in order (leftmost first, which is optimal
    /// with only `*`), in time linear in `s` per run.
    fn matches(&self, s: &str) -> bool {
        let (first, rest) = self.runs.split_first().expect("never empty");
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        let Some(mut s) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        if s.len() < last.len() || !s.ends_with(last.as_str()) {
            return false;
        }
        s = &s[..s.len() - last.len()];
        for run in middle {
            match s.find(run.as_str()) {
                Some(i) => s = &s[i + run.len()..],
                None => return false,
            }
        }
        true
    }
}

impl Cidr {
    /// Parses `address/bits`; IPv4 blocks take 0 to 31 bits, IPv6 0 to 127
    /// (Event Ruler's limits: a whole address is matched exactly instead).
    /// Bits of the address past the mask are ignored.
    fn parse(text: &str) -> Result<Cidr, String> {
        let Some((address, bits)) = text.split_once('/') else {
            return Err("expected an address/bits block such as 10.0.0.0/24".into());
        };
        let bits: u32 = bits
            .parse()
            .map_err(|_| String::from("the mask bits must be a number"))?;
        let address: IpAddr = address
            .parse()
            .map_err(|_| format!("{address} is not an IP address"))?;
        match address {
            IpAddr::V4(v4) if bits < 32 => {
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Ok(Cidr::V4 {
                    network: u32::from(v4) & mask,
                    mask,
                })
            }
            IpAddr::V6(v6) if bits < 128 => {
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Ok(Cidr::V6 {
                    network: u128::from(v6) & mask,
                    mask,
                })
            }
            IpAddr::V4(_) => Err("IPv4 mask bits must be below 32".into()),
            IpAddr::V6(_) => Err("IPv6 mask bits must be below 128".into()),
        }
    }

    fn contains(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { network, mask }, Ok(IpAddr::V4(ip))) => u32::from(ip) & mask == *network,
            (Cidr::V6 { network, mask }, Ok(IpAddr::V6(ip))) => u128::from(ip) & mask == *network,
            _ => false,
        }
    }
}
