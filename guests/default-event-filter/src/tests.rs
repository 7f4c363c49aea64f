//! The gate and the pattern matcher on the build machine: `cargo test -p
//! bbws-default-event-filter` in `guests/`. The examples are AWS's (the
//! EventBridge user guide's event pattern pages) and Event Ruler's (its
//! README and tests), with their verdicts.

use super::*;
use alloc::string::ToString;
use alloc::vec::Vec;

/// Whether `event` matches `pattern` (which must be valid).
fn matches(pattern: &str, event: &str) -> bool {
    let parsed = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
    let event: Value = serde_json::from_str(event).unwrap_or_else(|e| panic!("{event}: {e}"));
    parsed.matches(&event)
}

/// Asserts the verdict of `pattern` on each `(event, verdict)`.
fn verdicts(pattern: &str, cases: &[(&str, bool)]) {
    for (event, expected) in cases {
        assert_eq!(matches(pattern, event), *expected, "{pattern} on {event}");
    }
}

/// The error of an invalid pattern.
fn invalid(pattern: &str) -> String {
    match Pattern::parse(pattern) {
        Ok(p) => panic!("{pattern} parsed: {p:?}"),
        Err(e) => e,
    }
}

// --- AWS's documented examples -------------------------------------------

/// "Creating event patterns": the EC2 event and pattern.
const EC2_EVENT: &str = r#"{
  "version": "0",
  "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "111122223333",
  "time": "2017-12-22T18:43:48Z",
  "region": "us-west-1",
  "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
  "detail": {"instance-id": "i-1234567890abcdef0", "state": "terminated"}
}"#;

/// Event Ruler's README event (also the content filtering examples').
const README_EVENT: &str = r#"{
  "version": "0",
  "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
  "detail-type": "EC2 Instance State-change Notification",
  "source": "aws.ec2",
  "account": "012345679012",
  "time": "2017-10-02T16:24:49Z",
  "region": "us-east-1",
  "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
  "detail": {
    "c-count": 5,
    "d-count": 3,
    "x-limit": 301.8,
    "source-ip": "10.0.0.33",
    "instance-id": "i-000000aaaaaa00000",
    "state": "running"
  }
}"#;

#[test]
fn the_user_guides_ec2_example_matches() {
    let pattern = r#"{"source": ["aws.ec2"],
                      "detail-type": ["EC2 Instance State-change Notification"],
                      "detail": {"state": ["terminated"]}}"#;
    assert!(matches(pattern, EC2_EVENT));
    assert!(!matches(pattern, README_EVENT), "state running");
    assert!(matches(
        r#"{"source": ["aws.ec2", "aws.fargate"]}"#,
        EC2_EVENT
    ));
}

#[test]
fn null_and_the_empty_string_match_themselves_and_not_each_other() {
    let event = r#"{"source": "aws.autoscaling", "resources": [],
                    "detail": {"eventVersion": "", "responseElements": null}}"#;
    assert!(matches(r#"{"detail": {"eventVersion": [""]}}"#, event));
    assert!(matches(
        r#"{"source": ["aws.autoscaling"], "detail": {"responseElements": [null]}}"#,
        event
    ));
    assert!(!matches(r#"{"detail": {"eventVersion": [null]}}"#, event));
    assert!(!matches(r#"{"detail": {"responseElements": [""]}}"#, event));
}

#[test]
fn values_match_across_nesting_and_numbers_compare_numerically() {
    let macie = r#"{"source": "aws.macie", "detail-type": "Macie Alert",
                    "detail": {"notification-type": "ALERT_CREATED", "tags": ["Custom_Alert", "Insider"],
                               "risk-score": 80, "trigger": {"alert-type": "basic", "risk": 8}}}"#;
    assert!(matches(
        r#"{"source": ["aws.macie"], "detail-type": ["Macie Alert"],
            "detail": {"risk-score": [80], "trigger": {"risk": [8]}}}"#,
        macie
    ));
    assert!(matches(r#"{"detail": {"risk-score": [8.0e1, 1]}}"#, macie));
    assert!(!matches(r#"{"detail": {"risk-score": ["80"]}}"#, macie));
    assert!(!matches(r#"{"detail": {"trigger": {"risk": [9]}}}"#, macie));
    assert!(matches(r#"{"detail": {"tags": ["Insider"]}}"#, macie));
}

#[test]
fn an_array_in_the_event_matches_when_it_shares_a_value_with_the_pattern() {
    let pattern = r#"{"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"]}"#;
    verdicts(
        pattern,
        &[
            (
                r#"{"resources": [
                    "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
                    "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]}"#,
                true,
            ),
            (
                r#"{"resources": ["arn:aws:ec2:us-east-1:1:instance/i-1"]}"#,
                false,
            ),
            (r#"{"resources": []}"#, false),
        ],
    );
}

#[test]
fn the_content_filtering_examples_match_as_documented() {
    let cases = [
        (r#"{"time": [{"prefix": "2017-10-02"}]}"#, true),
        (r#"{"time": [{"prefix": "2017-10-03"}]}"#, false),
        (
            r#"{"source": ["aws.ec2"], "region": [{"prefix": "us-"}]}"#,
            true,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": "initializing"}]}}"#,
            true,
        ),
        (r#"{"detail": {"x-limit": [{"anything-but": 123}]}}"#, true),
        (
            r#"{"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": ["stopped", "running"]}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"x-limit": [{"anything-but": [301.8]}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"state": [{"anything-but": {"prefix": "run"}}]}}"#,
            false,
        ),
        (
            r#"{"detail": {"c-count": [{"numeric": [">", 0, "<=", 5]}],
                           "d-count": [{"numeric": ["<", 10]}],
                           "x-limit": [{"numeric": ["=", 3.018e2]}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}"#,
            true,
        ),
        (
            r#"{"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}"#,
            false,
        ),
        // "Complex example with multiple matching".
        (
            r#"{"time": [{"prefix": "2017-10-02"}],
                "detail": {"state": [{"anything-but": "initializing"}],
                           "c-count": [{"numeric": [">", 0, "<=", 5]}],
                           "d-count": [{"numeric": ["<", 10]}],
                           "x-limit": [{"anything-but": [100, 200, 300]}],
                           "source-ip": [{"cidr": "10.0.0.0/8"}]}}"#,
            true,
        ),
    ];
    for (pattern, expected) in cases {
        assert_eq!(matches(pattern, README_EVENT), expected, "{pattern}");
    }
}

#[test]
fn exists_works_on_leaves_only() {
    let pattern = r#"{"detail": {"state": [{"exists": true}]}}"#;
    assert!(matches(pattern, EC2_EVENT));
    // The guide's event without a detail.state.
    let without = r#"{"detail-type": ["EC2 Instance State-change Notification"],
                      "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-02ebd4584a2ebd341"],
                      "detail": {"c-count": {"c1": 100}}}"#;
    assert!(!matches(pattern, without));
    // c-count is not a leaf there: it "exists" only as an object.
    assert!(matches(
        r#"{"detail": {"c-count": [{"exists": false}]}}"#,
        without
    ));
    assert!(!matches(
        r#"{"detail": {"c-count": [{"exists": true}]}}"#,
        without
    ));
    assert!(matches(
        r#"{"detail": {"c-count": {"c1": [{"exists": true}]}}}"#,
        without
    ));
    assert!(matches(
        r#"{"detail": {"c-count": [{"exists": false}]}}"#,
        EC2_EVENT
    ));
    // Ruler's exists tests.
    let (a, b, x) = (r#"{"a": 1}"#, r#"{"b": 2}"#, r#"{"x": "X"}"#);
    verdicts(
        r#"{"a": [{"exists": true}]}"#,
        &[(a, true), (b, false), (x, false)],
    );
    verdicts(
        r#"{"b": [{"exists": false}]}"#,
        &[(a, true), (b, false), (x, true)],
    );
    verdicts(
        r#"{"x": [{"exists": true}]}"#,
        &[(a, false), (b, false), (x, true)],
    );
    verdicts(
        r#"{"x": [{"exists": false}]}"#,
        &[(a, true), (b, true), (x, false)],
    );
    // null is a value; an empty array holds none; a deeper path under a
    // missing one is missing too.
    verdicts(
        r#"{"v": [{"exists": true}]}"#,
        &[
            (r#"{"v": null}"#, true),
            (r#"{"v": []}"#, false),
            (r#"{"v": [[3]]}"#, true),
        ],
    );
    assert!(matches(r#"{"a": {"b": {"c": [{"exists": false}]}}}"#, b));
    assert!(matches(r#"{"a": {"b": [{"exists": false}]}}"#, a));
}

#[test]
fn the_last_of_a_repeated_key_is_the_one_used() {
    let pattern = r#"{"detail": {"location": [{"prefix": "us-"}],
                                 "location": [{"anything-but": "us-east"}]}}"#;
    verdicts(
        pattern,
        &[
            (r#"{"detail": {"location": "us-west"}}"#, true),
            (r#"{"detail": {"location": "us-east"}}"#, false),
            (r#"{"detail": {"location": "eu-west"}}"#, true),
        ],
    );
}

/// "Comparison operators for use in event patterns": the table's rows.
#[test]
fn the_comparison_operator_table_matches_as_documented() {
    let table: &[(&str, &[(&str, bool)])] = &[
        (
            r#"{"Location": ["New York"], "Day": ["Monday"]}"#,
            &[
                (r#"{"Location": "New York", "Day": "Monday"}"#, true),
                (r#"{"Location": "New York", "Day": "Sunday"}"#, false),
            ],
        ),
        (
            r#"{"Region": [{"anything-but": {"prefix": "us-"}}]}"#,
            &[
                (r#"{"Region": "eu-west-1"}"#, true),
                (r#"{"Region": "us-east-1"}"#, false),
            ],
        ),
        (
            r#"{"FileName": [{"anything-but": {"suffix": ".png"}}]}"#,
            &[
                (r#"{"FileName": "a.jpg"}"#, true),
                (r#"{"FileName": "a.png"}"#, false),
            ],
        ),
        (
            r#"{"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}"#,
            &[
                (r#"{"state": "running"}"#, true),
                (r#"{"state": "INITIALIZING"}"#, false),
            ],
        ),
        (
            r#"{"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}"#,
            &[
                (r#"{"FilePath": "/usr/bin/x"}"#, true),
                (r#"{"FilePath": "/usr/lib/x"}"#, false),
            ],
        ),
        (
            r#"{"Region": [{"prefix": "us-"}]}"#,
            &[
                (r#"{"Region": "us-east-1"}"#, true),
                (r#"{"Region": "eu-west-1"}"#, false),
            ],
        ),
        (
            r#"{"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}"#,
            &[
                (r#"{"service": "EventBridge"}"#, true),
                (r#"{"service": "EVENTBRIDGE"}"#, true),
                (r#"{"service": "SQS"}"#, false),
            ],
        ),
        (
            r#"{"LastName": [""]}"#,
            &[
                (r#"{"LastName": ""}"#, true),
                (r#"{"LastName": "Doe"}"#, false),
            ],
        ),
        (
            r#"{"Name": ["Alice"]}"#,
            &[
                (r#"{"Name": "Alice"}"#, true),
                (r#"{"Name": "alice"}"#, false),
            ],
        ),
        (
            r#"{"Name": [{"equals-ignore-case": "alice"}]}"#,
            &[
                (r#"{"Name": "ALICE"}"#, true),
                (r#"{"Name": "Alicia"}"#, false),
            ],
        ),
        (
            r#"{"FileName": [{"suffix": ".png"}]}"#,
            &[
                (r#"{"FileName": "a.png"}"#, true),
                (r#"{"FileName": "a.PNG"}"#, false),
            ],
        ),
        (
            r#"{"service": [{"suffix": {"equals-ignore-case": "tBridge"}}]}"#,
            &[
                (r#"{"service": "EVENTBRIDGE"}"#, true),
                (r#"{"service": "bridges"}"#, false),
            ],
        ),
        (
            r#"{"ProductName": [{"exists": true}]}"#,
            &[
                (r#"{"ProductName": "x"}"#, true),
                (r#"{"Other": "x"}"#, false),
            ],
        ),
        (
            r#"{"ProductName": [{"exists": false}]}"#,
            &[
                (r#"{"ProductName": "x"}"#, false),
                (r#"{"Other": "x"}"#, true),
            ],
        ),
        (
            r#"{"Weather": [{"anything-but": ["Raining"]}]}"#,
            &[
                (r#"{"Weather": "Sunny"}"#, true),
                (r#"{"Weather": "Raining"}"#, false),
            ],
        ),
        (
            r#"{"UserID": [null]}"#,
            &[(r#"{"UserID": null}"#, true), (r#"{"UserID": "u"}"#, false)],
        ),
        (
            r#"{"Price": [100]}"#,
            &[
                (r#"{"Price": 100}"#, true),
                (r#"{"Price": 100.0}"#, true),
                (r#"{"Price": 101}"#, false),
            ],
        ),
        (
            r#"{"Price": [{"numeric": [">", 10, "<=", 20]}]}"#,
            &[
                (r#"{"Price": 20}"#, true),
                (r#"{"Price": 10}"#, false),
                (r#"{"Price": 10.5}"#, true),
                (r#"{"Price": 21}"#, false),
            ],
        ),
        (
            r#"{"PaymentType": ["Credit", "Debit"]}"#,
            &[
                (r#"{"PaymentType": "Debit"}"#, true),
                (r#"{"PaymentType": "Cash"}"#, false),
            ],
        ),
        (
            r#"{"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}"#,
            &[
                (r#"{"Location": "Paris", "Day": "Monday"}"#, true),
                (r#"{"Location": "New York", "Day": "Sunday"}"#, true),
                (r#"{"Location": "Paris", "Day": "Sunday"}"#, false),
            ],
        ),
        (
            r#"{"FileName": [{"wildcard": "dir/*.png"}]}"#,
            &[
                (r#"{"FileName": "dir/a.png"}"#, true),
                (r#"{"FileName": "dir/sub/a.png"}"#, true),
                (r#"{"FileName": "other/a.png"}"#, false),
            ],
        ),
    ];
    for (pattern, cases) in table {
        verdicts(pattern, cases);
    }
}

// --- Event Ruler's README and tests ----------------------------------------

#[test]
fn wildcards_match_runs_and_escape_stars_and_backslashes() {
    verdicts(
        r#"{"source": [{"wildcard": "Simple*Service"}]}"#,
        &[
            (r#"{"source": "SimpleQueueService"}"#, true),
            (r#"{"source": "SimpleService"}"#, true),
            (r#"{"source": "SimpleQueueServices"}"#, false),
        ],
    );
    // Ruler's wildcard test: *bc, d*f, xy* and xy* on four fields.
    let rule = r#"{"a": [{"wildcard": "*bc"}], "b": [{"wildcard": "d*f"}],
                   "c": [{"wildcard": "xy*"}], "d": [{"wildcard": "xy*"}]}"#;
    verdicts(
        rule,
        &[
            (
                r#"{"a": "abcbc", "b": "deeeefx", "c": "xy", "d": "xyzzz"}"#,
                false,
            ),
            (r#"{"a": "abcbc", "b": "deeeef", "d": "xyzzz"}"#, false),
            (
                r#"{"a": "abcbc", "b": "xy", "c": "deeeef", "d": "xyzzz"}"#,
                false,
            ),
            (
                r#"{"a": "abcbc", "b": "deeeef", "c": "xy", "d": "xyzzz"}"#,
                true,
            ),
        ],
    );
    verdicts(
        r#"{"k": [{"wildcard": "a\\*b"}]}"#,
        &[(r#"{"k": "a*b"}"#, true), (r#"{"k": "axb"}"#, false)],
    );
    verdicts(
        r#"{"k": [{"wildcard": "a\\\\*"}]}"#,
        &[
            (r#"{"k": "a\\"}"#, true),
            (r#"{"k": "a\\tail"}"#, true),
            (r#"{"k": "ab"}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [{"wildcard": "*"}]}"#,
        &[
            (r#"{"k": ""}"#, true),
            (r#"{"k": "anything"}"#, true),
            (r#"{"k": 5}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [{"wildcard": "ab*ba"}]}"#,
        &[
            (r#"{"k": "aba"}"#, false),
            (r#"{"k": "abba"}"#, true),
            (r#"{"k": "ab-x-ba"}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"wildcard": "*a*b*c*"}]}"#,
        &[
            (r#"{"k": "xxaxxbxxcxx"}"#, true),
            (r#"{"k": "cba"}"#, false),
            (r#"{"k": "abc"}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"wildcard": "exact"}]}"#,
        &[(r#"{"k": "exact"}"#, true), (r#"{"k": "exactly"}"#, false)],
    );
}

#[test]
fn ruler_anything_but_test_has_its_verdicts() {
    let rule = r#"{
        "a": [{"anything-but": ["dad0", "dad1", "dad2"]}],
        "b": [{"anything-but": [111, 222, 333]}],
        "c": [{"anything-but": "zdd"}],
        "d": [{"anything-but": 444}],
        "z": [{"numeric": [">", 0, "<", 1]}],
        "w": [{"anything-but": {"prefix": "zax"}}],
        "n": [{"anything-but": {"suffix": "ing"}}],
        "o": [{"anything-but": {"equals-ignore-case": "CamelCase"}}],
        "p": [{"anything-but": {"equals-ignore-case": ["CamelCase", "AbC"]}}]}"#;
    let base = [
        ("a", r#""child1""#),
        ("b", r#""444""#),
        ("c", r#""child1""#),
        ("d", "123"),
        ("w", r#""xaz""#),
        ("z", "0.001"),
        ("n", r#""nomatch""#),
        ("o", r#""nomatch""#),
        ("p", r#""nomatch""#),
    ];
    let event = |changes: &[(&str, &str)]| {
        let fields: Vec<String> = base
            .iter()
            .map(|(k, v)| {
                let v = changes.iter().find(|(c, _)| c == k).map_or(*v, |(_, v)| v);
                format!("\"{k}\": {v}")
            })
            .collect();
        format!("{{{}}}", fields.join(", "))
    };
    // Ruler's eleven events, as changes to the first: only it matches.
    let cases: [&[(&str, &str)]; 11] = [
        &[],
        &[("a", r#""dad789""#), ("b", "789"), ("c", r#""zdd""#)],
        &[("a", r#""dad789""#), ("b", "789"), ("z", "1.01")],
        &[("a", r#""dad1""#), ("b", "345")],
        &[("a", r#""abc""#), ("b", "111")],
        &[("a", r#""dad1""#), ("b", "333")],
        &[
            ("a", r#""abc""#),
            ("b", "0"),
            ("d", "444"),
            ("z", "0.999999"),
        ],
        &[("w", r#""zaxonie""#)],
        &[("n", r#""matching""#)],
        &[("o", r#""camelcase""#)],
        &[("p", r#""abc""#)],
    ];
    for (i, changes) in cases.iter().enumerate() {
        assert_eq!(
            matches(rule, &event(changes)),
            i == 0,
            "event {i}: {}",
            event(changes)
        );
    }
}

#[test]
fn ruler_equals_ignore_case_test_has_its_verdicts() {
    let rule = r#"{"a": [{"equals-ignore-case": "aBc"}], "b": [{"equals-ignore-case": "Def"}],
                   "c": [{"equals-ignore-case": "xyZ"}]}"#;
    verdicts(
        rule,
        &[
            (
                r#"{"a": "ABC", "b": "defx", "c": "xYz", "d": "rst"}"#,
                false,
            ),
            (r#"{"a": "ABC", "c": "xYz", "d": "rst"}"#, false),
            (r#"{"a": "ABC", "b": "xYz", "c": "def", "d": "rst"}"#, false),
            (r#"{"a": "ABC", "b": "def", "c": "xYz", "d": "rst"}"#, true),
        ],
    );
}

#[test]
fn a_nested_pattern_matches_within_one_element_of_an_array_of_objects() {
    // Ruler's JSON_WITH_COMPLEX_ARRAYS and its rules.
    let event = r#"{"employees": [
        [{"firstName": "John", "lastName": "Doe", "ids": [1234, 1000, 9999]},
         {"firstName": "Anna", "lastName": "Smith"}],
        [{"firstName": "Peter", "lastName": "Jones", "ids": []}]]}"#;
    for rule in [
        r#"{"employees": {"firstName": ["Anna"]}}"#,
        r#"{"employees": {"firstName": ["John"], "ids": [1000]}}"#,
        r#"{"employees": {"firstName": ["Anna"], "ids": [{"exists": false}]}}"#,
    ] {
        assert!(matches(rule, event), "{rule}");
    }
    for rule in [
        r#"{"employees": {"firstName": ["Alice"]}}"#,
        r#"{"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}"#,
        r#"{"employees": {"firstName": ["Alice"], "lastName": ["Bob"]}}"#,
        r#"{"a": ["b"]}"#,
        r#"{"employees": ["b"]}"#,
        r#"{"employees": {"firstName": ["Anna"], "ids": [1000]}}"#,
        r#"{"employees": {"firstName": ["Anna"], "ids": [{"exists": true}]}}"#,
    ] {
        assert!(!matches(rule, event), "{rule}");
    }
}

#[test]
fn or_combines_alternatives_at_its_own_level() {
    let cloudwatch = |metric: &str, namespace: &str| {
        format!(
            r#"{{"source": "aws.cloudwatch", "metricName": "{metric}", "namespace": "{namespace}",
                 "metricType": "MetricType", "scope": "None",
                 "detail": {{"source": "x", "detail-type": "CloudWatch Alarm State Change"}}}}"#
        )
    };
    // Normal "Or".
    let normal = r#"{"source": ["aws.cloudwatch"],
                     "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                             {"namespace": ["AWS/EC2", "AWS/ES"]}]}"#;
    assert!(matches(normal, &cloudwatch("CPUUtilization", "Other")));
    assert!(matches(normal, &cloudwatch("Other", "AWS/ES")));
    assert!(!matches(normal, &cloudwatch("Other", "Other")));
    // Parallel "Or": one at the top, one inside detail.
    let parallel = r#"{"$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
                       "detail": {"$or": [{"source": ["aws.cloudwatch"]},
                                          {"detail-type": ["CloudWatch Alarm State Change"]}]}}"#;
    assert!(matches(parallel, &cloudwatch("CPUUtilization", "Other")));
    assert!(!matches(
        parallel,
        r#"{"metricName": "CPUUtilization", "detail": {"source": "x", "detail-type": "y"}}"#
    ));
    // "Or" with an "And" inside, and nested.
    let nested = r#"{"source": ["aws.cloudwatch"],
                     "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]},
                             {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"],
                              "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
                             {"scope": ["Service"]}]}"#;
    assert!(
        !matches(nested, &cloudwatch("Other", "AWS/EC2")),
        "no metricId or spaceId"
    );
    assert!(matches(
        nested,
        r#"{"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}"#
    ));
    assert!(matches(
        nested,
        r#"{"source": "aws.cloudwatch", "scope": "Service"}"#
    ));
    assert!(!matches(
        nested,
        r#"{"source": "aws.ec2", "scope": "Service"}"#
    ));
}

// --- Every operator, one by one -------------------------------------------

#[test]
fn exact_values_match_by_type() {
    verdicts(
        r#"{"k": ["5"]}"#,
        &[(r#"{"k": "5"}"#, true), (r#"{"k": 5}"#, false)],
    );
    verdicts(
        r#"{"k": [5]}"#,
        &[
            (r#"{"k": 5}"#, true),
            (r#"{"k": 5.0}"#, true),
            (r#"{"k": 5e0}"#, true),
            (r#"{"k": "5"}"#, false),
            (r#"{"k": [1, 5]}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [true]}"#,
        &[
            (r#"{"k": true}"#, true),
            (r#"{"k": false}"#, false),
            (r#"{"k": 1}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [1]}"#,
        &[(r#"{"k": true}"#, false), (r#"{"k": 1}"#, true)],
    );
    verdicts(
        r#"{"k": [false, null]}"#,
        &[
            (r#"{"k": false}"#, true),
            (r#"{"k": null}"#, true),
            (r#"{"k": 0}"#, false),
        ],
    );
    // A leaf does not match an object, nor a missing field.
    verdicts(
        r#"{"k": ["v"]}"#,
        &[(r#"{"k": {"v": "v"}}"#, false), (r#"{"j": "v"}"#, false)],
    );
    // A nested pattern does not match a scalar.
    assert!(!matches(r#"{"k": {"v": ["v"]}}"#, r#"{"k": "v"}"#));
    // Mixed values and operators in one leaf.
    verdicts(
        r#"{"k": ["a", {"prefix": "b"}, 3, {"numeric": [">", 10]}]}"#,
        &[
            (r#"{"k": "a"}"#, true),
            (r#"{"k": "bee"}"#, true),
            (r#"{"k": 3}"#, true),
            (r#"{"k": 11}"#, true),
            (r#"{"k": 5}"#, false),
            (r#"{"k": "c"}"#, false),
        ],
    );
}

#[test]
fn prefix_and_suffix_match_strings_only() {
    verdicts(
        r#"{"k": [{"prefix": "ab"}]}"#,
        &[
            (r#"{"k": "abc"}"#, true),
            (r#"{"k": "ab"}"#, true),
            (r#"{"k": "Abc"}"#, false),
            (r#"{"k": "a"}"#, false),
            (r#"{"k": ["x", "aby"]}"#, true),
        ],
    );
    verdicts(r#"{"k": [{"prefix": "1"}]}"#, &[(r#"{"k": 12}"#, false)]);
    verdicts(
        r#"{"k": [{"prefix": ""}]}"#,
        &[(r#"{"k": "x"}"#, true), (r#"{"k": 1}"#, false)],
    );
    verdicts(
        r#"{"k": [{"prefix": {"equals-ignore-case": "aB"}}]}"#,
        &[
            (r#"{"k": "ABC"}"#, true),
            (r#"{"k": "abc"}"#, true),
            (r#"{"k": "xab"}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [{"suffix": "yz"}]}"#,
        &[
            (r#"{"k": "xyz"}"#, true),
            (r#"{"k": "xYZ"}"#, false),
            (r#"{"k": "yzx"}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [{"suffix": {"equals-ignore-case": "Yz"}}]}"#,
        &[(r#"{"k": "XYZ"}"#, true), (r#"{"k": "yza"}"#, false)],
    );
    verdicts(
        r#"{"k": [{"equals-ignore-case": "ÉTÉ"}]}"#,
        &[(r#"{"k": "été"}"#, true), (r#"{"k": "ete"}"#, false)],
    );
}

#[test]
fn anything_but_matches_any_value_it_does_not_exclude() {
    verdicts(
        r#"{"k": [{"anything-but": "x"}]}"#,
        &[
            (r#"{"k": "y"}"#, true),
            (r#"{"k": "x"}"#, false),
            (r#"{"k": 5}"#, true),
            (r#"{"k": null}"#, true),
            (r#"{"k": ["x", "y"]}"#, true),
            (r#"{"k": ["x"]}"#, false),
            (r#"{"j": "y"}"#, false),
            (r#"{"k": {"x": 1}}"#, false),
        ],
    );
    verdicts(
        r#"{"k": [{"anything-but": [1, 2.5]}]}"#,
        &[
            (r#"{"k": 1.0}"#, false),
            (r#"{"k": 2.5}"#, false),
            (r#"{"k": 3}"#, true),
            (r#"{"k": "1"}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"anything-but": {"prefix": ["ab", "cd"]}}]}"#,
        &[
            (r#"{"k": "abx"}"#, false),
            (r#"{"k": "cdx"}"#, false),
            (r#"{"k": "x"}"#, true),
            (r#"{"k": 1}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"anything-but": {"suffix": ["1234", "6789"]}}]}"#,
        &[
            (r#"{"k": "i-1234"}"#, false),
            (r#"{"k": "i-6789"}"#, false),
            (r#"{"k": "i-0000"}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"anything-but": {"equals-ignore-case": ["Stopped", "OverLoaded"]}}]}"#,
        &[
            (r#"{"k": "STOPPED"}"#, false),
            (r#"{"k": "overloaded"}"#, false),
            (r#"{"k": "running"}"#, true),
        ],
    );
    verdicts(
        r#"{"k": [{"anything-but": {"wildcard": ["*/bin/*.jar", "*/bin/*.class"]}}]}"#,
        &[
            (r#"{"k": "/opt/bin/a.jar"}"#, false),
            (r#"{"k": "/opt/bin/A.class"}"#, false),
            (r#"{"k": "/opt/lib/a.jar"}"#, true),
        ],
    );
}

#[test]
fn numeric_compares_json_numbers_only() {
    let cases = [
        (r#"["=", 5]"#, [false, true, false]),
        (r#"["<", 5]"#, [true, false, false]),
        (r#"["<=", 5]"#, [true, true, false]),
        (r#"[">", 5]"#, [false, false, true]),
        (r#"[">=", 5]"#, [false, true, true]),
        (r#"[">", 4.95, "<", 5.05]"#, [false, true, false]),
        (r#"[">", 4, "<", 6]"#, [true, true, true]),
        (r#"[">=", 4.5, "<=", 5]"#, [true, true, false]),
        (r#"[">=", 5, "<", 5.1]"#, [false, true, false]),
        (r#"[">", -10, "<=", 4.999]"#, [true, false, false]),
    ];
    for (terms, expected) in cases {
        let pattern = format!(r#"{{"k": [{{"numeric": {terms}}}]}}"#);
        for (value, want) in ["4.9", "5", "5.1"].iter().zip(expected) {
            assert_eq!(
                matches(&pattern, &format!(r#"{{"k": {value}}}"#)),
                want,
                "{terms} on {value}"
            );
        }
    }
    let any = r#"{"k": [{"numeric": [">", -1e9]}]}"#;
    verdicts(
        any,
        &[
            (r#"{"k": "5"}"#, false),
            (r#"{"k": true}"#, false),
            (r#"{"k": null}"#, false),
            (r#"{"k": [-2e9, 3]}"#, true),
            (r#"{"k": 3.018e2}"#, true),
        ],
    );
}

#[test]
fn cidr_matches_ip_address_strings_in_the_block() {
    verdicts(
        r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#,
        &[
            (r#"{"ip": "10.0.0.0"}"#, true),
            (r#"{"ip": "10.0.0.255"}"#, true),
            (r#"{"ip": "10.0.1.0"}"#, false),
            (r#"{"ip": "10.0.0"}"#, false),
            (r#"{"ip": "::ffff:10.0.0.1"}"#, false),
            (r#"{"ip": 10}"#, false),
        ],
    );
    // Host bits in the block are ignored; /0 takes every address.
    verdicts(
        r#"{"ip": [{"cidr": "192.168.7.9/16"}]}"#,
        &[
            (r#"{"ip": "192.168.200.1"}"#, true),
            (r#"{"ip": "192.169.0.1"}"#, false),
        ],
    );
    verdicts(
        r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
        &[(r#"{"ip": "1.2.3.4"}"#, true)],
    );
    verdicts(
        r#"{"ip": [{"cidr": "2001:db8::/32"}]}"#,
        &[
            (r#"{"ip": "2001:db8::1"}"#, true),
            (r#"{"ip": "2001:0db8:ffff::"}"#, true),
            (r#"{"ip": "2001:db9::1"}"#, false),
            (r#"{"ip": "10.0.0.1"}"#, false),
        ],
    );
}

#[test]
fn operator_names_are_fields_outside_or() {
    verdicts(
        r#"{"prefix": ["a"], "numeric": {"exists": [1]}}"#,
        &[
            (r#"{"prefix": "a", "numeric": {"exists": 1}}"#, true),
            (r#"{"prefix": "b"}"#, false),
        ],
    );
}

// --- Invalid patterns ------------------------------------------------------

#[test]
fn invalid_patterns_are_refused_with_a_reason() {
    let cases = [
        ("not json", "the pattern is not JSON"),
        ("[1]", "the pattern is not a JSON object"),
        (r#""x""#, "the pattern is not a JSON object"),
        ("{}", "empty objects are not allowed"),
        (r#"{"detail": {}}"#, "detail: empty objects are not allowed"),
        (
            r#"{"source": "aws.ecs"}"#,
            "source: must be an object or an array",
        ),
        (r#"{"source": 5}"#, "source: must be an object or an array"),
        (
            r#"{"detail": {"a": []}}"#,
            "detail.a: empty arrays are not allowed",
        ),
        (r#"{"a": [["x"]]}"#, "a: match values must be"),
        (r#"{"a": [{"regex": "x"}]}"#, "a: unknown operator `regex`"),
        (
            r#"{"a": [{"exactly": "x"}]}"#,
            "a: unknown operator `exactly`",
        ),
        (r#"{"a": [{}]}"#, "a: an operator object needs an operator"),
        (
            r#"{"a": [{"prefix": "x", "suffix": "y"}]}"#,
            "exactly one operator",
        ),
        (
            r#"{"a": [{"prefix": 5}]}"#,
            "a.prefix: prefix takes a string",
        ),
        (
            r#"{"a": [{"prefix": {"x": "y"}}]}"#,
            "unknown prefix operator `x`",
        ),
        (
            r#"{"a": [{"suffix": {"equals-ignore-case": 5}}]}"#,
            "equals-ignore-case takes a string",
        ),
        (
            r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
            "equals-ignore-case takes a string",
        ),
        (
            r#"{"a": [{"wildcard": "a**b"}]}"#,
            "consecutive wildcard characters at position 1",
        ),
        (
            r#"{"a": [{"wildcard": "a\\b"}]}"#,
            "invalid escape at position 1",
        ),
        (
            r#"{"a": [{"wildcard": "ab\\"}]}"#,
            "invalid escape at position 2",
        ),
        (r#"{"a": [{"wildcard": 5}]}"#, "wildcard takes a string"),
        (
            r#"{"a": [{"anything-but": ["x", 1]}]}"#,
            "only strings or only numbers",
        ),
        (
            r#"{"a": [{"anything-but": []}]}"#,
            "only strings or only numbers",
        ),
        (
            r#"{"a": [{"anything-but": [null]}]}"#,
            "only strings or only numbers",
        ),
        (r#"{"a": [{"anything-but": true}]}"#, "anything-but takes"),
        (r#"{"a": [{"anything-but": null}]}"#, "anything-but takes"),
        (
            r#"{"a": [{"anything-but": {"prefix": ""}}]}"#,
            "an empty prefix is not allowed",
        ),
        (
            r#"{"a": [{"anything-but": {"suffix": ["x", ""]}}]}"#,
            "an empty suffix is not allowed",
        ),
        (
            r#"{"a": [{"anything-but": {"prefix": 5}}]}"#,
            "prefix takes a string or a list of strings",
        ),
        (
            r#"{"a": [{"anything-but": {"wildcard": []}}]}"#,
            "wildcard takes a string or a list",
        ),
        (
            r#"{"a": [{"anything-but": {"wildcard": "**"}}]}"#,
            "consecutive wildcard",
        ),
        (
            r#"{"a": [{"anything-but": {"numeric": [">", 1]}}]}"#,
            "unknown anything-but operator `numeric`",
        ),
        (
            r#"{"a": [{"anything-but": {"prefix": {"equals-ignore-case": "x"}}}]}"#,
            "prefix takes a string or a list",
        ),
        (r#"{"a": [{"numeric": 5}]}"#, "numeric takes a list"),
        (
            r#"{"a": [{"numeric": []}]}"#,
            "numeric takes one comparison or a range",
        ),
        (
            r#"{"a": [{"numeric": ["=", "5"]}]}"#,
            "the value after `=` must be a number",
        ),
        (
            r#"{"a": [{"numeric": [">", true]}]}"#,
            "the value after `>` must be a number",
        ),
        (
            r#"{"a": [{"numeric": [5, ">"]}]}"#,
            "a numeric operator must be a string",
        ),
        (
            r#"{"a": [{"numeric": ["!=", 5]}]}"#,
            "unknown numeric operator `!=`",
        ),
        (
            r#"{"a": [{"numeric": [">", 5, ">", 6]}]}"#,
            "a lower bound (> or >=) then an upper",
        ),
        (
            r#"{"a": [{"numeric": ["<", 5, ">", 1]}]}"#,
            "a lower bound (> or >=) then an upper",
        ),
        (
            r#"{"a": [{"numeric": ["=", 1, "<", 2]}]}"#,
            "a lower bound (> or >=) then an upper",
        ),
        (
            r#"{"a": [{"numeric": [">", 5, "<", 5]}]}"#,
            "lower bound must be below its upper",
        ),
        (
            r#"{"a": [{"numeric": [">", 1, "<", 2, "<", 3]}]}"#,
            "numeric takes one comparison or a range",
        ),
        (
            r#"{"a": [{"exists": "true"}]}"#,
            "exists takes true or false",
        ),
        (
            r#"{"a": [{"cidr": "10.0.0.0"}]}"#,
            "cidr: expected an address/bits block",
        ),
        (
            r#"{"a": [{"cidr": "10.0.0.0/32"}]}"#,
            "IPv4 mask bits must be below 32",
        ),
        (
            r#"{"a": [{"cidr": "::/128"}]}"#,
            "IPv6 mask bits must be below 128",
        ),
        (
            r#"{"a": [{"cidr": "10.0.0.0/x"}]}"#,
            "the mask bits must be a number",
        ),
        (
            r#"{"a": [{"cidr": "host/8"}]}"#,
            "host is not an IP address",
        ),
        (r#"{"a": [{"cidr": 10}]}"#, "cidr takes a string"),
        (
            r#"{"$or": {"a": ["b"]}}"#,
            "$or: must be an array of objects",
        ),
        (
            r#"{"$or": [{"a": ["b"]}]}"#,
            "$or: must have at least 2 objects",
        ),
        (
            r#"{"$or": [{"a": ["b"]}, "c"]}"#,
            "$or: must hold only objects",
        ),
        (
            r#"{"$or": [{"a": ["b"]}, {}]}"#,
            "empty objects are not allowed",
        ),
        (
            r#"{"$or": [{"prefix": ["b"]}, {"a": ["c"]}]}"#,
            "prefix: `prefix` is an operator",
        ),
        (
            r#"{"d": {"$or": [{"x": {"numeric": ["b"]}}, {"a": ["c"]}]}}"#,
            "d.x.numeric: `numeric` is an operator",
        ),
        (
            r#"{"$or": [{"a": ["b"]}, {"c": "d"}]}"#,
            "c: must be an object or an array",
        ),
    ];
    for (pattern, expected) in cases {
        let error = invalid(pattern);
        assert!(
            error.contains(expected),
            "{pattern}: {error:?} lacks {expected:?}"
        );
    }
}

// --- The gate ---------------------------------------------------------------

const TASK_EVENT: &str = r#"{
  "version": "0", "id": "9bcdac79-b31f-4d3d-9410-fbd727c29fab",
  "detail-type": "ECS Task State Change", "source": "aws.ecs",
  "account": "111122223333", "time": "2016-12-06T16:41:06Z", "region": "us-east-1",
  "resources": ["arn:aws:ecs:us-east-1:111122223333:task/b99d40b3-5176-4f71-9a52-9dbd6f1cebef"],
  "detail": {
    "clusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/default",
    "containers": [{"name": "xray", "lastStatus": "STOPPED", "exitCode": 0},
                   {"name": "wordpress", "lastStatus": "RUNNING"}],
    "desiredStatus": "RUNNING", "group": "service:servicetest", "lastStatus": "RUNNING",
    "version": 4
  }
}"#;

/// A batch of one event.
fn input(event: &str) -> GateBatch {
    GateBatch {
        events: alloc::vec![event.into()],
        environment: None,
        accepted_environments: Vec::new(),
        pattern_json: None,
    }
}

/// The outcome of a batch of one.
fn gate_one(batch: &GateBatch) -> FilterOutcome {
    let mut outcomes = gate(batch);
    assert_eq!(outcomes.len(), 1, "one outcome per event");
    outcomes.remove(0)
}

fn with(event: &str, edit: impl FnOnce(&mut GateBatch)) -> FilterOutcome {
    let mut input = input(event);
    edit(&mut input);
    gate_one(&input)
}

fn dropped(outcome: FilterOutcome) -> String {
    match outcome {
        FilterOutcome::Drop(reason) => reason,
        other => panic!("not dropped: {other:?}"),
    }
}

#[test]
fn an_ecs_event_of_a_synced_kind_is_accepted() {
    for kind in DETAIL_TYPES {
        let event = TASK_EVENT.replace("ECS Task State Change", kind);
        assert_eq!(gate_one(&input(&event)), FilterOutcome::Accept, "{kind}");
    }
}

#[test]
fn an_event_that_is_not_a_json_object_is_dropped() {
    for event in ["", "not json", "[1, 2]", "\"aws.ecs\"", "null"] {
        assert_eq!(
            dropped(gate_one(&input(event))),
            "event-gate: the event is not a JSON object"
        );
    }
}

#[test]
fn an_event_from_another_source_is_dropped_naming_it() {
    let event = TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\"");
    assert_eq!(
        dropped(gate_one(&input(&event))),
        "event-gate: source aws.ec2 is not aws.ecs"
    );
    let event = TASK_EVENT.replace("\"source\": \"aws.ecs\",", "");
    assert_eq!(
        dropped(gate_one(&input(&event))),
        "event-gate: the event has no source"
    );
    let event = TASK_EVENT.replace("\"aws.ecs\"", "[\"aws.ecs\"]");
    assert_eq!(
        dropped(gate_one(&input(&event))),
        "event-gate: the event has no source"
    );
    // A long source is quoted only in part.
    let long = "x".repeat(5000);
    let event = TASK_EVENT.replace("\"aws.ecs\"", &format!("\"{long}\""));
    let reason = dropped(gate_one(&input(&event)));
    assert!(
        reason.len() < 300 && reason.ends_with("... is not aws.ecs"),
        "{reason}"
    );
}

#[test]
fn an_event_of_another_detail_type_is_dropped_naming_it() {
    let event = TASK_EVENT.replace(
        "ECS Task State Change",
        "ECS Container Instance State Change",
    );
    assert_eq!(
        dropped(gate_one(&input(&event))),
        "event-gate: detail-type ECS Container Instance State Change is not synced"
    );
    let event = TASK_EVENT.replace("ECS Task State Change", "ecs task state change");
    assert!(
        dropped(gate_one(&input(&event))).contains("is not synced"),
        "case matters"
    );
    let event = TASK_EVENT.replace("\"detail-type\": \"ECS Task State Change\",", "");
    assert_eq!(
        dropped(gate_one(&input(&event))),
        "event-gate: the event has no detail-type"
    );
}

#[test]
fn only_the_environments_the_deployment_syncs_pass() {
    let prod = |env: Option<&str>| {
        with(TASK_EVENT, |i| {
            i.environment = env.map(ToString::to_string);
            i.accepted_environments = Vec::from(["PROD".into(), "SIT".into()]);
        })
    };
    assert_eq!(prod(Some("PROD")), FilterOutcome::Accept);
    assert_eq!(prod(Some("SIT")), FilterOutcome::Accept);
    assert_eq!(
        dropped(prod(Some("DEV"))),
        "event-gate: environment DEV is not synced here (PROD, SIT)"
    );
    assert_eq!(
        dropped(prod(Some("prod"))),
        "event-gate: environment prod is not synced here (PROD, SIT)"
    );
    assert_eq!(
        dropped(prod(None)),
        "event-gate: the instance has no Environment tag (synced here: PROD, SIT)"
    );
    // No list: every environment, and none, pass.
    for env in [None, Some("DEV")] {
        assert_eq!(
            with(TASK_EVENT, |i| i.environment = env.map(ToString::to_string)),
            FilterOutcome::Accept
        );
    }
}

#[test]
fn the_tenants_pattern_must_match() {
    let pattern = |p: &str| with(TASK_EVENT, |i| i.pattern_json = Some(p.into()));
    for p in [
        r#"{"source": ["aws.ecs"]}"#,
        r#"{"detail": {"lastStatus": ["RUNNING"], "version": [{"numeric": [">=", 4]}]}}"#,
        r#"{"detail": {"containers": {"name": ["xray"], "exitCode": [0]}}}"#,
        r#"{"resources": [{"wildcard": "arn:aws:ecs:*:task/*"}]}"#,
        r#"{"$or": [{"detail-type": ["ECS Service Action"]}, {"detail": {"group": [{"prefix": "service:"}]}}]}"#,
    ] {
        assert_eq!(pattern(p), FilterOutcome::Accept, "{p}");
    }
    for p in [
        r#"{"detail": {"lastStatus": ["STOPPED"]}}"#,
        r#"{"detail": {"containers": {"name": ["wordpress"], "exitCode": [0]}}}"#,
        r#"{"detail-type": ["ECS Service Action"]}"#,
    ] {
        assert_eq!(
            dropped(pattern(p)),
            "event-gate: the tenant's event pattern does not match",
            "{p}"
        );
    }
    assert_eq!(
        dropped(pattern(r#"{"detail": {"lastStatus": "RUNNING"}}"#)),
        "event-gate: invalid event pattern: detail.lastStatus: must be an object or an array"
    );
    assert!(
        dropped(pattern("{"))
            .starts_with("event-gate: invalid event pattern: the pattern is not JSON")
    );
}

#[test]
fn the_checks_run_in_order() {
    // A wrong source is reported before an environment or a pattern.
    let event = TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\"");
    let outcome = with(&event, |i| {
        i.accepted_environments = Vec::from(["PROD".into()]);
        i.pattern_json = Some("{".into());
    });
    assert_eq!(
        dropped(outcome),
        "event-gate: source aws.ec2 is not aws.ecs"
    );
    // An environment not synced is reported before an invalid pattern.
    let outcome = with(TASK_EVENT, |i| {
        i.environment = Some("DEV".into());
        i.accepted_environments = Vec::from(["PROD".into()]);
        i.pattern_json = Some("{".into());
    });
    assert_eq!(
        dropped(outcome),
        "event-gate: environment DEV is not synced here (PROD)"
    );
}

#[test]
fn a_batch_is_judged_event_by_event_in_order() {
    let ec2 = TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\"");
    let stopped = TASK_EVENT.replace(
        "\"lastStatus\": \"RUNNING\",\n    \"version\"",
        "\"lastStatus\": \"STOPPED\",\n    \"version\"",
    );
    assert_ne!(stopped, TASK_EVENT, "the sample changed");
    let batch = GateBatch {
        events: Vec::from([
            TASK_EVENT.into(),
            ec2,
            "not json".into(),
            stopped,
            TASK_EVENT.into(),
        ]),
        environment: Some("PROD".into()),
        accepted_environments: Vec::from(["PROD".into()]),
        pattern_json: Some(r#"{"detail": {"lastStatus": ["RUNNING"]}}"#.into()),
    };
    assert_eq!(
        gate(&batch),
        Vec::from([
            FilterOutcome::Accept,
            FilterOutcome::Drop("event-gate: source aws.ec2 is not aws.ecs".into()),
            FilterOutcome::Drop("event-gate: the event is not a JSON object".into()),
            FilterOutcome::Drop("event-gate: the tenant's event pattern does not match".into()),
            FilterOutcome::Accept,
        ])
    );
    // An empty batch has no outcomes; an invalid pattern drops every event
    // of a synced kind, each with the pattern's error.
    assert_eq!(
        gate(&GateBatch {
            events: Vec::new(),
            ..batch.clone()
        }),
        Vec::new()
    );
    let outcomes = gate(&GateBatch {
        events: Vec::from([TASK_EVENT.into(), TASK_EVENT.into()]),
        pattern_json: Some("[]".into()),
        ..batch
    });
    assert_eq!(outcomes.len(), 2);
    for outcome in outcomes {
        assert!(dropped(outcome).starts_with("event-gate: invalid event pattern: "));
    }
}

#[test]
fn without_a_pattern_the_envelope_alone_gives_the_verdict_a_full_parse_gives() {
    // The reference: the whole event parsed, then its kind checked.
    let full = |event: &str| match serde_json::from_str::<Value>(event) {
        Ok(v @ Value::Object(_)) => kind(v.get("source"), v.get("detail-type")),
        _ => Err("the event is not a JSON object".into()),
    };
    let cases = [
        TASK_EVENT.to_string(),
        TASK_EVENT.replace("\"aws.ecs\"", "\"aws.ec2\""),
        // The last of a repeated member counts, both ways.
        r#"{"source": "aws.ec2", "source": "aws.ecs", "detail-type": "ECS Task State Change"}"#
            .into(),
        r#"{"source": "aws.ecs", "source": "aws.ec2", "detail-type": "ECS Task State Change"}"#
            .into(),
        // An escaped key is the same key.
        r#"{"sour\u0063e": "aws.ecs", "detail-type": "ECS Task State Change"}"#.into(),
        r#"{"source": 7, "detail-type": "ECS Task State Change"}"#.into(),
        r#"{"detail-type": "ECS Task State Change"}"#.into(),
        r#"{"source": "aws.ecs", "detail-type": ["ECS Task State Change"]}"#.into(),
        // Broken JSON after the members read, trailing text, not objects.
        r#"{"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {"#.into(),
        r#"{"source": "aws.ecs", "detail-type": "ECS Task State Change"} x"#.into(),
        "[\"aws.ecs\", \"ECS Task State Change\"]".into(),
        "null".into(),
        String::new(),
    ];
    for event in &cases {
        let fast = check(event, &Ok(()), &Ok(None));
        assert_eq!(fast, full(event), "{event}");
    }
    // Nesting past serde_json's limit in a member that is skipped: the
    // envelope reader skips it without building it, so it does not hit the
    // limit. No such event reaches the gate: the host parses every event
    // first, with the same limit, and records it `rejected`.
    let deep = format!(
        r#"{{"source": "aws.ecs", "detail-type": "ECS Task State Change", "detail": {}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    assert!(full(&deep).is_err());
    assert_eq!(check(&deep, &Ok(()), &Ok(None)), Ok(()));
}
