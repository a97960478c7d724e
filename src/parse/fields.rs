//! STAND-IN (replaced by the parse engineer's version).
pub type FieldMap = std::collections::BTreeMap<String, String>;
