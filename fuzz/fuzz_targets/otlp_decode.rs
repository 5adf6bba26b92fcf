//! The OTLP/HTTP receiver's decode + convert path on arbitrary bytes: the first byte picks the
//! encoding (and gzip), the rest is the body. Must never panic, whatever the input.
#![no_main]
use scale::observe::otlp::convert::{Encoding, convert, decode};
use scale::observe::otlp::http::gunzip;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let enc = if mode & 1 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let owned;
    let body = if mode & 2 == 0 {
        body
    } else {
        match gunzip(body, 1 << 20) {
            Ok(Some(b)) => {
                owned = b;
                &owned
            }
            _ => return,
        }
    };
    if let Ok(req) = decode(body, enc) {
        let c = convert(&req);
        assert_eq!(c.rejected == 0, c.error_message.is_empty());
        for s in &c.spans {
            assert!(s.duration >= 0.0 && s.duration.is_finite());
        }
    }
});
