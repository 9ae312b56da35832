//! The functions a shared object exports, read from its ELF dynamic symbol table.
//!
//! Read here rather than with `nm` so that installing the module needs no binutils
//! and depends on no tool's output format. Only 64-bit little-endian objects
//! (x86-64, AArch64 Linux) are understood.

const SECTION_TABLE_OFFSET: usize = 0x28;
const SECTION_ENTRY_SIZE: usize = 0x3a;
const SECTION_COUNT: usize = 0x3c;
const SECTION_HEADER_LEN: usize = 64;
const SYMBOL_LEN: usize = 24;

const SHT_DYNSYM: u32 = 11;
const SHN_UNDEF: u16 = 0;
const STT_FUNC: u8 = 2;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;

/// Names of the global functions `image` defines for the dynamic linker.
pub(crate) fn exported_functions(image: &[u8]) -> Result<Vec<String>, String> {
    if image.get(..4) != Some(b"\x7fELF".as_slice()) {
        return Err("not an ELF file".into());
    }
    if image.get(4..6) != Some([2, 1].as_slice()) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let table = to_usize(read_u64(image, SECTION_TABLE_OFFSET)?)?;
    let entry_len = usize::from(read_u16(image, SECTION_ENTRY_SIZE)?);
    let count = usize::from(read_u16(image, SECTION_COUNT)?);
    if entry_len < SECTION_HEADER_LEN {
        return Err(format!("section headers of {entry_len} bytes"));
    }
    let section = |index: usize| -> Result<Section, String> {
        let offset = index
            .checked_mul(entry_len)
            .and_then(|o| o.checked_add(table))
            .ok_or("section table out of range")?;
        Section::read(image, offset)
    };

    for index in 0..count {
        let symbols = section(index)?;
        if symbols.kind != SHT_DYNSYM {
            continue;
        }
        let link = to_usize(u64::from(symbols.link))?;
        if link >= count {
            return Err("symbol names in a section that does not exist".into());
        }
        let names = section(link)?;
        let names = names.contents(image)?;
        let symbol_len = to_usize(symbols.entry_len)?;
        if symbol_len < SYMBOL_LEN {
            return Err(format!("symbols of {symbol_len} bytes"));
        }
        let mut functions = Vec::new();
        for symbol in symbols.contents(image)?.chunks_exact(symbol_len) {
            let name = to_usize(u64::from(read_u32(symbol, 0)?))?;
            let info = symbol[4];
            let defined = read_u16(symbol, 6)? != SHN_UNDEF;
            let global = matches!(info >> 4, STB_GLOBAL | STB_WEAK);
            if defined && global && info & 0xf == STT_FUNC {
                functions.push(read_name(names, name)?);
            }
        }
        return Ok(functions);
    }
    Err("no dynamic symbol table".into())
}

/// The fields of a section header this reader needs.
struct Section {
    kind: u32,
    offset: u64,
    len: u64,
    link: u32,
    entry_len: u64,
}

impl Section {
    fn read(image: &[u8], at: usize) -> Result<Section, String> {
        let header = field(image, at, SECTION_HEADER_LEN)?;
        Ok(Section {
            kind: read_u32(header, 4)?,
            offset: read_u64(header, 24)?,
            len: read_u64(header, 32)?,
            link: read_u32(header, 40)?,
            entry_len: read_u64(header, 56)?,
        })
    }

    fn contents<'a>(&self, image: &'a [u8]) -> Result<&'a [u8], String> {
        field(image, to_usize(self.offset)?, to_usize(self.len)?)
    }
}

fn read_name(strings: &[u8], at: usize) -> Result<String, String> {
    let tail = strings.get(at..).ok_or("symbol name out of range")?;
    let end = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or("unterminated symbol name")?;
    String::from_utf8(tail[..end].to_vec()).map_err(|_| "symbol name is not UTF-8".into())
}

fn field(image: &[u8], at: usize, len: usize) -> Result<&[u8], String> {
    at.checked_add(len)
        .and_then(|end| image.get(at..end))
        .ok_or_else(|| "truncated ELF file".into())
}

fn read_u16(image: &[u8], at: usize) -> Result<u16, String> {
    read(image, at).map(u16::from_le_bytes)
}

fn read_u32(image: &[u8], at: usize) -> Result<u32, String> {
    read(image, at).map(u32::from_le_bytes)
}

fn read_u64(image: &[u8], at: usize) -> Result<u64, String> {
    read(image, at).map(u64::from_le_bytes)
}

fn read<const N: usize>(image: &[u8], at: usize) -> Result<[u8; N], String> {
    let mut bytes = [0; N];
    bytes.copy_from_slice(field(image, at, N)?);
    Ok(bytes)
}

fn to_usize(value: u64) -> Result<usize, String> {
    usize::try_from(value).map_err(|_| "ELF offset out of range".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FUNC_GLOBAL: u8 = STB_GLOBAL << 4 | STT_FUNC;

    /// A minimal ELF image: header, .dynstr, .dynsym and three section headers
    /// (null, .dynsym, .dynstr). Each symbol is (name, st_info, st_shndx).
    fn image(symbols: &[(&str, u8, u16)]) -> Vec<u8> {
        let mut strings = vec![0u8];
        let mut table = vec![0u8; SYMBOL_LEN];
        for &(name, info, section) in symbols {
            let mut symbol = vec![0u8; SYMBOL_LEN];
            symbol[0..4].copy_from_slice(&(strings.len() as u32).to_le_bytes());
            symbol[4] = info;
            symbol[6..8].copy_from_slice(&section.to_le_bytes());
            table.extend(symbol);
            strings.extend(name.as_bytes());
            strings.push(0);
        }
        let strings_at = 64;
        let table_at = strings_at + strings.len();
        let sections_at = table_at + table.len();

        let mut elf = vec![0u8; 64];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[SECTION_TABLE_OFFSET..][..8].copy_from_slice(&(sections_at as u64).to_le_bytes());
        elf[SECTION_ENTRY_SIZE..][..2].copy_from_slice(&(SECTION_HEADER_LEN as u16).to_le_bytes());
        elf[SECTION_COUNT..][..2].copy_from_slice(&3u16.to_le_bytes());
        elf.extend(&strings);
        elf.extend(&table);
        elf.extend(vec![0u8; SECTION_HEADER_LEN]);
        elf.extend(section_header(
            SHT_DYNSYM,
            table_at,
            table.len(),
            2,
            SYMBOL_LEN,
        ));
        elf.extend(section_header(3, strings_at, strings.len(), 0, 0));
        elf
    }

    fn section_header(kind: u32, at: usize, len: usize, link: u32, entry: usize) -> Vec<u8> {
        let mut header = vec![0u8; SECTION_HEADER_LEN];
        header[4..8].copy_from_slice(&kind.to_le_bytes());
        header[24..32].copy_from_slice(&(at as u64).to_le_bytes());
        header[32..40].copy_from_slice(&(len as u64).to_le_bytes());
        header[40..44].copy_from_slice(&link.to_le_bytes());
        header[56..64].copy_from_slice(&(entry as u64).to_le_bytes());
        header
    }

    #[test]
    fn lists_defined_global_functions_only() {
        let elf = image(&[
            ("luaopen_socket_core", FUNC_GLOBAL, 12),
            ("lua_pushstring", FUNC_GLOBAL, SHN_UNDEF),
            ("local_helper", STT_FUNC, 12),
            ("a_table", STB_GLOBAL << 4 | 1, 12),
            ("luaopen_mime", STB_WEAK << 4 | STT_FUNC, 12),
        ]);
        assert_eq!(
            exported_functions(&elf).unwrap(),
            ["luaopen_socket_core", "luaopen_mime"]
        );
    }

    #[test]
    fn rejects_what_it_cannot_read() {
        assert!(exported_functions(b"#!/bin/sh\n").is_err());
        let elf = image(&[("luaopen_socket", FUNC_GLOBAL, 12)]);
        for len in [0, 10, 63, 64, elf.len() - 1] {
            assert!(exported_functions(&elf[..len]).is_err(), "length {len}");
        }
        let mut big_endian = elf.clone();
        big_endian[5] = 2;
        assert!(exported_functions(&big_endian).is_err());
    }
}
