//! The one place that decides what "the same config" means (PRODUCT.md, Normalization).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A normalized configuration: the answer less `RequestId` and the status fields.
pub type Config = Map<String, Value>;

/// Fields that describe the last run, not the configuration.
pub const STATUS_FIELDS: [&str; 2] = ["LastScanTime", "ScanResult"];

/// The documented configuration fields, in the API's order.
pub const KNOWN_FIELDS: [&str; 14] = [
    "Enable",
    "ScanTime",
    "ScanPeriod",
    "ScanType",
    "All",
    "Images",
    "Id",
    "Latest",
    "ScanEndTime",
    "RegistryType",
    "ContainerRunning",
    "ScanScope",
    "Namespace",
    "ExcludeImageAssetIds",
];

/// The status fields of one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    #[serde(rename = "LastScanTime", skip_serializing_if = "Option::is_none")]
    pub last_scan_time: Option<String>,
    #[serde(rename = "ScanResult", skip_serializing_if = "Option::is_none")]
    pub scan_result: Option<String>,
}

/// Normalizes the inner object of an answer (`Response` less the envelope).
pub fn normalize(_answer: &Map<String, Value>) -> Config {
    todo!("normalize")
}

/// The status fields of the inner object of an answer.
pub fn status_of(_answer: &Map<String, Value>) -> Status {
    todo!("status_of")
}

/// Canonical JSON: keys sorted at every depth, no insignificant white space.
pub fn canonical_json(_config: &Config) -> String {
    todo!("canonical_json")
}

/// Canonical JSON pretty-printed (keys sorted, two-space indent), for people and unified diffs.
pub fn pretty_json(_config: &Config) -> String {
    todo!("pretty_json")
}

/// Lower-case hex SHA-256 of the canonical JSON: the identity of a config.
pub fn config_hash(_config: &Config) -> String {
    todo!("config_hash")
}

/// The key an image is matched by: `ImageRepoAddress`, else `InstanceId/ImageName:ImageTag`.
pub fn image_key(_image: &Map<String, Value>) -> String {
    todo!("image_key")
}

/// Top-level fields of a config that the API did not document (in sorted order).
pub fn unknown_fields(_config: &Config) -> Vec<String> {
    todo!("unknown_fields")
}
