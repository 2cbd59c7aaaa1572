use std::sync::Arc;

use gauntlet_core::evaluators::{Fact, FactSource, Facts, FactualitySpec};
use serde_json::{Value, json};

use super::*;

fn fact(key: &str, aliases: &[&str], value: Value, unit: Option<&str>) -> Fact {
    Fact {
        key: key.into(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        value,
        unit: unit.map(str::to_owned),
        tolerance: None,
    }
}

fn facts() -> Facts {
    let mut visitors = fact(
        "annual visitors",
        &["visitors"],
        json!(7),
        Some("million visitors"),
    );
    visitors.tolerance = Some(0.1);
    Facts {
        facts: vec![
            fact(
                "Eiffel Tower height",
                &["Eiffel Tower", "tall"],
                json!(330),
                Some("m"),
            ),
            fact(
                "Eiffel Tower completion",
                &["completed", "finished"],
                json!("1889-03-31"),
                None,
            ),
            fact(
                "Eiffel Tower designer",
                &["designed by", "designer"],
                json!("Gustave Eiffel"),
                None,
            ),
            visitors,
            fact(
                "Paris population",
                &["population of Paris"],
                json!(2.1),
                Some("million"),
            ),
            fact(
                "Acme revenue",
                &["revenue"],
                json!(4.2),
                Some("billion USD"),
            ),
        ],
        entities: vec!["Paris".into(), "France".into(), "Gustave Eiffel".into()],
        sources: vec![
            FactSource {
                id: "wiki-eiffel".into(),
                title: None,
                url: None,
                text: Some(
                    "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in \
                     Paris. It is 330 metres tall and was completed in 1889. It has 1,665 steps."
                        .into(),
                ),
            },
            FactSource {
                id: "doc-b".into(),
                title: None,
                url: None,
                text: Some("Stephen Sauvestre worked on the architecture.".into()),
            },
        ],
    }
}

fn spec(require_citations: bool, flag_unsupported: bool) -> FactualitySpec {
    FactualitySpec {
        facts_path: "facts.yaml".into(),
        facts: Arc::new(facts()),
        require_citations,
        flag_unsupported,
    }
}

fn run(text: &str) -> FactualityReport {
    check(text, &spec(false, true), 0.8)
}

fn status_of<'a>(r: &'a FactualityReport, text: &str) -> &'a ClaimVerdict {
    r.claims
        .iter()
        .find(|v| v.claim.text == text)
        .unwrap_or_else(|| panic!("no claim {text:?} in {:#?}", r.claims))
}

#[test]
fn extracts_each_kind_with_spans() {
    let text = "On 2024-03-01, Acme Corp reported revenue of $4.2 billion, up 12% from 2023, \
                with 1,024 users within 3.5 km of Berlin. Dr. Ada Lovelace met Charles Babbage \
                in London in 1833 [1].";
    let claims = extract_claims(text);
    let got: Vec<(&str, &str, usize)> = claims
        .iter()
        .map(|c| (c.kind.as_str(), c.text.as_str(), c.sentence))
        .collect();
    assert_eq!(
        got,
        vec![
            ("date", "2024-03-01", 0),
            ("entity", "Acme Corp", 0),
            ("number", "$4.2 billion", 0),
            ("number", "12%", 0),
            ("date", "2023", 0),
            ("number", "1,024 users", 0),
            ("number", "3.5 km", 0),
            ("entity", "Berlin", 0),
            ("entity", "Dr. Ada Lovelace", 1),
            ("entity", "Charles Babbage", 1),
            ("entity", "London", 1),
            ("date", "1833", 1),
        ]
    );
    for c in &claims {
        assert_eq!(&text[c.start..c.end], c.text);
    }
}

#[test]
fn extracts_dates_and_skips_non_claims() {
    let kinds = |t: &str| -> Vec<(ClaimKind, String)> {
        extract_claims(t)
            .into_iter()
            .map(|c| (c.kind, c.text))
            .collect()
    };
    assert_eq!(
        kinds("It opened on March 31, 1889, closed 1 May 1890 and reopened in June 1891."),
        vec![
            (ClaimKind::Date, "March 31, 1889".into()),
            (ClaimKind::Date, "1 May 1890".into()),
            (ClaimKind::Date, "June 1891".into()),
        ]
    );
    // A single capitalised word opening a sentence, pronouns, list numbers, versions, ordinals
    // and citation markers are not claims.
    assert_eq!(
        kinds("Paris is lovely. I agree [2].\n1. Visit the 19th row at v2.5\n2) Tokyo"),
        vec![]
    );
    assert_eq!(
        kinds("It weighs 20g, is 12cm wide, and costs $4.2B."),
        vec![
            (ClaimKind::Number, "20g".into()),
            (ClaimKind::Number, "12cm".into()),
            (ClaimKind::Number, "$4.2B".into()),
        ]
    );
    assert_eq!(
        kinds("See COVID-19 data"),
        vec![(ClaimKind::Entity, "COVID-19".into())]
    );
    assert_eq!(
        kinds("We met Paris Hilton. Sales: 1024"),
        vec![
            (ClaimKind::Entity, "Paris Hilton".into()),
            (ClaimKind::Number, "1024".into()),
        ]
    );
    assert_eq!(ClaimKind::KeyValue.as_str(), "key_value");
    assert_eq!(ClaimStatus::Unsupported.as_str(), "unsupported");
}

#[test]
fn key_value_claims_need_facts() {
    let text = "The population of Paris is 2.1 million.";
    assert!(
        extract_claims(text)
            .iter()
            .all(|c| c.kind != ClaimKind::KeyValue)
    );
    let with = extract_claims_with(text, &facts());
    let kv: Vec<&Claim> = with
        .iter()
        .filter(|c| c.kind == ClaimKind::KeyValue)
        .collect();
    assert_eq!(kv.len(), 1);
    assert_eq!(kv[0].text, "population of Paris is 2.1 million");
    assert!(
        with.iter().all(|c| c.kind != ClaimKind::Number),
        "the value is not counted twice"
    );
}

#[test]
fn correct_answer_passes() {
    let r = run(
        "The Eiffel Tower in Paris is 330 m tall. It was completed on March 31, 1889 \
                 and was designed by Gustave Eiffel [1].",
    );
    assert!(r.pass, "{r:#?}");
    assert_eq!(r.score, 1.0);
    assert_eq!(r.claims.len(), 5);
    assert!(r.claims.iter().all(|v| v.status == ClaimStatus::Supported));
    let height = status_of(&r, "330 m");
    assert_eq!(height.fact.as_deref(), Some("Eiffel Tower height"));
    assert!(close(height.confidence, 0.85));
    assert_eq!(
        r.summary,
        "5 claims: 5 supported, 0 contradicted, 0 unsupported"
    );
    assert!(r.citation_issues.is_empty());
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[test]
fn wrong_number_is_contradicted_and_units_convert() {
    let r = run("The Eiffel Tower is 300 m tall.");
    assert!(!r.pass);
    let v = status_of(&r, "Eiffel Tower is 300 m");
    assert_eq!(v.claim.kind, ClaimKind::KeyValue);
    assert_eq!(v.status, ClaimStatus::Contradicted);
    assert_eq!(v.note, "expected 330 m, got 300 m");
    assert!(close(v.confidence, 0.9));
    assert_eq!(
        r.summary,
        "2 claims: 1 supported, 1 contradicted (Eiffel Tower height: expected 330 m, got \
         300 m), 0 unsupported"
    );

    for ok in [
        "The Eiffel Tower is 0.33 km tall.",
        "The Eiffel Tower is about 1,083 ft tall.",
        "The Eiffel Tower is 33,000 cm tall.",
        "The Eiffel Tower stands at 330.4 metres.",
    ] {
        let r = run(ok);
        assert!(r.pass, "{ok}: {r:#?}");
    }
    // Currency, multipliers and a fact stated in another unit.
    assert!(run("Acme revenue was $4.2 billion.").pass);
    assert!(run("Acme reported revenue of $4,200 million.").pass);
    let r = run("Acme reported revenue of $4.9 billion.");
    assert_eq!(
        status_of(&r, "$4.9 billion").note,
        "expected 4.2 billion USD, got $4.9 billion"
    );
}

#[test]
fn precision_and_tolerance() {
    // Rounded to the fact's precision (2.1 million): 2.14 million agrees, 2.2 million does not.
    assert!(run("The population of Paris is 2.14 million.").pass);
    assert!(run("The population of Paris is 2,100,000 people.").pass);
    assert!(!run("The population of Paris is 2.2 million.").pass);
    // Relative tolerance of 10 % around 7 million visitors.
    let ok = run("The tower gets about 6.5 million visitors a year.");
    assert_eq!(
        status_of(&ok, "6.5 million visitors").status,
        ClaimStatus::Supported
    );
    let far = run("The tower gets 5 million visitors a year.");
    let v = status_of(&far, "5 million visitors");
    assert_eq!(v.status, ClaimStatus::Contradicted);
    assert_eq!(
        v.note,
        "expected 7 million visitors, got 5 million visitors"
    );
    assert!(close(v.confidence, 0.85 * 0.9));
}

#[test]
fn wrong_date_and_wrong_name() {
    let r = run("It was completed in 1887.");
    let v = status_of(&r, "1887");
    assert_eq!(v.status, ClaimStatus::Contradicted);
    assert_eq!(v.note, "expected 1889-03-31, got 1887");
    assert!(!r.pass);
    // Compared at the precision both have.
    assert!(run("It was completed in March 1889.").pass);
    assert!(!run("It was completed in April 1889.").pass);

    let r = run("The tower was designed by Thomas Edison.");
    let v = status_of(&r, "Thomas Edison");
    assert_eq!(v.status, ClaimStatus::Contradicted);
    assert_eq!(v.note, "expected Gustave Eiffel, got Thomas Edison");
    assert_eq!(v.fact.as_deref(), Some("Eiffel Tower designer"));
    let r = run("The designer of the Eiffel Tower was Thomas Edison.");
    let v = status_of(&r, "designer of the Eiffel Tower was Thomas Edison");
    assert_eq!(v.status, ClaimStatus::Contradicted);
    assert!(run("The designer of the Eiffel Tower was Gustave Eiffel.").pass);
}

#[test]
fn other_statements_in_the_sentence_do_not_contradict() {
    let r = run("The Eiffel Tower is 330 m tall and 125 m wide.");
    assert_eq!(status_of(&r, "125 m").status, ClaimStatus::Unsupported);
    assert!(
        r.claims
            .iter()
            .all(|v| v.status != ClaimStatus::Contradicted)
    );
    // A bare number is not compared with a fact that has a unit (but is in "X is Y" form).
    let r = run("In the Eiffel Tower, 2 of the 8 elevators are old.");
    assert!(
        r.claims
            .iter()
            .all(|v| v.status != ClaimStatus::Contradicted),
        "{r:#?}"
    );
    assert!(!run("Eiffel Tower height: 300").pass);
    // A known name in the sentence of a name-valued fact is not a contradiction.
    let r = run("The tower in Paris was designed by Gustave Eiffel.");
    assert!(r.pass, "{r:#?}");
}

#[test]
fn invented_name_and_statistic_are_unsupported() {
    let text = "The tower was later renovated by Marcus Whitfield. It attracts 42% of all \
                tourists in France.";
    let r = run(text);
    let name = status_of(&r, "Marcus Whitfield");
    assert_eq!(name.status, ClaimStatus::Unsupported);
    assert!(name.note.contains("possible hallucination"));
    let stat = status_of(&r, "42%");
    assert_eq!(stat.status, ClaimStatus::Unsupported);
    assert_eq!(status_of(&r, "France").status, ClaimStatus::Supported);
    assert!(close(r.score, 1.0 / 3.0));
    assert!(!r.pass);
    assert_eq!(
        r.summary,
        "3 claims: 1 supported, 0 contradicted, 2 unsupported"
    );

    // Without flagging, unsupported claims count half and nothing is contradicted.
    let lenient = check(text, &spec(false, false), 0.6);
    assert!(close(lenient.score, 2.0 / 3.0));
    assert!(lenient.pass);

    // Found in a source, or in the facts, instead.
    let r = run("Stephen Sauvestre also worked on it. It has 1,665 steps and is 330 m high.");
    assert_eq!(
        status_of(&r, "Stephen Sauvestre").fact.as_deref(),
        Some("doc-b")
    );
    assert_eq!(
        status_of(&r, "1,665 steps").fact.as_deref(),
        Some("wiki-eiffel")
    );
    let high = status_of(&r, "330 m");
    assert_eq!(high.fact.as_deref(), Some("wiki-eiffel"));
    assert_eq!(high.status, ClaimStatus::Supported);
    // Dates found nowhere are unsupported with low confidence and no hallucination flag.
    let r = run("The ceremony took place in 1901.");
    let d = status_of(&r, "1901");
    assert_eq!(d.status, ClaimStatus::Unsupported);
    assert!(close(d.confidence, 0.3));
    assert!(close(r.score, 0.5));
}

#[test]
fn citations_required_missing_and_unresolved() {
    let strict = spec(true, true);
    let cited = "The Eiffel Tower is 330 m tall [1]. It was completed in 1889. [wiki-eiffel] \
                 It was designed by Gustave Eiffel (source: doc-b).";
    let r = check(cited, &strict, 0.8);
    assert!(r.citation_issues.is_empty(), "{:#?}", r.citation_issues);
    assert!(r.pass);

    let missing = "The Eiffel Tower is 330 m tall [source: wiki-eiffel]. It was completed in 1889.";
    let r = check(missing, &strict, 0.8);
    assert_eq!(
        r.citation_issues,
        vec![CitationIssue {
            sentence: 1,
            message: "sentence 2 states \"1889\" without a citation".into(),
        }]
    );
    assert!(!r.pass);
    assert!(
        close(r.score, 0.5),
        "one issue over two sentences with claims"
    );
    assert!(r.summary.ends_with(", 1 citation issue"), "{}", r.summary);
    // Not required: no issue.
    assert!(check(missing, &spec(false, true), 0.8).pass);

    // Unresolved citations are issues even when citations are not required.
    let r = check(
        "The Eiffel Tower is 330 m tall [3]. See also [2, doc-z].",
        &spec(false, true),
        0.0,
    );
    let messages: Vec<&str> = r
        .citation_issues
        .iter()
        .map(|i| i.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "citation [3] does not match any source",
            "citation [2, doc-z]: doc-z does not match any source",
        ]
    );
    assert!(!r.pass);
}

#[test]
fn text_without_claims() {
    let r = run("I think it is a nice tower, honestly.");
    assert!(r.claims.is_empty());
    assert_eq!(r.score, 1.0);
    assert!(r.pass);
    assert_eq!(r.summary, "no checkable claims");
    let r = run("");
    assert!(r.pass);
}
