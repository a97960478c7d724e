//! TODO
pub type FieldMap = std::collections::BTreeMap<String, String>;
