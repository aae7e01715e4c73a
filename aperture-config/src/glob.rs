//! Globs: model globs over `provider/model` and shell globs for pricing aliases.

use std::fmt;

/// A segment glob over `/`-separated names (SPEC.md §6.3): `**` as a whole segment matches zero
/// or more segments, `*` matches within one segment.
///
/// ```
/// use aperture_config::ModelGlob;
/// let g = ModelGlob::parse("anthropic/**").unwrap();
/// assert!(g.matches("anthropic/claude-sonnet-4-6"));
/// assert!(!g.matches("openrouter/anthropic/claude-x"));
/// assert!(ModelGlob::parse("*/claude-sonnet*").unwrap().matches("vercel/claude-sonnet-4-5"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ModelGlob {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of whole segments.
    Any,
    /// A segment pattern where `*` matches any run of characters.
    Pattern(String),
}

impl ModelGlob {
    /// Parses a glob; empty globs, empty segments and `**` inside a segment are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty pattern".into());
        }
        let mut segments = Vec::new();
        for seg in text.split('/') {
            if seg.is_empty() {
                return Err("empty path segment".into());
            }
            if seg == "**" {
                segments.push(Segment::Any);
            } else if seg.contains("**") {
                return Err("\"**\" must be a whole segment".into());
            } else {
                segments.push(Segment::Pattern(seg.to_string()));
            }
        }
        Ok(Self {
            text: text.to_string(),
            segments,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` (for example `anthropic/claude-sonnet-4-6`) matches.
    pub fn matches(&self, name: &str) -> bool {
        with_parts(None, name, |parts| match_segments(&self.segments, parts))
    }

    /// Whether `provider/model` matches, without building that string (the per-request grant
    /// check).
    ///
    /// ```
    /// use aperture_config::ModelGlob;
    /// let g = ModelGlob::parse("openrouter/anthropic/*").unwrap();
    /// assert!(g.matches_model("openrouter", "anthropic/claude-x"));
    /// assert!(!g.matches_model("anthropic", "claude-x"));
    /// ```
    pub fn matches_model(&self, provider: &str, model: &str) -> bool {
        with_parts(Some(provider), model, |parts| {
            match_segments(&self.segments, parts)
        })
    }

    /// Whether the first segment matches `first` (used to check that a glob can name a
    /// declared provider). `**` matches anything.
    pub fn first_segment_matches(&self, first: &str) -> bool {
        match self.segments.first() {
            Some(Segment::Any) | None => true,
            Some(Segment::Pattern(p)) => star_match(p.as_bytes(), first.as_bytes()),
        }
    }

    /// The literal first segment, when it has no wildcard.
    pub fn literal_first_segment(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Pattern(p)) if !p.contains('*') => Some(p),
            _ => None,
        }
    }

    /// The first segment when it is a pattern (not `**`).
    pub fn first_segment(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Pattern(p)) => Some(p),
            _ => None,
        }
    }
}

/// Calls `f` with the `/`-separated segments of `prefix` (one segment) and `name`, on the stack
/// for names of up to eight segments.
fn with_parts<'a, R>(prefix: Option<&'a str>, name: &'a str, f: impl FnOnce(&[&'a str]) -> R) -> R {
    let mut buf: [&'a str; 8] = [""; 8];
    let mut n = 0;
    for part in prefix.into_iter().chain(name.split('/')) {
        if n == buf.len() {
            let all: Vec<&str> = prefix.into_iter().chain(name.split('/')).collect();
            return f(&all);
        }
        buf[n] = part;
        n += 1;
    }
    f(&buf[..n])
}

fn match_segments(pat: &[Segment], parts: &[&str]) -> bool {
    match pat.split_first() {
        None => parts.is_empty(),
        Some((Segment::Any, rest)) => (0..=parts.len()).any(|i| match_segments(rest, &parts[i..])),
        Some((Segment::Pattern(p), rest)) => match parts.split_first() {
            Some((first, tail)) => {
                star_match(p.as_bytes(), first.as_bytes()) && match_segments(rest, tail)
            }
            None => false,
        },
    }
}

/// `*`-only wildcard match (iterative, linear backtracking).
fn star_match(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

impl fmt::Debug for ModelGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModelGlob({:?})", self.text)
    }
}

/// A shell glob: `*` and `?` (never across `/`) and `[...]` classes (`[!...]` negates,
/// ranges with `-`).
///
/// ```
/// use aperture_config::ShellGlob;
/// let g = ShellGlob::parse("claude-*-preview*").unwrap();
/// assert!(g.matches("claude-opus-preview-1"));
/// assert!(!g.matches("x/claude-opus-preview"));
/// assert!(ShellGlob::parse("gpt-[45]?").unwrap().matches("gpt-4o"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ShellGlob {
    text: String,
    tokens: Vec<Token>,
}

#[derive(Clone, PartialEq, Eq)]
enum Token {
    Char(char),
    Any,
    One,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl ShellGlob {
    /// Parses a glob; an unclosed `[` is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '*' => tokens.push(Token::Any),
                '?' => tokens.push(Token::One),
                '\\' if i + 1 < chars.len() => {
                    i += 1;
                    tokens.push(Token::Char(chars[i]));
                }
                '[' => {
                    let mut j = i + 1;
                    let negated = matches!(chars.get(j), Some('!' | '^'));
                    if negated {
                        j += 1;
                    }
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        match chars.get(j) {
                            None => return Err("unclosed character class".into()),
                            Some(']') if !first => break,
                            Some(&c) => {
                                if chars.get(j + 1) == Some(&'-')
                                    && chars.get(j + 2).is_some_and(|&e| e != ']')
                                {
                                    let end = chars[j + 2];
                                    if end < c {
                                        return Err(format!("invalid range {c}-{end}"));
                                    }
                                    ranges.push((c, end));
                                    j += 3;
                                } else {
                                    ranges.push((c, c));
                                    j += 1;
                                }
                            }
                        }
                        first = false;
                    }
                    tokens.push(Token::Class { negated, ranges });
                    i = j;
                }
                c => tokens.push(Token::Char(c)),
            }
            i += 1;
        }
        Ok(Self {
            text: text.to_string(),
            tokens,
        })
    }

    /// The glob as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        let s: Vec<char> = name.chars().collect();
        let (mut ti, mut si) = (0, 0);
        let (mut star, mut mark) = (None, 0);
        while si < s.len() {
            let step = match self.tokens.get(ti) {
                Some(Token::Any) => {
                    star = Some(ti);
                    mark = si;
                    ti += 1;
                    continue;
                }
                Some(Token::One) => s[si] != '/',
                Some(Token::Char(c)) => *c == s[si],
                Some(Token::Class { negated, ranges }) => {
                    s[si] != '/'
                        && ranges.iter().any(|&(a, b)| a <= s[si] && s[si] <= b) != *negated
                }
                None => false,
            };
            if step {
                ti += 1;
                si += 1;
            } else if let Some(st) = star {
                // `*` never crosses `/`.
                if s[mark] == '/' {
                    return false;
                }
                ti = st + 1;
                mark += 1;
                si = mark;
            } else {
                return false;
            }
        }
        self.tokens[ti..].iter().all(|t| *t == Token::Any)
    }
}

impl fmt::Debug for ShellGlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ShellGlob({:?})", self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mg(p: &str) -> ModelGlob {
        ModelGlob::parse(p).unwrap()
    }

    #[test]
    fn model_globs_follow_the_spec_examples() {
        assert!(mg("**").matches("anthropic/claude-x"));
        assert!(mg("**").matches("openrouter/qwen/qwen3-235b-a22b-2507"));
        assert!(mg("anthropic/**").matches("anthropic/claude-x"));
        assert!(!mg("anthropic/**").matches("openrouter/anthropic/claude-x"));
        assert!(mg("*/claude-sonnet*").matches("anthropic/claude-sonnet-4-6"));
        assert!(!mg("*/claude-sonnet*").matches("openrouter/anthropic/claude-sonnet-4-6"));
        assert!(mg("aperture-*/**").matches("aperture-eu/gpt-5"));
        assert!(!mg("aperture-*/**").matches("openai/gpt-5"));
        assert!(mg("openai/gpt-5").matches("openai/gpt-5"));
        assert!(!mg("openai/gpt-5").matches("openai/gpt-5-mini"));
        assert!(!mg("openrouter/*").matches("openrouter/qwen/qwen3-235b-a22b-2507"));
        assert!(mg("openrouter/*/*").matches("openrouter/qwen/qwen3-235b-a22b-2507"));
        assert!(mg("a/**/z").matches("a/z"));
        assert!(mg("a/**/z").matches("a/b/c/z"));
    }

    #[test]
    fn bad_model_globs() {
        for p in ["", "a//b", "/a", "a/", "a**/b"] {
            assert!(ModelGlob::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn shell_globs() {
        let g = ShellGlob::parse("claude-*-preview*").unwrap();
        assert!(g.matches("claude-x-preview"));
        assert!(!g.matches("claude-a/b-preview"));
        assert!(ShellGlob::parse("[!a-c]x").unwrap().matches("dx"));
        assert!(!ShellGlob::parse("[!a-c]x").unwrap().matches("bx"));
        assert!(ShellGlob::parse("a[]]").unwrap().matches("a]"));
        assert!(ShellGlob::parse("a[b").is_err());
        assert!(ShellGlob::parse("[z-a]").is_err());
    }

    proptest! {
        /// The allocation-free `provider`, `model` form agrees with matching the joined name,
        /// also past the eight segments kept on the stack.
        #[test]
        fn matches_model_agrees_with_matches(
            glob in "(\\*\\*|[ab*]{1,3})(/(\\*\\*|[ab*]{1,3})){0,4}",
            provider in "[ab]{1,2}",
            model in "[ab]{1,2}(/[ab]{1,2}){0,10}",
        ) {
            let Ok(g) = ModelGlob::parse(&glob) else {
                return Ok(()); // `a**` and the like are not globs.
            };
            prop_assert_eq!(
                g.matches_model(&provider, &model),
                g.matches(&format!("{provider}/{model}"))
            );
        }

        #[test]
        fn literal_globs_match_only_themselves(a in "[a-z0-9.-]{1,8}", b in "[a-z0-9.-]{1,8}") {
            let name = format!("{a}/{b}");
            prop_assert!(mg(&name).matches(&name));
            prop_assert!(ShellGlob::parse(&b).unwrap().matches(&b));
            prop_assert_eq!(mg(&format!("{a}/{a}")).matches(&name), a == b);
        }

        #[test]
        fn star_matches_any_single_segment(a in "[a-z]{1,8}", b in "[a-z0-9.-]{1,12}") {
            let name = format!("{a}/{b}");
            let pat = format!("{a}/*");
            prop_assert!(mg(&pat).matches(&name));
            prop_assert!(mg("*/*").matches(&name));
            prop_assert!(!mg("*").matches(&name));
            prop_assert!(ShellGlob::parse("*").unwrap().matches(&b));
        }

        #[test]
        fn parsers_never_panic(p in "\\PC{0,12}", s in "\\PC{0,12}") {
            if let Ok(g) = ModelGlob::parse(&p) { let _ = g.matches(&s); }
            if let Ok(g) = ShellGlob::parse(&p) { let _ = g.matches(&s); }
        }
    }
}
