//! From a file's text to a [`RawDocument`], collecting every problem instead of stopping at the
//! first: all syntax errors, every unknown key (with the nearest valid key), and every value of
//! the wrong type. Unknown and ill-typed keys are dropped from the tree so that the rest of the
//! file is still decoded and validated. Pure.

use std::ops::Range;

use serde::Deserialize;
use toml::de::{DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use super::error::{key_path, suggest, Diagnostic, Problem, Source};
use super::raw::{fields_of, service_subtable_fields, RawDocument, RawService, RawSupervisor};

/// Which keys a table accepts, and which of its keys are tables with their own keys.
type Nested = fn(&str) -> Option<&'static [&'static str]>;

/// Parses one config file; `included` files may hold only `[services.*]`. `None` when the TOML
/// itself is broken (the syntax errors are in `out`).
pub fn parse(src: &Source, included: bool, out: &mut Vec<Diagnostic>) -> Option<RawDocument> {
    let (root, errors) = DeTable::parse_recoverable(&src.text);
    if !errors.is_empty() {
        let mut seen = Vec::new();
        for e in errors {
            let d = src.diag(e.span(), "", Problem::Syntax(e.message().to_owned()));
            if !seen.contains(&d) {
                seen.push(d);
            }
        }
        out.extend(seen);
        return None;
    }
    let mut doc = RawDocument::default();
    for (key, value) in root.into_inner() {
        match (key.get_ref().as_ref(), included) {
            ("services", _) => services(src, value, &mut doc, out),
            ("supervisor", true) => {
                out.push(src.diag(Some(key.span()), "supervisor", Problem::NotInInclude));
            }
            ("supervisor", false) => {
                let fields = fields_of::<RawSupervisor>();
                doc.supervisor = decode(src, "supervisor", value, fields, |_| None, out);
            }
            (other, _) => {
                let allowed = if included {
                    &["services"][..]
                } else {
                    fields_of::<RawDocument>()
                };
                out.push(unknown(src, key.span(), "", other, allowed));
            }
        }
    }
    Some(doc)
}

/// The `[services.*]` tables.
fn services(
    src: &Source,
    value: Spanned<DeValue<'_>>,
    doc: &mut RawDocument,
    out: &mut Vec<Diagnostic>,
) {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        out.push(src.diag(
            Some(span),
            "services",
            Problem::Type("expected a table of services".into()),
        ));
        return;
    };
    let fields = fields_of::<RawService>();
    for (name, body) in table {
        let path = key_path("services", name.get_ref());
        let name = Spanned::new(name.span(), name.get_ref().to_string());
        if let Some(service) = decode(src, &path, body, fields, service_subtable_fields, out) {
            doc.services.insert(name, service);
        }
    }
}

/// Decodes one table into `T`, reporting and dropping unknown keys and ill-typed values.
fn decode<T: for<'de> Deserialize<'de>>(
    src: &Source,
    path: &str,
    value: Spanned<DeValue<'_>>,
    fields: &[&str],
    nested: Nested,
    out: &mut Vec<Diagnostic>,
) -> Option<Spanned<T>> {
    let span = value.span();
    let DeValue::Table(mut table) = value.into_inner() else {
        out.push(src.diag(Some(span), path, Problem::Type("expected a table".into())));
        return None;
    };
    strip_unknown(src, path, &mut table, fields, nested, out);
    if let Ok(decoded) = deserialize(table.clone(), span.clone()) {
        return Some(decoded);
    }
    // Something is ill-typed: try each key on its own to report every one of them.
    let keys: Vec<_> = table.keys().cloned().collect();
    for key in keys {
        let Some(v) = table.get(key.get_ref().as_ref()).cloned() else {
            continue;
        };
        let ok = deserialize::<T>(single(&key, v.clone()), span.clone()).is_ok();
        if ok {
            continue;
        }
        let key_path = key_path(path, key.get_ref());
        let keep = nested(key.get_ref()).is_some()
            && drop_bad_subkeys::<T>(src, &key_path, &key, &mut table, &span, out);
        if !keep {
            let e = deserialize::<T>(single(&key, v.clone()), span.clone()).err();
            out.push(type_error(src, &key_path, e, v.span()));
            table.remove(key.get_ref().as_ref());
        }
    }
    match deserialize(table, span.clone()) {
        Ok(decoded) => Some(decoded),
        Err(e) => {
            out.push(type_error(src, path, Some(e), span));
            None
        }
    }
}

/// For a nested table (`backoff = {…}`), reports and removes just its ill-typed keys; false when
/// the value is not a table at all (the caller reports the whole key).
fn drop_bad_subkeys<T: for<'de> Deserialize<'de>>(
    src: &Source,
    path: &str,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    table: &mut DeTable<'_>,
    span: &Range<usize>,
    out: &mut Vec<Diagnostic>,
) -> bool {
    let Some(value) = table.get_mut(key.get_ref().as_ref()) else {
        return false;
    };
    let sub_span = value.span();
    let DeValue::Table(sub) = value.get_mut() else {
        return false;
    };
    let subkeys: Vec<_> = sub.keys().cloned().collect();
    for subkey in subkeys {
        let Some(v) = sub.get(subkey.get_ref().as_ref()).cloned() else {
            continue;
        };
        let wrapped = Spanned::new(sub_span.clone(), DeValue::Table(single(&subkey, v.clone())));
        if let Err(e) = deserialize::<T>(single(key, wrapped), span.clone()) {
            out.push(type_error(
                src,
                &key_path(path, subkey.get_ref()),
                Some(e),
                v.span(),
            ));
            sub.remove(subkey.get_ref().as_ref());
        }
    }
    true
}

/// Reports every key of `table` that is not in `fields` (and, one level down, in the nested
/// tables `nested` knows), removing them.
fn strip_unknown(
    src: &Source,
    path: &str,
    table: &mut DeTable<'_>,
    fields: &[&str],
    nested: Nested,
    out: &mut Vec<Diagnostic>,
) {
    let mut unknown_keys = Vec::new();
    for (key, value) in table.iter_mut() {
        let name = key.get_ref().as_ref();
        if !fields.contains(&name) {
            out.push(unknown(src, key.span(), path, name, fields));
            unknown_keys.push(key.clone());
            continue;
        }
        if let (Some(sub_fields), DeValue::Table(sub)) = (nested(name), value.get_mut()) {
            let sub_path = key_path(path, name);
            strip_unknown(src, &sub_path, sub, sub_fields, |_| None, out);
        }
    }
    for key in unknown_keys {
        table.remove(key.get_ref().as_ref());
    }
}

/// The diagnostic for an unknown key: the nearest valid key, or the short list of valid ones.
fn unknown(src: &Source, span: Range<usize>, path: &str, key: &str, fields: &[&str]) -> Diagnostic {
    let suggestion = suggest(key, fields).map(str::to_owned);
    let expected = if suggestion.is_none() && fields.len() <= 8 {
        fields.join(", ")
    } else {
        String::new()
    };
    let problem = Problem::UnknownKey {
        suggestion,
        expected,
    };
    src.diag(Some(span), &key_path(path, key), problem)
}

/// A one-key table.
fn single<'i>(
    key: &Spanned<std::borrow::Cow<'i, str>>,
    value: Spanned<DeValue<'i>>,
) -> DeTable<'i> {
    let mut table = DeTable::new();
    table.insert(key.clone(), value);
    table
}

/// Deserializes a table (with its span) into `Spanned<T>`.
fn deserialize<T: for<'de> Deserialize<'de>>(
    table: DeTable<'_>,
    span: Range<usize>,
) -> Result<Spanned<T>, toml::de::Error> {
    Spanned::<T>::deserialize(ValueDeserializer::from(Spanned::new(
        span,
        DeValue::Table(table),
    )))
}

/// A type error at the error's own span, else at `fallback`, in words rather than Rust types.
fn type_error(
    src: &Source,
    path: &str,
    e: Option<toml::de::Error>,
    fallback: Range<usize>,
) -> Diagnostic {
    let (span, message) = match e {
        Some(e) => (e.span().unwrap_or(fallback), e.message().to_owned()),
        None => (fallback, "invalid value".to_owned()),
    };
    let message = message
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("expected a sequence", "expected an array")
        .replace("expected a map", "expected a table")
        .replace("floating point", "float");
    src.diag(Some(span), path, Problem::Type(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, included: bool) -> (Option<RawDocument>, Vec<String>) {
        let src = Source::new("/c/p.toml", text);
        let mut out = Vec::new();
        let doc = parse(&src, included, &mut out);
        (doc, out.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_unknown_key_is_reported_with_a_suggestion_and_dropped() {
        let text = "[supervisor]\nlog_levl = \"x\"\n[services.web]\ncommand = \"x\"\nstart_sec = 1\nbackoff = { factr = 2.0, max = 3 }\n";
        let (doc, errs) = run(text, false);
        assert_eq!(
            errs,
            [
                // Tables in key order; the loader sorts by position.
                "/c/p.toml:6:13: services.web.backoff.factr: unknown key, did you mean `factor`?",
                "/c/p.toml:5:1: services.web.start_sec: unknown key, did you mean `start_secs`?",
                "/c/p.toml:2:1: supervisor.log_levl: unknown key, did you mean `log_level`?",
            ]
        );
        let doc = doc.unwrap();
        let web = doc.services.values().next().unwrap().get_ref();
        assert!(web.command.is_some());
        assert!(web.backoff.as_ref().unwrap().get_ref().max.is_some());
    }

    #[test]
    fn every_type_error_is_reported_and_the_rest_still_decodes() {
        let text = "[services.a]\ncommand = \"x\"\nautostart = \"yes\"\nstart_retries = 1.5\nbackoff = { factor = \"x\", max = \"2s\" }\n";
        let (doc, errs) = run(text, false);
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].starts_with("/c/p.toml:3:13: services.a.autostart: invalid type: string \"yes\", expected a boolean"), "{}", errs[0]);
        assert!(errs[1].starts_with("/c/p.toml:5:22: services.a.backoff.factor: invalid type: string \"x\", expected a number"), "{}", errs[1]);
        assert!(
            errs[2].starts_with("/c/p.toml:4:17: services.a.start_retries: invalid type: float"),
            "{}",
            errs[2]
        );
        let doc = doc.unwrap();
        let a = doc.services.values().next().unwrap().get_ref();
        assert!(a.command.is_some() && a.autostart.is_none());
        assert!(a.backoff.as_ref().unwrap().get_ref().max.is_some());
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let (doc, errs) = run("[services.a]\ncommand = \n", false);
        assert!(doc.is_none());
        assert!(errs[0].starts_with("/c/p.toml:2:"), "{errs:?}");
        assert!(errs[0].contains("TOML syntax error"), "{errs:?}");
    }

    #[test]
    fn included_files_hold_only_services() {
        let (doc, errs) = run(
            "[supervisor]\nlog_level = \"info\"\n[services.a]\ncommand = \"x\"\n[other]\n",
            true,
        );
        assert_eq!(
            errs,
            [
                "/c/p.toml:5:2: other: unknown key (expected one of: services)",
                "/c/p.toml:1:2: supervisor: an included file may hold only [services.*] tables",
            ]
        );
        assert_eq!(doc.unwrap().services.len(), 1);
    }

    #[test]
    fn a_service_that_is_not_a_table_is_a_type_error() {
        let (_, errs) = run("services.a = 5\nservices = 1\n", false);
        assert!(errs[0].contains("TOML syntax error"), "{errs:?}");
        let (_, errs) = run("[services]\na = 5\n", false);
        assert_eq!(errs, ["/c/p.toml:2:5: services.a: expected a table"]);
    }
}
