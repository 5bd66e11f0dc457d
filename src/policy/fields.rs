//! Field paths a rule may name (`ScanType`, `Images[*].Force`), their types, and how they resolve.
//!
//! `Name[*]` stands for every element of a list and `Name[*].Sub` for a field of every element.
//! A state op on such a path must hold for **all** elements, whatever the op (so `ne`, `not_in`
//! and `absent` read as "no element is / has ..."); a list with no elements holds vacuously, so
//! pair such a rule with `Images not_empty` when an empty list should fail.

use serde_json::{Map, Value};

use crate::task::fields as catalogue;
use crate::task::text::nearest;

pub use crate::task::fields::{Elem, IMAGE_FIELDS, Type as FieldType};

/// The type of a top-level field a rule may read (configuration or status), `None` when the
/// catalogue does not hold it.
pub fn top_type(name: &str) -> Option<FieldType> {
    catalogue::readable().find(|f| f.name == name).map(|f| f.ty)
}

/// A parsed field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    pub text: String,
    pub head: String,
    /// `[*]`: every element of the list `head`.
    pub each: bool,
    /// `.Sub` after `[*]`.
    pub sub: Option<String>,
    pub ty: FieldType,
}

/// A path that is well formed but names no known field: worth a warning, not an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField {
    pub name: String,
    pub nearest: String,
}

fn is_ident(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn all_top_fields() -> impl Iterator<Item = &'static str> {
    catalogue::readable().map(|f| f.name)
}

impl FieldPath {
    /// Parses `Name`, `Name[*]` or `Name[*].Sub`. An unknown name is still a path (of type
    /// `Any`), returned with the nearest known name for a warning.
    pub fn parse(text: &str) -> Result<(FieldPath, Option<UnknownField>), String> {
        let bad = || {
            format!(
                "{text:?} is not a field path; write a field name (ScanType), `Name[*]`, or `Name[*].Sub` (Images[*].Force)"
            )
        };
        let (head, rest) = match text.find('[') {
            Some(i) => (&text[..i], Some(&text[i..])),
            None => (text, None),
        };
        if !is_ident(head) {
            return Err(bad());
        }
        let (each, sub) = match rest {
            None => (false, None),
            Some("[*]") => (true, None),
            Some(r) => match r.strip_prefix("[*].") {
                Some(s) if is_ident(s) => (true, Some(s.to_string())),
                _ => return Err(bad()),
            },
        };
        let mut unknown = None;
        let head_ty = match top_type(head) {
            Some(t) => t,
            None => {
                unknown = Some(UnknownField {
                    name: head.to_string(),
                    nearest: nearest(head, all_top_fields()),
                });
                FieldType::Any
            }
        };
        let ty = match (each, &sub, head_ty) {
            (false, _, t) => t,
            (true, _, FieldType::Any) => FieldType::Any,
            (true, None, FieldType::List(Elem::Text)) => FieldType::Text,
            (true, None, FieldType::List(Elem::Int)) => FieldType::Int,
            (true, None, FieldType::List(Elem::Object)) => {
                return Err(format!(
                    "{text:?} names whole images; name one of their fields, as in {head}[*].Force"
                ));
            }
            (true, Some(s), FieldType::List(Elem::Object)) => {
                if !IMAGE_FIELDS.contains(&s.as_str()) {
                    unknown = Some(UnknownField {
                        name: format!("{head}[*].{s}"),
                        nearest: format!("{head}[*].{}", nearest(s, IMAGE_FIELDS)),
                    });
                }
                FieldType::Text
            }
            (true, Some(_), FieldType::List(_)) => {
                return Err(format!(
                    "{text:?}: the elements of {head} are not objects; write {head}[*]"
                ));
            }
            (true, _, t) => {
                return Err(format!(
                    "{text:?}: {head} is {}, not a list, so `[*]` does not apply",
                    t.describe()
                ));
            }
        };
        Ok((
            FieldPath {
                text: text.to_string(),
                head: head.to_string(),
                each,
                sub,
                ty,
            },
            unknown,
        ))
    }

    /// The value at this path in `view` (a config with its status fields): `null` and missing are
    /// both `None`.
    pub fn resolve<'v>(&self, view: &'v Map<String, Value>) -> Resolved<'v> {
        let top = present(view.get(&self.head));
        if !self.each {
            return Resolved::One(top);
        }
        let items = match top {
            Some(Value::Array(items)) => items,
            _ => return Resolved::Each(Vec::new()),
        };
        Resolved::Each(
            items
                .iter()
                .map(|item| match &self.sub {
                    None => present(Some(item)),
                    Some(s) => present(item.as_object().and_then(|o| o.get(s))),
                })
                .collect(),
        )
    }

    /// The value at this path as one JSON value, for comparing observations over time.
    pub fn value_of(&self, view: &Map<String, Value>) -> Value {
        match self.resolve(view) {
            Resolved::One(v) => v.cloned().unwrap_or(Value::Null),
            Resolved::Each(vs) => Value::Array(
                vs.into_iter()
                    .map(|v| v.cloned().unwrap_or(Value::Null))
                    .collect(),
            ),
        }
    }
}

/// What a path resolves to: one value, or one per element for `[*]`.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'v> {
    One(Option<&'v Value>),
    Each(Vec<Option<&'v Value>>),
}

fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_and_type() {
        let (p, u) = FieldPath::parse("ScanType").unwrap();
        assert_eq!(p.ty, FieldType::List(Elem::Text));
        assert!(u.is_none());
        let (p, u) = FieldPath::parse("Images[*].Force").unwrap();
        assert_eq!(
            (p.each, p.sub.as_deref(), p.ty),
            (true, Some("Force"), FieldType::Text)
        );
        assert!(u.is_none());
        let (p, _) = FieldPath::parse("Id[*]").unwrap();
        assert_eq!(p.ty, FieldType::Int);
    }

    #[test]
    fn bad_paths_say_why() {
        for bad in [
            "",
            "Scan Type",
            "Images[0].Force",
            "Images[*]",
            "Enable[*]",
            "Id[*].X",
        ] {
            assert!(FieldPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_fields_get_the_nearest_name() {
        let (p, u) = FieldPath::parse("scantype").unwrap();
        assert_eq!(p.ty, FieldType::Any);
        assert_eq!(u.unwrap().nearest, "ScanType");
        let (_, u) = FieldPath::parse("Images[*].Forse").unwrap();
        assert_eq!(u.unwrap().nearest, "Images[*].Force");
    }

    #[test]
    fn star_paths_resolve_per_element() {
        let view = json!({"Images": [{"Force": "a"}, {"ImageTag": "v1"}], "Enable": null});
        let view = view.as_object().unwrap();
        let (p, _) = FieldPath::parse("Images[*].Force").unwrap();
        let a = json!("a");
        assert_eq!(p.resolve(view), Resolved::Each(vec![Some(&a), None]));
        let (p, _) = FieldPath::parse("Enable").unwrap();
        assert_eq!(p.resolve(view), Resolved::One(None));
    }
}
