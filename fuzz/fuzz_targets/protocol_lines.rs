//! The host's protocol line decoding: bytes cut into lines (any chunking, lines
//! over the limit dropped and reported) and each line classified as a message.
//! Must never panic; every byte is accounted for.

#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sandboxer_ext_protocol::framing::{Frame, LineDecoder, parse_message};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the chunk size and the line limit, so short limits
    // and split lines are explored too.
    let Some((&knob, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(knob % 17) + 1;
    let mut decoder = LineDecoder::new(usize::from(knob) * 4 + 1);
    let mut buf = BytesMut::new();
    let mut seen = 0usize;
    let mut take = |frame: Frame| match frame {
        Frame::Line(line) => {
            seen += line.len() + 1;
            let _ = parse_message(&line);
        }
        Frame::Oversized { len } => seen += len + 1,
    };
    for piece in input.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(frame) = decoder.decode(&mut buf) {
            take(frame);
        }
    }
    while let Some(frame) = decoder.decode_eof(&mut buf) {
        take(frame);
    }
    // Each line counts its newline; a last line without one counts one more.
    assert!(
        seen == input.len() || seen == input.len() + 1,
        "bytes lost or doubled: {seen} for {}",
        input.len()
    );
});
