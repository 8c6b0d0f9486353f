//! "A function that needs a screen and a half is two functions": no
//! function or method body in the exporter's sources is longer than
//! [`MAX_LINES`] lines. Test modules (`#[cfg(test)]`) are not checked; a
//! nested item (a helper fn, an impl inside a body) counts for itself, not
//! for the function around it.

use std::path::{Path, PathBuf};

use proc_macro2::Span;
use syn::visit::{self, Visit};

/// The longest body allowed, in lines (the opening and closing brace
/// lines included).
const MAX_LINES: usize = 60;

/// The crates whose sources are checked, relative to the workspace root.
const CHECKED: &[&str] = &["crates/smc-exporter/src"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn lines(span: Span) -> usize {
    span.end().line - span.start().line + 1
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects `(name, first line, body lines)` of every function over the
/// limit.
struct Lengths {
    too_long: Vec<(String, usize, usize)>,
}

impl Lengths {
    fn check(&mut self, name: &syn::Ident, block: &syn::Block) {
        let total = lines(block_span(block));
        let nested: usize = block
            .stmts
            .iter()
            .filter_map(|s| match s {
                syn::Stmt::Item(item) => Some(lines(item_span(item))),
                _ => None,
            })
            .sum();
        let own = total - nested;
        if own > MAX_LINES {
            self.too_long
                .push((name.to_string(), name.span().start().line, own));
        }
    }
}

fn block_span(b: &syn::Block) -> Span {
    b.brace_token.span.join()
}

fn item_span(item: &syn::Item) -> Span {
    use syn::spanned::Spanned;
    item.span()
}

impl<'ast> Visit<'ast> for Lengths {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if !is_cfg_test(&m.attrs) {
            visit::visit_item_mod(self, m);
        }
    }
    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.block);
            visit::visit_item_fn(self, f);
        }
    }
    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.check(&f.sig.ident, &f.block);
            visit::visit_impl_item_fn(self, f);
        }
    }
    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.check(&f.sig.ident, block);
        }
        visit::visit_trait_item_fn(self, f);
    }
}

#[test]
fn no_function_of_the_exporter_is_longer_than_sixty_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![];
    for dir in CHECKED {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut report = vec![];
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut v = Lengths { too_long: vec![] };
        v.visit_file(&file);
        let shown = path
            .strip_prefix(&root)
            .unwrap_or(path)
            .display()
            .to_string();
        for (name, line, n) in v.too_long {
            report.push(format!("{shown}:{line}: fn {name}: {n} lines"));
        }
    }
    assert!(
        report.is_empty(),
        "functions longer than {MAX_LINES} lines (split them):\n{}",
        report.join("\n")
    );
}

/// The check itself: a long body is found, a nested helper is not charged
/// to its parent, and test modules are skipped.
#[test]
fn the_length_check_measures_bodies() {
    let long_body = "    let _x = 1;\n".repeat(MAX_LINES);
    let src = format!(
        "fn long() {{\n{long_body}}}\n\
         fn outer() {{\n    fn inner() {{\n{long_body}    }}\n    inner();\n}}\n\
         #[cfg(test)]\nmod tests {{ fn t() {{\n{long_body}}} }}\n\
         struct S;\nimpl S {{ fn method(&self) {{\n{long_body}}} }}\n"
    );
    let file = syn::parse_file(&src).unwrap();
    let mut v = Lengths { too_long: vec![] };
    v.visit_file(&file);
    let found: Vec<_> = v
        .too_long
        .iter()
        .map(|(n, _, l)| (n.as_str(), *l))
        .collect();
    assert_eq!(
        found,
        [
            ("long", MAX_LINES + 2),
            ("inner", MAX_LINES + 2),
            ("method", MAX_LINES + 2),
        ]
    );
}
