//! Event-stream framing: round trips, incremental decoding, corruption and truncation.

use gauntlet_aws::AwsError;
use gauntlet_aws::eventstream::{Decoder, HeaderValue, Message, encode};

fn frame() -> Vec<u8> {
    encode(
        &[
            (":event-type", "contentBlockDelta"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#,
    )
}

fn decode_all(bytes: &[u8]) -> Vec<Message> {
    let mut decoder = Decoder::new();
    decoder.push(bytes);
    let mut out = Vec::new();
    while let Some(message) = decoder.next().unwrap() {
        out.push(message);
    }
    assert!(decoder.is_empty());
    decoder.finish().unwrap();
    out
}

#[test]
fn encode_decode_round_trip() {
    let mut bytes = frame();
    bytes.extend(encode(&[(":message-type", "event")], b""));
    bytes.extend(encode(&[], b"no headers"));
    let messages = decode_all(&bytes);
    assert_eq!(messages.len(), 3);
    let m = &messages[0];
    assert_eq!(m.header_str(":event-type"), Some("contentBlockDelta"));
    assert_eq!(m.header_str(":message-type"), Some("event"));
    assert_eq!(m.header_str(":exception-type"), None);
    assert_eq!(
        m.payload,
        br#"{"contentBlockIndex":0,"delta":{"text":"Hi"}}"#
    );
    assert_eq!(messages[1].payload, b"");
    assert!(messages[2].headers.is_empty());
    assert_eq!(messages[2].payload, b"no headers");
}

#[test]
fn known_frame_bytes() {
    // One header `a: b` (1 + 1 + 1 + 2 + 1 = 6 bytes) and payload `x`: 16 + 6 + 1 = 23 bytes.
    // Built independently in Python (struct + zlib.crc32) and decoded by botocore 1.44.5's
    // EventStreamBuffer as {'a': 'b'} / b'x'.
    const EXPECTED: [u8; 23] = [
        0x00, 0x00, 0x00, 0x17, 0x00, 0x00, 0x00, 0x06, 0x5e, 0x81, 0x31, 0xce, 0x01, 0x61, 0x07,
        0x00, 0x01, 0x62, 0x78, 0x84, 0xaa, 0x2e, 0xaa,
    ];
    assert_eq!(encode(&[("a", "b")], b"x"), EXPECTED);
}

#[test]
fn byte_by_byte_pushes() {
    let mut bytes = frame();
    bytes.extend(encode(&[(":event-type", "messageStop")], b"{}"));
    let mut decoder = Decoder::new();
    let mut messages = Vec::new();
    for (i, b) in bytes.iter().enumerate() {
        decoder.push(std::slice::from_ref(b));
        while let Some(message) = decoder.next().unwrap() {
            messages.push((i, message));
        }
    }
    assert_eq!(messages.len(), 2);
    // Each message appears exactly when its last byte arrives.
    assert_eq!(messages[0].0, frame().len() - 1);
    assert_eq!(messages[1].0, bytes.len() - 1);
    assert_eq!(messages[1].1.header_str(":event-type"), Some("messageStop"));
    assert!(decoder.is_empty());
}

#[test]
fn corrupted_crcs_are_rejected() {
    // A flipped payload byte breaks the message CRC.
    let mut bytes = frame();
    let last_payload = bytes.len() - 5;
    bytes[last_payload] ^= 0x01;
    let mut decoder = Decoder::new();
    decoder.push(&bytes);
    assert!(matches!(decoder.next(), Err(AwsError::MessageCrc { .. })));

    // A flipped length byte breaks the prelude CRC, detected before the frame is complete.
    let mut bytes = frame();
    bytes[3] ^= 0x01;
    let mut decoder = Decoder::new();
    decoder.push(&bytes[..12]);
    assert!(matches!(decoder.next(), Err(AwsError::PreludeCrc { .. })));
}

/// A prelude with a valid CRC for the given lengths.
fn prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut out = total.to_be_bytes().to_vec();
    out.extend(headers.to_be_bytes());
    out.extend(crc32fast::hash(&out).to_be_bytes());
    out
}

#[test]
fn absurd_lengths_are_rejected() {
    for (total, headers) in [(17 * 1024 * 1024, 0), (u32::MAX, 0), (15, 0), (20, 5)] {
        let mut decoder = Decoder::new();
        decoder.push(&prelude(total, headers));
        let err = decoder.next().unwrap_err();
        assert!(
            matches!(err, AwsError::FrameLength(_) | AwsError::MalformedFrame(_)),
            "{total}/{headers}: {err:?}"
        );
    }
    // The largest allowed frame just waits for more bytes.
    let mut decoder = Decoder::new();
    decoder.push(&prelude(16 * 1024 * 1024, 0));
    assert!(decoder.next().unwrap().is_none());
}

#[test]
fn hand_built_frame_with_every_header_type() {
    let mut block = Vec::new();
    let mut header = |name: &str, ty: u8, value: &[u8]| {
        block.push(u8::try_from(name.len()).unwrap());
        block.extend_from_slice(name.as_bytes());
        block.push(ty);
        block.extend_from_slice(value);
    };
    header("t", 0, &[]);
    header("f", 1, &[]);
    header("byte", 2, &[0xfe]);
    header("short", 3, &(-2i16).to_be_bytes());
    header("int", 4, &70_000i32.to_be_bytes());
    header("long", 5, &(-5_000_000_000i64).to_be_bytes());
    header("bytes", 6, &[0, 3, 1, 2, 3]);
    header(":event-type", 7, &[0, 4, b'p', b'i', b'n', b'g']);
    header("ts", 8, &1_714_566_896_000i64.to_be_bytes());
    header("id", 9, &[7; 16]);
    let payload = b"{}";
    let total = u32::try_from(16 + block.len() + payload.len()).unwrap();
    let mut bytes = prelude(total, u32::try_from(block.len()).unwrap());
    bytes.extend(&block);
    bytes.extend(payload);
    bytes.extend(crc32fast::hash(&bytes).to_be_bytes());

    let messages = decode_all(&bytes);
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    let expected = vec![
        ("t", HeaderValue::Bool(true)),
        ("f", HeaderValue::Bool(false)),
        ("byte", HeaderValue::Byte(-2)),
        ("short", HeaderValue::Short(-2)),
        ("int", HeaderValue::Int(70_000)),
        ("long", HeaderValue::Long(-5_000_000_000)),
        ("bytes", HeaderValue::Bytes(vec![1, 2, 3])),
        (":event-type", HeaderValue::String("ping".to_owned())),
        ("ts", HeaderValue::Timestamp(1_714_566_896_000)),
        ("id", HeaderValue::Uuid([7; 16])),
    ];
    let got: Vec<(&str, HeaderValue)> = m
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(m.header_str(":event-type"), Some("ping"));
    assert_eq!(m.header_str("int"), None);
    assert_eq!(m.header("int"), Some(&HeaderValue::Int(70_000)));
    assert_eq!(m.payload, b"{}");
}

#[test]
fn malformed_header_blocks_are_rejected() {
    for block in [
        vec![3, b'a', b'b'],          // name runs past the block
        vec![1, b'a', 42],            // unknown type
        vec![1, b'a', 7, 0, 9, b'x'], // string longer than the block
        vec![1, b'a', 7, 0, 1, 0xff], // string not UTF-8
        vec![1, b'a', 5, 0, 0, 0],    // long cut short
    ] {
        let total = u32::try_from(16 + block.len()).unwrap();
        let mut bytes = prelude(total, u32::try_from(block.len()).unwrap());
        bytes.extend(&block);
        bytes.extend(crc32fast::hash(&bytes).to_be_bytes());
        let mut decoder = Decoder::new();
        decoder.push(&bytes);
        let err = decoder.next().unwrap_err();
        assert!(
            matches!(err, AwsError::MalformedFrame(_)),
            "{block:?}: {err:?}"
        );
    }
}

#[test]
fn truncated_stream_is_detectable() {
    let mut bytes = frame();
    bytes.extend(frame());
    let cut = bytes.len() - 7;
    let mut decoder = Decoder::new();
    decoder.push(&bytes[..cut]);
    assert!(decoder.next().unwrap().is_some());
    assert!(decoder.next().unwrap().is_none());
    assert!(!decoder.is_empty());
    assert!(matches!(decoder.finish(), Err(AwsError::Truncated(n)) if n == frame().len() - 7));
    // Pushing the rest completes it.
    decoder.push(&bytes[cut..]);
    assert!(decoder.next().unwrap().is_some());
    assert!(decoder.is_empty());
    decoder.finish().unwrap();
}

#[test]
fn oversized_string_headers_are_cut_to_fit() {
    let long_name = "n".repeat(300);
    let long_value = "é".repeat(40_000); // 80,000 bytes
    let bytes = encode(&[(&long_name, &long_value)], b"");
    let messages = decode_all(&bytes);
    let (name, value) = &messages[0].headers[0];
    assert_eq!(name.len(), 255);
    match value {
        HeaderValue::String(s) => assert_eq!(s.len(), 65_534),
        other => panic!("{other:?}"),
    }
}
