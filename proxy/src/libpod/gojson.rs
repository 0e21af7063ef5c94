//! Go `encoding/json`, as far as the libpod wire needs it (§1.6, §1.7).
//!
//! podman decodes request bodies and auth headers with Go's `encoding/json`, and clients depend
//! on its behaviour: keys match struct tags case-insensitively, `null` leaves a field alone,
//! unknown keys are skipped, and errors carry texts that end up in libpod error bodies
//! (`json: cannot unmarshal object into Go struct field ManifestModifyOptions.annotation of type
//! []string`, `invalid character '-' in numeric literal`, `unexpected EOF`). A generic JSON
//! parser gets all of these subtly wrong, so this module re-implements the parts of Go's decoder
//! that matter, faithfully:
//!
//! - `Scanner` is Go's byte-at-a-time syntax state machine, with its error texts and its nesting
//!   limit of 10000.
//! - [`ReadMode`] tells `json.NewDecoder(r).Decode` (first value only, `EOF` for no input,
//!   `unexpected EOF` for a cut value, trailing bytes never read) from `json.Unmarshal` (the whole
//!   input, `unexpected end of JSON input`, `invalid character 'x' after top-level value`).
//! - The typed decoder fills a `StructType` described by a field table, with Go's rules: a
//!   key matches the exact tag first, then case-insensitively (with Go's folding of `K` KELVIN
//!   SIGN and `ſ` LONG S); a later key overwrites an earlier one, except that maps are merged and
//!   slices reuse their backing array; a type mismatch is remembered (the first one wins) and
//!   decoding goes on; strings decode invalid UTF-8 and lone surrogates to U+FFFD.
//!
//! Syntax is checked over the whole value before anything is decoded, exactly like Go, so a
//! syntax error anywhere wins over a type error earlier in the document.
//!
//! The decoder recurses only as deep as the target type (struct → map or slice → string);
//! values it skips are skipped iteratively, so no input can exhaust the stack.
//!
//! [`GoFormatter`] is the other direction: a `serde_json` formatter that escapes strings like
//! Go's `json.Encoder` (Go ≥ 1.22: `\b`, `\f`; U+2028/U+2029 always escaped; `<`, `>`, `&`
//! escaped only when HTML escaping is on).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::ops::Deref;

use super::goquote::{decode_rune, quote_json_char};

/// Go's `maxNestingDepth`: one more level of `[` or `{` is a syntax error.
pub const MAX_DEPTH: usize = 10_000;

/// Go ≥ 1.24 names embedded structs in the field path of type errors
/// (`ManifestModifyOptions.ManifestAddOptions.ManifestAnnotateOptions.annotation`); earlier Go
/// does not (`ManifestModifyOptions.annotation`). manifold writes the older form, which is what
/// the captured podman server sent (`captures/py.log`); flip this to write the newer one.
pub(crate) const EMBEDDED_FIELD_PATHS: bool = false;

/// A decoding error, carrying exactly the text Go's `encoding/json` produces.
///
/// It dereferences to that text, so it can be passed where a `&str` cause is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError(String);

impl JsonError {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        JsonError(text.into())
    }

    /// The error text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl Deref for JsonError {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for JsonError {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// How Go read the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadMode {
    /// `json.NewDecoder(r).Decode(&v)`: reads the first value only and never looks at the bytes
    /// after it. No value at all is `EOF`, a value cut short is `unexpected EOF`.
    Decoder,
    /// `json.Unmarshal(data, &v)`: the whole input must be one value. No value or a cut value
    /// is `unexpected end of JSON input`; bytes after it are
    /// `invalid character 'x' after top-level value`.
    Unmarshal,
}

// ---------------------------------------------------------------------------------------------
// The scanner: Go's syntax state machine.

/// What a scanner step reports (Go's `scan*` constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Continue,
    BeginLiteral,
    BeginObject,
    ObjectKey,
    ObjectValue,
    EndObject,
    BeginArray,
    ArrayValue,
    EndArray,
    SkipSpace,
    End,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    ObjectKey,
    ObjectValue,
    ArrayValue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Literal {
    True,
    False,
    Null,
}

impl Literal {
    fn word(self) -> &'static [u8] {
        match self {
            Literal::True => b"true",
            Literal::False => b"false",
            Literal::Null => b"null",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    BeginValueOrEmpty,
    BeginValue,
    BeginStringOrEmpty,
    BeginString,
    EndValue,
    EndTop,
    InString,
    InStringEsc,
    /// Inside `\u`, with this many hex digits read.
    InStringEscU(u8),
    Neg,
    One,
    Zero,
    Dot,
    Dot0,
    E,
    ESign,
    E0,
    /// Inside `true`/`false`/`null`, expecting the byte at this index of the word.
    Lit(Literal, u8),
    Error,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Go's `encoding/json` scanner (`scanner.go`), one byte at a time.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    state: State,
    stack: Vec<Frame>,
    end_top: bool,
    err: Option<String>,
}

impl Scanner {
    pub(crate) fn new() -> Self {
        Scanner {
            state: State::BeginValue,
            stack: Vec::new(),
            end_top: false,
            err: None,
        }
    }

    /// The syntax error, once a step returned [`Op::Error`].
    pub(crate) fn error_text(&self) -> String {
        self.err
            .clone()
            .unwrap_or_else(|| "unexpected end of JSON input".to_string())
    }

    fn fail(&mut self, c: u8, context: &str) -> Op {
        self.state = State::Error;
        self.err = Some(format!(
            "invalid character {} {context}",
            quote_json_char(c)
        ));
        Op::Error
    }

    /// Feeds one byte.
    pub(crate) fn step(&mut self, c: u8) -> Op {
        match self.state {
            State::BeginValueOrEmpty => {
                if is_space(c) {
                    Op::SkipSpace
                } else if c == b']' {
                    self.end_value(c)
                } else {
                    self.begin_value(c)
                }
            }
            State::BeginValue => self.begin_value(c),
            State::BeginStringOrEmpty => {
                if is_space(c) {
                    Op::SkipSpace
                } else if c == b'}' {
                    if let Some(top) = self.stack.last_mut() {
                        *top = Frame::ObjectValue;
                    }
                    self.end_value(c)
                } else {
                    self.begin_string(c)
                }
            }
            State::BeginString => self.begin_string(c),
            State::EndValue => self.end_value(c),
            State::EndTop => self.end_top(c),
            State::InString => match c {
                b'"' => {
                    self.state = State::EndValue;
                    Op::Continue
                }
                b'\\' => {
                    self.state = State::InStringEsc;
                    Op::Continue
                }
                _ if c < 0x20 => self.fail(c, "in string literal"),
                _ => Op::Continue,
            },
            State::InStringEsc => match c {
                b'b' | b'f' | b'n' | b'r' | b't' | b'\\' | b'/' | b'"' => {
                    self.state = State::InString;
                    Op::Continue
                }
                b'u' => {
                    self.state = State::InStringEscU(0);
                    Op::Continue
                }
                _ => self.fail(c, "in string escape code"),
            },
            State::InStringEscU(n) => {
                if c.is_ascii_hexdigit() {
                    self.state = if n >= 3 {
                        State::InString
                    } else {
                        State::InStringEscU(n + 1)
                    };
                    Op::Continue
                } else {
                    self.fail(c, "in \\u hexadecimal character escape")
                }
            }
            State::Neg => match c {
                b'0' => {
                    self.state = State::Zero;
                    Op::Continue
                }
                b'1'..=b'9' => {
                    self.state = State::One;
                    Op::Continue
                }
                _ => self.fail(c, "in numeric literal"),
            },
            State::One => {
                if c.is_ascii_digit() {
                    Op::Continue
                } else {
                    self.zero(c)
                }
            }
            State::Zero => self.zero(c),
            State::Dot => {
                if c.is_ascii_digit() {
                    self.state = State::Dot0;
                    Op::Continue
                } else {
                    self.fail(c, "after decimal point in numeric literal")
                }
            }
            State::Dot0 => {
                if c.is_ascii_digit() {
                    Op::Continue
                } else if c == b'e' || c == b'E' {
                    self.state = State::E;
                    Op::Continue
                } else {
                    self.end_value(c)
                }
            }
            State::E => {
                if c == b'+' || c == b'-' {
                    self.state = State::ESign;
                    Op::Continue
                } else {
                    self.e_sign(c)
                }
            }
            State::ESign => self.e_sign(c),
            State::E0 => {
                if c.is_ascii_digit() {
                    Op::Continue
                } else {
                    self.end_value(c)
                }
            }
            State::Lit(lit, i) => {
                let word = lit.word();
                let idx = usize::from(i);
                let expected = word.get(idx).copied().unwrap_or(b' ');
                if c == expected {
                    self.state = if idx + 1 >= word.len() {
                        State::EndValue
                    } else {
                        State::Lit(lit, i + 1)
                    };
                    Op::Continue
                } else {
                    let name = String::from_utf8_lossy(word).into_owned();
                    let context = format!(
                        "in literal {name} (expecting {})",
                        quote_json_char(expected)
                    );
                    self.fail(c, &context)
                }
            }
            State::Error => Op::Error,
        }
    }

    /// Go's `scanner.eof`: what the end of the input means.
    pub(crate) fn eof(&mut self) -> Op {
        if self.err.is_some() {
            return Op::Error;
        }
        if self.end_top {
            return Op::End;
        }
        self.step(b' ');
        if self.end_top {
            return Op::End;
        }
        if self.err.is_none() {
            self.err = Some("unexpected end of JSON input".to_string());
        }
        Op::Error
    }

    fn push(&mut self, c: u8, frame: Frame, success: Op) -> Op {
        self.stack.push(frame);
        if self.stack.len() <= MAX_DEPTH {
            success
        } else {
            self.fail(c, "exceeded max depth")
        }
    }

    fn pop(&mut self) {
        self.stack.pop();
        if self.stack.is_empty() {
            self.state = State::EndTop;
            self.end_top = true;
        } else {
            self.state = State::EndValue;
        }
    }

    fn begin_value(&mut self, c: u8) -> Op {
        if is_space(c) {
            return Op::SkipSpace;
        }
        let (state, op) = match c {
            b'{' => {
                self.state = State::BeginStringOrEmpty;
                return self.push(c, Frame::ObjectKey, Op::BeginObject);
            }
            b'[' => {
                self.state = State::BeginValueOrEmpty;
                return self.push(c, Frame::ArrayValue, Op::BeginArray);
            }
            b'"' => (State::InString, Op::BeginLiteral),
            b'-' => (State::Neg, Op::BeginLiteral),
            b'0' => (State::Zero, Op::BeginLiteral),
            b't' => (State::Lit(Literal::True, 1), Op::BeginLiteral),
            b'f' => (State::Lit(Literal::False, 1), Op::BeginLiteral),
            b'n' => (State::Lit(Literal::Null, 1), Op::BeginLiteral),
            b'1'..=b'9' => (State::One, Op::BeginLiteral),
            _ => return self.fail(c, "looking for beginning of value"),
        };
        self.state = state;
        op
    }

    fn begin_string(&mut self, c: u8) -> Op {
        if is_space(c) {
            Op::SkipSpace
        } else if c == b'"' {
            self.state = State::InString;
            Op::BeginLiteral
        } else {
            self.fail(c, "looking for beginning of object key string")
        }
    }

    /// Go's `stateEndValue`; also called directly by the Decoder after `}` or `]`.
    pub(crate) fn end_value(&mut self, c: u8) -> Op {
        let Some(top) = self.stack.last().copied() else {
            self.state = State::EndTop;
            self.end_top = true;
            return self.end_top(c);
        };
        if is_space(c) {
            self.state = State::EndValue;
            return Op::SkipSpace;
        }
        match top {
            Frame::ObjectKey => {
                if c == b':' {
                    if let Some(f) = self.stack.last_mut() {
                        *f = Frame::ObjectValue;
                    }
                    self.state = State::BeginValue;
                    Op::ObjectKey
                } else {
                    self.fail(c, "after object key")
                }
            }
            Frame::ObjectValue => {
                if c == b',' {
                    if let Some(f) = self.stack.last_mut() {
                        *f = Frame::ObjectKey;
                    }
                    self.state = State::BeginString;
                    Op::ObjectValue
                } else if c == b'}' {
                    self.pop();
                    Op::EndObject
                } else {
                    self.fail(c, "after object key:value pair")
                }
            }
            Frame::ArrayValue => {
                if c == b',' {
                    self.state = State::BeginValue;
                    Op::ArrayValue
                } else if c == b']' {
                    self.pop();
                    Op::EndArray
                } else {
                    self.fail(c, "after array element")
                }
            }
        }
    }

    fn end_top(&mut self, c: u8) -> Op {
        if !is_space(c) {
            // Go complains about a non-space byte on the *next* step.
            self.fail(c, "after top-level value");
        }
        Op::End
    }

    fn zero(&mut self, c: u8) -> Op {
        match c {
            b'.' => {
                self.state = State::Dot;
                Op::Continue
            }
            b'e' | b'E' => {
                self.state = State::E;
                Op::Continue
            }
            _ => self.end_value(c),
        }
    }

    fn e_sign(&mut self, c: u8) -> Op {
        if c.is_ascii_digit() {
            self.state = State::E0;
            Op::Continue
        } else {
            self.fail(c, "in exponent of numeric literal")
        }
    }
}

/// `json.Decoder`'s `readValue`, fed in chunks: finds where the first value ends.
#[derive(Debug, Clone)]
pub(crate) struct ValueReader {
    scanner: Scanner,
    buf: Vec<u8>,
    scanned: usize,
    complete: Option<usize>,
}

impl ValueReader {
    pub(crate) fn new() -> Self {
        ValueReader {
            scanner: Scanner::new(),
            buf: Vec::new(),
            scanned: 0,
            complete: None,
        }
    }

    /// Adds bytes read. `Some(Ok)` once the value is complete, `Some(Err)` on a syntax error.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Option<Result<(), JsonError>> {
        if self.complete.is_some() {
            return Some(Ok(()));
        }
        self.buf.extend_from_slice(bytes);
        while let Some(&c) = self.buf.get(self.scanned) {
            let op = self.scanner.step(c);
            match op {
                Op::End => {
                    // Go's scanEnd is one byte late: the value ended before this byte.
                    self.complete = Some(self.scanned);
                    return Some(Ok(()));
                }
                Op::Error => return Some(Err(JsonError::new(self.scanner.error_text()))),
                _ => {}
            }
            // Go does not wait for the byte after a closing bracket: it steps the scanner with
            // an invented space, which ends a top-level value.
            if matches!(op, Op::EndObject | Op::EndArray) && self.scanner.end_value(b' ') == Op::End
            {
                self.complete = Some(self.scanned + 1);
                return Some(Ok(()));
            }
            self.scanned += 1;
        }
        None
    }

    /// The reader stopped: at the end of the input (`read_error` `None`) or with a read error.
    pub(crate) fn finish(&mut self, read_error: Option<String>) -> Result<(), JsonError> {
        if self.complete.is_some() {
            return Ok(());
        }
        if let Some(e) = read_error {
            return Err(JsonError::new(e));
        }
        if self.scanner.step(b' ') == Op::End {
            self.complete = Some(self.buf.len());
            return Ok(());
        }
        if self.buf.iter().any(|&c| !is_space(c)) {
            Err(JsonError::new("unexpected EOF"))
        } else {
            Err(JsonError::new("EOF"))
        }
    }

    /// The bytes of the complete value (with any leading white space).
    pub(crate) fn value(&self) -> &[u8] {
        let end = self.complete.unwrap_or(0);
        self.buf.get(..end).unwrap_or_default()
    }
}

/// Checks the syntax the way `mode` does and returns the bytes of the value to decode.
pub(crate) fn read_value(data: &[u8], mode: ReadMode) -> Result<&[u8], JsonError> {
    match mode {
        ReadMode::Decoder => {
            let mut reader = ValueReader::new();
            if let Some(Err(e)) = reader.push(data) {
                return Err(e);
            }
            reader.finish(None)?;
            let end = reader.complete.unwrap_or(0);
            Ok(data.get(..end).unwrap_or_default())
        }
        ReadMode::Unmarshal => {
            let mut s = Scanner::new();
            for &c in data {
                if s.step(c) == Op::Error {
                    return Err(JsonError::new(s.error_text()));
                }
            }
            if s.eof() == Op::Error {
                return Err(JsonError::new(s.error_text()));
            }
            Ok(data)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Typed decoding.

/// The Go type of one struct field, as far as the libpod bodies need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `string`
    Str,
    /// `bool`
    Bool,
    /// `[]string`
    StrSlice,
    /// `map[string]string`
    StrMap,
    /// `*string` (where `null` and `""` differ)
    OptStr,
}

impl Kind {
    /// The type as Go prints it in an `UnmarshalTypeError` (a pointer is reported as what it
    /// points to: Go allocates it before it finds the mismatch).
    fn go_type(self) -> &'static str {
        match self {
            Kind::Str | Kind::OptStr => "string",
            Kind::Bool => "bool",
            Kind::StrSlice => "[]string",
            Kind::StrMap => "map[string]string",
        }
    }
}

/// One field of a Go struct: its JSON name (the tag, or the Go name when untagged), its type, and
/// the embedded structs it sits in (for Go ≥ 1.24 error paths, [`EMBEDDED_FIELD_PATHS`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub embedded_in: &'static str,
}

/// A Go struct type: how Go prints it (`entities.ManifestModifyOptions`), its bare name as
/// `reflect.Type.Name()` gives it (empty for an anonymous struct), and its JSON fields (fields
/// tagged `json:"-"` are simply not listed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StructType {
    pub go_type: &'static str,
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// A `[]string` with Go's slice semantics: a second array for the same field decodes into the
/// old backing array (a `null` element keeps the old value), and growing copies only `len`
/// elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GoSlice {
    backing: Vec<String>,
    len: usize,
}

impl GoSlice {
    pub(crate) fn to_vec(&self) -> Vec<String> {
        self.backing.iter().take(self.len).cloned().collect()
    }
}

/// A decoded field value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Str(String),
    Bool(bool),
    StrSlice(GoSlice),
    StrMap(BTreeMap<String, String>),
    OptStr(Option<String>),
}

impl Val {
    fn zero(kind: Kind) -> Val {
        match kind {
            Kind::Str => Val::Str(String::new()),
            Kind::Bool => Val::Bool(false),
            Kind::StrSlice => Val::StrSlice(GoSlice::default()),
            Kind::StrMap => Val::StrMap(BTreeMap::new()),
            Kind::OptStr => Val::OptStr(None),
        }
    }
}

/// The decoded fields of one struct, by name.
#[derive(Debug, Clone)]
pub(crate) struct Decoded {
    ty: StructType,
    values: Vec<Val>,
}

impl Decoded {
    fn zero(ty: StructType) -> Self {
        Decoded {
            ty,
            values: ty.fields.iter().map(|f| Val::zero(f.kind)).collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&Val> {
        let i = self.ty.fields.iter().position(|f| f.name == name)?;
        self.values.get(i)
    }

    pub(crate) fn string(&self, name: &str) -> String {
        match self.get(name) {
            Some(Val::Str(s)) => s.clone(),
            _ => String::new(),
        }
    }

    pub(crate) fn boolean(&self, name: &str) -> bool {
        matches!(self.get(name), Some(Val::Bool(true)))
    }

    pub(crate) fn strings(&self, name: &str) -> Vec<String> {
        match self.get(name) {
            Some(Val::StrSlice(s)) => s.to_vec(),
            _ => Vec::new(),
        }
    }

    pub(crate) fn map(&self, name: &str) -> BTreeMap<String, String> {
        match self.get(name) {
            Some(Val::StrMap(m)) => m.clone(),
            _ => BTreeMap::new(),
        }
    }

    pub(crate) fn opt_string(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(Val::OptStr(s)) => s.clone(),
            _ => None,
        }
    }
}

/// Where a type error happened, for its text.
#[derive(Debug, Clone, Copy)]
enum Ctx<'c> {
    /// A top-level value, a map value, or anything not inside a struct field.
    Value,
    /// Inside a struct field: the struct's name and the field path.
    Field(&'c str, &'c str),
}

fn type_error(value: &str, go_type: &str, ctx: Ctx<'_>) -> JsonError {
    match ctx {
        Ctx::Value => JsonError::new(format!(
            "json: cannot unmarshal {value} into Go value of type {go_type}"
        )),
        Ctx::Field(s, f) => JsonError::new(format!(
            "json: cannot unmarshal {value} into Go struct field {s}.{f} of type {go_type}"
        )),
    }
}

/// Go's key folding (`foldName`): ASCII case, plus the two non-ASCII letters that fold into
/// ASCII, U+212A KELVIN SIGN (`K`) and U+017F LATIN SMALL LETTER LONG S (`S`).
fn fold(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{212a}' => 'K',
            '\u{17f}' => 'S',
            _ => c.to_ascii_uppercase(),
        })
        .collect()
}

/// True when `key` names the field or alias `name` under Go's case-insensitive matching.
pub(crate) fn fold_eq(name: &str, key: &str) -> bool {
    name == key || fold(name) == fold(key)
}

fn field_index(ty: &StructType, key: &str) -> Option<usize> {
    ty.fields.iter().position(|f| f.name == key).or_else(|| {
        let folded = fold(key);
        ty.fields.iter().position(|f| fold(f.name) == folded)
    })
}

/// Walks a syntactically valid value (checked by [`read_value`]) and decodes it.
struct Walker<'a> {
    b: &'a [u8],
    i: usize,
    err: Option<JsonError>,
}

impl<'a> Walker<'a> {
    fn new(b: &'a [u8]) -> Self {
        Walker { b, i: 0, err: None }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.i += 1;
        }
    }

    /// Remembers a type error; like Go's `saveError`, only the first one counts.
    fn save(&mut self, value: &str, go_type: &str, ctx: Ctx<'_>) {
        if self.err.is_none() {
            self.err = Some(type_error(value, go_type, ctx));
        }
    }

    /// A JSON `value` of the wrong type for a field of type `kind`. Go allocates a pointer
    /// field before it finds the mismatch, so an `OptStr` becomes `Some("")`; the first type
    /// error is kept.
    fn mismatch(&mut self, value: &str, kind: Kind, slot: &mut Val, ctx: Ctx<'_>) {
        if kind == Kind::OptStr {
            *slot = Val::OptStr(Some(String::new()));
        }
        self.save(value, kind.go_type(), ctx);
    }

    /// What kind of JSON value starts here, as Go names it in type errors.
    fn value_name(&self) -> &'static str {
        match self.peek() {
            Some(b'{') => "object",
            Some(b'[') => "array",
            Some(b'"') => "string",
            Some(b't' | b'f') => "bool",
            Some(b'n') => "null",
            _ => "number",
        }
    }

    /// Skips one value without recursion.
    fn skip(&mut self) {
        self.ws();
        match self.peek() {
            Some(b'"') => self.skip_string(),
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    match c {
                        b'"' => {
                            self.skip_string();
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                self.i += 1;
                                return;
                            }
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
            }
            Some(_) => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
                {
                    self.i += 1;
                }
            }
            None => {}
        }
    }

    fn skip_string(&mut self) {
        // At the opening quote.
        self.i += 1;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'"' => return,
                _ => {}
            }
        }
    }

    /// Reads a string at its opening quote, decoding it like Go's `unquote`.
    fn string(&mut self) -> String {
        let start = self.i + 1;
        self.skip_string();
        let end = self.i.saturating_sub(1).max(start);
        unquote(self.b.get(start..end).unwrap_or_default())
    }

    /// Iterates an object's members; `member` is called positioned at each value and must
    /// consume it.
    fn object(&mut self, mut member: impl FnMut(&mut Self, String)) {
        // At `{`.
        self.i += 1;
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => {}
                Some(b'}') => {
                    self.i += 1;
                    return;
                }
                _ => {
                    self.i = self.b.len();
                    return;
                }
            }
            let key = self.string();
            self.ws();
            if self.peek() != Some(b':') {
                self.i = self.b.len();
                return;
            }
            self.i += 1;
            self.ws();
            member(self, key);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return;
                }
                _ => {
                    self.i = self.b.len();
                    return;
                }
            }
        }
    }

    /// Iterates an array's elements; `element` must consume each one.
    fn array(&mut self, mut element: impl FnMut(&mut Self)) {
        // At `[`.
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return;
        }
        loop {
            self.ws();
            if self.peek().is_none() {
                return;
            }
            element(self);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return;
                }
                _ => {
                    self.i = self.b.len();
                    return;
                }
            }
        }
    }

    /// Decodes the value here into `slot` of type `kind` (Go's `d.value` into a field).
    fn decode_into(&mut self, kind: Kind, slot: &mut Val, ctx: Ctx<'_>) {
        self.ws();
        match self.peek() {
            Some(b'n') => {
                self.i += 4;
                // null zeroes maps, slices and pointers, and leaves everything else alone.
                match kind {
                    Kind::StrSlice | Kind::StrMap | Kind::OptStr => *slot = Val::zero(kind),
                    Kind::Str | Kind::Bool => {}
                }
            }
            Some(c @ (b't' | b'f')) => {
                self.skip();
                if kind == Kind::Bool {
                    *slot = Val::Bool(c == b't');
                } else {
                    self.mismatch("bool", kind, slot, ctx);
                }
            }
            Some(b'"') => {
                let s = self.string();
                match kind {
                    Kind::Str => *slot = Val::Str(s),
                    Kind::OptStr => *slot = Val::OptStr(Some(s)),
                    _ => self.mismatch("string", kind, slot, ctx),
                }
            }
            Some(b'[') => {
                if kind == Kind::StrSlice {
                    let mut slice = match std::mem::replace(slot, Val::zero(kind)) {
                        Val::StrSlice(s) => s,
                        _ => GoSlice::default(),
                    };
                    self.slice(&mut slice, ctx);
                    *slot = Val::StrSlice(slice);
                } else {
                    self.mismatch("array", kind, slot, ctx);
                    self.skip();
                }
            }
            Some(b'{') => {
                if kind == Kind::StrMap {
                    // Go decodes into the existing map: a second object for the field merges.
                    let mut map = match std::mem::replace(slot, Val::zero(kind)) {
                        Val::StrMap(m) => m,
                        _ => BTreeMap::new(),
                    };
                    self.string_map(&mut map, ctx);
                    *slot = Val::StrMap(map);
                } else {
                    self.mismatch("object", kind, slot, ctx);
                    self.skip();
                }
            }
            Some(_) => {
                self.skip();
                self.mismatch("number", kind, slot, ctx);
            }
            None => {}
        }
    }

    /// Go's `d.array` into a `[]string`.
    fn slice(&mut self, slice: &mut GoSlice, ctx: Ctx<'_>) {
        let mut i = 0usize;
        self.array(|w| {
            if i >= slice.backing.len() {
                let cap = slice.backing.len();
                let new_cap = (cap + cap / 2).max(4);
                let mut grown: Vec<String> =
                    slice.backing.iter().take(slice.len).cloned().collect();
                grown.resize(new_cap, String::new());
                slice.backing = grown;
            }
            if i >= slice.len {
                slice.len = i + 1;
            }
            let old = slice.backing.get(i).cloned().unwrap_or_default();
            let mut elem = Val::Str(old);
            w.decode_into(Kind::Str, &mut elem, ctx);
            if let (Some(dst), Val::Str(s)) = (slice.backing.get_mut(i), elem) {
                *dst = s;
            }
            i += 1;
        });
        if i < slice.len {
            slice.len = i;
        }
        if i == 0 {
            *slice = GoSlice::default();
        }
    }

    /// Go's `d.object` into a `map[string]string`: each value starts from "" (a `null` value
    /// stores ""), later keys overwrite earlier ones, and a mismatched value still stores "".
    fn string_map(&mut self, map: &mut BTreeMap<String, String>, ctx: Ctx<'_>) {
        self.object(|w, key| {
            let mut elem = Val::Str(String::new());
            w.decode_into(Kind::Str, &mut elem, ctx);
            if let Val::Str(s) = elem {
                map.insert(key, s);
            }
        });
    }

    /// Decodes an object into `out`, one struct.
    fn struct_fields(&mut self, out: &mut Decoded) {
        let ty = out.ty;
        self.object(|w, key| match field_index(&ty, &key) {
            Some(idx) => {
                let Some(field) = ty.fields.get(idx) else {
                    w.skip();
                    return;
                };
                let path = field_path(field);
                let ctx = Ctx::Field(ty.name, &path);
                if let Some(slot) = out.values.get_mut(idx) {
                    w.decode_into(field.kind, slot, ctx);
                } else {
                    w.skip();
                }
            }
            None => w.skip(),
        });
    }
}

fn field_path(field: &Field) -> String {
    if EMBEDDED_FIELD_PATHS {
        format!("{}{}", field.embedded_in, field.name)
    } else {
        field.name.to_string()
    }
}

/// Go's `unquote` of a string literal's contents: escapes decoded, invalid UTF-8 and unpaired
/// surrogates replaced by U+FFFD (one per invalid byte, as Go's `utf8.DecodeRune` reads them).
pub(crate) fn unquote(raw: &[u8]) -> String {
    if !raw.contains(&b'\\') {
        if let Ok(s) = std::str::from_utf8(raw) {
            return s.to_string();
        }
    }
    let mut out = String::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some(&c) = raw.get(i) {
        if c == b'\\' {
            let Some(&e) = raw.get(i + 1) else { break };
            i += 2;
            match e {
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let Some(r) = hex4(raw.get(i..i + 4)) else {
                        out.push('\u{fffd}');
                        break;
                    };
                    i += 4;
                    if (0xd800..0xe000).contains(&r) {
                        // A surrogate: valid only as a high one followed by `\u` + a low one.
                        let low = if raw.get(i..i + 2) == Some(b"\\u") {
                            hex4(raw.get(i + 2..i + 6))
                        } else {
                            None
                        };
                        match low {
                            Some(lo)
                                if (0xd800..0xdc00).contains(&r)
                                    && (0xdc00..0xe000).contains(&lo) =>
                            {
                                let c = 0x10000 + ((r - 0xd800) << 10) + (lo - 0xdc00);
                                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                                i += 6;
                            }
                            _ => out.push('\u{fffd}'),
                        }
                    } else {
                        out.push(char::from_u32(r).unwrap_or('\u{fffd}'));
                    }
                }
                // `"`, `\`, `/`: the character itself.
                _ => out.push(char::from(e)),
            }
            continue;
        }
        match decode_rune(raw.get(i..).unwrap_or_default()) {
            Some((ch, size)) => {
                out.push(ch);
                i += size;
            }
            None => {
                out.push('\u{fffd}');
                i += 1;
            }
        }
    }
    out
}

fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = digits?;
    let s = std::str::from_utf8(digits).ok()?;
    if s.len() != 4 {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// Decodes `data` (read per `mode`) into a struct of type `ty`, like Go decoding into a
/// `*ty`. A syntax error, or the first type mismatch, is the error.
pub(crate) fn decode_struct(
    data: &[u8],
    mode: ReadMode,
    ty: StructType,
) -> Result<Decoded, JsonError> {
    let value = read_value(data, mode)?;
    let (decoded, err) = decode_struct_value(value, ty);
    match err {
        Some(e) => Err(e),
        None => Ok(decoded),
    }
}

/// Decodes a syntactically valid value into a struct; returns the (partial) result and the
/// first type error.
pub(crate) fn decode_struct_value(value: &[u8], ty: StructType) -> (Decoded, Option<JsonError>) {
    let mut out = Decoded::zero(ty);
    let mut w = Walker::new(value);
    w.ws();
    match w.peek() {
        Some(b'{') => w.struct_fields(&mut out),
        Some(b'n') | None => {}
        Some(_) => {
            let name = w.value_name();
            w.save(name, ty.go_type, Ctx::Value);
        }
    }
    (out, w.err)
}

/// A decoded `map[string]T` for a struct `T`: `None` for JSON `null` (Go's nil map), else the
/// members in document order, each key once (a later member replaces an earlier one).
pub(crate) type StructMap = Option<Vec<(String, Decoded)>>;

/// Decodes a syntactically valid value into `map[string]ty`, whose Go type prints as
/// `map_go_type`.
pub(crate) fn decode_struct_map_value(
    value: &[u8],
    ty: StructType,
    map_go_type: &str,
) -> (StructMap, Option<JsonError>) {
    let mut w = Walker::new(value);
    w.ws();
    match w.peek() {
        Some(b'{') => {
            let mut members: Vec<(String, Decoded)> = Vec::new();
            w.object(|w, key| {
                let mut elem = Decoded::zero(ty);
                w.ws();
                match w.peek() {
                    Some(b'{') => w.struct_fields(&mut elem),
                    Some(b'n') => w.skip(),
                    _ => {
                        let name = w.value_name();
                        w.save(name, ty.go_type, Ctx::Value);
                        w.skip();
                    }
                }
                members.retain(|(k, _)| *k != key);
                members.push((key, elem));
            });
            (Some(members), w.err)
        }
        Some(b'n') | None => (None, None),
        Some(_) => {
            let name = w.value_name();
            w.save(name, map_go_type, Ctx::Value);
            (Some(Vec::new()), w.err)
        }
    }
}

/// `json.Unmarshal(data, &m)` for a `map[string]string` `m` made beforehand, returning what Go
/// leaves in `m` together with the error: syntax errors leave it empty, type mismatches leave
/// the members decoded so far plus `""` for each mismatched value.
pub fn unmarshal_string_map(data: &[u8]) -> (BTreeMap<String, String>, Option<JsonError>) {
    let value = match read_value(data, ReadMode::Unmarshal) {
        Ok(v) => v,
        Err(e) => return (BTreeMap::new(), Some(e)),
    };
    let mut w = Walker::new(value);
    w.ws();
    let mut map = BTreeMap::new();
    match w.peek() {
        Some(b'{') => w.string_map(&mut map, Ctx::Value),
        Some(b'n') | None => {}
        Some(_) => {
            let name = w.value_name();
            w.save(name, "map[string]string", Ctx::Value);
        }
    }
    (map, w.err)
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// A `serde_json` formatter that writes strings the way Go's `json.Encoder` does.
///
/// serde_json already escapes `"`, `\` and control characters as Go ≥ 1.22 does (`\b`, `\f`,
/// `\n`, `\r`, `\t`, `\u00XX` in lower-case hex, DEL left alone). On top of that Go always
/// escapes U+2028 and U+2029, and, with HTML escaping on (the default of `json.Encoder`, turned
/// off by podman's `WriteJSON` but not by the push stream), `<`, `>` and `&`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GoFormatter {
    /// Escape `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`.
    pub escape_html: bool,
}

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            let escaped = match c {
                '<' if self.escape_html => r"\u003c",
                '>' if self.escape_html => r"\u003e",
                '&' if self.escape_html => r"\u0026",
                '\u{2028}' => r"\u2028",
                '\u{2029}' => r"\u2029",
                _ => continue,
            };
            writer.write_all(fragment.get(start..i).unwrap_or_default().as_bytes())?;
            writer.write_all(escaped.as_bytes())?;
            start = i + c.len_utf8();
        }
        writer.write_all(fragment.get(start..).unwrap_or_default().as_bytes())
    }
}

/// Serialises `value` compactly with [`GoFormatter`], followed by `\n`, as `json.Encoder.Encode`
/// writes it. Serialising manifold's own response types cannot fail; should a value ever fail to
/// serialise, the result is `null\n`.
pub fn encode<T: serde::Serialize + ?Sized>(value: &T, escape_html: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, GoFormatter { escape_html });
    if value.serialize(&mut ser).is_err() {
        out.clear();
        out.extend_from_slice(b"null");
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing test should panic
mod tests {
    use super::*;
    use crate::libpod::testdata;

    #[test]
    fn syntax_errors_match_go() {
        let cases = [
            (&b""[..], ReadMode::Decoder, "EOF"),
            (b"", ReadMode::Unmarshal, "unexpected end of JSON input"),
            (
                b"{\"a\":-}",
                ReadMode::Decoder,
                "invalid character '}' in numeric literal",
            ),
            (
                b"-x",
                ReadMode::Decoder,
                "invalid character 'x' in numeric literal",
            ),
            (b"{\"a\"", ReadMode::Decoder, "unexpected EOF"),
            (
                b"1.",
                ReadMode::Unmarshal,
                "invalid character ' ' after decimal point in numeric literal",
            ),
            (
                b"{} x",
                ReadMode::Unmarshal,
                "invalid character 'x' after top-level value",
            ),
        ];
        for (input, mode, want) in cases {
            assert_eq!(
                read_value(input, mode).unwrap_err().as_str(),
                want,
                "{input:?}"
            );
        }
        assert_eq!(read_value(b" {} x", ReadMode::Decoder).unwrap(), b" {}");
        assert_eq!(read_value(b"12 x", ReadMode::Decoder).unwrap(), b"12");
        assert_eq!(read_value(b"12", ReadMode::Decoder).unwrap(), b"12");
    }

    #[test]
    fn depth_limit_is_gos() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read_value(ok.as_bytes(), ReadMode::Decoder).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(
            read_value(deep.as_bytes(), ReadMode::Unmarshal)
                .unwrap_err()
                .as_str(),
            "invalid character '[' exceeded max depth"
        );
    }

    #[test]
    fn unquote_like_go() {
        assert_eq!(unquote(br"a\u00e9\ud83d\ude00"), "aé😀");
        assert_eq!(unquote(br"\ud83d"), "\u{fffd}");
        assert_eq!(unquote(br"\udc00x"), "\u{fffd}x");
        assert_eq!(unquote(br"\ud83d\u0041"), "\u{fffd}A");
        assert_eq!(unquote(b"\xe2\x82x"), "\u{fffd}\u{fffd}x");
        assert_eq!(unquote(br#"\"\\\/\b\f\n\r\t"#), "\"\\/\u{8}\u{c}\n\r\t");
    }

    #[test]
    fn query_map_matches_go() {
        let mut n = 0;
        for case in testdata::gojson("query_map") {
            let input = case.input();
            let (map, err) = unmarshal_string_map(&input);
            let want: BTreeMap<String, String> =
                serde_json::from_value(case.get("out")["map"].clone()).unwrap();
            assert_eq!(map, want, "map for {}", String::from_utf8_lossy(&input));
            assert_eq!(
                err.map(|e| e.0),
                case.err(),
                "error for {}",
                String::from_utf8_lossy(&input)
            );
            n += 1;
        }
        assert!(n > 400, "{n}");
    }

    #[test]
    fn encoder_matches_go() {
        for (mode, html) in [("EncodeNoHTML", false), ("EncodeHTML", true)] {
            for case in testdata::misc(mode) {
                // Rust strings are UTF-8: invalid bytes were replaced by U+FFFD when the string
                // was made, and a real U+FFFD is written as itself, as Go writes it.
                let Ok(input) = String::from_utf8(case.input()) else {
                    continue;
                };
                let mut m = BTreeMap::new();
                m.insert("s", input.as_str());
                let got = String::from_utf8(encode(&m, html)).unwrap();
                // The fixtures come from Go 1.19; Go 1.22 and later write `\b` and `\f` (as
                // podman 5.8.2, built with a current Go, does).
                let want = case
                    .out()
                    .replace(r"\u0008", r"\b")
                    .replace(r"\u000c", r"\f");
                assert_eq!(got, want, "{mode} {input:?}");
            }
        }
    }

    #[test]
    fn fold_matches_go() {
        assert!(fold_eq("images", "IMAGES"));
        assert!(fold_eq("images", "image\u{17f}"));
        assert!(fold_eq("key", "\u{212a}ey"));
        assert!(!fold_eq("os_version", "OSVersion"));
        assert!(!fold_eq("all", "al"));
    }
}
