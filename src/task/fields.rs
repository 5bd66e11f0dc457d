//! The one catalogue of the task's fields: each field's name, type, role, and how normalization
//! compares it. Normalization, the policy checker, the answer model and the stand-in all read it.

/// Element types of the list fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    Text,
    /// Non-negative integers (ids).
    Int,
    /// Objects: the images.
    Object,
}

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Bool,
    Int,
    Text,
    /// A time of day, `HH:MM:SS`.
    TimeOfDay,
    /// A date and time, `YYYY-MM-DD HH:MM:SS` at the API's offset, or RFC 3339.
    DateTime,
    List(Elem),
    /// A field this catalogue does not hold (one the API added later): anything goes.
    Any,
}

impl Type {
    /// The type as a phrase, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Type::Bool => "a boolean",
            Type::Int => "an integer",
            Type::Text => "a string",
            Type::TimeOfDay => "a time of day (HH:MM:SS)",
            Type::DateTime => "a date and time",
            Type::List(Elem::Text) => "a list of strings",
            Type::List(Elem::Int) => "a list of integers",
            Type::List(Elem::Object) => "a list of objects",
            Type::Any => "a field of unknown type",
        }
    }
}

/// What a field of the answer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Part of the configuration: a change to it is drift.
    Config,
    /// Describes the last scan, not the configuration (`LastScanTime`, `ScanResult`).
    Status,
    /// The per-request id of an answer.
    Request,
}

/// Whether `UpdateImageRegistryTimingScanTask` takes the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Update {
    Required,
    Optional,
    /// Read-only: only `Describe` returns it.
    No,
}

/// One documented field of `DescribeImageRegistryTimingScanTask`'s answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: Type,
    pub role: Role,
    /// A list whose order and duplicates carry no meaning.
    pub set_like: bool,
    /// A list of strings that compare case-insensitively.
    pub caseless: bool,
    pub update: Update,
    /// The API returns it in every answer: an answer without it is not this task's.
    pub always: bool,
}

impl Field {
    const fn always(self) -> Field {
        Field {
            always: true,
            ..self
        }
    }
}

const fn config(name: &'static str, ty: Type, update: Update) -> Field {
    Field {
        name,
        ty,
        role: Role::Config,
        set_like: false,
        caseless: false,
        update,
        always: false,
    }
}

const fn set(name: &'static str, elem: Elem, caseless: bool) -> Field {
    Field {
        name,
        ty: Type::List(elem),
        role: Role::Config,
        set_like: true,
        caseless,
        update: Update::Optional,
        always: false,
    }
}

const fn other(name: &'static str, ty: Type, role: Role) -> Field {
    Field {
        name,
        ty,
        role,
        set_like: false,
        caseless: false,
        update: Update::No,
        always: false,
    }
}

/// Whether the task scans at all: the one field the report's day table and the metrics read.
pub const ENABLE: &str = "Enable";
/// The kinds of scan: the field the report's day table shows beside [`ENABLE`].
pub const SCAN_TYPE: &str = "ScanType";

/// The time of day the scan starts, which normalization writes `HH:MM:SS`.
pub const SCAN_TIME: &str = "ScanTime";
/// The status of the last scan, which the answer carries beside the config.
pub const LAST_SCAN_TIME: &str = "LastScanTime";
pub const SCAN_RESULT: &str = "ScanResult";
/// The per-request id of an answer.
pub const REQUEST_ID: &str = "RequestId";

/// Every documented field, configuration first in the API's order, then status, then the id.
pub const FIELDS: [Field; 17] = [
    config(ENABLE, Type::Bool, Update::Required).always(),
    config(SCAN_TIME, Type::TimeOfDay, Update::Required).always(),
    config("ScanPeriod", Type::Int, Update::Required).always(),
    set(SCAN_TYPE, Elem::Text, true).always(),
    config("All", Type::Bool, Update::Optional),
    config("Images", Type::List(Elem::Object), Update::Optional),
    set("Id", Elem::Int, false),
    config("Latest", Type::Bool, Update::Optional),
    config("ScanEndTime", Type::TimeOfDay, Update::Optional),
    set("RegistryType", Elem::Text, true),
    config("ContainerRunning", Type::Bool, Update::Optional),
    config("ScanScope", Type::Int, Update::Optional),
    set("Namespace", Elem::Text, false),
    set("ExcludeImageAssetIds", Elem::Int, false),
    other(LAST_SCAN_TIME, Type::DateTime, Role::Status),
    other(SCAN_RESULT, Type::Text, Role::Status),
    other(REQUEST_ID, Type::Text, Role::Request),
];

/// The field that holds the images.
pub const IMAGES: &str = "Images";

/// The documented fields of an image; every one is a string in the API.
pub const IMAGE_FIELDS: [&str; 9] = [
    "InstanceName",
    "Namespace",
    "ImageName",
    "ImageTag",
    "Force",
    "ImageDigest",
    "RegistryType",
    "ImageRepoAddress",
    "InstanceId",
];

/// An image is named by this field when it is a non-empty string...
pub const IMAGE_KEY: &str = "ImageRepoAddress";
/// ...else by these, as `InstanceId/ImageName:ImageTag`.
pub const IMAGE_KEY_PARTS: [&str; 3] = ["InstanceId", "ImageName", "ImageTag"];

/// The largest answer accepted. The real one is a few kilobytes; a cap keeps a hostile or broken
/// endpoint, or a stored row, from exhausting memory.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// The top-level field a path names: `Images` of `Images[KEY].ImageDigest`, `ScanType` of
/// `ScanType`.
pub fn head(path: &str) -> &str {
    path.split(['[', '.']).next().unwrap_or_default()
}

/// The documented field named `name`.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The fields a rule or `audit log --field` may name: configuration and status, not the
/// RequestId.
pub fn readable() -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(|f| f.role != Role::Request)
}

/// The documented fields with role `role`, in catalogue order.
pub fn with_role(role: Role) -> impl Iterator<Item = &'static Field> {
    FIELDS.iter().filter(move |f| f.role == role)
}

/// The names of the set-like lists, in catalogue order.
pub fn set_like() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().filter(|f| f.set_like).map(|f| f.name)
}

/// The fields the API always returns that `answer` (an answer's inner object) lacks or holds as
/// `null`, in catalogue order.
pub fn missing_always(answer: &serde_json::Map<String, serde_json::Value>) -> Vec<&'static str> {
    FIELDS
        .iter()
        .filter(|f| f.always && answer.get(f.name).is_none_or(|v| v.is_null()))
        .map(|f| f.name)
        .collect()
}

/// Whether `name` is one of the set-like lists.
pub fn is_set_like(name: &str) -> bool {
    field(name).is_some_and(|f| f.set_like)
}

/// Whether `name` is a list of strings that compare case-insensitively.
pub fn is_caseless(name: &str) -> bool {
    field(name).is_some_and(|f| f.caseless)
}

/// Whether `name` describes the last scan rather than the configuration.
pub fn is_status(name: &str) -> bool {
    field(name).is_some_and(|f| f.role == Role::Status)
}

/// Whether `name` is part of the configuration: a documented config field, or one the catalogue
/// does not hold (the API may add fields; they are kept as configuration).
pub fn is_config(name: &str) -> bool {
    field(name).is_none_or(|f| f.role == Role::Config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_roles_in_order() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(FIELDS[..i].iter().all(|g| g.name != f.name), "{}", f.name);
        }
        let roles: Vec<Role> = FIELDS.iter().map(|f| f.role).collect();
        let mut sorted = roles.clone();
        sorted.sort_by_key(|r| *r as u8);
        assert_eq!(roles, sorted, "config, then status, then the request id");
        assert_eq!(with_role(Role::Config).count(), 14);
    }

    #[test]
    fn set_like_and_caseless_fields_are_lists() {
        for f in FIELDS.iter().filter(|f| f.set_like || f.caseless) {
            assert!(matches!(f.ty, Type::List(_)), "{}", f.name);
        }
        for f in FIELDS.iter().filter(|f| f.caseless) {
            assert_eq!(f.ty, Type::List(Elem::Text), "{}", f.name);
            assert!(f.set_like, "{}", f.name);
        }
        assert!(is_caseless("ScanType") && is_caseless("RegistryType"));
        assert!(!is_caseless("Namespace") && is_set_like("Namespace"));
        assert!(
            !is_set_like("Images"),
            "images are matched by key, not as a set"
        );
    }

    #[test]
    fn unknown_fields_count_as_configuration() {
        assert!(is_config("NewKnob") && is_config("Enable"));
        assert!(!is_config("LastScanTime") && !is_config("RequestId"));
        assert!(is_status("ScanResult") && !is_status("NewKnob"));
    }

    #[test]
    fn an_answer_lacking_what_the_api_always_returns_says_what() {
        let full = serde_json::json!({"Enable": true, "ScanTime": "03:00:00", "ScanPeriod": 1, "ScanType": []});
        assert!(missing_always(full.as_object().unwrap()).is_empty());
        let partial = serde_json::json!({"Enable": true, "ScanPeriod": null, "Foo": 1});
        assert_eq!(
            missing_always(partial.as_object().unwrap()),
            ["ScanTime", "ScanPeriod", "ScanType"]
        );
    }

    #[test]
    fn a_path_names_its_top_level_field() {
        assert_eq!(head("Images[ccr.io/a:v1].ImageDigest"), "Images");
        assert_eq!(head("ScanType"), "ScanType");
        assert_eq!(head("Images[*].Force"), "Images");
    }

    #[test]
    fn the_image_key_names_image_fields() {
        assert!(IMAGE_FIELDS.contains(&IMAGE_KEY));
        for part in IMAGE_KEY_PARTS {
            assert!(IMAGE_FIELDS.contains(&part), "{part}");
        }
    }
}
