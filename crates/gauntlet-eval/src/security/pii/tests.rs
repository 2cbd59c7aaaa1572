//! Unit tests of the PII detectors and their validators.
use super::national::{bsn_valid, codice_fiscale_valid, cpf_valid, dni_valid, nir_valid, verhoeff};
use super::*;

fn kinds(text: &str, s: Sensitivity) -> Vec<(&'static str, String, Severity)> {
    let out = crate::security::scan(text, &[SecurityCheck::Pii], s);
    out.iter()
        .map(|f| (f.kind, text[f.start..f.end].to_owned(), f.severity))
        .collect()
}

fn found(text: &str) -> Vec<(&'static str, String)> {
    kinds(text, Sensitivity::Medium)
        .into_iter()
        .filter(|(_, _, s)| *s != Severity::Low)
        .map(|(k, t, _)| (k, t))
        .collect()
}

#[test]
fn patterns_compile() {
    for re in [
        &EMAIL,
        &EMAIL_OBFUSCATED,
        &PHONE_INTL,
        &PHONE_US,
        &PHONE_NATIONAL,
        &PHONE_CONTEXT,
        &DATE_LIKE,
        &SSN,
        &SSN_CONTEXT,
        &SSN_WORD,
        &CARD,
        &IBAN,
        &IPV4,
        &IPV6,
        &NINO,
        &NINO_WORD,
        &SIN,
        &SIN_WORD,
        &AADHAAR,
        &AADHAAR_WORD,
        &PAN,
        &PAN_WORD,
        &DNI,
        &NIE,
        &BSN,
        &BSN_WORD,
        &CPF,
        &CPF_WORD,
        &NIR,
        &CODICE_FISCALE,
    ] {
        assert!(re.compiled());
    }
}

#[test]
fn luhn_checks() {
    assert!(luhn(&digits("4111111111111111")));
    assert!(luhn(&digits("378282246310005")));
    assert!(luhn(&digits("5555 5555 5555 4444")));
    assert!(!luhn(&digits("4111111111111112")));
    assert!(!luhn(&[]));
    assert!(luhn(&digits("046 454 286")));
}

#[test]
fn iban_mod97() {
    assert!(iban_valid("GB82WEST12345698765432"));
    assert!(iban_valid("DE89370400440532013000"));
    assert!(iban_valid("NO9386011117947"));
    assert!(!iban_valid("GB82WEST12345698765433"));
    assert!(!iban_valid("GB82WEST1234569876543"));
    assert!(!iban_valid("QQ82WEST12345698765432"));
}

#[test]
fn ssn_rules() {
    assert!(ssn_valid(536, 22, 1874));
    assert!(!ssn_valid(0, 22, 1874));
    assert!(!ssn_valid(666, 22, 1874));
    assert!(!ssn_valid(912, 22, 1874));
    assert!(!ssn_valid(536, 0, 1874));
    assert!(!ssn_valid(536, 22, 0));
    assert_eq!(
        found("SSN 536-22-1874."),
        vec![("us_ssn", "536-22-1874".into())]
    );
    assert!(found("ref 666-22-1874 and 536-00-1874 and 536-22-0000").is_empty());
    assert!(found("order ORD-536-22-1874").is_empty());
    assert!(found("536-22 1874").is_empty());
    // At low sensitivity a bare SSN needs the word nearby.
    assert!(kinds("id 536-22-1874", Sensitivity::Low).is_empty());
    assert_eq!(kinds("her SSN is 536-22-1874", Sensitivity::Low).len(), 1);
}

#[test]
fn verhoeff_checks() {
    assert!(verhoeff(&[2, 3, 6, 3]));
    assert!(!verhoeff(&[2, 3, 6, 4]));
    assert!(verhoeff(&digits("2345 6789 0124")));
    assert!(!verhoeff(&digits("2345 6789 0125")));
}

#[test]
fn national_id_checksums() {
    assert!(dni_valid(12345678, b'Z'));
    assert!(!dni_valid(12345678, b'A'));
    assert!(bsn_valid(&digits("111222333")));
    assert!(!bsn_valid(&digits("111222334")));
    assert!(cpf_valid(&digits("529.982.247-25")));
    assert!(!cpf_valid(&digits("529.982.247-26")));
    assert!(!cpf_valid(&digits("111.111.111-11")));
    assert!(nir_valid("184127645108946"));
    assert!(!nir_valid("184127645108947"));
    assert!(codice_fiscale_valid("RSSMRA85T10A562S"));
    assert!(!codice_fiscale_valid("RSSMRA85T10A562T"));
}

#[test]
fn finds_pii_with_exact_spans() {
    assert_eq!(
        found("Write to maria.lopez@fastmail.com today"),
        vec![("email", "maria.lopez@fastmail.com".into())]
    );
    assert_eq!(
        found("Card: 4111-1111-1111-1111, exp 12/27"),
        vec![("credit_card", "4111-1111-1111-1111".into())]
    );
    assert!(found("Card: 4111-1111-1111-1112").is_empty());
    assert_eq!(
        found("IBAN GB82 WEST 1234 5698 7654 32 GBP"),
        vec![("iban", "GB82 WEST 1234 5698 7654 32".into())]
    );
    assert_eq!(
        found("from 84.17.34.201:443"),
        vec![("ipv4", "84.17.34.201".into())]
    );
    assert!(found("bind 10.0.0.12 and 127.0.0.1, DNS 8.8.8.8, v1.2.3.4").is_empty());
    assert_eq!(
        found("peer 2a02:1810:4d02:f500::1b closed"),
        vec![("ipv6", "2a02:1810:4d02:f500::1b".into())]
    );
    assert!(found("use std::fmt::Display; at 12:30:45; doc 2001:db8::1").is_empty());
    assert_eq!(
        found("call +44 20 7946 0958 or (415) 555-0132"),
        vec![
            ("phone", "+44 20 7946 0958".into()),
            ("phone", "(415) 555-0132".into())
        ]
    );
    assert!(found("released 2024-03-15, version 1.22.3, order 2024-000123-77").is_empty());
}

#[test]
fn national_ids_in_text() {
    let cases = [
        ("NI number JG 10 37 45 B.", "uk_nino", "JG 10 37 45 B"),
        ("SIN: 130 495 823", "ca_sin", "130 495 823"),
        ("Aadhaar 4918 3702 6510 ok", "in_aadhaar", "4918 3702 6510"),
        ("PAN AFZPK7190K linked", "in_pan", "AFZPK7190K"),
        ("DNI 48392617L", "es_dni", "48392617L"),
        ("NIE Y-4821730-R", "es_nie", "Y-4821730-R"),
        ("BSN: 234567818", "nl_bsn", "234567818"),
        ("CPF 391.447.018-61", "br_cpf", "391.447.018-61"),
        (
            "NIR 2 91 03 75 112 045 50",
            "fr_nir",
            "2 91 03 75 112 045 50",
        ),
        (
            "NIR 1 85 07 2A 004 123 88",
            "fr_nir",
            "1 85 07 2A 004 123 88",
        ),
        (
            "CF BNCGPP72C15H501W",
            "it_codice_fiscale",
            "BNCGPP72C15H501W",
        ),
    ];
    for (text, kind, span) in cases {
        assert_eq!(found(text), vec![(kind, span.to_owned())], "{text}");
    }
    // One wrong check character, digit or prefix each.
    for text in [
        "NI number GB 10 37 45 B.",
        "SIN: 130 495 824",
        "Aadhaar 4918 3702 6511 ok",
        "DNI 48392617M",
        "NIE Y-4821730-S",
        "BSN: 234567819",
        "CPF 391.447.018-62",
        "NIR 2 91 03 75 112 045 51",
        "CF BNCGPP72C15H501X",
    ] {
        assert!(found(text).is_empty(), "{text}");
    }
    // Without its keyword a bare 9-digit number is not a SIN or a BSN.
    assert!(found("ref 234567818").is_empty());
}

#[test]
fn placeholder_emails_are_warnings() {
    let k = kinds(
        "mail user@example.com or support@stripe.com",
        Sensitivity::Medium,
    );
    assert_eq!(k.len(), 2);
    assert!(k.iter().all(|(_, _, s)| *s == Severity::Low));
    assert!(found("git clone git@github.com:acme/app.git; logo@2x.png").is_empty());
}
