#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use crate::conn::tests::pair;
use std::io::Read;

const HEAD: &[u8] = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n";

fn frames(list: &[&[u8]]) -> VecDeque<Arc<[u8]>> {
    list.iter().map(|f| Arc::<[u8]>::from(*f)).collect()
}

#[test]
fn the_gate_follows_fragments_and_the_close() {
    let mut gate = FrameGate::default();
    gate.note(b"\x81\x02hi");
    assert_eq!(gate, FrameGate::default());
    gate.note(b"\x01\x01a");
    assert!(gate.fragmenting);
    gate.note(b"\x89\x00"); // a ping between fragments changes nothing
    gate.note(b"\x00\x01b");
    assert!(gate.fragmenting);
    gate.note(b"\x80\x01c");
    assert!(!gate.fragmenting);
    gate.note(b"\x88\x02\x03\xe8");
    assert!(gate.closed);
}

#[test]
fn nothing_goes_out_before_the_101_inside_a_message_or_after_a_close() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    let mut queue = frames(&[b"\x81\x01x"]);
    assert_eq!(io.deliver(&mut queue, &mut 0), Delivery::Busy);
    io.write_all(HEAD).unwrap();
    io.write_all(b"\x01\x01a").unwrap();
    assert_eq!(io.deliver(&mut queue, &mut 0), Delivery::Busy);
    io.write_all(b"\x80\x01b").unwrap();
    assert_eq!(io.deliver(&mut queue, &mut 0), Delivery::Done);
    assert!(queue.is_empty());
    io.write_all(b"\x88\x00").unwrap();
    let mut later = frames(&[b"\x81\x01y"]);
    assert_eq!(io.deliver(&mut later, &mut 0), Delivery::Gone);
    let mut got = vec![0u8; HEAD.len() + 3 + 3 + 3 + 2];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got[HEAD.len()..], b"\x01\x01a\x80\x01b\x81\x01x\x88\x00");
}

#[test]
fn a_frame_cut_short_by_a_full_socket_is_finished_before_the_handlers_next_write() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    io.write_all(HEAD).unwrap();
    let big: Vec<u8> = {
        let mut frame = vec![0x82, 0x7f];
        frame.extend_from_slice(&(8u64 << 20).to_be_bytes());
        frame.extend((0..8u32 << 20).map(|i| (i % 253) as u8));
        frame
    };
    let mut queue = frames(&[&big, b"\x81\x01z"]);
    assert_eq!(io.deliver(&mut queue, &mut 0), Delivery::Blocked);
    // The cut frame left the queue (its rest is held); the next one waits its turn.
    assert_eq!(queue.len(), 1);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        client.read_to_end(&mut all).unwrap();
        all
    });
    io.write_all(b"\x81\x04mine").unwrap();
    while io.deliver(&mut queue, &mut 0) != Delivery::Done {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    io.shutdown();
    let all = reader.join().unwrap();
    let rest = &all[HEAD.len()..];
    assert_eq!(&rest[..big.len()], &big[..]);
    assert_eq!(&rest[big.len()..], b"\x81\x04mine\x81\x01z");
}

#[test]
fn a_member_behind_gets_its_close_after_the_cut_frame() {
    let (server, mut client) = pair();
    let io = ConnIo::new(server, Vec::new()).unwrap();
    io.write_all(HEAD).unwrap();
    assert!(io.close_behind(b"\x88\x02\x03\xf0"));
    let mut later = frames(&[b"\x81\x01y"]);
    assert_eq!(io.deliver(&mut later, &mut 0), Delivery::Gone);
    io.shutdown();
    let mut all = Vec::new();
    client.read_to_end(&mut all).unwrap();
    assert_eq!(&all[HEAD.len()..], b"\x88\x02\x03\xf0");
}
