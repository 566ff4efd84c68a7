//! Module parameters: the types a module may declare in `.modinfo`
//! (`parm=NAME:TYPE:description`) and the values insmod accepts for each.

/// A parameter type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamType {
    /// Any string.
    Str,
    /// `u32` in decimal.
    U32,
    /// `i32` in decimal.
    I32,
    /// `u64` in decimal.
    U64,
    /// `1 y true` or `0 n false`.
    Bool,
}

impl ParamType {
    /// Every type, in the order the docs list them.
    pub const ALL: [ParamType; 5] = [
        ParamType::Str,
        ParamType::U32,
        ParamType::I32,
        ParamType::U64,
        ParamType::Bool,
    ];

    /// The type as `.modinfo` spells it.
    pub const fn name(self) -> &'static str {
        match self {
            ParamType::Str => "str",
            ParamType::U32 => "u32",
            ParamType::I32 => "i32",
            ParamType::U64 => "u64",
            ParamType::Bool => "bool",
        }
    }

    /// Parses a `.modinfo` type name.
    pub fn from_name(s: &str) -> Option<ParamType> {
        Self::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Whether `value` is a valid value of this type.
    pub fn accepts(self, value: &str) -> bool {
        match self {
            ParamType::Str => true,
            ParamType::U32 => value.parse::<u32>().is_ok(),
            ParamType::I32 => value.parse::<i32>().is_ok(),
            ParamType::U64 => value.parse::<u64>().is_ok(),
            ParamType::Bool => parse_bool(value).is_some(),
        }
    }
}

impl core::fmt::Display for ParamType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// A `bool` parameter value: `1 y true` or `0 n false`.
pub fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "y" | "true" => Some(true),
        "0" | "n" | "false" => Some(false),
        _ => None,
    }
}

/// One declared parameter, borrowed from its `parm=` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamDecl<'a> {
    /// Name.
    pub name: &'a str,
    /// Type, or the unknown type name as written.
    pub ty: Result<ParamType, &'a str>,
    /// Description.
    pub desc: &'a str,
}

impl<'a> ParamDecl<'a> {
    /// Parses a `parm=` value: `NAME:TYPE[:description]`.
    pub fn parse(v: &'a str) -> Option<ParamDecl<'a>> {
        let mut it = v.splitn(3, ':');
        let name = it.next().filter(|n| !n.is_empty())?;
        let ty = it.next()?;
        Some(ParamDecl {
            name,
            ty: ParamType::from_name(ty).ok_or(ty),
            desc: it.next().unwrap_or(""),
        })
    }

    /// The type name as written.
    pub fn type_name(&self) -> &'a str {
        match self.ty {
            Ok(t) => t.name(),
            Err(s) => s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_values() {
        for t in ParamType::ALL {
            assert_eq!(ParamType::from_name(t.name()), Some(t));
        }
        assert_eq!(ParamType::from_name("f32"), None);
        assert!(ParamType::U32.accepts("4294967295") && !ParamType::U32.accepts("4294967296"));
        assert!(ParamType::I32.accepts("-5") && !ParamType::U32.accepts("-5"));
        assert!(ParamType::U64.accepts("18446744073709551615"));
        assert!(ParamType::Bool.accepts("y") && !ParamType::Bool.accepts("yes"));
        assert!(ParamType::Str.accepts(""));
    }

    #[test]
    fn declarations() {
        let d = ParamDecl::parse("count:u32:How many: at most 10").unwrap();
        assert_eq!(
            (d.name, d.ty, d.desc),
            ("count", Ok(ParamType::U32), "How many: at most 10")
        );
        let d = ParamDecl::parse("x:f32").unwrap();
        assert_eq!((d.ty, d.type_name(), d.desc), (Err("f32"), "f32", ""));
        assert!(ParamDecl::parse("noty").is_none() && ParamDecl::parse(":u32").is_none());
    }
}
