//! Async line framing over tokio, shared by the host and the SDK: a codec that cuts
//! a pipe into `Frame`s with the pure `LineDecoder`.

use crate::framing::{Frame, LineDecoder};
use bytes::BytesMut;
use tokio::io::AsyncRead;
use tokio_util::codec::{Decoder, FramedRead};

/// `LineDecoder` as a tokio codec. It never returns an error for bad content:
/// oversized lines come out as `Frame::Oversized`, so the stream keeps going.
#[derive(Debug, Default)]
pub struct LineCodec(LineDecoder);

impl LineCodec {
    pub fn new(max: usize) -> Self {
        LineCodec(LineDecoder::new(max))
    }
}

impl Decoder for LineCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        Ok(self.0.decode(buf))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        Ok(self.0.decode_eof(buf))
    }
}

/// A stream of frames read from `reader`, with the contract's 8 MiB limit.
pub fn frames<R: AsyncRead>(reader: R) -> FramedRead<R, LineCodec> {
    FramedRead::new(reader, LineCodec::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[tokio::test]
    async fn reads_frames_from_a_pipe_until_eof() {
        let (mut tx, rx) = tokio::io::duplex(64);
        tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            tx.write_all(b"{\"a\":1}\n").await.unwrap();
            tx.write_all(b"tail-without-newline").await.unwrap();
        });
        let got: Vec<Frame> = frames(rx).map(|f| f.unwrap()).collect().await;
        assert_eq!(
            got,
            vec![
                Frame::Line("{\"a\":1}".into()),
                Frame::Line("tail-without-newline".into())
            ]
        );
    }
}
