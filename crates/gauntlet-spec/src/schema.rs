//! The JSON Schema of the file format, generated from `crate::raw`.

/// The schema as pretty-printed JSON, as checked in at `schema/gauntlet.schema.json`.
pub fn json_schema() -> String {
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<crate::raw::File>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
