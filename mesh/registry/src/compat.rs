//! Protobuf compatibility rules, modelled on Confluent's: what breaks a reader of older (or newer) data.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

use crate::schema::{CompatibilityLevel, CompiledSchema};

/// Problems that stop `reader` from decoding data written with `writer`, as human-readable messages.
///
/// Field numbers are what travel on the wire, so the checks key on numbers, not names: a renamed
/// field with the same type is fine, a number that now means another type is not. A field the
/// reader no longer has is skipped as unknown data, so removal is compatible (as in Confluent).
pub fn can_read(reader: &CompiledSchema, writer: &CompiledSchema, missing_messages_break: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let (reader_file, writer_file) = (reader.file(), writer.file());
    if reader_file.package_name() != writer_file.package_name() {
        problems.push(format!(
            "package changed from '{}' to '{}'",
            package_or_none(writer_file.package_name()),
            package_or_none(reader_file.package_name())
        ));
    }
    for written in writer_file.messages().flat_map(with_nested) {
        if written.is_map_entry() {
            // Map entries are synthetic; their key/value types are compared through the map field.
            continue;
        }
        let Some(read) = reader.pool().get_message_by_name(written.full_name()) else {
            if missing_messages_break {
                problems.push(format!("message {} was removed", written.full_name()));
            }
            continue;
        };
        compare_fields(&read, &written, &mut problems);
    }
    problems
}

/// Checks `new` against `previous` (oldest first) under `level`; an empty result means compatible.
pub fn check(level: CompatibilityLevel, new: &CompiledSchema, previous: &[CompiledSchema]) -> Vec<String> {
    let against: &[CompiledSchema] = match (level, previous) {
        (CompatibilityLevel::None, _) | (_, []) => &[],
        (level, all) if level.is_transitive() => all,
        (_, all) => &all[all.len() - 1..],
    };
    let mut problems = Vec::new();
    for old in against {
        if level.checks_backward() {
            problems.extend(can_read(new, old, true));
        }
        if level.checks_forward() {
            // Forward: old readers meet new data. A message the new schema drops is never written
            // again, so only type changes matter in this direction.
            problems.extend(can_read(old, new, false));
        }
    }
    // The same break seen against several versions is reported once.
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.clone()));
    problems
}

fn compare_fields(read: &MessageDescriptor, written: &MessageDescriptor, problems: &mut Vec<String>) {
    for old_field in written.fields() {
        let Some(new_field) = read.get_field(old_field.number()) else {
            continue;
        };
        let (old_type, new_type) = (type_name(&old_field), type_name(&new_field));
        if old_type == new_type {
            continue;
        }
        let renamed = if old_field.name() == new_field.name() {
            String::new()
        } else {
            format!(" (field '{}' reused as '{}')", old_field.name(), new_field.name())
        };
        problems.push(format!(
            "field {} of {} changed type from {} to {}{}",
            old_field.number(),
            written.full_name(),
            old_type,
            new_type,
            renamed
        ));
    }
}

/// A field's wire-relevant type: label plus scalar kind or referenced type name.
fn type_name(field: &FieldDescriptor) -> String {
    if field.is_map()
        && let Kind::Message(entry) = field.kind()
    {
        let key = kind_name(&entry.map_entry_key_field().kind());
        let value = kind_name(&entry.map_entry_value_field().kind());
        return format!("map<{key}, {value}>");
    }
    let kind = kind_name(&field.kind());
    if field.is_list() { format!("repeated {kind}") } else { kind }
}

fn kind_name(kind: &Kind) -> String {
    match kind {
        Kind::Double => "double".into(),
        Kind::Float => "float".into(),
        Kind::Int32 => "int32".into(),
        Kind::Int64 => "int64".into(),
        Kind::Uint32 => "uint32".into(),
        Kind::Uint64 => "uint64".into(),
        Kind::Sint32 => "sint32".into(),
        Kind::Sint64 => "sint64".into(),
        Kind::Fixed32 => "fixed32".into(),
        Kind::Fixed64 => "fixed64".into(),
        Kind::Sfixed32 => "sfixed32".into(),
        Kind::Sfixed64 => "sfixed64".into(),
        Kind::Bool => "bool".into(),
        Kind::String => "string".into(),
        Kind::Bytes => "bytes".into(),
        Kind::Message(m) => m.full_name().to_owned(),
        Kind::Enum(e) => e.full_name().to_owned(),
    }
}

/// A message followed by all its nested messages, depth first.
fn with_nested(message: MessageDescriptor) -> Vec<MessageDescriptor> {
    let mut all = vec![message.clone()];
    for child in message.child_messages() {
        all.extend(with_nested(child));
    }
    all
}

fn package_or_none(package: &str) -> &str {
    if package.is_empty() { "<none>" } else { package }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::schema::compile;

    fn schema(body: &str) -> CompiledSchema {
        compile(&format!("syntax = \"proto3\";\npackage p.v1;\n{body}"), HashMap::new()).expect("compiles")
    }

    #[test]
    fn removing_a_message_breaks_backward_but_not_forward() {
        let old = schema("message A { string a = 1; }\nmessage B { string b = 1; }");
        let new = schema("message A { string a = 1; }");
        assert_eq!(
            check(CompatibilityLevel::Backward, &new, std::slice::from_ref(&old)),
            vec!["message p.v1.B was removed"]
        );
        assert!(check(CompatibilityLevel::Forward, &new, &[old]).is_empty());
    }

    #[test]
    fn package_label_and_nested_changes_are_reported() {
        let old = schema("message A { string a = 1; message In { int32 x = 1; } }");
        let moved = compile("syntax = \"proto3\";\npackage q.v1;\nmessage A { string a = 1; }", HashMap::new())
            .expect("compiles");
        let problems = check(CompatibilityLevel::Full, &moved, std::slice::from_ref(&old));
        assert!(problems.iter().any(|p| p == "package changed from 'p.v1' to 'q.v1'"), "{problems:?}");
        let new = schema("message A { repeated string a = 1; message In { int64 x = 1; } }");
        let problems = check(CompatibilityLevel::Backward, &new, std::slice::from_ref(&old));
        assert!(
            problems.contains(&"field 1 of p.v1.A changed type from string to repeated string".to_owned()),
            "{problems:?}"
        );
        assert!(problems.contains(&"field 1 of p.v1.A.In changed type from int32 to int64".to_owned()), "{problems:?}");
        assert!(check(CompatibilityLevel::None, &new, &[old]).is_empty());
    }

    #[test]
    fn renames_and_reserved_removals_are_compatible() {
        let old = schema("message A { string a = 1; map<string, int32> m = 2; int32 gone = 3; }");
        let new = schema("message A { string renamed = 1; map<string, int32> m = 2; reserved 3; }");
        assert!(check(CompatibilityLevel::FullTransitive, &new, std::slice::from_ref(&old)).is_empty());
        let new = schema("message A { string a = 1; map<string, int64> m = 2; }");
        let problems = check(CompatibilityLevel::Backward, &new, &[old]);
        assert_eq!(problems, vec!["field 2 of p.v1.A changed type from map<string, int32> to map<string, int64>"]);
    }
}
