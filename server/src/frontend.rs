//! # Frontend framing: every client message is checked before it is decoded
//!
//! pgwire's decoder trusts the lengths inside a message: a Parse that
//! declares more parameter types than its body holds, or a message whose
//! length field is below 4, makes it panic (found by `tests/fuzz.rs`). It
//! also turns invalid UTF-8 into U+FFFD silently. So no client byte reaches
//! it unchecked: [`Framer`] splits the byte stream into messages exactly as
//! PostgreSQL frames them, checks each message's fields against its length,
//! and checks that every string is UTF-8. A message that fails is a
//! [`Violation`] with PostgreSQL's SQLSTATE; the connection answers it with
//! a FATAL error and closes, and no other session notices.
//!
//! ```text
//!   untagged phase:  len:i32 code:i32 …        SSLRequest, GSSENCRequest,
//!                                              CancelRequest, StartupMessage
//!   tagged phase:    tag:u8 len:i32 body[len-4]
//! ```
//!
//! Bounds: a startup packet is at most 10,000 bytes (as in PostgreSQL), any
//! other message at most `message_bytes_max`; at most one message is held.

use bytes::{Buf, BytesMut};

/// Largest startup packet PostgreSQL accepts.
pub const STARTUP_BYTES_MAX: usize = 10_000;
/// Default bound on one message (PostgreSQL's is 1 GiB; a query or COPY
/// chunk larger than this is refused).
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 64 << 20;

const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;

/// Why a client's bytes are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Framing or field layout is wrong (08P01).
    Protocol(String),
    /// A string is not valid UTF-8 (22021).
    Encoding(String),
}

impl Violation {
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Violation::Protocol(_) => "08P01",
            Violation::Encoding(_) => "22021",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Violation::Protocol(message) | Violation::Encoding(message) => message,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Violation {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the startup packet: length-prefixed packets without a tag.
    Untagged,
    /// After it.
    Tagged,
    /// After a CancelRequest nothing more may come.
    Closed,
}

/// Splits and checks the client's byte stream.
#[derive(Debug)]
pub struct Framer {
    phase: Phase,
    message_bytes_max: usize,
    /// Whether a password-family message has been seen (the first one is
    /// a password or a SASLInitialResponse, whose layout we can check).
    seen_password_message: bool,
}

fn protocol(message: impl Into<String>) -> Violation {
    Violation::Protocol(message.into())
}

impl Framer {
    pub fn new(message_bytes_max: usize) -> Framer {
        Framer {
            phase: Phase::Untagged,
            message_bytes_max,
            seen_password_message: false,
        }
    }

    /// Moves every complete, valid message from the front of `raw` to the
    /// back of `ready`. Stops at an incomplete message (more bytes needed)
    /// or at the first invalid one.
    pub fn take(&mut self, raw: &mut BytesMut, ready: &mut BytesMut) -> Result<(), Violation> {
        loop {
            let Some(len) = self.complete_message_len(raw)? else {
                return Ok(());
            };
            let message = raw.split_to(len);
            self.check(&message)?;
            ready.extend_from_slice(&message);
        }
    }

    /// The total length of the message at the front of `raw` if all of it
    /// is there.
    fn complete_message_len(&self, raw: &BytesMut) -> Result<Option<usize>, Violation> {
        let (header, length_at) = match self.phase {
            Phase::Untagged => (4, 0),
            Phase::Tagged => (5, 1),
            Phase::Closed if raw.is_empty() => return Ok(None),
            Phase::Closed => return Err(protocol("unexpected data after a cancel request")),
        };
        if raw.len() < header {
            return Ok(None);
        }
        let declared = i32::from_be_bytes(raw[length_at..length_at + 4].try_into().unwrap());
        let total = match self.phase {
            Phase::Untagged => {
                if !(8..=STARTUP_BYTES_MAX as i32).contains(&declared) {
                    return Err(protocol("invalid length of startup packet"));
                }
                declared as usize
            }
            _ => {
                if declared < 4 {
                    return Err(protocol(format!("invalid message length {declared}")));
                }
                if declared as usize - 4 > self.message_bytes_max {
                    return Err(protocol(format!(
                        "message of {declared} bytes exceeds the limit of {} bytes",
                        self.message_bytes_max
                    )));
                }
                declared as usize + 1
            }
        };
        Ok((raw.len() >= total).then_some(total))
    }

    fn check(&mut self, message: &[u8]) -> Result<(), Violation> {
        match self.phase {
            Phase::Untagged => {
                let code = i32::from_be_bytes(message[4..8].try_into().unwrap());
                match code {
                    SSL_REQUEST | GSSENC_REQUEST if message.len() == 8 => {}
                    SSL_REQUEST | GSSENC_REQUEST => {
                        return Err(protocol("invalid length of SSL/GSS request"))
                    }
                    CANCEL_REQUEST => self.phase = Phase::Closed,
                    _ => {
                        check_startup_body(&message[8..])?;
                        self.phase = Phase::Tagged;
                    }
                }
                Ok(())
            }
            Phase::Tagged => self.check_tagged(message[0], &message[5..]),
            Phase::Closed => Err(protocol("unexpected data after a cancel request")),
        }
    }

    fn check_tagged(&mut self, tag: u8, body: &[u8]) -> Result<(), Violation> {
        let mut fields = Fields { body };
        match tag {
            // Query
            b'Q' => {
                fields.cstring()?;
            }
            // Parse: name, query, parameter type oids
            b'P' => {
                fields.cstring()?;
                fields.cstring()?;
                let count = fields.count()?;
                fields.skip(count * 4)?;
            }
            // Bind: portal, statement, formats, values, result formats
            b'B' => {
                fields.cstring()?;
                fields.cstring()?;
                let formats = fields.count()?;
                fields.skip(formats * 2)?;
                for _ in 0..fields.count()? {
                    let len = fields.i32()?;
                    if len < -1 {
                        return Err(protocol("invalid parameter length in Bind"));
                    }
                    if len > 0 {
                        fields.skip(len as usize)?;
                    }
                }
                let result_formats = fields.count()?;
                fields.skip(result_formats * 2)?;
            }
            // Describe, Close: 'S' or 'P', then a name
            b'D' | b'C' => {
                match fields.u8()? {
                    b'S' | b'P' => {}
                    other => {
                        return Err(protocol(format!(
                            "invalid {} message subtype {other}",
                            if tag == b'D' { "DESCRIBE" } else { "CLOSE" }
                        )))
                    }
                }
                fields.cstring()?;
            }
            // Execute: portal, row limit
            b'E' => {
                fields.cstring()?;
                fields.i32()?;
            }
            // Sync, Flush, CopyDone, Terminate: no body
            b'S' | b'H' | b'c' | b'X' => {}
            // CopyData: anything
            b'd' => fields.body = &[],
            // CopyFail: a message
            b'f' => {
                fields.cstring()?;
            }
            // Password family: the first is a password or SASLInitialResponse
            b'p' => {
                let first = !self.seen_password_message;
                self.seen_password_message = true;
                if first {
                    check_first_password_message(body)?;
                }
                fields.body = &[];
            }
            other => {
                return Err(protocol(format!("invalid frontend message type {other}")));
            }
        }
        if !fields.body.is_empty() {
            return Err(protocol(format!(
                "invalid message format: {} extra bytes in a '{}' message",
                fields.body.len(),
                tag as char
            )));
        }
        Ok(())
    }
}

/// A startup packet's body: `name\0value\0…\0`, all UTF-8.
fn check_startup_body(body: &[u8]) -> Result<(), Violation> {
    let mut fields = Fields { body };
    loop {
        if fields.body == [0] {
            return Ok(());
        }
        fields.cstring()?;
        if fields.body.is_empty() {
            return Err(protocol(
                "invalid startup packet layout: expected terminator as last byte",
            ));
        }
    }
}

/// A plain password (`text\0`) or a SASLInitialResponse
/// (`mechanism\0`, i32 length or -1, that many bytes).
fn check_first_password_message(body: &[u8]) -> Result<(), Violation> {
    let mut sasl = Fields { body };
    let sasl_ok = sasl.cstring().is_ok()
        && match sasl.i32() {
            Ok(-1) => sasl.body.is_empty(),
            Ok(len) if len >= 0 => sasl.body.len() == len as usize,
            _ => false,
        };
    let mut password = Fields { body };
    let password_ok = password.cstring().is_ok() && password.body.is_empty();
    if sasl_ok || password_ok {
        Ok(())
    } else {
        Err(protocol("invalid password message format"))
    }
}

/// Reads fields off a message body, refusing to run past its end.
struct Fields<'a> {
    body: &'a [u8],
}

impl<'a> Fields<'a> {
    fn cstring(&mut self) -> Result<&'a str, Violation> {
        let Some(end) = self.body.iter().position(|&b| b == 0) else {
            return Err(protocol("invalid string in message"));
        };
        let bytes = &self.body[..end];
        self.body = &self.body[end + 1..];
        std::str::from_utf8(bytes).map_err(|error| {
            let at = error.valid_up_to();
            let bad = &bytes[at..(at + error.error_len().unwrap_or(1)).min(bytes.len())];
            let shown: Vec<String> = bad.iter().map(|b| format!("0x{b:02x}")).collect();
            Violation::Encoding(format!(
                "invalid byte sequence for encoding \"UTF8\": {}",
                shown.join(" ")
            ))
        })
    }

    fn u8(&mut self) -> Result<u8, Violation> {
        let (&first, rest) = self
            .body
            .split_first()
            .ok_or_else(|| protocol("insufficient data left in message"))?;
        self.body = rest;
        Ok(first)
    }

    fn i32(&mut self) -> Result<i32, Violation> {
        if self.body.len() < 4 {
            return Err(protocol("insufficient data left in message"));
        }
        let value = (&self.body[..4]).get_i32();
        self.body = &self.body[4..];
        Ok(value)
    }

    /// A non-negative i16 count.
    fn count(&mut self) -> Result<usize, Violation> {
        if self.body.len() < 2 {
            return Err(protocol("insufficient data left in message"));
        }
        let value = (&self.body[..2]).get_i16();
        self.body = &self.body[2..];
        usize::try_from(value).map_err(|_| protocol(format!("invalid count {value} in message")))
    }

    fn skip(&mut self, bytes: usize) -> Result<(), Violation> {
        if self.body.len() < bytes {
            return Err(protocol("insufficient data left in message"));
        }
        self.body = &self.body[bytes..];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn logged_in() -> Framer {
        let mut framer = Framer::new(1 << 20);
        framer.phase = Phase::Tagged;
        framer
    }

    fn run(framer: &mut Framer, bytes: &[u8]) -> (Result<(), Violation>, usize) {
        let mut raw = BytesMut::from(bytes);
        let mut ready = BytesMut::new();
        let result = framer.take(&mut raw, &mut ready);
        (result, ready.len())
    }

    #[test]
    fn a_well_formed_pipeline_passes_whole() {
        let mut bytes = tagged(b'P', b"s1\0SELECT $1\0\x00\x01\x00\x00\x00\x17");
        bytes.extend(tagged(
            b'B',
            b"\0s1\0\x00\x00\x00\x01\x00\x00\x00\x015\x00\x00",
        ));
        bytes.extend(tagged(b'E', b"\0\x00\x00\x00\x00"));
        bytes.extend(tagged(b'S', b""));
        assert_eq!(run(&mut logged_in(), &bytes), (Ok(()), bytes.len()));
    }

    #[test]
    fn a_partial_message_waits_for_more_bytes() {
        let bytes = tagged(b'Q', b"SELECT 1\0");
        assert_eq!(run(&mut logged_in(), &bytes[..7]), (Ok(()), 0));
    }

    #[test]
    fn a_parse_overrunning_its_body_is_refused() {
        let (result, _) = run(&mut logged_in(), &tagged(b'P', &[0, 0, 0, 1]));
        assert_eq!(result.unwrap_err().sqlstate(), "08P01");
    }

    #[test]
    fn a_length_below_four_is_refused() {
        let (result, _) = run(&mut logged_in(), &[b'd', 0, 0, 0, 3, 0]);
        assert!(result
            .unwrap_err()
            .message()
            .contains("invalid message length"));
    }

    #[test]
    fn invalid_utf8_is_22021_naming_the_bytes() {
        let (result, _) = run(&mut logged_in(), &tagged(b'Q', b"SELECT '\xff'\0"));
        let violation = result.unwrap_err();
        assert_eq!(violation.sqlstate(), "22021");
        assert_eq!(
            violation.message(),
            "invalid byte sequence for encoding \"UTF8\": 0xff"
        );
    }

    #[test]
    fn unknown_types_and_oversized_messages_are_refused() {
        let (result, _) = run(&mut logged_in(), &tagged(b'@', b""));
        assert_eq!(
            result.unwrap_err().message(),
            "invalid frontend message type 64"
        );
        let mut framer = Framer::new(16);
        framer.phase = Phase::Tagged;
        let (result, _) = run(&mut framer, &[b'Q', 0x7f, 0xff, 0xff, 0xff]);
        assert!(result.unwrap_err().message().contains("exceeds the limit"));
    }

    #[test]
    fn the_startup_sequence_switches_to_tagged_messages() {
        let mut framer = Framer::new(1 << 20);
        let mut bytes = vec![0, 0, 0, 8];
        bytes.extend_from_slice(&SSL_REQUEST.to_be_bytes());
        let mut startup = 196608i32.to_be_bytes().to_vec();
        startup.extend_from_slice(b"user\0k\0\0");
        bytes.extend_from_slice(&((startup.len() + 4) as i32).to_be_bytes());
        bytes.extend(startup);
        bytes.extend(tagged(b'Q', b"SELECT 1\0"));
        assert_eq!(run(&mut framer, &bytes), (Ok(()), bytes.len()));
        let (result, _) = run(&mut Framer::new(1 << 20), &[0x16, 3, 1, 0, 0, 0, 0, 0]);
        assert!(result.is_err(), "a TLS ClientHello is not a startup packet");
    }

    mod fuzz {
        //! Bounded property tests: the checker is total on arbitrary input,
        //! and nothing it accepts makes pgwire's decoder panic (before the
        //! checker existed, a 9-byte Parse did).
        use super::*;
        use pgwire::messages::{DecodeContext, PgWireFrontendMessage};
        use proptest::prelude::*;

        const TAGS: &[u8] = b"QPBEDCSHFdcfpX@\x00\xff";

        fn decode_every_message(bytes: &[u8]) {
            let mut ctx = DecodeContext::default();
            ctx.awaiting_frontend_ssl = false;
            ctx.awaiting_frontend_startup = false;
            let mut buf = BytesMut::from(bytes);
            for _ in 0..64 {
                match PgWireFrontendMessage::decode(&mut buf, &ctx) {
                    Ok(Some(_)) if !buf.is_empty() => continue,
                    _ => break,
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4000))]

            #[test]
            fn arbitrary_bytes_never_panic_the_checker(
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
                tagged_phase in any::<bool>(),
            ) {
                let mut framer = Framer::new(1 << 16);
                if tagged_phase {
                    framer.phase = Phase::Tagged;
                }
                let _ = run(&mut framer, &bytes);
            }

            #[test]
            fn accepted_messages_never_panic_the_decoder(
                tag_index in 0..TAGS.len(),
                body in proptest::collection::vec(any::<u8>(), 0..200),
                lie in -8i32..8,
            ) {
                let mut message = vec![TAGS[tag_index]];
                message.extend_from_slice(&((body.len() as i32 + 4).wrapping_add(lie)).to_be_bytes());
                message.extend_from_slice(&body);
                let mut raw = BytesMut::from(&message[..]);
                let mut ready = BytesMut::new();
                let _ = logged_in().take(&mut raw, &mut ready);
                decode_every_message(&ready);
            }
        }
    }
}
