//! `--name value` command lines, small enough not to need a parser crate.

use std::collections::HashMap;
use std::str::FromStr;

use crate::{Error, Result};

/// Options given as `--name value` pairs; each name may be given once.
#[derive(Debug, Default)]
pub struct Args {
    values: HashMap<String, String>,
}

impl Args {
    /// Parses `args` (without the program name), accepting only the names in `known`.
    pub fn parse(args: impl IntoIterator<Item = String>, known: &[&str]) -> Result<Args> {
        let mut values = HashMap::new();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let name = arg
                .strip_prefix("--")
                .filter(|name| known.contains(name))
                .ok_or_else(|| Error::Usage(format!("unknown argument '{arg}'")))?;
            let value = args
                .next()
                .ok_or_else(|| Error::Usage(format!("--{name} needs a value")))?;
            if values.insert(name.to_string(), value).is_some() {
                return Err(Error::Usage(format!("--{name} given twice")));
            }
        }
        Ok(Args { values })
    }

    /// The value of `--name` parsed as T, or `default` when it was not given.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.values.get(name) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| Error::Usage(format!("--{name}: cannot use '{text}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<Args> {
        Args::parse(
            line.split_whitespace().map(String::from),
            &["port", "conns"],
        )
    }

    #[test]
    fn values_and_defaults() {
        let args = parse("--port 80 --conns 5").unwrap();
        assert_eq!(args.get("port", 0u16).unwrap(), 80);
        assert_eq!(args.get("conns", 1usize).unwrap(), 5);
        let args = parse("").unwrap();
        assert_eq!(args.get("port", 7u16).unwrap(), 7);
    }

    #[test]
    fn mistakes_are_usage_errors() {
        assert!(parse("--nope 1").is_err());
        assert!(parse("--port").is_err());
        assert!(parse("--port 1 --port 2").is_err());
        assert!(parse("--port x").unwrap().get("port", 0u16).is_err());
    }
}
