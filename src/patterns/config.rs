//! Miner settings. One default is meant to work for every log source.

/// Settings of a [`crate::Miner`]. `MinerConfig::default()` is the tuned setting.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct MinerConfig {
    /// Most live templates kept; beyond it the least recently seen are evicted.
    pub max_templates: usize,
    /// Most cached exact keys (a speed cache only; cleared when full).
    pub max_cached_keys: usize,
    /// Distinct values needed at one token position, among templates that agree
    /// everywhere else, before that position is declared a variable and the
    /// templates are merged.
    pub merge_min_values: usize,
    /// Merge already at two distinct values when both look like identifiers
    /// (contain `.`, `_`, `-`, `:`, `$`, `#`, `@`, or mix case inside the word).
    pub merge_identifier_pairs: bool,
    /// A merge may not leave fewer than this many constant tokens.
    pub min_constants: usize,
    /// A merge may not make more than this fraction of positions variable.
    pub max_variable_ratio: f64,
    /// Leave a recognised line header (timestamp, level, component…) out of
    /// the key; see the `key` module.
    pub strip_header: bool,
    /// How many leading fields holding a constant may belong to the header.
    pub header_max_fields: usize,
    /// Lines observed before a fixed-column header is decided (0 = never
    /// learn one).
    pub header_learn_lines: usize,
    /// Templates needed before the column header is decided.
    pub header_learn_templates: usize,
    /// Share of those templates in which a field must hold no constant for it
    /// (and all fields before it) to count as header.
    pub header_column_share: f64,
    /// Treat a whole `"..."` span as one variable.
    pub mask_quoted: bool,
    /// Only the first this-many bytes of a line are tokenised.
    pub max_line_bytes: usize,
    /// Example lines kept per template.
    pub max_examples: usize,
    /// Example lines are truncated to this many bytes.
    pub max_example_bytes: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            max_templates: 10_000,
            max_cached_keys: 1 << 16,
            merge_min_values: 4,
            merge_identifier_pairs: false,
            min_constants: 1,
            max_variable_ratio: 0.5,
            strip_header: true,
            header_max_fields: 3,
            header_learn_lines: 200,
            header_learn_templates: 8,
            header_column_share: 0.95,
            mask_quoted: false,
            max_line_bytes: 4096,
            max_examples: 3,
            max_example_bytes: 1024,
        }
    }
}
