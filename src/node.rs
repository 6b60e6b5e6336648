//! The name of a node of a lab (`n1`, `n2`, ...): [`NodeName`]. A leaf module: the lab, its
//! endpoints, faults, the systems' leader answers and the report all name nodes with it.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// A node's name, `n` and its 1-based number (`n2`). Written as the bare string in every file
/// Perseus writes (`"n2"`), and compared with plain strings as it reads.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// Node `i` (1-based): `n{i}`.
    pub fn nth(i: usize) -> NodeName {
        NodeName(format!("n{i}"))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Its number (`n2` is 2), when it has the lab's form.
    pub fn number(&self) -> Option<usize> {
        self.0.strip_prefix('n')?.parse().ok()
    }
}

impl fmt::Display for NodeName {
    /// The name, padded as the format asks (`{:<5}` in the status table).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl Deref for NodeName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for NodeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for NodeName {
    fn from(s: String) -> NodeName {
        NodeName(s)
    }
}

impl From<&str> for NodeName {
    fn from(s: &str) -> NodeName {
        NodeName(s.to_string())
    }
}

impl From<NodeName> for String {
    fn from(n: NodeName) -> String {
        n.0
    }
}

impl PartialEq<str> for NodeName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for NodeName {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for NodeName {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<NodeName> for str {
    fn eq(&self, other: &NodeName) -> bool {
        self == other.0
    }
}

impl PartialEq<NodeName> for &str {
    fn eq(&self, other: &NodeName) -> bool {
        *self == other.0
    }
}

impl PartialEq<NodeName> for String {
    fn eq(&self, other: &NodeName) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_name_is_its_string_in_files_and_in_comparisons() {
        let n = NodeName::nth(2);
        assert_eq!(n, "n2");
        assert_eq!("n2", n);
        assert_eq!(n.number(), Some(2));
        assert_eq!(NodeName::from("pd1").number(), None);
        assert_eq!(
            serde_json::to_string(&vec![n.clone()]).unwrap(),
            r#"["n2"]"#
        );
        let back: NodeName = serde_json::from_str(r#""n2""#).unwrap();
        assert_eq!(back, n);
        let set: std::collections::BTreeSet<NodeName> = [n.clone()].into();
        assert!(set.contains("n2"));
        assert_eq!(format!("{n}:"), "n2:");
    }
}
