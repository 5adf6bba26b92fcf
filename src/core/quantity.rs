//! Kubernetes resource quantities ("100m", "1.5Gi", "2k", "1e3") as f64.

use serde::{Deserialize, Deserializer};

/// Parses a quantity string; None if malformed.
pub fn parse(text: &str) -> Option<f64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    const SUFFIXES: [(&str, f64); 14] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
    ];
    for (suffix, mult) in SUFFIXES {
        if let Some(num) = t.strip_suffix(suffix) {
            return num.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v * mult);
        }
    }
    if let Some(num) = t.strip_suffix('E') {
        return num.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v * 1e18);
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A quantity field: a JSON number or a Kubernetes quantity string.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Quantity(pub f64);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Num(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Num(v) if v.is_finite() => Ok(Quantity(v)),
            Raw::Num(v) => Err(serde::de::Error::custom(format!("quantity {v} is not finite"))),
            Raw::Text(s) => parse(&s)
                .map(Quantity)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid quantity {s:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for (text, want) in [
            ("100m", 0.1),
            ("2", 2.0),
            ("1.5Gi", 1.5 * 1073741824.0),
            ("2k", 2000.0),
            ("1e3", 1000.0),
            ("500Mi", 524288000.0),
        ] {
            assert!(
                (parse(text).unwrap() - want).abs() < 1e-9 * want.abs().max(1.0),
                "{text}"
            );
        }
        for bad in ["", "abc", "1.2.3", "m"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
