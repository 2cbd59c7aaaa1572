//! Personal data: email addresses, phone numbers, US SSNs, payment cards (Luhn), IBANs
//! (mod 97), IP addresses and national identifiers of other countries (with their checksums
//! where they have one).

use std::net::Ipv6Addr;
use std::sync::LazyLock;

use super::util::{Re, before, char_at, char_before, digits, standalone};
use super::{Finding, SecurityCheck, Sensitivity, Severity};

pub(super) const KINDS: &[&str] = &[
    "email",
    "phone",
    "us_ssn",
    "credit_card",
    "iban",
    "ipv4",
    "ipv6",
    "uk_nino",
    "ca_sin",
    "in_aadhaar",
    "in_pan",
    "es_dni",
    "es_nie",
    "nl_bsn",
    "br_cpf",
    "fr_nir",
    "it_codice_fiscale",
];

fn hint(kind: &str) -> &'static str {
    match kind {
        "email" => "Remove or mask the email address unless the user asked for it.",
        "phone" => "Remove or mask the phone number.",
        "us_ssn" => "Never echo Social Security numbers; mask all but the last four digits.",
        "credit_card" => "Never output full card numbers; show at most the last four digits.",
        "iban" => "Mask the bank account number (IBAN) except its last four characters.",
        "ipv4" | "ipv6" => "Remove or anonymise the IP address (for example, zero its host part).",
        _ => "Remove the national identification number from the output.",
    }
}

struct Sink<'o> {
    s: Sensitivity,
    out: &'o mut Vec<Finding>,
}

impl Sink<'_> {
    fn push(&mut self, kind: &'static str, start: usize, end: usize, severity: Severity) {
        if severity == Severity::Low && self.s == Sensitivity::Low {
            return;
        }
        self.out.push(Finding {
            check: SecurityCheck::Pii,
            kind,
            start,
            end,
            severity,
            hint: hint(kind),
        });
    }
}

macro_rules! re {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Re> = LazyLock::new(|| Re::new($pattern));
    };
}

re!(
    EMAIL,
    r"[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}\b"
);
re!(
    EMAIL_OBFUSCATED,
    r"(?i)\b[a-z0-9][a-z0-9._%+\-]{0,63}\s*(?:\(at\)|\[at\]|\{at\}|\s+at\s+)\s*[a-z0-9\-]+(?:\s*(?:\(dot\)|\[dot\]|\{dot\}|\s+dot\s+)\s*[a-z0-9\-]+)+\b"
);
re!(
    PHONE_INTL,
    r"\+[1-9][0-9]{0,2}(?:[ .\-]?\([0-9]{1,4}\))?(?:[ .\-]?[0-9]{1,5}){1,6}"
);
re!(
    PHONE_US,
    r"(?:\b1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ .\-]?[2-9][0-9]{2}[ .\-][0-9]{4}|\b[2-9][0-9]{2}([.\-])[2-9][0-9]{2}[.\-][0-9]{4})\b"
);
re!(
    PHONE_NATIONAL,
    r"\b0[1-9][0-9]{1,3}[ \-]?[0-9]{3,4}[ \-]?[0-9]{3,4}\b|\b0[1-9](?:[ .][0-9]{2}){4}\b"
);
re!(
    PHONE_CONTEXT,
    r"(?i)\b(?:phone|tel|telephone|mobile|cell|call(?:\s+me)?(?:\s+(?:at|on))?|reach\s+(?:me|him|her|them|us)\s+(?:at|on)|whatsapp|fax|sms|text\s+(?:me\s+)?(?:at|on))\b(?:\s*(?:number|no\.?|#))?\s*[:\-]?\s*(\+?[0-9(][0-9 .\-()]{5,18}[0-9])"
);
re!(
    DATE_LIKE,
    r"^(?:[0-9]{4}[./\-][0-9]{1,2}[./\-][0-9]{1,2}|[0-9]{1,2}[./\-][0-9]{1,2}[./\-][0-9]{2,4})"
);
re!(SSN, r"\b([0-9]{3})([ \-])([0-9]{2})([ \-])([0-9]{4})\b");
re!(
    SSN_CONTEXT,
    r"(?i)\b(?:ssn|ss#|social\s+security(?:\s+(?:number|no\.?|#))?)\s*(?:is|:|#|=)?\s*([0-9]{3}[ \-]?[0-9]{2}[ \-]?[0-9]{4})\b"
);
re!(SSN_WORD, r"(?i)\b(?:ssn|ss#|social\s+security)\b");
re!(
    CARD,
    r"\b(?:[0-9]{13,19}|[0-9]{4}(?:[ \-][0-9]{4}){2}[ \-][0-9]{1,4}(?:[ \-][0-9]{3})?|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5})\b"
);
re!(
    IBAN,
    r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"
);
re!(IPV4, r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b");
re!(
    IPV6,
    r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
);
re!(
    NINO,
    r"\b([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]) ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b"
);
re!(
    NINO_WORD,
    r"(?i)\b(?:national\s+insurance|ni\s+(?:number|no)|nino)\b"
);
re!(SIN, r"\b[0-9]{3}([ \-]?)[0-9]{3}([ \-]?)[0-9]{3}\b");
re!(
    SIN_WORD,
    r"(?i)\b(?:sin|social\s+insurance|nas|assurance\s+sociale)\b"
);
re!(
    AADHAAR,
    r"\b[2-9][0-9]{3}(?: [0-9]{4} [0-9]{4}|-[0-9]{4}-[0-9]{4}|[0-9]{8})\b"
);
re!(AADHAAR_WORD, r"(?i)\b(?:aadhaa?r|uidai|uid)\b");
re!(PAN, r"\b[A-Z]{3}[PCHABGJLFT][A-Z][0-9]{4}[A-Z]\b");
re!(PAN_WORD, r"(?i)\b(?:pan|permanent\s+account)\b");
re!(DNI, r"\b([0-9]{8})[ \-]?([A-Z])\b");
re!(NIE, r"\b([XYZ])[ \-]?([0-9]{7})[ \-]?([A-Z])\b");
re!(BSN, r"\b[0-9]{9}\b|\b[0-9]{4}\.[0-9]{2}\.[0-9]{3}\b");
re!(
    BSN_WORD,
    r"(?i)\b(?:bsn|burgerservicenummer|sofi-?nummer|citizen\s+service\s+number)\b"
);
re!(
    CPF,
    r"\b[0-9]{3}\.[0-9]{3}\.[0-9]{3}-[0-9]{2}\b|\b[0-9]{11}\b"
);
re!(CPF_WORD, r"(?i)\bcpf\b");
re!(
    NIR,
    r"\b[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}\b"
);
re!(
    CODICE_FISCALE,
    r"\b[A-Z]{6}[0-9LMNPQRSTUV]{2}[ABCDEHLMPRST][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]\b"
);

/// How far before a number a context keyword ("SSN", "Aadhaar"…) may appear.
const CONTEXT: usize = 48;

pub(super) fn scan(text: &str, s: Sensitivity, out: &mut Vec<Finding>) {
    let mut sink = Sink { s, out };
    emails(text, &mut sink);
    phones(text, &mut sink);
    ssns(text, &mut sink);
    cards(text, &mut sink);
    ibans(text, &mut sink);
    ipv4s(text, &mut sink);
    ipv6s(text, &mut sink);
    national_ids(text, &mut sink);
}

// ---------------------------------------------------------------------------------------------
// Email

const FILE_TLDS: &[&str] = &[
    "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "css", "js", "ts", "map", "json", "txt",
    "md", "py", "rs", "go", "java", "tgz", "zip", "lock", "yaml", "yml", "toml", "html",
];
const PLACEHOLDER_DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "domain.com",
    "email.com",
    "company.com",
    "yourcompany.com",
    "yourdomain.com",
    "acme.com",
];
const PLACEHOLDER_TLDS: &[&str] = &[
    "example",
    "test",
    "invalid",
    "localhost",
    "local",
    "internal",
];
const PLACEHOLDER_USERS: &[&str] = &[
    "user",
    "username",
    "name",
    "your",
    "you",
    "yourname",
    "your.name",
    "your_email",
    "someone",
    "somebody",
    "firstname.lastname",
    "first.last",
    "john.doe",
    "jane.doe",
    "johndoe",
    "janedoe",
    "foo",
    "bar",
    "test",
    "email",
    "me",
];
const ROLE_USERS: &[&str] = &[
    "support",
    "info",
    "noreply",
    "no-reply",
    "donotreply",
    "do-not-reply",
    "help",
    "sales",
    "contact",
    "admin",
    "security",
    "privacy",
    "abuse",
    "postmaster",
    "webmaster",
    "hello",
    "team",
    "billing",
    "press",
    "jobs",
    "careers",
    "feedback",
    "notifications",
    "hr",
    "legal",
    "marketing",
    "office",
    "enquiries",
    "inquiries",
];

fn emails(text: &str, sink: &mut Sink<'_>) {
    for m in EMAIL.find_iter(text) {
        let email = m.as_str();
        let Some((user, domain)) = email.rsplit_once('@') else {
            continue;
        };
        let domain = domain.to_ascii_lowercase();
        let user = user.to_ascii_lowercase();
        let tld = domain.rsplit('.').next().unwrap_or("");
        // `git@github.com:org/repo.git` and `https://user@host/` are not email addresses.
        let scp = char_at(text, m.end()) == Some(':')
            && char_at(text, m.end() + 1).is_some_and(|c| !c.is_whitespace());
        let url_user = before(text, m.start(), 3) == "://";
        if FILE_TLDS.contains(&tld) || scp || url_user {
            continue;
        }
        let placeholder = PLACEHOLDER_DOMAINS.contains(&domain.as_str())
            || PLACEHOLDER_TLDS.contains(&tld)
            || PLACEHOLDER_USERS.contains(&user.as_str())
            || ROLE_USERS.contains(&user.as_str());
        let severity = if placeholder {
            Severity::Low
        } else {
            Severity::Medium
        };
        sink.push("email", m.start(), m.end(), severity);
    }
    // "maria(at)gmail(dot)com": needs both an (at) and a (dot) marker.
    for m in EMAIL_OBFUSCATED.find_iter(text) {
        let s = m.as_str().to_ascii_lowercase();
        let bracketed = s.contains("(at)") || s.contains("[at]") || s.contains("{at}");
        if bracketed || s.contains("(dot)") || s.contains("[dot]") {
            sink.push("email", m.start(), m.end(), Severity::Medium);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Phone numbers

fn phones(text: &str, sink: &mut Sink<'_>) {
    if sink.s == Sensitivity::Low {
        return;
    }
    for m in PHONE_INTL.find_iter(text) {
        let s = m.as_str();
        let n = digits(s).len();
        let separated = s[1..].contains([' ', '.', '-', '(']);
        let decimal = s.matches('.').count() == 1 && !s.contains([' ', '-', '(']);
        let plausible = if separated {
            (8..=15).contains(&n)
        } else {
            (10..=15).contains(&n)
        };
        if plausible && !decimal && standalone(text, m.start(), m.end()) {
            sink.push("phone", m.start(), m.end(), Severity::Medium);
        }
    }
    for caps in PHONE_US.captures_iter(text) {
        let Some(m) = caps.get(0) else { continue };
        let s = m.as_str();
        // Both separators of 555-010-4477 must agree.
        if let Some(sep) = caps.get(1) {
            let seps: Vec<char> = s[sep.start() - m.start()..]
                .chars()
                .filter(|c| !c.is_ascii_digit())
                .collect();
            if seps.iter().any(|&c| c != seps[0]) {
                continue;
            }
        }
        if standalone(text, m.start(), m.end()) && char_before(text, m.start()) != Some('+') {
            sink.push("phone", m.start(), m.end(), Severity::Medium);
        }
    }
    for m in PHONE_NATIONAL.find_iter(text) {
        let s = m.as_str();
        let n = digits(s).len();
        if (10..=11).contains(&n)
            && s.contains([' ', '-', '.'])
            && standalone(text, m.start(), m.end())
            && char_before(text, m.start()) != Some('+')
        {
            sink.push("phone", m.start(), m.end(), Severity::Medium);
        }
    }
    for caps in PHONE_CONTEXT.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let s = m.as_str().trim_end_matches([' ', '.', '-']);
        let n = digits(s).len();
        if (7..=15).contains(&n)
            && !DATE_LIKE.is_match(s.trim_start_matches(['+', '(']))
            && standalone(text, m.start(), m.start() + s.len())
        {
            sink.push("phone", m.start(), m.start() + s.len(), Severity::Medium);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// US Social Security numbers

/// Area 000, 666 and 900–999, group 00 and serial 0000 are never issued.
pub(crate) fn ssn_valid(area: u32, group: u32, serial: u32) -> bool {
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

/// Numbers published as examples (and therefore never anyone's).
const SSN_EXAMPLES: &[&str] = &["078051120", "219099999", "123456789"];

fn ssn_parts(s: &str) -> Option<(u32, u32, u32, String)> {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    if d.len() != 9 {
        return None;
    }
    let area = d[..3].parse().ok()?;
    let group = d[3..5].parse().ok()?;
    let serial = d[5..].parse().ok()?;
    Some((area, group, serial, d))
}

fn ssns(text: &str, sink: &mut Sink<'_>) {
    for caps in SSN_CONTEXT.captures_iter(text) {
        let Some(m) = caps.get(1) else { continue };
        let Some((a, g, s, d)) = ssn_parts(m.as_str()) else {
            continue;
        };
        if ssn_valid(a, g, s) && standalone(text, m.start(), m.end()) {
            let severity = if SSN_EXAMPLES.contains(&d.as_str()) {
                Severity::Low
            } else {
                Severity::High
            };
            sink.push("us_ssn", m.start(), m.end(), severity);
        }
    }
    for caps in SSN.captures_iter(text) {
        let (Some(m), Some(s1), Some(s2)) = (caps.get(0), caps.get(2), caps.get(4)) else {
            continue;
        };
        let Some((a, g, s, d)) = ssn_parts(m.as_str()) else {
            continue;
        };
        if s1.as_str() != s2.as_str()
            || !ssn_valid(a, g, s)
            || !standalone(text, m.start(), m.end())
        {
            continue;
        }
        let context = SSN_WORD.is_match(before(text, m.start(), CONTEXT));
        if sink.s == Sensitivity::Low && !context {
            continue;
        }
        let severity = if SSN_EXAMPLES.contains(&d.as_str()) {
            Severity::Low
        } else {
            Severity::High
        };
        sink.push("us_ssn", m.start(), m.end(), severity);
    }
}

// ---------------------------------------------------------------------------------------------
// Payment cards

/// The Luhn (mod 10) checksum over all digits, check digit last.
pub(crate) fn luhn(d: &[u8]) -> bool {
    if d.is_empty() {
        return false;
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            let x = u32::from(x);
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether the number starts with an issuer prefix of a card network of that length.
fn card_issuer(d: &[u8]) -> bool {
    let n = d.len();
    let prefix = |k: usize| d.iter().take(k).fold(0u32, |a, &x| a * 10 + u32::from(x));
    match d.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => (16..=19).contains(&n),
        Some(2) => {
            n == 16 && ((2221..=2720).contains(&prefix(4)) || (2200..=2204).contains(&prefix(4)))
        }
        Some(3) => match prefix(2) {
            34 | 37 => n == 15,
            35 => (16..=19).contains(&n),
            30 | 36 | 38 | 39 => (14..=19).contains(&n),
            _ => false,
        },
        Some(6) => (16..=19).contains(&n),
        _ => false,
    }
}

fn cards(text: &str, sink: &mut Sink<'_>) {
    for m in CARD.find_iter(text) {
        let s = m.as_str();
        let seps: Vec<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
        if seps.iter().any(|&c| c != seps[0]) {
            continue;
        }
        let d = digits(s);
        let same = d.iter().all(|&x| x == d[0]);
        if (13..=19).contains(&d.len())
            && !same
            && card_issuer(&d)
            && luhn(&d)
            && standalone(text, m.start(), m.end())
        {
            sink.push("credit_card", m.start(), m.end(), Severity::High);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IBAN

const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SC", 31),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
];

/// ISO 13616: the country's length and the mod-97 check (the remainder must be 1).
pub(crate) fn iban_valid(compact: &str) -> bool {
    let b = compact.as_bytes();
    let Some(&(_, len)) = IBAN_LENGTHS
        .iter()
        .find(|(c, _)| b.get(..2) == Some(c.as_bytes()))
    else {
        return false;
    };
    if b.len() != len || !b.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let mut rem = 0u32;
    for &c in b[4..].iter().chain(&b[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn ibans(text: &str, sink: &mut Sink<'_>) {
    for m in IBAN.find_iter(text) {
        let s = m.as_str();
        let Some(&(_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| s.starts_with(c)) else {
            continue;
        };
        // The match may run into a following word: keep exactly `len` characters, which must
        // end where a group ends.
        let mut compact = String::with_capacity(len);
        let mut end = m.start();
        for (i, c) in s.char_indices() {
            if c == ' ' {
                continue;
            }
            compact.push(c);
            if compact.len() == len {
                end = m.start() + i + c.len_utf8();
                break;
            }
        }
        if compact.len() != len
            || matches!(char_at(text, end), Some(c) if c.is_ascii_alphanumeric())
        {
            continue;
        }
        if iban_valid(&compact) {
            sink.push("iban", m.start(), end, Severity::High);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IP addresses

/// Addresses that identify no one: private, loopback, link-local, CGNAT, documentation,
/// benchmarking, multicast, reserved, and well-known public DNS resolvers.
fn ipv4_impersonal(o: [u8; 4]) -> bool {
    matches!(
        o,
        [0 | 10 | 127, ..]
            | [169, 254, ..]
            | [172, 16..=31, ..]
            | [192, 168, ..]
            | [100, 64..=127, ..]
            | [192, 0, 2, _]
            | [198, 51, 100, _]
            | [203, 0, 113, _]
            | [198, 18 | 19, ..]
            | [224..=255, ..]
            | [8, 8, 8, 8]
            | [8, 8, 4, 4]
            | [1, 1, 1, 1]
            | [1, 0, 0, 1]
            | [9, 9, 9, 9]
            | [208, 67, 222, 222]
            | [208, 67, 220, 220]
    )
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut o = [0u8; 4];
    let mut parts = s.split('.');
    for slot in &mut o {
        let p = parts.next()?;
        if p.len() > 1 && p.starts_with('0') {
            return None;
        }
        *slot = p.parse().ok()?;
    }
    parts.next().is_none().then_some(o)
}

fn ipv4s(text: &str, sink: &mut Sink<'_>) {
    if sink.s == Sensitivity::Low {
        return;
    }
    for m in IPV4.find_iter(text) {
        let Some(o) = parse_ipv4(m.as_str()) else {
            continue;
        };
        if !standalone(text, m.start(), m.end()) {
            continue;
        }
        let ctx = before(text, m.start(), 24).to_ascii_lowercase();
        if ctx.contains("version") || ctx.ends_with('v') || ctx.contains("oid") {
            continue;
        }
        if !ipv4_impersonal(o) {
            sink.push("ipv4", m.start(), m.end(), Severity::Medium);
        } else if sink.s == Sensitivity::High {
            sink.push("ipv4", m.start(), m.end(), Severity::Low);
        }
    }
}

fn ipv6s(text: &str, sink: &mut Sink<'_>) {
    if sink.s == Sensitivity::Low {
        return;
    }
    for m in IPV6.find_iter(text) {
        let s = m.as_str();
        if s.matches(':').count() < 3 {
            continue;
        }
        let glued =
            |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
        if glued(char_before(text, m.start())) || glued(char_at(text, m.end())) {
            continue;
        }
        let Ok(addr) = s.parse::<Ipv6Addr>() else {
            continue;
        };
        let seg = addr.segments();
        let global = (seg[0] & 0xe000) == 0x2000 && !(seg[0] == 0x2001 && seg[1] == 0x0db8);
        if global {
            sink.push("ipv6", m.start(), m.end(), Severity::Medium);
        } else if sink.s == Sensitivity::High {
            sink.push("ipv6", m.start(), m.end(), Severity::Low);
        }
    }
}

mod national;
#[cfg(test)]
mod tests;

use national::national_ids;
