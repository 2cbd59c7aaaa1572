//! National identifiers of other countries, with their checksums where they have one: UK
//! National Insurance numbers, Canadian SINs (Luhn), Aadhaar (Verhoeff) and PAN, Spanish DNI
//! and NIE (mod 23), Dutch BSNs (11-proof), Brazilian CPFs, French NIRs and Italian codici
//! fiscali.

use super::*;

/// UK National Insurance number prefixes that are never issued.
const NINO_BAD_PREFIXES: &[&str] = &["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"];

/// Verhoeff check (Indian Aadhaar): the whole number, check digit last.
pub(crate) fn verhoeff(d: &[u8]) -> bool {
    const MUL: [[u8; 10]; 10] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
        [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
        [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
        [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
        [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
        [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
        [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
        [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
        [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
    ];
    const PERM: [[u8; 10]; 8] = [
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
        [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
        [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
        [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
        [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
        [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
        [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
        [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
    ];
    if d.is_empty() || d.iter().any(|&x| x > 9) {
        return false;
    }
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = MUL[usize::from(c)][usize::from(PERM[i % 8][usize::from(x)])];
    }
    c == 0
}

/// Spanish DNI/NIE control letter: the number mod 23 indexes this table.
const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

pub(crate) fn dni_valid(number: u32, letter: u8) -> bool {
    DNI_LETTERS.get((number % 23) as usize) == Some(&letter)
}

/// Dutch BSN "11-proof": 9·d1 + 8·d2 + … + 2·d8 − d9 ≡ 0 (mod 11).
pub(crate) fn bsn_valid(d: &[u8]) -> bool {
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            let w = if i == 8 { -1 } else { 9 - i as i32 };
            w * i32::from(x)
        })
        .sum();
    sum % 11 == 0
}

/// Brazilian CPF: two mod-11 check digits; numbers of one repeated digit are invalid.
pub(crate) fn cpf_valid(d: &[u8]) -> bool {
    if d.len() != 11 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |n: usize| {
        let sum: u32 = d[..n]
            .iter()
            .enumerate()
            .map(|(i, &x)| u32::from(x) * (n as u32 + 1 - i as u32))
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r as u8 }
    };
    check(9) == d[9] && check(10) == d[10]
}

/// French NIR: key = 97 − (first 13 digits mod 97); Corsica's 2A/2B count as 19/18.
pub(crate) fn nir_valid(compact: &str) -> bool {
    if compact.len() != 15 || !compact.is_ascii() {
        return false;
    }
    let body = compact[..13].replace("2A", "19").replace("2B", "18");
    let (Ok(n), Ok(key)) = (body.parse::<u64>(), compact[13..].parse::<u64>()) else {
        return false;
    };
    97 - n % 97 == key
}

/// Italian codice fiscale: the 16th letter is a checksum of the first 15 characters.
pub(crate) fn codice_fiscale_valid(cf: &str) -> bool {
    const ODD: [u32; 26] = [
        1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24,
        23,
    ];
    let b = cf.as_bytes();
    if b.len() != 16 {
        return false;
    }
    let mut sum = 0u32;
    for (i, &c) in b[..15].iter().enumerate() {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A'),
            _ => return false,
        };
        // Positions are counted from 1: odd positions use the table.
        sum += if i % 2 == 0 { ODD[v as usize] } else { v };
    }
    u32::from(b[15]) == u32::from(b'A') + sum % 26
}

/// Whether `start..end` is only part of a longer run of digit groups ("7777 1234 5678 9012").
fn in_digit_groups(text: &str, start: usize, end: usize) -> bool {
    let next = text.get(end..).unwrap_or("").as_bytes();
    let prev = text.get(..start).unwrap_or("").as_bytes();
    let digit_after = matches!(next, [b' ' | b'-', d, ..] if d.is_ascii_digit());
    let digit_before = matches!(prev, [.., d, b' ' | b'-'] if d.is_ascii_digit());
    digit_after || digit_before
}

pub(super) fn national_ids(text: &str, sink: &mut Sink<'_>) {
    let ctx = |re: &Re, start: usize| re.is_match(before(text, start, CONTEXT));
    let low = sink.s == Sensitivity::Low;
    let high = sink.s == Sensitivity::High;

    for caps in NINO.captures_iter(text) {
        let (Some(m), Some(p)) = (caps.get(0), caps.get(1)) else {
            continue;
        };
        if NINO_BAD_PREFIXES.contains(&p.as_str()) || (low && !ctx(&NINO_WORD, m.start())) {
            continue;
        }
        sink.push("uk_nino", m.start(), m.end(), Severity::High);
    }

    for caps in SIN.captures_iter(text) {
        let (Some(m), Some(a), Some(b)) = (caps.get(0), caps.get(1), caps.get(2)) else {
            continue;
        };
        let d = digits(m.as_str());
        if a.as_str() != b.as_str() || matches!(d[0], 0 | 8) || !luhn(&d) {
            continue;
        }
        if !standalone(text, m.start(), m.end()) {
            continue;
        }
        if ctx(&SIN_WORD, m.start()) {
            sink.push("ca_sin", m.start(), m.end(), Severity::High);
        } else if high && !a.as_str().is_empty() {
            sink.push("ca_sin", m.start(), m.end(), Severity::Low);
        }
    }

    for m in AADHAAR.find_iter(text) {
        let d = digits(m.as_str());
        if !verhoeff(&d)
            || !standalone(text, m.start(), m.end())
            || in_digit_groups(text, m.start(), m.end())
        {
            continue;
        }
        let formatted = m.as_str().len() > 12;
        if ctx(&AADHAAR_WORD, m.start()) {
            sink.push("in_aadhaar", m.start(), m.end(), Severity::High);
        } else if formatted && !low {
            sink.push("in_aadhaar", m.start(), m.end(), Severity::Medium);
        }
    }

    for m in PAN.find_iter(text) {
        if !low || ctx(&PAN_WORD, m.start()) {
            sink.push("in_pan", m.start(), m.end(), Severity::High);
        }
    }

    for caps in DNI.captures_iter(text) {
        let (Some(m), Some(n), Some(l)) = (caps.get(0), caps.get(1), caps.get(2)) else {
            continue;
        };
        let (Ok(n), Some(&l)) = (n.as_str().parse::<u32>(), l.as_str().as_bytes().first()) else {
            continue;
        };
        if dni_valid(n, l) && standalone(text, m.start(), m.end()) {
            sink.push("es_dni", m.start(), m.end(), Severity::High);
        }
    }

    for caps in NIE.captures_iter(text) {
        let (Some(m), Some(p), Some(n), Some(l)) =
            (caps.get(0), caps.get(1), caps.get(2), caps.get(3))
        else {
            continue;
        };
        let prefix = match p.as_str() {
            "X" => 0,
            "Y" => 1,
            _ => 2,
        };
        let (Ok(n), Some(&l)) = (n.as_str().parse::<u32>(), l.as_str().as_bytes().first()) else {
            continue;
        };
        if dni_valid(prefix * 10_000_000 + n, l) && standalone(text, m.start(), m.end()) {
            sink.push("es_nie", m.start(), m.end(), Severity::High);
        }
    }

    for m in BSN.find_iter(text) {
        if bsn_valid(&digits(m.as_str()))
            && standalone(text, m.start(), m.end())
            && ctx(&BSN_WORD, m.start())
        {
            sink.push("nl_bsn", m.start(), m.end(), Severity::High);
        }
    }

    for m in CPF.find_iter(text) {
        let formatted = m.as_str().contains('.');
        if cpf_valid(&digits(m.as_str()))
            && standalone(text, m.start(), m.end())
            && (formatted || ctx(&CPF_WORD, m.start()))
        {
            sink.push("br_cpf", m.start(), m.end(), Severity::High);
        }
    }

    for m in NIR.find_iter(text) {
        let compact: String = m.as_str().chars().filter(|c| *c != ' ').collect();
        if nir_valid(&compact) && standalone(text, m.start(), m.end()) {
            sink.push("fr_nir", m.start(), m.end(), Severity::High);
        }
    }

    for m in CODICE_FISCALE.find_iter(text) {
        if codice_fiscale_valid(m.as_str()) {
            sink.push("it_codice_fiscale", m.start(), m.end(), Severity::High);
        }
    }
}
