use super::*;
use crate::transport::MemoryIo;
use proptest::prelude::*;

fn frame_bytes(opcode: u8, fin: bool, payload: &[u8], mask: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(&mut out, opcode, fin, false, false, false, payload, mask);
    out
}

#[test]
fn encodes_upstream_examples() {
    assert_eq!(frame_bytes(1, true, b"Hello", false), b"\x81\x05Hello");
    let mid = frame_bytes(2, true, &[0; 126], false);
    assert_eq!(&mid[..4], b"\x82\x7e\x00\x7e");
    let big = frame_bytes(2, true, &[0; 65536], false);
    assert_eq!(&big[..10], b"\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00");
    assert_eq!(frame_bytes(0, false, b"", false), b"\x00\x00");
}

#[test]
fn masked_frame_round_trips() {
    let bytes = frame_bytes(1, true, b"Hello", true);
    assert_eq!(bytes[1], 0x85);
    let frame = read_frame(&mut MemoryIo::new(bytes), true, 1000).expect("frame");
    assert_eq!(frame.payload, b"Hello");
    assert!(frame.fin);
}

#[test]
fn rejects_mask_mismatch_and_huge_length() {
    let unmasked = frame_bytes(1, true, b"x", false);
    let err = read_frame(&mut MemoryIo::new(unmasked), true, 100).expect_err("must fail");
    assert!(matches!(err, WsError::InvalidFrame(_)));
    let masked = frame_bytes(1, true, b"x", true);
    let err = read_frame(&mut MemoryIo::new(masked), false, 100).expect_err("must fail");
    assert!(matches!(err, WsError::InvalidFrame(_)));
    let huge = b"\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00abcd".to_vec();
    let err = read_frame(&mut MemoryIo::new(huge), true, u64::MAX).expect_err("must fail");
    assert!(matches!(err, WsError::InvalidFrame(_)));
}

#[test]
fn accepts_non_minimal_length() {
    let bytes = b"\x82\x7e\x00\x02ab".to_vec();
    let frame = read_frame(&mut MemoryIo::new(bytes), false, 100).expect("frame");
    assert_eq!(frame.payload, b"ab");
}

#[test]
fn rejects_bad_control_frames() {
    let long_ping = frame_bytes(9, true, &[0; 126], true);
    let err = read_frame(&mut MemoryIo::new(long_ping), true, 1000).expect_err("must fail");
    assert!(matches!(err, WsError::InvalidFrame(_)));
    let fragmented_ping = frame_bytes(9, false, b"", true);
    let err = read_frame(&mut MemoryIo::new(fragmented_ping), true, 1000).expect_err("must fail");
    assert!(matches!(err, WsError::InvalidFrame(_)));
}

#[test]
fn length_limit_and_eof() {
    let bytes = frame_bytes(2, true, &[1; 200], false);
    let err = read_frame(&mut MemoryIo::new(bytes.clone()), false, 199).expect_err("must fail");
    assert!(matches!(err, WsError::MessageTooBig(_)));
    let err =
        read_frame(&mut MemoryIo::new(bytes[..100].to_vec()), false, 1000).expect_err("must fail");
    match err {
        WsError::ConnectionTerminated(m) => assert!(m.starts_with("Receiving 200 byte failed")),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn mask_offset_matches_bytewise_xor() {
    let key = [1, 2, 3, 4];
    let data: Vec<u8> = (0..37).collect();
    for offset in 0..8 {
        let mut fast = data.clone();
        apply_mask(&mut fast, key, offset);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[(i + offset) % 4])
            .collect();
        assert_eq!(fast, slow);
    }
}

#[test]
fn complete_frame_len_needs_every_byte() {
    let frame = frame_bytes(2, true, &[7; 300], true);
    for cut in 0..frame.len() {
        assert_eq!(complete_frame_len(&frame[..cut]), None, "{cut}");
    }
    assert_eq!(complete_frame_len(&frame), Some(frame.len()));
    let mut two = frame.clone();
    two.extend_from_slice(b"\x81");
    assert_eq!(complete_frame_len(&two), Some(frame.len()));
    assert_eq!(
        complete_frame_len(b"\x82\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
        None
    );
}

proptest! {
    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = read_frame(&mut MemoryIo::new(bytes.clone()), true, 1 << 20);
        let _ = read_frame(&mut MemoryIo::new(bytes), false, 1 << 20);
    }

    #[test]
    fn encode_parse_round_trip(
        opcode in 0u8..3,
        fin in any::<bool>(),
        rsv in 0u8..8,
        mask in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..70000),
    ) {
        let mut out = Vec::new();
        let (r1, r2, r3) = (rsv & 4 != 0, rsv & 2 != 0, rsv & 1 != 0);
        encode_frame(&mut out, opcode, fin, r1, r2, r3, &payload, mask);
        let mut io = MemoryIo::new(out);
        io.chunk = 7;
        let frame = read_frame(&mut io, mask, u64::MAX).expect("frame");
        prop_assert_eq!(frame, Frame { fin, rsv1: r1, rsv2: r2, rsv3: r3, opcode, payload });
        prop_assert_eq!(io.pos, io.input.len());
    }
}
