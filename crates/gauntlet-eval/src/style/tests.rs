use super::text::{sentence_spans, word_spans};
use super::*;

fn close(a: f64, b: f64, eps: f64) -> bool {
    (a - b).abs() <= eps
}

fn sentences(text: &str) -> Vec<&str> {
    sentence_spans(text).into_iter().map(|r| &text[r]).collect()
}

/// The abstract of Coleman & Liau (1975), their worked example: 5 sentences, 119 words and 639
/// letters or digits, grade 14.5 (as reproduced on Wikipedia's Coleman–Liau index page).
const COLEMAN_LIAU_ABSTRACT: &str = "Existing computer programs that measure readability are \
based largely upon subroutines which estimate number of syllables, usually by counting vowels. \
The shortcoming in estimating syllables is that it necessitates keypunching the prose into the \
computer. There is no need to estimate syllables since word length in letters is a better \
predictor of readability than word length in syllables. Therefore, a new readability formula \
was computed that has for its predictors letters per 100 words and sentences per 100 words. \
Both predictors can be counted by an optical scanning device, and thus the formula makes it \
economically feasible for an organization such as the U.S. Office of Education to calibrate \
the readability of all textbooks for the public school system.";

#[test]
fn flesch_formulas_match_published_figures() {
    // Wikipedia, Flesch–Kincaid readability tests: "The cat sat on the mat." scores 116.
    assert!(close(flesch_reading_ease(6, 1, 6), 116.145, 1e-9));
    // "The Australian platypus is seemingly a hybrid of a mammal and reptilian creature":
    // 13 words, 24 syllables: reading ease 37.5, grade 11.3.
    assert!(close(flesch_reading_ease(13, 1, 24), 37.5, 0.05));
    assert!(close(flesch_kincaid_grade(13, 1, 24), 11.3, 0.05));
    // The extremes: one-syllable one-word sentences score 121.22 and grade −3.40.
    assert!(close(flesch_reading_ease(1, 1, 1), 121.22, 0.005));
    assert!(close(flesch_kincaid_grade(1, 1, 1), -3.40, 0.005));
    // Green Eggs and Ham: 5.7 words per sentence, 1.02 syllables per word, grade −1.3.
    assert!(close(grade_from_rates(5.7, 1.02), -1.3, 0.05));
    assert_eq!(flesch_reading_ease(0, 0, 0), 0.0);
}

#[test]
fn flesch_on_counted_text() {
    let r = analyse("The cat sat on the mat.");
    assert_eq!((r.sentences, r.words, r.syllables), (1, 6, 6));
    assert!(close(r.flesch_reading_ease, 116.1, 0.05));
    assert!(close(r.flesch_kincaid_grade, -1.45, 0.005));
    // Wikipedia's second example sentence has a reading ease of about 69 (16 words, 23
    // syllables).
    let r = analyse(
        "This sentence, taken as a reading passage unto itself, is being used to prove a point.",
    );
    assert_eq!((r.words, r.syllables), (16, 23));
    assert!(close(r.flesch_reading_ease, 69.0, 0.5));
    assert_eq!(r.passive_share, 1.0);
}

#[test]
fn smog_matches_mclaughlin() {
    // McLaughlin's approximation for 64 polysyllables in 30 sentences: √64 + 3 = 11; the
    // regression formula gives 1.0430 × 8 + 3.1291.
    assert!(close(smog(64, 30), 11.4731, 1e-9));
    assert!(close(smog(32, 15), 11.4731, 1e-9), "scaled to 30 sentences");
    // Within a grade of McLaughlin's approximation (√count + 3, the basis of his conversion
    // table) for 30-sentence samples with 4 to 225 polysyllables.
    for root in 2..=15usize {
        let approx = root as f64 + 3.0;
        let precise = smog(root * root, 30);
        assert!(
            precise >= approx && precise - approx < 1.0,
            "{root}: {precise}"
        );
    }
    assert_eq!(smog(0, 0), 0.0);
}

#[test]
fn coleman_liau_matches_published_examples() {
    // The 1975 abstract: L = 639 / 119 × 100, S = 5 / 119 × 100, grade 14.5.
    assert!(close(coleman_liau(639, 119, 5), 14.5, 0.05));
    let r = analyse(COLEMAN_LIAU_ABSTRACT);
    assert_eq!((r.sentences, r.words, r.letters), (5, 119, 639));
    assert!(close(r.coleman_liau, 14.5, 0.05));

    // CS50's readability examples: 65 letters, 14 words, 4 sentences → grade 3; 214 letters,
    // 56 words, 4 sentences → grade 5 (rounded).
    let seuss =
        "Congratulations! Today is your day. You're off to Great Places! You're off and away!";
    let r = analyse(seuss);
    assert_eq!((r.letters, r.words, r.sentences), (65, 14, 4));
    assert_eq!(r.coleman_liau.round(), 3.0);
    let potter = "Harry Potter was a highly unusual boy in many ways. For one thing, he hated the \
                  summer holidays more than any other time of year. For another, he really wanted \
                  to do his homework, but was forced to do it in secret, in the dead of the night. \
                  And he also happened to be a wizard.";
    let r = analyse(potter);
    assert_eq!((r.letters, r.words, r.sentences), (214, 56, 4));
    assert_eq!(r.coleman_liau.round(), 5.0);
}

/// Dictionary syllable counts (Merriam-Webster) of words not in the exception table.
const DICTIONARY: &[(&str, usize)] = &[
    ("cat", 1),
    ("table", 2),
    ("beautiful", 3),
    ("readability", 5),
    ("syllable", 3),
    ("computer", 3),
    ("university", 5),
    ("the", 1),
    ("apple", 2),
    ("banana", 3),
    ("elephant", 3),
    ("education", 4),
    ("information", 4),
    ("communication", 5),
    ("necessary", 4),
    ("important", 3),
    ("development", 4),
    ("hospital", 3),
    ("family", 3),
    ("library", 3),
    ("government", 3),
    ("vegetable", 4),
    ("different", 3),
    ("however", 3),
    ("example", 3),
    ("together", 3),
    ("organization", 5),
    ("international", 5),
    ("technology", 4),
    ("environment", 4),
    ("particular", 4),
    ("understanding", 4),
    ("experience", 4),
    ("opportunity", 5),
    ("personality", 5),
    ("dictionary", 4),
    ("encyclopedia", 6),
    ("simple", 2),
    ("little", 2),
    ("whole", 1),
    ("style", 1),
    ("fire", 1),
    ("walked", 1),
    ("wanted", 2),
    ("places", 2),
    ("changes", 2),
    ("lovely", 2),
    ("statement", 2),
    ("player", 2),
    ("beyond", 2),
    ("quickly", 2),
    ("studying", 3),
    ("radio", 3),
    ("video", 3),
    ("society", 4),
    ("actual", 3),
    ("usual", 3),
    ("violin", 3),
    ("piano", 3),
    ("diagram", 3),
    ("nation", 2),
    ("question", 2),
    ("special", 2),
    ("musician", 3),
    ("precious", 2),
    ("various", 3),
    ("serious", 3),
    ("yellow", 2),
    ("queen", 1),
    ("quality", 3),
    ("language", 2),
    ("guide", 1),
    ("something", 2),
    ("everything", 3),
    ("hundred", 2),
    ("agreed", 2),
    ("jumped", 1),
    ("needed", 2),
    ("rhythm", 2),
    ("sometimes", 2),
    ("chocolate", 3),
    ("comfortable", 4),
    ("interesting", 4),
    ("orange", 2),
    ("tomorrow", 3),
    ("animal", 3),
    ("poetry", 3),
];

#[test]
fn syllable_counts_are_at_least_ninety_percent_accurate() {
    let wrong: Vec<String> = DICTIONARY
        .iter()
        .filter(|(w, n)| syllables(w) != *n)
        .map(|(w, n)| format!("{w}: {} (dictionary {n})", syllables(w)))
        .collect();
    let accuracy = 1.0 - wrong.len() as f64 / DICTIONARY.len() as f64;
    assert!(DICTIONARY.len() >= 40);
    assert!(accuracy >= 0.9, "accuracy {accuracy:.2}; wrong: {wrong:?}");
}

#[test]
fn syllables_exact_cases() {
    for (w, n) in [
        ("cat", 1),
        ("table", 2),
        ("beautiful", 3),
        ("readability", 5),
        ("education", 4),
        ("wanted", 2),
        ("walked", 1),
        ("don't", 1),
        ("couldn't", 2),
        ("you're", 1),
        ("well-known", 2),
        ("Three-Year-Old", 3),
        ("100", 3),
        ("1889", 5),
        ("3.14", 4),
        ("U.S.", 2),
    ] {
        assert_eq!(syllables(w), n, "{w}");
    }
    assert_eq!(syllables(""), 0);
    assert_eq!(syllables("rhythm"), 1, "no vowel letters: at least one");
}

#[test]
fn sentence_splitting() {
    let text = "Dr. Smith paid $3.14 for coffee, e.g. a latte, in the U.S. yesterday. Was it \
                good? Yes! It was... fine. He paused... Then he spoke to Mr. J. R. Jones, \
                etc. The end came at 5 p.m. sharp?! Really\n\n- first item\n- second item\nno \
                final stop";
    assert_eq!(
        sentences(text),
        vec![
            "Dr. Smith paid $3.14 for coffee, e.g. a latte, in the U.S. yesterday.",
            "Was it good?",
            "Yes!",
            "It was... fine.",
            "He paused...",
            "Then he spoke to Mr. J. R. Jones, etc.",
            "The end came at 5 p.m. sharp?!",
            "Really",
            "- first item",
            "- second item\nno final stop",
        ]
    );
    assert_eq!(
        sentences("I live in the U.S. The weather is fine. Visit example.com today"),
        vec![
            "I live in the U.S.",
            "The weather is fine.",
            "Visit example.com today"
        ]
    );
    assert_eq!(
        sentences("He said \"Stop.\" Then (quietly) he left.)"),
        vec!["He said \"Stop.\"", "Then (quietly) he left.)"]
    );
    assert!(sentences("  ...  ").is_empty());
    // Lines are sentences unless they continue the previous one (lower case, or after a comma).
    assert_eq!(
        sentences(
            "Designer: Gustave Eiffel\nCompleted: 1889\nThe tower was built\nby many workers,\nIn Paris"
        ),
        vec![
            "Designer: Gustave Eiffel",
            "Completed: 1889",
            "The tower was built\nby many workers,\nIn Paris",
        ]
    );
}

#[test]
fn words_include_numbers_and_acronyms() {
    let words: Vec<&str> = word_spans("The U.S. spent $1,024.50 on COVID-19 tests, didn't it?")
        .into_iter()
        .map(|(_, w)| w)
        .collect();
    assert_eq!(
        words,
        [
            "The", "U.S.", "spent", "1,024.50", "on", "COVID-19", "tests", "didn't", "it"
        ]
    );
}

#[test]
fn passive_voice_pairs() {
    let pairs = [
        (
            "The committee approved the budget.",
            "The budget was approved by the committee.",
        ),
        (
            "The chef cooks the meal.",
            "The meal is cooked by the chef.",
        ),
        (
            "Someone wrote the report.",
            "The report was written yesterday.",
        ),
        ("They are building a bridge.", "A bridge is being built."),
        ("The dog bit him.", "He got bitten by the dog."),
        (
            "The team has finished the work.",
            "The work has been quickly finished.",
        ),
        (
            "The postman delivers mail daily.",
            "Mail is not delivered on Sundays.",
        ),
    ];
    for (active, passive) in pairs {
        assert_eq!(analyse(active).passive_share, 0.0, "{active}");
        assert_eq!(analyse(passive).passive_share, 1.0, "{passive}");
    }
    for adjective in [
        "I am tired.",
        "She was interested in art.",
        "He is indeed right.",
    ] {
        assert_eq!(analyse(adjective).passive_share, 0.0, "{adjective}");
    }
    let r = analyse("The cake was eaten. We ate the pie. They sing. It is done.");
    assert!(close(r.passive_share, 0.5, 1e-9));
}

#[test]
fn sentence_length_statistics() {
    let r = analyse("One two three. One two three four five six seven. Hi");
    assert_eq!(r.sentences, 3);
    assert_eq!(r.max_sentence_words, 7);
    assert!(close(r.mean_sentence_words, 11.0 / 3.0, 1e-9));
    let var = ((3.0f64 - 11.0 / 3.0).powi(2)
        + (7.0f64 - 11.0 / 3.0).powi(2)
        + (1.0f64 - 11.0 / 3.0).powi(2))
        / 3.0;
    assert!(close(r.sentence_words_stddev, var.sqrt(), 1e-9));
    let empty = analyse("");
    assert_eq!((empty.sentences, empty.words), (0, 0));
    assert_eq!(empty.flesch_reading_ease, 0.0);
    assert_eq!(empty.tone.dominant(), None);
}

#[test]
fn tone_detection() {
    let cases = [
        (
            "We regret to inform you that, pursuant to the agreement, the account shall be \
             closed. Furthermore, we hereby request the documents regarding the matter.",
            Tone::Formal,
        ),
        (
            "Hey, btw that movie was so cool lol. We're gonna watch it again, it's awesome.",
            Tone::Casual,
        ),
        (
            "Thanks so much for asking! I'm happy to help, and I'm glad it worked 😊 Hope \
             this helps!",
            Tone::Friendly,
        ),
        (
            "Please find the report attached. As discussed, I recommend we agree on next steps \
             before the deadline. Let me know. Best regards, Ana",
            Tone::Professional,
        ),
    ];
    for (text, tone) in cases {
        let scores = analyse(text).tone;
        assert_eq!(scores.dominant(), Some(tone), "{text}: {scores:?}");
    }
    assert_eq!(analyse("The cat sat on the mat.").tone.dominant(), None);
    let s = analyse("Hey there, cool.").tone;
    assert!(
        close(s.casual, 200.0 / 3.0, 1e-9),
        "two hits in three words"
    );
}

#[test]
fn check_bounds_and_messages() {
    let hard = COLEMAN_LIAU_ABSTRACT;
    let spec = StyleSpec {
        max_grade: Some(8.0),
        max_coleman_liau: Some(20.0),
        min_reading_ease: Some(60.0),
        ..StyleSpec::default()
    };
    let v = check(hard, &spec);
    assert!(!v.pass);
    assert!(close(v.score, 1.0 / 3.0, 1e-9));
    assert_eq!(v.failures.len(), 2);
    assert!(
        v.failures[0].starts_with("reading ease ") && v.failures[0].ends_with("< min 60"),
        "{:?}",
        v.failures
    );
    let grade = analyse(hard).flesch_kincaid_grade;
    assert_eq!(
        v.failures[1],
        format!("Flesch–Kincaid grade {grade:.1} > max 8")
    );

    let none = check(hard, &StyleSpec::default());
    assert!(none.pass);
    assert_eq!(none.score, 1.0);
    assert!(none.failures.is_empty());
}

#[test]
fn check_tone_and_phrases() {
    let text = "Hey, that's cool lol. As an AI, I can't browse. Let me know!";
    let spec = StyleSpec {
        tone: Some(Tone::Professional),
        banned: vec!["as an ai".into(), "browse the web".into(), "AI".into()],
        required: vec!["let me know".into(), "next steps".into()],
        max_passive: Some(0.0),
        ..StyleSpec::default()
    };
    let v = check(text, &spec);
    assert!(!v.pass);
    let casual = analyse(text).tone.casual;
    assert_eq!(
        v.failures,
        vec![
            format!("tone is casual ({casual:.1} per 100 words), expected professional"),
            "banned phrase \"as an ai\" found".to_owned(),
            "banned phrase \"AI\" found".to_owned(),
            "required phrase \"next steps\" missing".to_owned(),
        ]
    );
    assert!(close(v.score, 3.0 / 7.0, 1e-9));
    // Word boundaries: "AI" is not found inside "said" or "email".
    assert!(!contains_phrase("She said to email me", "ai"));
    assert!(contains_phrase("Next\nsteps: ship it", "next steps"));

    let neutral = check(
        "The cat sat on the mat.",
        &StyleSpec {
            tone: Some(Tone::Formal),
            ..StyleSpec::default()
        },
    );
    assert_eq!(
        neutral.failures,
        ["no tone detected (no lexicon hits), expected formal"]
    );
}

#[test]
fn summary_line() {
    let v = check(
        "Please find the report attached. The numbers were checked by the team.",
        &StyleSpec::default(),
    );
    let r = analyse("Please find the report attached. The numbers were checked by the team.");
    assert_eq!(
        v.summary,
        format!(
            "reading ease {:.1}, grade {:.1}, SMOG {:.1}, Coleman–Liau {:.1}, passive 50%, \
             mean sentence {:.1} words, tone professional",
            r.flesch_reading_ease,
            r.flesch_kincaid_grade,
            r.smog,
            r.coleman_liau,
            r.mean_sentence_words
        )
    );
}
