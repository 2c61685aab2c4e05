#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test
use super::*;
use std::io::Read;

use crate::conn::tests::pair;
use crate::frame::encode_frame;

fn text_frame(text: &str) -> Vec<u8> {
    let mut frame = Vec::new();
    encode_frame(
        &mut frame,
        1,
        true,
        false,
        false,
        false,
        text.as_bytes(),
        true,
    );
    frame
}

/// A connection whose reader already holds `frames` complete client frames.
fn with_buffered(frames: usize) -> (Arc<ConnIo>, TcpStream) {
    let (server, client) = pair();
    let leftover: Vec<u8> = (0..frames)
        .flat_map(|i| text_frame(&i.to_string()))
        .collect();
    (Arc::new(ConnIo::new(server, leftover).unwrap()), client)
}

/// Whatever the client can read within `wait`.
fn received(client: &mut TcpStream, wait: Duration) -> Vec<u8> {
    client.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = client.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn nothing_is_held_unless_the_next_frame_is_buffered() {
    let (io, _client) = with_buffered(0);
    assert_eq!(io.try_hold(b"reply"), None);
    let (server, _client) = pair();
    // Half a frame buffered: the handler would block, so the reply must go now.
    let io = ConnIo::new(server, text_frame("abc")[..3].to_vec()).unwrap();
    assert_eq!(io.try_hold(b"reply"), None);
}

#[test]
fn held_replies_go_out_ahead_of_the_next_write() {
    let (io, mut client) = with_buffered(2);
    assert_eq!(io.try_hold(b"one,"), Some(true));
    assert_eq!(io.try_hold(b"two,"), Some(false));
    assert!(received(&mut client, Duration::from_millis(50)).is_empty());
    io.write_all(b"three").unwrap();
    assert_eq!(
        received(&mut client, Duration::from_millis(200)),
        b"one,two,three"
    );
}

#[test]
fn held_replies_go_out_before_the_reader_waits_for_the_peer() {
    let (io, mut client) = with_buffered(1);
    assert_eq!(io.try_hold(b"reply"), Some(true));
    let frame_len = text_frame("0").len();
    let mut frame = vec![0u8; frame_len];
    io.read_exact(&mut frame).unwrap();
    let reader_io = Arc::clone(&io);
    let reader = std::thread::spawn(move || reader_io.read_up_to(1));
    // The reader flushed before blocking: the reply arrives while it waits.
    assert_eq!(received(&mut client, Duration::from_millis(500)), b"reply");
    client.write_all(b"x").unwrap();
    assert_eq!(reader.join().unwrap().unwrap(), b"x");
}

#[test]
fn the_flusher_sends_what_a_busy_handler_left_held() {
    let (io, mut client) = with_buffered(1);
    assert_eq!(io.try_hold(b"late"), Some(true));
    schedule_flush(&io);
    // Nobody touches the connection again; the flusher writes it after MAX_DELAY.
    assert_eq!(received(&mut client, Duration::from_millis(500)), b"late");
}

#[test]
fn finish_and_control_frames_keep_the_order() {
    let (io, mut client) = with_buffered(1);
    assert_eq!(io.try_hold(b"data"), Some(true));
    assert!(io.send_control(&[0x88, 0x00], Duration::from_millis(100)));
    assert_eq!(
        received(&mut client, Duration::from_millis(200)),
        b"data\x88\x00"
    );

    let (io, mut client) = with_buffered(1);
    assert_eq!(io.try_hold(b"last words"), Some(true));
    io.finish();
    assert_eq!(
        received(&mut client, Duration::from_millis(200)),
        b"last words"
    );
}

#[test]
fn coalescing_can_be_turned_off() {
    let (io, _client) = with_buffered(1);
    io.set_write_coalescing(false);
    assert_eq!(io.try_hold(b"reply"), None);
}

#[test]
fn held_bytes_are_bounded() {
    let (io, mut client) = with_buffered(1);
    let big = vec![b'a'; MAX_HELD_FRAME + 1];
    assert_eq!(io.try_hold(&big), None);
    let chunk = vec![b'b'; MAX_HELD_FRAME];
    let mut held = 0;
    while io.try_hold(&chunk).is_some() {
        held += chunk.len();
    }
    assert!(held <= MAX_PENDING && held + chunk.len() > MAX_PENDING);
    io.write_all(b"!").unwrap();
    let got = received(&mut client, Duration::from_millis(300));
    assert_eq!(got.len(), held + 1);
    assert_eq!(got.last(), Some(&b'!'));
}

#[test]
fn finish_does_not_wait_for_a_writer_stuck_on_a_peer_that_does_not_read() {
    let (io, client) = with_buffered(0);
    let writer_io = Arc::clone(&io);
    // The client never reads: this write fills both socket buffers and blocks.
    let writer = std::thread::spawn(move || writer_io.write_all(&vec![0u8; 64 << 20]));
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    io.finish();
    assert!(started.elapsed() < Duration::from_secs(2));
    // finish shut the socket down: the stuck writer returns with an error.
    assert!(writer.join().unwrap().is_err());
    drop(client);
}
