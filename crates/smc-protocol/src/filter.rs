//! Session-monitoring query filters (protocol §2.3): the filter JSON of
//! `query.filter`, and the SMC filter expressions of `translated` filters,
//! parsed into one AST that is matched against a row's rendered field values.
//!
//! | filter `type` | meaning here |
//! |---|---|
//! | `in` | any item of `right` matches `left`; one side of each pair must be a field |
//! | `and` / `or` / `not` | boolean algebra (`and []` is true, `or []` false) |
//! | `defined` | the row has the field, with a non-empty value |
//! | `translated` | an SMC expression: `$F == v`, `$F != v`, `$F IN union(…)`, `range(…)`, `AND`/`OR`/`NOT`, `( )` |
//! | `expression`, `cs_like`, `ci_like`, unknown | error (no Filter elements; the like filters carry no value) |
//!
//! | value `type` | matches a field value that … |
//! |---|---|
//! | `field` | (by `id`, or `name` / pretty label, case-insensitively) equals the other field's value |
//! | `ip` | (an address, `a/n` net or `a - b` range) contains, or lies inside, the address or CIDR net |
//! | `string` | equals it exactly (case-sensitive) |
//! | `number` | parses as the same number |
//! | `constant` | is the code's text: severity (602) 1/3/5/10 → Info/Low/High/Critical, action (14) §4.4 codes → `Allow`…; else the decimal text |
//! | `service` | `"TCP/80"`: protocol (11) is TCP and dport (10) is 80; `"ICMP/8/0"`: protocol only |
//! | `element` | error (no elements) |

use std::borrow::Cow;
use std::net::IpAddr;

use serde_json::Value;

use crate::{FIELDS, SEVERITIES, field_by_name};

/// Deepest nesting accepted (JSON filters and translated expressions alike).
const MAX_DEPTH: usize = 64;

/// Field ids the `service` value reads.
const PROTOCOL: u32 = 11;
const DPORT: u32 = 10;
const ACTION: u32 = 14;
const ALERT_SEVERITY: u32 = 602;

/// `Actions` constants (protocol §4.4) the simulated world renders, with
/// their texts.
const ACTIONS: [(i64, &str); 5] = [
    (0, "Discard"),
    (1, "Allow"),
    (2, "Refuse"),
    (9, "Terminate"),
    (11, "Permit"),
];

/// Why a filter was refused. The socket sends `Invalid filter: <message>`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("a filter must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("a filter needs a \"type\"")]
    MissingType,
    #[error("unknown filter type \"{0}\"")]
    UnknownType(String),
    #[error("{filter} filter needs \"{key}\" ({expected})")]
    Missing {
        filter: &'static str,
        key: &'static str,
        expected: &'static str,
    },
    #[error("{0} filter is not supported: the client sends it without a value")]
    Like(String),
    #[error("unknown filter element {0}")]
    UnknownElement(String),
    #[error("a value must be a JSON object with a \"type\", got {0}")]
    NotAValue(&'static str),
    #[error("unknown value type \"{0}\"")]
    UnknownValueType(String),
    #[error("invalid {ty} value {value}: expected {expected}")]
    BadValue {
        ty: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("unknown field \"{0}\"")]
    UnknownField(String),
    #[error("element value {0} is not supported: the simulator has no elements")]
    ElementValue(String),
    #[error("in filter compares \"{left}\" with \"{right}\": one side must be a field")]
    InWithoutField {
        left: &'static str,
        right: &'static str,
    },
    #[error("defined filter needs a field value, got \"{0}\"")]
    DefinedNeedsField(&'static str),
    #[error("filter nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("translated filter: {msg} at offset {at}")]
    Translated { msg: String, at: usize },
}

/// A parsed query filter.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    root: Node,
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// True when any `right` item matches `left`.
    In {
        left: Operand,
        right: Vec<Operand>,
    },
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Defined(u32),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Field(u32),
    Ip(IpSet),
    Str(String),
    /// JSON `number`: numeric equality.
    Number(f64),
    /// A translated expression's number: numeric equality, or an
    /// enumerated field's constant.
    Code(f64),
    /// `range(n, m)` of numbers, inclusive.
    NumRange(f64, f64),
    Constant(i64),
    /// Protocol name (upper case) and, for TCP/UDP-like services, the port.
    Service {
        protocol: String,
        port: Option<u16>,
    },
}

impl Operand {
    fn kind(&self) -> &'static str {
        match self {
            Operand::Field(_) => "field",
            Operand::Ip(_) => "ip",
            Operand::Str(_) => "string",
            Operand::Number(_) | Operand::Code(_) => "number",
            Operand::NumRange(..) => "range",
            Operand::Constant(_) => "constant",
            Operand::Service { .. } => "service",
        }
    }

    fn is_field(&self) -> bool {
        matches!(self, Operand::Field(_))
    }
}

/// A closed interval of addresses of one family (a single address, a CIDR
/// network or an `a - b` range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IpSet {
    v6: bool,
    lo: u128,
    hi: u128,
}

impl IpSet {
    fn addr(a: IpAddr) -> IpSet {
        let (v6, n) = bits(a);
        IpSet { v6, lo: n, hi: n }
    }

    /// `a.b.c.d/n` (host bits are ignored).
    fn cidr(a: IpAddr, prefix: u32) -> Option<IpSet> {
        let (v6, n) = bits(a);
        let width = if v6 { 128 } else { 32 };
        if prefix > width {
            return None;
        }
        let host = width - prefix;
        let mask = if host == 0 {
            0
        } else if host >= 128 {
            u128::MAX
        } else {
            (1u128 << host) - 1
        };
        Some(IpSet {
            v6,
            lo: n & !mask,
            hi: (n & !mask) | mask,
        })
    }

    fn range(a: IpSet, b: IpSet) -> Option<IpSet> {
        (a.v6 == b.v6 && a.lo <= b.hi).then_some(IpSet {
            v6: a.v6,
            lo: a.lo,
            hi: b.hi,
        })
    }

    /// An address or a CIDR network.
    fn parse_net(s: &str) -> Option<IpSet> {
        let s = s.trim();
        match s.split_once('/') {
            Some((a, p)) => IpSet::cidr(a.trim().parse().ok()?, p.trim().parse().ok()?),
            None => Some(IpSet::addr(s.parse().ok()?)),
        }
    }

    /// A rendered field value: an address, a CIDR network or `a - b`.
    fn parse_field(s: &str) -> Option<IpSet> {
        match s.split_once(" - ") {
            Some((a, b)) => IpSet::range(
                IpSet::addr(a.trim().parse().ok()?),
                IpSet::addr(b.trim().parse().ok()?),
            ),
            None => IpSet::parse_net(s),
        }
    }

    /// One set contains the other (an address in a net, a range in a net…).
    fn related(self, o: IpSet) -> bool {
        self.v6 == o.v6
            && ((self.lo <= o.lo && o.hi <= self.hi) || (o.lo <= self.lo && self.hi <= o.hi))
    }
}

fn bits(a: IpAddr) -> (bool, u128) {
    match a {
        IpAddr::V4(v) => (false, u128::from(u32::from(v))),
        IpAddr::V6(v) => (true, u128::from(v)),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A field by internal name or pretty label, case-insensitively.
fn field_named(name: &str) -> Option<u32> {
    field_by_name(name)
        .or_else(|| FIELDS.iter().find(|f| f.pretty.eq_ignore_ascii_case(name)))
        .map(|f| f.id)
}

fn parse_number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// The text an enumerated field shows for a constant code.
fn constant_text(field: u32, code: i64) -> Cow<'static, str> {
    let known = match field {
        ALERT_SEVERITY => {
            SEVERITIES
                .iter()
                .find(|(_, c)| i64::from(*c) == code)
                .map(|(name, _)| {
                    let mut s = name.to_string();
                    if let Some(first) = s.get_mut(..1) {
                        first.make_ascii_uppercase();
                    }
                    Cow::Owned(s)
                })
        }
        ACTION => ACTIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, t)| Cow::Borrowed(*t)),
        _ => None,
    };
    known.unwrap_or_else(|| Cow::Owned(code.to_string()))
}

impl Filter {
    /// Parse `query.filter`.
    pub fn parse(v: &Value) -> Result<Filter, FilterError> {
        Ok(Filter { root: node(v, 0)? })
    }

    /// Whether a row matches; `field(id)` is the row's rendered value of a
    /// field, `None` when the row has no such field.
    pub fn matches<'a>(&self, field: &dyn Fn(u32) -> Option<&'a str>) -> bool {
        self.root.eval(field)
    }
}

impl Node {
    fn eval<'a>(&self, field: &dyn Fn(u32) -> Option<&'a str>) -> bool {
        match self {
            Node::In { left, right } => right.iter().any(|r| pair(left, r, field)),
            Node::And(v) => v.iter().all(|n| n.eval(field)),
            Node::Or(v) => v.iter().any(|n| n.eval(field)),
            Node::Not(n) => !n.eval(field),
            Node::Defined(id) => field(*id).is_some_and(|v| !v.is_empty()),
        }
    }
}

fn pair<'a>(a: &Operand, b: &Operand, field: &dyn Fn(u32) -> Option<&'a str>) -> bool {
    match (a, b) {
        (Operand::Field(x), Operand::Field(y)) => match (field(*x), field(*y)) {
            (Some(p), Some(q)) => p == q,
            _ => false,
        },
        (Operand::Field(id), lit) | (lit, Operand::Field(id)) => literal(lit, *id, field),
        // Refused at parse time.
        _ => false,
    }
}

/// A literal value against field `id` of the row.
fn literal<'a>(lit: &Operand, id: u32, field: &dyn Fn(u32) -> Option<&'a str>) -> bool {
    if let Operand::Service { protocol, port } = lit {
        let proto_ok = field(PROTOCOL).is_some_and(|p| p.eq_ignore_ascii_case(protocol));
        let port_ok = port.is_none_or(|want| {
            field(DPORT).is_some_and(|d| d.trim().parse::<u16>().ok() == Some(want))
        });
        return proto_ok && port_ok;
    }
    let Some(v) = field(id) else {
        return false;
    };
    match lit {
        Operand::Ip(set) => IpSet::parse_field(v).is_some_and(|r| set.related(r)),
        Operand::Str(s) => v == s,
        Operand::Number(n) => parse_number(v) == Some(*n),
        Operand::Code(n) => {
            parse_number(v) == Some(*n)
                || (n.fract() == 0.0
                    && n.abs() < 1e15
                    && v.eq_ignore_ascii_case(&constant_text(id, *n as i64)))
        }
        Operand::NumRange(lo, hi) => parse_number(v).is_some_and(|x| *lo <= x && x <= *hi),
        Operand::Constant(c) => v.eq_ignore_ascii_case(&constant_text(id, *c)),
        Operand::Field(_) | Operand::Service { .. } => false,
    }
}

fn node(v: &Value, depth: usize) -> Result<Node, FilterError> {
    if depth > MAX_DEPTH {
        return Err(FilterError::TooDeep);
    }
    let obj = v
        .as_object()
        .ok_or_else(|| FilterError::NotAnObject(json_kind(v)))?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or(FilterError::MissingType)?;
    let missing =
        |filter: &'static str, key: &'static str, expected: &'static str| FilterError::Missing {
            filter,
            key,
            expected,
        };
    match ty {
        "in" => {
            let left = obj
                .get("left")
                .filter(|l| l.is_object())
                .ok_or_else(|| missing("in", "left", "one value"))?;
            let left = operand(left)?;
            let right = obj
                .get("right")
                .and_then(Value::as_array)
                .ok_or_else(|| missing("in", "right", "a list of values"))?;
            let right = right.iter().map(operand).collect::<Result<Vec<_>, _>>()?;
            if let Some(r) = right.iter().find(|r| !left.is_field() && !r.is_field()) {
                return Err(FilterError::InWithoutField {
                    left: left.kind(),
                    right: r.kind(),
                });
            }
            Ok(Node::In { left, right })
        }
        "and" | "or" => {
            let list = obj.get("values").and_then(Value::as_array).ok_or_else(|| {
                missing(
                    if ty == "and" { "and" } else { "or" },
                    "values",
                    "a list of filters",
                )
            })?;
            let nodes = list
                .iter()
                .map(|f| node(f, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if ty == "and" {
                Node::And(nodes)
            } else {
                Node::Or(nodes)
            })
        }
        "not" => {
            let inner = obj
                .get("value")
                .ok_or_else(|| missing("not", "value", "a filter"))?;
            Ok(Node::Not(Box::new(node(inner, depth + 1)?)))
        }
        "defined" => {
            let val = obj
                .get("value")
                .ok_or_else(|| missing("defined", "value", "a field value"))?;
            match operand(val)? {
                Operand::Field(id) => Ok(Node::Defined(id)),
                other => Err(FilterError::DefinedNeedsField(other.kind())),
            }
        }
        "translated" => {
            let expr = obj
                .get("value")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("translated", "value", "an SMC filter expression string"))?;
            translated(expr)
        }
        "expression" => {
            let href = obj
                .get("href")
                .and_then(Value::as_str)
                .ok_or_else(|| missing("expression", "href", "a Filter element href"))?;
            Err(FilterError::UnknownElement(href.to_string()))
        }
        "cs_like" | "ci_like" => Err(FilterError::Like(ty.to_string())),
        other => Err(FilterError::UnknownType(other.to_string())),
    }
}

fn operand(v: &Value) -> Result<Operand, FilterError> {
    let obj = v
        .as_object()
        .ok_or_else(|| FilterError::NotAValue(json_kind(v)))?;
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| FilterError::NotAValue(json_kind(v)))?;
    let value = obj.get("value").unwrap_or(&Value::Null);
    let bad = |ty: &'static str, value: &Value, expected: &'static str| FilterError::BadValue {
        ty,
        value: value.to_string(),
        expected,
    };
    match ty {
        "field" => {
            if let Some(id) = obj.get("id") {
                id.as_u64()
                    .or_else(|| id.as_str().and_then(|s| s.trim().parse().ok()))
                    .and_then(|n| u32::try_from(n).ok())
                    .map(Operand::Field)
                    .ok_or_else(|| bad("field", v, "\"id\" (an integer) or \"name\""))
            } else if let Some(name) = obj.get("name").and_then(Value::as_str) {
                field_named(name)
                    .map(Operand::Field)
                    .ok_or_else(|| FilterError::UnknownField(name.to_string()))
            } else {
                Err(bad("field", v, "\"id\" (an integer) or \"name\""))
            }
        }
        "ip" => value
            .as_str()
            .and_then(IpSet::parse_net)
            .map(Operand::Ip)
            .ok_or_else(|| bad("ip", value, "an IP address or CIDR network")),
        "string" => value
            .as_str()
            .map(|s| Operand::Str(s.to_string()))
            .ok_or_else(|| bad("string", value, "a JSON string")),
        "number" => value
            .as_f64()
            .filter(|n| n.is_finite())
            .map(Operand::Number)
            .ok_or_else(|| bad("number", value, "a JSON number")),
        "constant" => value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Operand::Constant)
            .ok_or_else(|| bad("constant", value, "an integer")),
        "service" => value.as_str().and_then(parse_service).ok_or_else(|| {
            bad(
                "service",
                value,
                "a service like \"TCP/80\" or \"ICMP/8/0\"",
            )
        }),
        "element" => Err(FilterError::ElementValue(
            obj.get("href")
                .and_then(Value::as_str)
                .unwrap_or("(no href)")
                .to_string(),
        )),
        other => Err(FilterError::UnknownValueType(other.to_string())),
    }
}

/// `"TCP/80"`, `"UDP/53"`, `"6/443"`, `"ICMP/8/0"`, `"ESP"`.
fn parse_service(s: &str) -> Option<Operand> {
    let mut parts = s.trim().split('/');
    let proto = parts.next()?.trim();
    if proto.is_empty() || !proto.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let protocol = match proto {
        "1" => "ICMP".to_string(),
        "6" => "TCP".to_string(),
        "17" => "UDP".to_string(),
        "50" => "ESP".to_string(),
        p => p.to_ascii_uppercase(),
    };
    let rest: Vec<&str> = parts.map(str::trim).collect();
    if protocol == "ICMP" {
        // Type and code: checked, not compared (ICMP type is not rendered).
        if rest.len() > 2 || rest.iter().any(|p| p.parse::<u8>().is_err()) {
            return None;
        }
        return Some(Operand::Service {
            protocol,
            port: None,
        });
    }
    let port = match rest.as_slice() {
        [] => None,
        [p] => Some(p.parse::<u16>().ok()?),
        _ => return None,
    };
    Some(Operand::Service { protocol, port })
}

// ---------------------------------------------------------------------------
// Translated SMC filter expressions.

/// Parse an SMC filter expression (`translated` filter).
fn translated(src: &str) -> Result<Node, FilterError> {
    let mut p = Parser {
        s: src.chars().collect(),
        pos: 0,
        depth: 0,
    };
    let n = p.or()?;
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err("expected AND, OR or the end of the expression"));
    }
    Ok(n)
}

/// Recursive descent over characters; offsets in errors count characters.
struct Parser {
    s: Vec<char>,
    pos: usize,
    depth: usize,
}

/// Characters that end a bare word.
fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | ',' | '"' | '$' | '=' | '!')
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Parser {
    fn err(&self, msg: impl Into<String>) -> FilterError {
        self.err_at(self.pos, msg)
    }

    fn err_at(&self, at: usize, msg: impl Into<String>) -> FilterError {
        FilterError::Translated {
            msg: msg.into(),
            at,
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.pos).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// After whitespace: consume `c` if it is next.
    fn eat(&mut self, c: char) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.err(format!("expected '{c}'")))
        }
    }

    /// After whitespace: consume the operator `op` if it is next.
    fn symbol(&mut self, op: &str) -> bool {
        self.ws();
        let n = op.chars().count();
        let next = self.s.get(self.pos..self.pos + n);
        if next.is_some_and(|w| w.iter().copied().eq(op.chars())) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// After whitespace: consume keyword `kw` (case-insensitive, whole word).
    fn keyword(&mut self, kw: &str) -> bool {
        self.ws();
        let n = kw.chars().count();
        let Some(word) = self.s.get(self.pos..self.pos + n) else {
            return false;
        };
        let same = word
            .iter()
            .zip(kw.chars())
            .all(|(a, b)| a.eq_ignore_ascii_case(&b));
        if same && !self.s.get(self.pos + n).copied().is_some_and(is_ident) {
            self.pos += n;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("expression nested too deeply"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Node, FilterError> {
        let mut items = vec![self.and()?];
        while self.keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, FilterError> {
        let mut items = vec![self.not()?];
        while self.keyword("AND") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Node::And(items)
        })
    }

    fn not(&mut self) -> Result<Node, FilterError> {
        if self.keyword("NOT") {
            self.enter()?;
            let n = self.not()?;
            self.depth -= 1;
            return Ok(Node::Not(Box::new(n)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, FilterError> {
        if self.eat('(') {
            self.enter()?;
            let n = self.or()?;
            self.expect(')')?;
            self.depth -= 1;
            return Ok(n);
        }
        self.comparison()
    }

    /// `$Name` at the current position (after whitespace).
    fn field(&mut self) -> Result<u32, FilterError> {
        self.ws();
        let start = self.pos;
        if self.peek() != Some('$') {
            return Err(self.err("expected a field ($Name)"));
        }
        self.pos += 1;
        let from = self.pos;
        while self.peek().is_some_and(is_ident) {
            self.pos += 1;
        }
        if self.pos == from {
            return Err(self.err_at(start, "expected a field name after '$'"));
        }
        let name: String = self.s[from..self.pos].iter().collect();
        field_by_name(&name)
            .map(|f| f.id)
            .ok_or_else(|| self.err_at(start, format!("unknown field ${name}")))
    }

    fn comparison(&mut self) -> Result<Node, FilterError> {
        let id = self.field()?;
        self.ws();
        let negate = if self.symbol("==") {
            false
        } else if self.symbol("!=") {
            true
        } else if self.keyword("IN") {
            false
        } else {
            return Err(self.err("expected ==, != or IN"));
        };
        let right = self.value()?;
        let n = Node::In {
            left: Operand::Field(id),
            right,
        };
        Ok(if negate { Node::Not(Box::new(n)) } else { n })
    }

    /// A quoted string at the current position (the opening quote).
    fn string(&mut self) -> Result<String, FilterError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err_at(start, "unterminated string")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    let Some(c) = self.peek() else {
                        return Err(self.err_at(start, "unterminated string"));
                    };
                    out.push(c);
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// The argument of `ipv4(…)` / `ipv4_net(…)`: quoted, or the raw text up
    /// to `)` (the sloppy `ipv4( 74.125.127.191 )`). Returns it and its offset.
    fn raw_arg(&mut self) -> Result<(String, usize), FilterError> {
        self.expect('(')?;
        self.ws();
        let at = self.pos;
        let text = if self.peek() == Some('"') {
            self.string()?
        } else {
            let from = self.pos;
            while self.peek().is_some_and(|c| c != ')') {
                self.pos += 1;
            }
            self.s[from..self.pos].iter().collect::<String>()
        };
        self.expect(')')?;
        Ok((text.trim().to_string(), at))
    }

    /// One value; `union(…)` yields all of its items.
    fn value(&mut self) -> Result<Vec<Operand>, FilterError> {
        self.ws();
        let start = self.pos;
        match self.peek() {
            Some('$') => return Ok(vec![Operand::Field(self.field()?)]),
            Some('"') => return Ok(vec![Operand::Str(self.string()?)]),
            Some(c) if !ends_word(c) => {}
            _ => return Err(self.err("expected a value")),
        }
        while self.peek().is_some_and(|c| !ends_word(c)) {
            self.pos += 1;
        }
        let word: String = self.s[start..self.pos].iter().collect();
        let after_word = self.pos;
        self.ws();
        if self.peek() == Some('(') {
            self.pos = after_word;
            return self.call(&word, start);
        }
        self.pos = after_word;
        if ["AND", "OR", "NOT", "IN"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(&word))
        {
            return Err(self.err_at(start, "expected a value"));
        }
        let looks_numeric = word
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.'));
        if let Some(n) = parse_number(&word).filter(|_| looks_numeric) {
            return Ok(vec![Operand::Code(n)]);
        }
        if let Some(set) = IpSet::parse_net(&word) {
            return Ok(vec![Operand::Ip(set)]);
        }
        Ok(vec![Operand::Str(word)])
    }

    /// A function call `name(…)`; `start` is the offset of its name.
    fn call(&mut self, name: &str, start: usize) -> Result<Vec<Operand>, FilterError> {
        self.enter()?;
        let out = match name.to_ascii_lowercase().as_str() {
            "ipv4" => {
                let (text, at) = self.raw_arg()?;
                match text.parse::<std::net::Ipv4Addr>() {
                    Ok(a) => vec![Operand::Ip(IpSet::addr(IpAddr::V4(a)))],
                    Err(_) => {
                        return Err(self.err_at(at, format!("invalid IPv4 address \"{text}\"")));
                    }
                }
            }
            "ipv4_net" => {
                let (text, at) = self.raw_arg()?;
                match IpSet::parse_net(&text).filter(|s| !s.v6) {
                    Some(set) => vec![Operand::Ip(set)],
                    None => {
                        return Err(self.err_at(at, format!("invalid IPv4 network \"{text}\"")));
                    }
                }
            }
            "range" => {
                self.expect('(')?;
                let a = self.value()?;
                self.expect(',')?;
                let b = self.value()?;
                self.expect(')')?;
                let bounds = match (a.as_slice(), b.as_slice()) {
                    ([Operand::Ip(x)], [Operand::Ip(y)]) if x.lo == x.hi && y.lo == y.hi => {
                        IpSet::range(*x, *y).map(Operand::Ip)
                    }
                    ([Operand::Code(x)], [Operand::Code(y)]) => {
                        (x <= y).then_some(Operand::NumRange(*x, *y))
                    }
                    _ => {
                        return Err(
                            self.err_at(start, "range needs two ipv4() addresses or two numbers")
                        );
                    }
                };
                match bounds {
                    Some(op) => vec![op],
                    None => return Err(self.err_at(start, "range start is after its end")),
                }
            }
            "union" => {
                self.expect('(')?;
                let mut items = Vec::new();
                if !self.eat(')') {
                    loop {
                        items.extend(self.value()?);
                        if self.eat(')') {
                            break;
                        }
                        if !self.eat(',') {
                            return Err(self.err("expected ',' or ')'"));
                        }
                    }
                }
                items
            }
            _ => return Err(self.err_at(start, format!("unknown function {name}"))),
        };
        self.depth -= 1;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A row of (field id, value) pairs.
    fn row(pairs: &[(u32, &str)]) -> Vec<(u32, String)> {
        pairs.iter().map(|(i, v)| (*i, v.to_string())).collect()
    }

    fn eval(f: &Filter, r: &[(u32, String)]) -> bool {
        f.matches(&|id| r.iter().find(|(i, _)| *i == id).map(|(_, v)| v.as_str()))
    }

    fn check(filter: Value, r: &[(u32, String)]) -> bool {
        eval(&Filter::parse(&filter).unwrap(), r)
    }

    fn err(filter: Value) -> String {
        Filter::parse(&filter).unwrap_err().to_string()
    }

    fn tr(expr: &str) -> Value {
        json!({"type": "translated", "value": expr})
    }

    fn conn() -> Vec<(u32, String)> {
        row(&[
            (7, "10.20.3.4"),
            (8, "52.206.43.66"),
            (9, "35236"),
            (10, "443"),
            (11, "TCP"),
            (27, "HTTPS"),
            (116, "TCP established"),
            (12, ""),
        ])
    }

    fn alert(sev: &str, action: &str) -> Vec<(u32, String)> {
        row(&[
            (602, sev),
            (14, action),
            (11, "UDP"),
            (10, "53"),
            (1000, "DNS_Tunneling-Detected"),
        ])
    }

    fn field_in(id: u32, right: Value) -> Value {
        json!({"type": "in", "left": {"type": "field", "id": id}, "right": right})
    }

    #[test]
    fn in_with_ip_address_and_cidr() {
        let r = conn();
        let ip = |v: &str| json!([{"type": "ip", "value": v}]);
        assert!(check(field_in(7, ip("10.20.3.4")), &r));
        assert!(!check(field_in(7, ip("10.20.3.5")), &r));
        assert!(check(field_in(7, ip("10.20.0.0/16")), &r));
        assert!(!check(field_in(7, ip("10.21.0.0/16")), &r));
        assert!(check(field_in(7, ip("0.0.0.0/0")), &r));
        // Any item of the right list.
        assert!(check(
            field_in(
                8,
                json!([{"type":"ip","value":"1.1.1.1"},{"type":"ip","value":"52.206.0.0/16"}])
            ),
            &r
        ));
        // A missing field never matches.
        assert!(!check(field_in(20007, ip("10.0.0.0/8")), &r));
        // Non-IP values and the other family never match.
        assert!(!check(field_in(11, ip("10.0.0.0/8")), &r));
        assert!(!check(field_in(7, ip("::/0")), &r));
    }

    #[test]
    fn ip_matches_ranges_and_nets_in_values() {
        let r = row(&[
            (20007, "10.20.0.0 - 10.20.255.255"),
            (160, "172.18.0.0/16"),
            (735, "fe80::1"),
            (525, "10.0.0.5 - 10.0.0.20"),
        ]);
        let ip = |v: &str| json!([{"type": "ip", "value": v}]);
        assert!(check(field_in(20007, ip("10.20.7.1")), &r));
        assert!(check(field_in(20007, ip("10.0.0.0/8")), &r));
        assert!(!check(field_in(20007, ip("10.21.0.1")), &r));
        // Overlap is not enough: one must contain the other.
        assert!(check(field_in(20007, ip("10.20.254.0/23")), &r));
        assert!(!check(field_in(525, ip("10.0.0.16/28")), &r));
        assert!(check(field_in(525, ip("10.0.0.0/27")), &r));
        assert!(check(field_in(160, ip("172.18.9.9")), &r));
        assert!(check(field_in(735, ip("fe80::/64")), &r));
        assert!(!check(field_in(735, ip("fe81::/64")), &r));
    }

    #[test]
    fn reversed_in_puts_the_fields_on_the_right() {
        let r = conn();
        let rev = |v: &str| {
            json!({"type":"in","left":{"type":"ip","value":v},
                   "right":[{"type":"field","id":7},{"type":"field","id":8}]})
        };
        assert!(check(rev("10.20.3.4"), &r));
        assert!(check(rev("52.206.43.66"), &r));
        assert!(!check(rev("1.2.3.4"), &r));
    }

    #[test]
    fn field_values_by_id_name_and_label() {
        let r = conn();
        let s = json!([{"type": "string", "value": "TCP"}]);
        for left in [
            json!({"type":"field","id":11}),
            json!({"type":"field","id":"11"}),
            json!({"type":"field","name":"Protocol"}),
            json!({"type":"field","name":"protocol"}),
            json!({"type":"field","name":"IP Protocol"}),
        ] {
            assert!(
                check(json!({"type":"in","left":left,"right":s}), &r),
                "{left}"
            );
        }
        // Field against field: equal rendered values.
        let same = row(&[(7, "1.1.1.1"), (8, "1.1.1.1")]);
        let f = field_in(7, json!([{"type":"field","id":8}]));
        assert!(check(f.clone(), &same));
        assert!(!check(f, &conn()));
    }

    #[test]
    fn string_is_exact_and_case_sensitive() {
        let r = conn();
        let s = |v: &str| field_in(27, json!([{"type":"string","value":v}]));
        assert!(check(s("HTTPS"), &r));
        assert!(!check(s("https"), &r));
        assert!(!check(s("HTTP"), &r));
    }

    #[test]
    fn number_compares_numerically() {
        let r = conn();
        let n = |v: Value| field_in(10, json!([{"type":"number","value":v}]));
        assert!(check(n(json!(443)), &r));
        assert!(check(n(json!(443.0)), &r));
        assert!(!check(n(json!(80)), &r));
        // A non-numeric field never equals a number.
        assert!(!check(
            field_in(11, json!([{"type":"number","value":6}])),
            &r
        ));
    }

    #[test]
    fn constants_map_to_rendered_texts() {
        let c = |id: u32, v: i64| field_in(id, json!([{"type":"constant","value":v}]));
        for (code, text) in [(1, "Info"), (3, "Low"), (5, "High"), (10, "Critical")] {
            assert!(check(c(602, code), &alert(text, "Allow")), "{code}");
            assert!(!check(c(602, code), &alert("Other", "Allow")), "{code}");
        }
        assert!(!check(c(602, 2), &alert("Low", "Allow")));
        for (code, text) in [
            (0, "Discard"),
            (1, "Allow"),
            (2, "Refuse"),
            (9, "Terminate"),
            (11, "Permit"),
        ] {
            assert!(check(c(14, code), &alert("Info", text)), "{code}");
            assert!(!check(c(14, code), &alert("Info", "Block")), "{code}");
        }
        // Other fields: the decimal text.
        assert!(check(c(10, 53), &alert("Info", "Allow")));
        assert!(!check(c(10, 54), &alert("Info", "Allow")));
    }

    #[test]
    fn service_checks_protocol_and_port() {
        let s = |v: &str| field_in(27, json!([{"type":"service","value":v}]));
        let r = conn();
        assert!(check(s("TCP/443"), &r));
        assert!(check(s("tcp/443"), &r));
        assert!(check(s("6/443"), &r));
        assert!(check(s("TCP"), &r));
        assert!(!check(s("TCP/80"), &r));
        assert!(!check(s("UDP/443"), &r));
        let ping = row(&[(11, "ICMP"), (10, "0")]);
        assert!(check(s("ICMP/8/0"), &ping));
        assert!(!check(s("ICMP/8/0"), &r));
    }

    #[test]
    fn boolean_filters() {
        let r = conn();
        let t = field_in(11, json!([{"type":"string","value":"TCP"}]));
        let f = field_in(11, json!([{"type":"string","value":"UDP"}]));
        assert!(check(json!({"type":"and","values":[t, t]}), &r));
        assert!(!check(json!({"type":"and","values":[t, f]}), &r));
        assert!(check(json!({"type":"or","values":[f, t]}), &r));
        assert!(!check(json!({"type":"or","values":[f, f]}), &r));
        assert!(check(json!({"type":"not","value":f}), &r));
        assert!(!check(json!({"type":"not","value":t}), &r));
        assert!(check(json!({"type":"and","values":[]}), &r));
        assert!(!check(json!({"type":"or","values":[]}), &r));
    }

    #[test]
    fn defined_needs_a_non_empty_value() {
        let r = conn();
        let d = |v: Value| json!({"type":"defined","value":v});
        assert!(check(d(json!({"type":"field","id":7})), &r));
        assert!(check(d(json!({"type":"field","name":"Dst"})), &r));
        // Present but empty, and absent.
        assert!(!check(d(json!({"type":"field","id":12})), &r));
        assert!(!check(d(json!({"type":"field","id":602})), &r));
    }

    #[test]
    fn translated_expressions() {
        let r = conn();
        let yes = |e: &str| assert!(check(tr(e), &r), "{e} should match");
        let no = |e: &str| assert!(!check(tr(e), &r), "{e} should not match");
        yes("$Dport == 443");
        yes("$Dport==443");
        yes("$dport == 443");
        no("$Dport == 80");
        yes("$Dport != 80");
        no("$Dport != 443");
        yes("$Protocol == \"TCP\"");
        no("$Protocol == \"tcp\"");
        yes("$Protocol == TCP");
        yes("$State == \"TCP established\"");
        yes("$Dst == ipv4(\"52.206.43.66\")");
        yes("$Dst == ipv4( 52.206.43.66 )");
        no("$Dst == ipv4( 74.125.127.191 )");
        yes("$Src == 10.20.3.4");
        yes("$Src IN union(ipv4_net(\"192.168.4.0/24\"),ipv4_net(\"10.0.0.0/8\"))");
        no("$Src IN union(ipv4_net(\"192.168.4.0/24\"),ipv4_net(\"172.16.0.0/12\"))");
        yes("$Src IN range(ipv4(\"10.20.0.1\"),ipv4(\"10.20.3.4\"))");
        no("$Src IN range(ipv4(\"10.20.3.5\"), ipv4(\"10.20.3.254\"))");
        yes("$Dport IN range(400, 500)");
        no("$Dport IN range(1, 442)");
        yes("$Dport IN union(22, 25, 443)");
        yes("$Dport IN 443");
        yes("$Dport == 22 OR $Dport == 443");
        no("$Dport == 22 or $Dport == 25");
        yes("$Dport == 443 AND $Protocol == \"TCP\"");
        no("$Dport == 443 and NOT $Protocol == \"TCP\"");
        yes("NOT ($Dport == 22 OR $Dport == 25) AND $Sport == 35236");
        // AND binds tighter than OR.
        yes("$Dport == 1 AND $Dport == 2 OR $Dport == 443");
        no("$Dport == 1 AND ($Dport == 2 OR $Dport == 443)");
        yes("$Src == $Src");
        no("$Src == $Dst");
        // Numbers also match enumerated fields by constant.
        let a = alert("Critical", "Permit");
        assert!(check(tr("$AlertSeverity == 10"), &a));
        assert!(check(tr("$Action == 11"), &a));
        assert!(!check(tr("$Situation==516"), &a));
        assert!(check(tr("$Situation==\"DNS_Tunneling-Detected\""), &a));
    }

    #[test]
    fn translated_parse_errors() {
        for (expr, msg) in [
            ("$Dport ==", "expected a value at offset 9"),
            ("$Dport == ", "expected a value at offset 10"),
            ("", "expected a field ($Name) at offset 0"),
            ("Dport == 1", "expected a field ($Name) at offset 0"),
            ("$ == 1", "expected a field name after '$' at offset 0"),
            ("$Nope == 1", "unknown field $Nope at offset 0"),
            ("$Dport = 1", "expected ==, != or IN at offset 7"),
            ("$Dport", "expected ==, != or IN at offset 6"),
            ("($Dport == 1", "expected ')' at offset 12"),
            (
                "$Dport == 1 $Sport == 2",
                "expected AND, OR or the end of the expression at offset 12",
            ),
            ("$Dport == 1 AND", "expected a field ($Name) at offset 15"),
            ("$Dport == AND", "expected a value at offset 10"),
            ("$Src == \"abc", "unterminated string at offset 8"),
            (
                "$Src == ipv4(\"1.2.3\")",
                "invalid IPv4 address \"1.2.3\" at offset 13",
            ),
            ("$Src == ipv4( 1.2.3.4", "expected ')' at offset 21"),
            (
                "$Src IN ipv4_net(\"10.0.0.0/33\")",
                "invalid IPv4 network \"10.0.0.0/33\" at offset 17",
            ),
            (
                "$Src IN range(ipv4(\"1.1.1.9\"), ipv4(\"1.1.1.1\"))",
                "range start is after its end at offset 8",
            ),
            (
                "$Src IN range(ipv4(\"1.1.1.9\"), 5)",
                "range needs two ipv4() addresses or two numbers at offset 8",
            ),
            ("$Src IN range(1 2)", "expected ',' at offset 16"),
            ("$Src IN union(1 2)", "expected ',' or ')' at offset 16"),
            ("$Src IN foo(1)", "unknown function foo at offset 8"),
        ] {
            assert_eq!(err(tr(expr)), format!("translated filter: {msg}"), "{expr}");
        }
        let deep = format!("{}$Dport == 1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(
            err(tr(&deep)),
            "translated filter: expression nested too deeply at offset 65"
        );
        let nots = format!("{}$Dport == 1", "NOT ".repeat(100));
        assert_eq!(
            err(tr(&nots)),
            "translated filter: expression nested too deeply at offset 259"
        );
    }

    #[test]
    fn filter_json_errors() {
        let ip = json!({"type":"ip","value":"1.1.1.1"});
        for (f, msg) in [
            (json!("x"), "a filter must be a JSON object, got a string"),
            (json!({}), "a filter needs a \"type\""),
            (json!({"type":"between"}), "unknown filter type \"between\""),
            (
                json!({"type":"in","right":[]}),
                "in filter needs \"left\" (one value)",
            ),
            (
                json!({"type":"in","left":{"type":"field","id":7}}),
                "in filter needs \"right\" (a list of values)",
            ),
            (
                json!({"type":"and"}),
                "and filter needs \"values\" (a list of filters)",
            ),
            (
                json!({"type":"or","values":{}}),
                "or filter needs \"values\" (a list of filters)",
            ),
            (
                json!({"type":"not"}),
                "not filter needs \"value\" (a filter)",
            ),
            (
                json!({"type":"not","value":[]}),
                "a filter must be a JSON object, got a list",
            ),
            (
                json!({"type":"defined"}),
                "defined filter needs \"value\" (a field value)",
            ),
            (
                json!({"type":"defined","value":ip}),
                "defined filter needs a field value, got \"ip\"",
            ),
            (
                json!({"type":"translated","value":5}),
                "translated filter needs \"value\" (an SMC filter expression string)",
            ),
            (
                json!({"type":"expression","href":"http://smc/7.1/elements/filter_expression/12"}),
                "unknown filter element http://smc/7.1/elements/filter_expression/12",
            ),
            (
                json!({"type":"expression"}),
                "expression filter needs \"href\" (a Filter element href)",
            ),
            (
                json!({"type":"cs_like"}),
                "cs_like filter is not supported: the client sends it without a value",
            ),
            (
                json!({"type":"ci_like"}),
                "ci_like filter is not supported: the client sends it without a value",
            ),
            (
                json!({"type":"in","left":ip,"right":[ip]}),
                "in filter compares \"ip\" with \"ip\": one side must be a field",
            ),
            (
                field_in(7, json!([5])),
                "a value must be a JSON object with a \"type\", got a number",
            ),
            (
                field_in(7, json!([{"value":"x"}])),
                "a value must be a JSON object with a \"type\", got an object",
            ),
            (
                field_in(7, json!([{"type":"regex","value":"x"}])),
                "unknown value type \"regex\"",
            ),
            (
                field_in(7, json!([{"type":"ip","value":"10.0.0.300"}])),
                "invalid ip value \"10.0.0.300\": expected an IP address or CIDR network",
            ),
            (
                field_in(7, json!([{"type":"ip","value":"10.0.0.0/40"}])),
                "invalid ip value \"10.0.0.0/40\": expected an IP address or CIDR network",
            ),
            (
                field_in(7, json!([{"type":"string","value":5}])),
                "invalid string value 5: expected a JSON string",
            ),
            (
                field_in(7, json!([{"type":"number","value":"5"}])),
                "invalid number value \"5\": expected a JSON number",
            ),
            (
                field_in(7, json!([{"type":"constant","value":1.5}])),
                "invalid constant value 1.5: expected an integer",
            ),
            (
                field_in(7, json!([{"type":"service","value":"TCP/http"}])),
                "invalid service value \"TCP/http\": expected a service like \"TCP/80\" or \"ICMP/8/0\"",
            ),
            (
                field_in(7, json!([{"type":"service","value":"ICMP/8/0/1"}])),
                "invalid service value \"ICMP/8/0/1\": expected a service like \"TCP/80\" or \"ICMP/8/0\"",
            ),
            (
                field_in(
                    7,
                    json!([{"type":"element","href":"http://smc/elements/host/1"}]),
                ),
                "element value http://smc/elements/host/1 is not supported: the simulator has no elements",
            ),
            (
                field_in(7, json!([{"type":"field","name":"NoSuchField"}])),
                "unknown field \"NoSuchField\"",
            ),
            (
                field_in(7, json!([{"type":"field"}])),
                "invalid field value {\"type\":\"field\"}: expected \"id\" (an integer) or \"name\"",
            ),
            (
                field_in(7, json!([{"type":"field","id":-1}])),
                "invalid field value {\"id\":-1,\"type\":\"field\"}: expected \"id\" (an integer) or \"name\"",
            ),
        ] {
            assert_eq!(err(f.clone()), msg, "{f}");
        }
        let mut deep = json!({"type":"and","values":[]});
        for _ in 0..70 {
            deep = json!({"type":"not","value":deep});
        }
        assert_eq!(err(deep), "filter nested deeper than 64 levels");
    }

    // -----------------------------------------------------------------------
    // Boolean algebra over random rows.

    /// Rows over a few fields with values from small pools, some missing.
    fn rows() -> impl Strategy<Value = Vec<(u32, String)>> {
        (
            prop::option::of(prop::sample::select(vec![
                "10.0.0.1",
                "10.0.1.9",
                "192.168.1.1",
            ])),
            prop::option::of(prop::sample::select(vec!["22", "80", "443", ""])),
            prop::option::of(prop::sample::select(vec!["TCP", "UDP", "ICMP"])),
            prop::option::of(prop::sample::select(vec!["Info", "Critical", "High"])),
        )
            .prop_map(|(src, dport, proto, sev)| {
                let mut r = Vec::new();
                for (id, v) in [(7, src), (10, dport), (11, proto), (602, sev)] {
                    if let Some(v) = v {
                        r.push((id, v.to_string()));
                    }
                }
                r
            })
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            prop::sample::select(vec!["10.0.0.1", "10.0.0.0/24", "192.168.0.0/16"])
                .prop_map(|ip| field_in(7, json!([{"type":"ip","value":ip}]))),
            prop::sample::select(vec![22, 80, 443])
                .prop_map(|n| field_in(10, json!([{"type":"number","value":n}]))),
            prop::sample::select(vec!["TCP", "UDP"])
                .prop_map(|s| field_in(11, json!([{"type":"string","value":s}]))),
            prop::sample::select(vec![1, 5, 10])
                .prop_map(|c| field_in(602, json!([{"type":"constant","value":c}]))),
            prop::sample::select(vec![7, 10, 602])
                .prop_map(|id| json!({"type":"defined","value":{"type":"field","id":id}})),
            prop::sample::select(vec![
                "$Dport == 443",
                "$Dport != 22 AND $Protocol == \"TCP\"",
                "$Src IN union(ipv4(\"10.0.0.1\"), ipv4_net(\"192.168.0.0/16\"))",
                "NOT ($Protocol == UDP OR $Dport IN range(20, 90))",
            ])
            .prop_map(tr),
        ]
    }

    fn filters() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 24, 3, |inner| {
            prop_oneof![
                inner.clone().prop_map(|f| json!({"type":"not","value":f})),
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| json!({"type":"and","values":v})),
                prop::collection::vec(inner, 0..3).prop_map(|v| json!({"type":"or","values":v})),
            ]
        })
    }

    proptest! {
        #[test]
        fn not_and_or_are_boolean_algebra(
            a in filters(),
            b in filters(),
            rs in prop::collection::vec(rows(), 1..12),
        ) {
            let fa = Filter::parse(&a).unwrap();
            let fb = Filter::parse(&b).unwrap();
            let not_a = Filter::parse(&json!({"type":"not","value":a.clone()})).unwrap();
            let and = Filter::parse(&json!({"type":"and","values":[a.clone(), b.clone()]})).unwrap();
            let or = Filter::parse(&json!({"type":"or","values":[a, b]})).unwrap();
            let mut hits = 0;
            for r in &rs {
                let (x, y) = (eval(&fa, r), eval(&fb, r));
                hits += usize::from(x);
                prop_assert_eq!(eval(&not_a, r), !x);
                prop_assert_eq!(eval(&and, r), x && y);
                prop_assert_eq!(eval(&or, r), x || y);
            }
            // not(f) selects exactly the complement of f's rows.
            let complement = rs.iter().filter(|r| eval(&not_a, r)).count();
            prop_assert_eq!(complement, rs.len() - hits);
        }
    }
}
