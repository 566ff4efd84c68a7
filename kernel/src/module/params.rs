//! `param=value` arguments checked against the types a module declares
//! ([`kabi::param`]).

use super::error::ParamError;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use kabi::param::ParamDecl;

/// `param=value` pairs given at insmod.
pub type Params = Vec<(String, String)>;

/// The declared parameters in `.modinfo` (`parm=` entries that parse).
pub fn decls(modinfo: &[(String, String)]) -> Vec<ParamDecl<'_>> {
    modinfo
        .iter()
        .filter(|(k, _)| k == "parm")
        .filter_map(|(_, v)| ParamDecl::parse(v))
        .collect()
}

/// Splits `param=value` arguments and checks each against the declarations.
pub fn check(modinfo: &[(String, String)], args: &[&str]) -> Result<Params, ParamError> {
    let decls = decls(modinfo);
    let mut out = Vec::new();
    for a in args {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| ParamError::NotAssignment(a.to_string()))?;
        let Some(d) = decls.iter().find(|d| d.name == k) else {
            return Err(ParamError::Unknown {
                param: k.into(),
                known: decls.iter().map(|d| d.name.to_string()).collect(),
            });
        };
        if !d.ty.is_ok_and(|t| t.accepts(v)) {
            return Err(ParamError::BadValue {
                param: k.into(),
                value: v.into(),
                ty: d.type_name().into(),
            });
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}
