//! The Lua interpreters tests run on: our runner and the stock ones.

use std::fmt;

use crate::workspace::find_program;
use crate::Result;

/// A Lua version the loadable module is built for; its name is also the cargo feature
/// and the directory under target/lua-modules/.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LuaVersion {
    Lua54,
    Lua53,
    Lua52,
    Lua51,
    LuaJit,
}

impl LuaVersion {
    const ALL: [LuaVersion; 5] = [
        LuaVersion::Lua54,
        LuaVersion::Lua53,
        LuaVersion::Lua52,
        LuaVersion::Lua51,
        LuaVersion::LuaJit,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            LuaVersion::Lua54 => "lua54",
            LuaVersion::Lua53 => "lua53",
            LuaVersion::Lua52 => "lua52",
            LuaVersion::Lua51 => "lua51",
            LuaVersion::LuaJit => "luajit",
        }
    }

    /// The stock interpreter's command, as Debian names it.
    pub(crate) fn program(self) -> &'static str {
        match self {
            LuaVersion::Lua54 => "lua5.4",
            LuaVersion::Lua53 => "lua5.3",
            LuaVersion::Lua52 => "lua5.2",
            LuaVersion::Lua51 => "lua5.1",
            LuaVersion::LuaJit => "luajit",
        }
    }

    /// The `--lua-version` LuaRocks knows this version by; LuaJIT is not told apart.
    pub(crate) fn luarocks_version(self) -> Option<&'static str> {
        match self {
            LuaVersion::Lua54 => Some("5.4"),
            LuaVersion::Lua53 => Some("5.3"),
            LuaVersion::Lua52 => Some("5.2"),
            LuaVersion::Lua51 => Some("5.1"),
            LuaVersion::LuaJit => None,
        }
    }

    fn from_name(name: &str) -> Option<LuaVersion> {
        Self::ALL.into_iter().find(|version| version.name() == name)
    }

    /// The versions whose stock interpreter is on PATH.
    pub(crate) fn installed() -> Vec<LuaVersion> {
        Self::ALL
            .into_iter()
            .filter(|version| find_program(version.program()).is_some())
            .collect()
    }

    /// Parses a comma-separated list such as `lua54,luajit`.
    pub(crate) fn parse_list(list: &str) -> Result<Vec<LuaVersion>> {
        parse_list(list, LuaVersion::from_name)
    }
}

impl fmt::Display for LuaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What runs a test file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interpreter {
    /// The `copas` binary of crates/copas-lua, with every module preloaded.
    Runner,
    /// A stock interpreter loading our module through LUA_CPATH.
    Stock(LuaVersion),
}

impl Interpreter {
    /// The runner and every stock interpreter on PATH.
    pub(crate) fn available() -> Vec<Interpreter> {
        std::iter::once(Interpreter::Runner)
            .chain(LuaVersion::installed().into_iter().map(Interpreter::Stock))
            .collect()
    }

    /// Parses a comma-separated list such as `runner,lua51`.
    pub(crate) fn parse_list(list: &str) -> Result<Vec<Interpreter>> {
        parse_list(list, |name| match name {
            "runner" => Some(Interpreter::Runner),
            _ => LuaVersion::from_name(name).map(Interpreter::Stock),
        })
    }
}

impl fmt::Display for Interpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interpreter::Runner => f.write_str("runner"),
            Interpreter::Stock(version) => version.fmt(f),
        }
    }
}

fn parse_list<T: PartialEq>(list: &str, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>> {
    let mut items = Vec::new();
    for name in list
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let item = parse(name).ok_or_else(|| format!("unknown Lua '{name}'"))?;
        if !items.contains(&item) {
            items.push(item);
        }
    }
    if items.is_empty() {
        return Err(format!("no Lua named in '{list}'").into());
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_in_order_without_duplicates() {
        assert_eq!(
            Interpreter::parse_list("luajit, runner,luajit").unwrap(),
            [Interpreter::Stock(LuaVersion::LuaJit), Interpreter::Runner]
        );
        assert_eq!(
            LuaVersion::parse_list("lua51,lua54").unwrap(),
            [LuaVersion::Lua51, LuaVersion::Lua54]
        );
    }

    #[test]
    fn unknown_and_empty_lists_are_errors() {
        assert!(LuaVersion::parse_list("runner").is_err());
        assert!(LuaVersion::parse_list("lua55").is_err());
        assert!(Interpreter::parse_list(",").is_err());
    }
}
