//! Every assertion type, passing and failing on purpose: each case's tag says which.

use gauntlet_core::result::CaseStatus;

use crate::{project, run};

const PROJECT: &str = r#"
providers:
  m: { type: mock }
tools:
  search: { parameters: { type: object }, mock: [ { return: { hits: 3 } } ] }
  fetch: { parameters: { type: object }, mock: [ { return: ok } ] }
agents:
  echo: { provider: m, model: gpt-4o-mini, mock: { echo: true } }
  grader:
    provider: m
    model: gpt-4o-mini
    mock: { responses: [ { when: { contains: good answer }, text: '{"score": 5, "reason": "fine"}' }, { text: '{"score": 1, "reason": "poor"}' } ] }
  caller:
    provider: m
    tools: [search, fetch]
    mock:
      responses:
        - { when: { turn: 1 }, tool_call: { name: search, args: { q: rust, page: 1 } } }
        - { when: { turn: 2 }, tool_call: { name: fetch, args: { id: 7 } } }
        - { text: done }
suites:
  echo:
    target: echo
    cases:
      - { id: equals, tags: [pass], input: abc, assert: [ { type: equals, value: abc } ] }
      - { id: equals-json, tags: [pass], input: '{"a": 1, "b": [2]}', assert: [ { type: equals, value: { b: [2], a: 1 } } ] }
      - { id: equals-f, tags: [fail], input: abc, assert: [ { type: equals, value: abd } ] }
      - { id: contains, tags: [pass], input: hello world, assert: [ { type: contains, value: lo wo } ] }
      - { id: contains-f, tags: [fail], input: hello world, assert: [ { type: contains, value: World } ] }
      - { id: icontains, tags: [pass], input: hello world, assert: [ { type: icontains, value: WORLD } ] }
      - { id: icontains-f, tags: [fail], input: hello world, assert: [ { type: icontains, value: planet } ] }
      - { id: contains-any, tags: [pass], input: a b c, assert: [ { type: contains-any, value: [x, b] } ] }
      - { id: contains-any-f, tags: [fail], input: a b c, assert: [ { type: contains-any, value: [x, y] } ] }
      - { id: contains-all, tags: [pass], input: a b c, assert: [ { type: contains-all, value: [a, c] } ] }
      - { id: contains-all-f, tags: [fail], input: a b c, assert: [ { type: contains-all, value: [a, z] } ] }
      - { id: icontains-any, tags: [pass], input: Apple, assert: [ { type: icontains-any, value: [apple, pear] } ] }
      - { id: icontains-any-f, tags: [fail], input: Apple, assert: [ { type: icontains-any, value: [plum, pear] } ] }
      - { id: icontains-all, tags: [pass], input: Apple Pear, assert: [ { type: icontains-all, value: [apple, PEAR] } ] }
      - { id: icontains-all-f, tags: [fail], input: Apple, assert: [ { type: icontains-all, value: [apple, pear] } ] }
      - { id: regex, tags: [pass], input: order 42 ok, assert: [ { type: regex, value: 'order \d+' } ] }
      - { id: regex-f, tags: [fail], input: order x ok, assert: [ { type: regex, value: 'order \d+' } ] }
      - { id: starts-with, tags: [pass], input: hello, assert: [ { type: starts-with, value: he } ] }
      - { id: starts-with-f, tags: [fail], input: hello, assert: [ { type: starts-with, value: lo } ] }
      - { id: ends-with, tags: [pass], input: hello, assert: [ { type: ends-with, value: lo } ] }
      - { id: ends-with-f, tags: [fail], input: hello, assert: [ { type: ends-with, value: he } ] }
      - { id: is-json, tags: [pass], input: '{"a": 1}', assert: [ { type: is-json } ] }
      - { id: is-json-fenced, tags: [pass], input: "```json\n[1, 2]\n```", assert: [ { type: is-json } ] }
      - { id: is-json-f, tags: [fail], input: '{a: 1}', assert: [ { type: is-json } ] }
      - { id: json-schema, tags: [pass], input: '{"n": 3}', assert: [ { type: json-schema, schema: { type: object, required: [n] } } ] }
      - { id: json-schema-f, tags: [fail], input: '{"m": 3}', assert: [ { type: json-schema, value: { type: object, required: [n] } } ] }
      - { id: json-path, tags: [pass], input: '{"items": [{"id": 7}]}', assert: [ { type: json-path, path: "$.items[0].id", value: 7 } ] }
      - { id: json-path-exists, tags: [pass], input: '{"items": []}', assert: [ { type: json-path, path: $.items } ] }
      - { id: json-path-f, tags: [fail], input: '{"items": [{"id": 7}]}', assert: [ { type: json-path, path: "$.items[0].id", value: 8 } ] }
      - { id: similarity, tags: [pass], input: hello world, assert: [ { type: similarity, value: hello word, threshold: 0.9 } ] }
      - { id: similarity-f, tags: [fail], input: hello world, assert: [ { type: similarity, value: goodbye moon } ] }
      - { id: token-overlap, tags: [pass], input: the cat sat on the mat, assert: [ { type: similarity, method: token-overlap, value: the cat sat, threshold: 0.6 } ] }
      - { id: word-count, tags: [pass], input: one two three, assert: [ { type: word-count, min: 3, max: 3 } ] }
      - { id: word-count-f, tags: [fail], input: one two three, assert: [ { type: word-count, max: 2 } ] }
      - { id: length, tags: [pass], input: abcd, assert: [ { type: length, min: 4 } ] }
      - { id: length-f, tags: [fail], input: abcd, assert: [ { type: length, max: 3 } ] }
      - { id: latency, tags: [pass], input: x, assert: [ { type: latency, max_ms: 1000 } ] }
      - { id: cost, tags: [pass], input: x, assert: [ { type: cost, max_usd: 0.01 } ] }
      - { id: cost-f, tags: [fail], input: x, assert: [ { type: cost, max_usd: 0 } ] }
      - { id: tokens, tags: [pass], input: x, assert: [ { type: tokens, max: 100 } ] }
      - { id: tokens-f, tags: [fail], input: x, assert: [ { type: tokens, kind: input, max: 1 } ] }
      - { id: no-tool, tags: [pass], input: x, assert: [ { type: no-tool } ] }
      - { id: contract-valid, tags: [pass], input: x, assert: [ { type: contract-valid } ] }
      - { id: not-contains, tags: [pass], input: hello, assert: [ { type: not-contains, value: bye } ] }
      - { id: not-contains-f, tags: [fail], input: hello, assert: [ { type: not-contains, value: ell } ] }
      - { id: not-is-json, tags: [pass], input: plain, assert: [ { type: not-is-json } ] }
      - { id: not-similarity, tags: [pass], input: hello, assert: [ { type: not-similarity, value: zzzzz } ] }
      - { id: threshold-pass, tags: [pass], input: abc, threshold: 0.7, assert: [ { type: contains, value: a, weight: 3 }, { type: contains, value: z } ] }
      - { id: threshold-f, tags: [fail], input: abc, threshold: 0.8, assert: [ { type: contains, value: a, weight: 3 }, { type: contains, value: z } ] }
      - { id: security, tags: [pass], input: Your order ships on Monday., assert: [ { type: security } ] }
      - { id: security-f, tags: [fail], input: "Mail me at ada@example.com, key AKIAIOSFODNN7EXAMPLE", assert: [ { type: security, checks: [pii, secrets] } ] }
      - { id: style, tags: [pass], input: The cat sat on the mat., assert: [ { type: style, min_reading_ease: 80, banned: [as an AI] } ] }
      - { id: style-f, tags: [fail], input: The cat sat on the mat., assert: [ { type: style, max_grade: -5 } ] }
      - { id: factuality, tags: [pass], input: The Eiffel Tower height is 330 m., assert: [ { type: factuality, facts: { facts: [ { key: Eiffel Tower height, value: 330, unit: m } ] } } ] }
      - { id: factuality-f, tags: [fail], input: The Eiffel Tower height is 300 m., assert: [ { type: factuality, facts: { facts: [ { key: Eiffel Tower height, value: 330, unit: m } ] } } ] }
      - { id: policy, tags: [pass], input: calm, assert: [ { type: policy, rego: "package t\n\ndeny contains \"no shouting\" if contains(input.output, \"!\")\n" } ] }
      - { id: policy-f, tags: [fail], input: loud!, assert: [ { type: policy, rego: "package t\n\ndeny contains \"no shouting\" if contains(input.output, \"!\")\n" } ] }
      - { id: custom, tags: [pass], input: "yes", assert: [ { type: custom, command: [python3, -c, "import json,sys; c=json.load(sys.stdin); print(json.dumps({'pass': c['output']=='yes'}))"] } ] }
      - { id: custom-f, tags: [fail], input: "no", assert: [ { type: custom, command: [python3, -c, "import json,sys; c=json.load(sys.stdin); print(json.dumps({'pass': c['output']=='yes'}))"] } ] }
      - { id: performance, tags: [pass], input: x, assert: [ { type: performance, p95_ms: 1000 } ] }
      - { id: performance-f, tags: [fail], input: x y z, assert: [ { type: performance, max_tokens_per_word: 0.5 } ] }
      - { id: llm-judge, tags: [pass], input: a good answer, assert: [ { type: llm-judge, judge: grader, criteria: is good } ] }
      - { id: llm-judge-f, tags: [fail], input: a bad answer, assert: [ { type: llm-judge, judge: grader, criteria: is good } ] }
  tools:
    target: caller
    cases:
      - { id: tool-called, tags: [pass], input: x, assert: [ { type: tool-called, name: search } ] }
      - { id: tool-called-args, tags: [pass], input: x, assert: [ { type: tool-called, name: search, args: { q: rust } } ] }
      - { id: tool-called-args-f, tags: [fail], input: x, assert: [ { type: tool-called, name: search, args: { q: go } } ] }
      - { id: tool-sequence, tags: [pass], input: x, assert: [ { type: tool-sequence, value: [search, fetch] } ] }
      - { id: tool-sequence-gap, tags: [pass], input: x, assert: [ { type: tool-sequence, value: [fetch] } ] }
      - { id: tool-sequence-exact-f, tags: [fail], input: x, assert: [ { type: tool-sequence, value: [fetch], exact: true } ] }
      - { id: tool-sequence-order-f, tags: [fail], input: x, assert: [ { type: tool-sequence, value: [fetch, search] } ] }
      - { id: no-tool-f, tags: [fail], input: x, assert: [ { type: no-tool } ] }
      - { id: no-tool-named, tags: [pass], input: x, assert: [ { type: no-tool, name: search, weight: 0 }, { type: not-no-tool, name: fetch } ] }
      - { id: not-tool-called, tags: [fail], input: x, assert: [ { type: not-tool-called, name: fetch } ] }
"#;

#[tokio::test]
async fn every_assertion_type_passes_and_fails_on_purpose() {
    let p = project(PROJECT);
    let mut checked = 0;
    for suite in ["echo", "tools"] {
        for c in run(&p, suite, 1).await {
            let expected = if c.tags.contains(&"pass".to_owned()) {
                CaseStatus::Passed
            } else {
                CaseStatus::Failed
            };
            assert_eq!(
                c.status, expected,
                "case {}: {:?} {:#?}",
                c.id, c.reason, c.assertions
            );
            for a in &c.assertions {
                assert!(
                    (0.0..=1.0).contains(&a.score),
                    "{}: score {}",
                    c.id,
                    a.score
                );
                assert!(!a.reason.is_empty());
            }
            if expected == CaseStatus::Failed {
                assert!(c.reason.is_some(), "{} failed without a reason", c.id);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 73);
    // Every type of the catalogue appears in the table.
    let names: String = PROJECT.to_owned();
    for t in gauntlet_core::model::Check::NAMES {
        if t != "node-output" {
            assert!(names.contains(&format!("type: {t}")), "no case for `{t}`");
        }
    }
}

#[tokio::test]
async fn graded_scores_and_negation() {
    let p = project(PROJECT);
    let results = run(&p, "echo", 1).await;
    let partial = results.iter().find(|c| c.id == "contains-all-f").unwrap();
    assert_eq!(
        partial.assertions[0].score, 0.5,
        "contains-all gives partial credit"
    );
    let weighted = results.iter().find(|c| c.id == "threshold-pass").unwrap();
    assert!((weighted.score - 0.75).abs() < 1e-9);
    let neg = results.iter().find(|c| c.id == "not-contains-f").unwrap();
    assert!(neg.assertions[0].reason.starts_with("negated:"));
    assert_eq!(neg.assertions[0].kind, "not-contains");
}
