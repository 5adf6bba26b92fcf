//! Operation-name normalisation: one name per endpoint, not per request.
//!
//! HTTP spans are often named after the raw path (`GET /orders/123?x=1`), which would give every
//! order its own one-hot dimension. The rules, applied to each `/`-separated segment after the
//! query string (`?…`) and fragment (`#…`) are dropped:
//! - a UUID (8-4-4-4-12 hex) → `{uuid}`;
//! - all digits → `{id}`;
//! - 16 or more hex digits with at least one digit (trace/object ids, hashes) → `{hex}`.
//!
//! Only whole segments are replaced, so `v2`, `hipstershop.CartService/GetCart` or `md5` stay.

use std::borrow::Cow;

/// The normalised name; borrows when nothing changes (the common case for RPC names).
pub fn normalize(name: &str) -> Cow<'_, str> {
    let base = match name.find(['?', '#']) {
        Some(i) => &name[..i],
        None => name,
    };
    if !base.split('/').any(|s| placeholder(s).is_some()) {
        return Cow::Borrowed(base);
    }
    let mut out = String::with_capacity(base.len());
    for (i, seg) in base.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.push_str(placeholder(seg).unwrap_or(seg));
    }
    Cow::Owned(out)
}

fn placeholder(seg: &str) -> Option<&'static str> {
    let b = seg.as_bytes();
    if b.is_empty() {
        return None;
    }
    if is_uuid(b) {
        return Some("{uuid}");
    }
    if b.iter().all(u8::is_ascii_digit) {
        return Some("{id}");
    }
    if b.len() >= 16 && b.iter().all(u8::is_ascii_hexdigit) && b.iter().any(u8::is_ascii_digit) {
        return Some("{hex}");
    }
    None
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let table = [
            // RPC names stay as they are.
            ("hipstershop.CartService/GetCart", "hipstershop.CartService/GetCart"),
            ("hipstershop.Frontend/Recv.", "hipstershop.Frontend/Recv."),
            ("", ""),
            // Query strings and fragments go.
            ("GET /api/orders?page=2&size=10", "GET /api/orders"),
            ("/cart#checkout", "/cart"),
            ("/cart?x=1#y", "/cart"),
            ("/product/?id=7", "/product/"),
            // Numeric ids, whole segments only.
            ("GET /api/orders/12345", "GET /api/orders/{id}"),
            ("/users/42/orders/7", "/users/{id}/orders/{id}"),
            ("/api/v2/items", "/api/v2/items"),
            ("/order42", "/order42"),
            ("/42", "/{id}"),
            // UUIDs, either case.
            (
                "/api/v1/travelservice/trips/5ad7750b-a68b-49c0-a8c0-32776b067703",
                "/api/v1/travelservice/trips/{uuid}",
            ),
            ("/x/5AD7750B-A68B-49C0-A8C0-32776B067703/y", "/x/{uuid}/y"),
            (
                "/x/5ad7750b-a68b-49c0-a8c0-32776b06770",
                "/x/5ad7750b-a68b-49c0-a8c0-32776b06770",
            ),
            // Long hex ids (16+ chars with a digit); short or all-letter words stay.
            ("/trace/01db723f5de73f1e8954a6d76d02e140", "/trace/{hex}"),
            ("/span/ab872b6a0755789d", "/span/{hex}"),
            ("/span/ab872b6a075578", "/span/ab872b6a075578"),
            ("/deadbeefdeadbeefcafe", "/deadbeefdeadbeefcafe"),
            (
                "/blob/sha/6f1ed002ab5595859014ebf0951522d9/raw?dl=1",
                "/blob/sha/{hex}/raw",
            ),
        ];
        for (input, want) in table {
            assert_eq!(normalize(input), want, "{input:?}");
        }
    }

    #[test]
    fn borrows_when_unchanged() {
        assert!(matches!(normalize("hipstershop.CartService/GetCart"), Cow::Borrowed(_)));
        assert!(matches!(normalize("/cart?x=1"), Cow::Borrowed("/cart")));
        assert!(matches!(normalize("/users/1"), Cow::Owned(_)));
    }
}
