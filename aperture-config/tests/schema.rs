//! The checked-in JSON schema matches the types, and the schema agrees with the validator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use aperture_config::{Mode, load_str};

#[test]
fn checked_in_schema_matches_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/aperture.schema.json");
    let fresh = aperture_config::schema_json();
    if std::env::var_os("APERTURE_BLESS").is_some() {
        std::fs::write(path, &fresh).unwrap();
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == fresh,
        "schema drifted: rerun with APERTURE_BLESS=1 cargo test -p aperture-config --test schema and commit"
    );
}

#[test]
fn schema_is_a_valid_draft_2020_12_schema() {
    let schema: serde_json::Value = serde_json::from_str(&aperture_config::schema_json()).unwrap();
    jsonschema::draft202012::meta::validate(&schema).expect("valid meta-schema");
    let _ = load_str("{}", Mode::Load);
}
