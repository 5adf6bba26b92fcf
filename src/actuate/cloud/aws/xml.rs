//! A tiny XML reader for AWS Query API responses: elements, text and entities; attributes,
//! processing instructions, comments and DOCTYPE are skipped. Enough for the handful of
//! elements SCALE reads, without a new dependency.

/// An element with its local name (namespace prefix dropped), children and decoded text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Element {
    pub name: String,
    pub children: Vec<Element>,
    pub text: String,
}

impl Element {
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows direct children by name.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |e, n| e.child(n))
    }

    /// Trimmed text of a direct child.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.trim())
    }
}

const MAX_DEPTH: usize = 64;

/// Parses a document into its root element; errors give the byte offset.
pub fn parse(doc: &str) -> Result<Element, String> {
    let mut stack: Vec<Element> = vec![];
    let mut root: Option<Element> = None;
    let mut i = 0;
    let b = doc.as_bytes();
    while i < b.len() {
        if b[i] != b'<' {
            let end = doc[i..].find('<').map_or(b.len(), |n| i + n);
            let text = &doc[i..end];
            match stack.last_mut() {
                Some(top) => top
                    .text
                    .push_str(&decode(text).map_err(|e| format!("offset {i}: {e}"))?),
                None if text.trim().is_empty() => {}
                None => return Err(format!("offset {i}: text outside the root element")),
            }
            i = end;
            continue;
        }
        let rest = &doc[i..];
        let skip_to = |close: &str| {
            rest.find(close)
                .map(|n| i + n + close.len())
                .ok_or(format!("offset {i}: unterminated markup"))
        };
        if rest.starts_with("<?") {
            i = skip_to("?>")?;
        } else if rest.starts_with("<!--") {
            i = skip_to("-->")?;
        } else if rest.starts_with("<![CDATA[") {
            let end = skip_to("]]>")?;
            let top = stack
                .last_mut()
                .ok_or(format!("offset {i}: CDATA outside the root element"))?;
            top.text.push_str(&doc[i + 9..end - 3]);
            i = end;
        } else if rest.starts_with("<!") {
            i = skip_to(">")?;
        } else if let Some(close) = rest.strip_prefix("</") {
            let end = close.find('>').ok_or(format!("offset {i}: unterminated end tag"))?;
            let name = local(close[..end].trim());
            let el = stack
                .pop()
                .ok_or(format!("offset {i}: </{name}> without a start tag"))?;
            if el.name != name {
                return Err(format!("offset {i}: </{name}> closes <{}>", el.name));
            }
            i += 2 + end + 1;
            attach(&mut stack, &mut root, el, i)?;
        } else {
            let end = tag_end(rest).ok_or(format!("offset {i}: unterminated start tag"))?;
            let inner = &rest[1..end];
            let self_closing = inner.ends_with('/');
            let inner = inner.trim_end_matches('/');
            let name = inner.split(|c: char| c.is_whitespace()).next().unwrap_or("");
            if name.is_empty() {
                return Err(format!("offset {i}: empty tag name"));
            }
            let el = Element {
                name: local(name).to_string(),
                ..Element::default()
            };
            i += end + 1;
            if self_closing {
                attach(&mut stack, &mut root, el, i)?;
            } else {
                if stack.len() >= MAX_DEPTH {
                    return Err(format!("offset {i}: nesting deeper than {MAX_DEPTH}"));
                }
                stack.push(el);
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("<{}> is not closed", open.name));
    }
    root.ok_or_else(|| "no root element".to_string())
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element, at: usize) -> Result<(), String> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None if root.is_none() => *root = Some(el),
        None => return Err(format!("offset {at}: a second root element <{}>", el.name)),
    }
    Ok(())
}

/// Index of the `>` closing a start tag, skipping quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quote = None;
    for (n, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '>') => return Some(n),
            _ => {}
        }
    }
    None
}

fn local(name: &str) -> &str {
    name.rsplit(':').next().unwrap_or(name)
}

fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or_else(|| format!("unterminated entity in {rest:?}"))?;
        let entity = &rest[amp + 1..amp + semi];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(h) = entity.strip_prefix("#x").or_else(|| entity.strip_prefix("#X")) {
                    u32::from_str_radix(h, 16).ok()
                } else if let Some(d) = entity.strip_prefix('#') {
                    d.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(c);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_aws_response() {
        let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">
  <DescribeAutoScalingGroupsResult>
    <AutoScalingGroups>
      <member>
        <AutoScalingGroupName>web &amp; api</AutoScalingGroupName>
        <Tags/>
        <WarmPoolConfiguration><MinSize>9</MinSize></WarmPoolConfiguration>
        <MinSize>1</MinSize>
        <Note a="x>y" b='q'><![CDATA[<raw>]]> &#65;&#x42;</Note>
      </member>
    </AutoScalingGroups>
  </DescribeAutoScalingGroupsResult>
  <!-- a comment -->
</DescribeAutoScalingGroupsResponse>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "DescribeAutoScalingGroupsResponse");
        let m = root
            .path(&["DescribeAutoScalingGroupsResult", "AutoScalingGroups", "member"])
            .unwrap();
        assert_eq!(m.child_text("AutoScalingGroupName"), Some("web & api"));
        // The direct child, not the warm pool's MinSize.
        assert_eq!(m.child_text("MinSize"), Some("1"));
        assert_eq!(m.child_text("Note"), Some("<raw> AB"));
        assert_eq!(m.child("Tags").map(|t| t.children.len()), Some(0));
    }

    #[test]
    fn malformed_documents_are_errors() {
        for (doc, want) in [
            ("<a><b></a>", "</a> closes <b>"),
            ("<a>", "<a> is not closed"),
            ("</a>", "without a start tag"),
            ("<a>&bogus;</a>", "unknown entity &bogus;"),
            ("<a/><b/>", "a second root element <b>"),
            ("", "no root element"),
            ("<a x=\"1></a>", "unterminated start tag"),
            ("text", "text outside the root element"),
        ] {
            let err = parse(doc).unwrap_err();
            assert!(err.contains(want), "{doc:?}: {err}");
        }
    }
}
