//! What the firmware image holds: the sizes of its sections ([`section_sizes`]) and its
//! `.text` by crate, attributed two ways: by function symbol ([`text_by_crate`], from
//! their mangled names) and by the source lines of each instruction
//! ([`text_by_source_crate`], through the DWARF line tables).

use crate::setup;
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread;

/// The sizes of an ELF file's allocated sections, in bytes, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// Every section that occupies memory on the device (`SHF_ALLOC`), by name.
    pub sections: BTreeMap<String, u64>,
}

impl SectionSizes {
    /// The size of one section, 0 when the file has none of that name.
    pub fn get(&self, name: &str) -> u64 {
        self.sections.get(name).copied().unwrap_or(0)
    }

    /// Code memory the image occupies: vector table, code, constants, and `.data`'s initial
    /// values.
    pub fn flash(&self) -> u64 {
        [".vector_table", ".text", ".rodata", ".data"]
            .iter()
            .map(|s| self.get(s))
            .sum()
    }

    /// Statically allocated RAM: `.data`, `.bss` and `.uninit` (the stack comes on top).
    pub fn static_ram(&self) -> u64 {
        [".data", ".bss", ".uninit"]
            .iter()
            .map(|s| self.get(s))
            .sum()
    }
}

/// Reads the section headers of the ELF file at `elf`.
pub fn section_sizes(elf: &Path) -> Result<SectionSizes> {
    use object::{Object, ObjectSection, SectionFlags};
    const SHF_ALLOC: u64 = 0x2;
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let mut sizes = SectionSizes::default();
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            bail!("{} is not an ELF file", elf.display());
        };
        if sh_flags & SHF_ALLOC != 0 {
            let name = section.name().context("reading a section name")?;
            *sizes.sections.entry(name.to_string()).or_default() += section.size();
        }
    }
    Ok(sizes)
}

/// The crate a (mangled) symbol belongs to: the first crate named in it, so a trait impl
/// `<finn_core::X as core::fmt::Display>::fmt` counts for `finn_core`. Unmangled symbols
/// (runtime entry points, compiler-builtins' `__aeabi_*`, `memcpy`) are `None`.
///
/// Handles both of rustc's manglings: legacy (`_ZN9finn_core7network...E`, with
/// `$LT$finn_core..x..Y` inside impl paths), which locally built crates use, and v0
/// (`_RNv...Cs<hash>_4core...`), which the prebuilt standard library uses.
pub fn symbol_crate(symbol: &str) -> Option<String> {
    if let Some(body) = symbol.strip_prefix("_R") {
        return v0_crate(body);
    }
    let body = symbol
        .strip_prefix("_ZN")
        .or_else(|| symbol.strip_prefix("__ZN"))?;
    let digits = body.bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = body.get(..digits)?.parse().ok()?;
    let first = body.get(digits..digits + len)?;
    if is_crate_like(first) {
        return Some(first.to_string());
    }
    // An impl path `_$LT$...$GT$`: the crate before the first `..` inside it.
    let path_end = first.find("..")?;
    let head = &first[..path_end];
    let start = head
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .map_or(0, |i| i + 1);
    let name = &head[start..];
    is_crate_like(name).then(|| name.to_string())
}

/// The first crate root (`C`, an optional `s<hash>_` disambiguator, `<len><name>`) of a v0
/// symbol, skipping identifiers, disambiguators and back-references on the way.
fn v0_crate(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    let ident_at = |i: usize| -> Option<(&str, usize)> {
        let digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        let len: usize = body.get(i..i + digits)?.parse().ok()?;
        // An identifier may be separated from its length by `_` when it starts with a digit
        // or `_`.
        let mut at = i + digits;
        if bytes.get(at) == Some(&b'_') {
            at += 1;
        }
        Some((body.get(at..at + len)?, at + len))
    };
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'C' => {
                let mut j = i + 1;
                if bytes.get(j) == Some(&b's') {
                    j += bytes[j..].iter().position(|&b| b == b'_')? + 1;
                }
                let (name, _) = ident_at(j)?;
                return is_crate_like(name).then(|| name.to_string());
            }
            b's' | b'B' => i += bytes[i..].iter().position(|&b| b == b'_')? + 1,
            b'0'..=b'9' => i = ident_at(i)?.1,
            _ => i += 1,
        }
    }
    None
}

/// Whether `ident` looks like a crate name (a Rust identifier starting with a letter, not a
/// legacy-mangling escape).
fn is_crate_like(ident: &str) -> bool {
    ident
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && ident.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `.text` bytes of an ELF file's function symbols, by crate ([`symbol_crate`]); symbols that
/// name no crate count under `(unmangled)`, and the part of `.text` that no symbol covers
/// (alignment padding) under `(padding)`.
pub fn text_by_crate(elf: &Path) -> Result<BTreeMap<String, u64>> {
    use object::{Object, ObjectSection, ObjectSymbol, SymbolKind, SymbolSection};
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let text = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", elf.display()))?;
    let mut sizes = BTreeMap::new();
    let mut covered = 0u64;
    let mut seen = std::collections::BTreeSet::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Text
            || symbol.section() != SymbolSection::Section(text.index())
            || symbol.size() == 0
            // Aliases share an address: count each function once.
            || !seen.insert(symbol.address())
        {
            continue;
        }
        let name = symbol.name().unwrap_or("");
        let krate = symbol_crate(name).unwrap_or_else(|| "(unmangled)".into());
        *sizes.entry(krate).or_insert(0) += symbol.size();
        covered += symbol.size();
    }
    if text.size() > covered {
        sizes.insert("(padding)".into(), text.size() - covered);
    }
    Ok(sizes)
}

/// The crate of a source file, from its path: the workspace's own crates, a registry crate
/// (`.../<name>-<version>/...`), or a crate of the standard library (`/library/<name>/`).
fn source_crate(path: &str) -> String {
    for (marker, name) in [
        ("/finn-core/", "finn_core"),
        ("/finn-embedded/", "finn_embedded"),
        ("/firmware/", "finn_firmware"),
    ] {
        if path.contains(marker) {
            return name.into();
        }
    }
    let registry = path
        .split('/')
        .skip_while(|part| !part.starts_with("index.crates.io"))
        .nth(1);
    if let Some(dir) = registry {
        // `<name>-<version>`: the version starts after the last '-' followed by a digit.
        let cut = dir
            .match_indices('-')
            .filter(|(i, _)| dir[i + 1..].starts_with(|c: char| c.is_ascii_digit()))
            .map(|(i, _)| i)
            .next_back()
            .unwrap_or(dir.len());
        return dir[..cut].replace('-', "_");
    }
    if let Some(rest) = path.split("/library/").nth(1) {
        if let Some(name) = rest.split('/').next() {
            return name.replace('-', "_");
        }
    }
    "(no line information)".into()
}

/// `.text` bytes by the crate whose source each instruction comes from, using the DWARF line
/// tables through `llvm-objdump` and `llvm-addr2line`: each instruction counts for the
/// innermost inlined frame outside `core`, so finn-core code that LTO inlined into a
/// firmware function still counts for finn-core, and `core`'s generic helpers count for the
/// crate that used them. `None` when the tools are not on PATH.
pub fn text_by_source_crate(elf: &Path) -> Result<Option<BTreeMap<String, u64>>> {
    use object::{Object, ObjectSection};
    if !setup::which("llvm-objdump") || !setup::which("llvm-addr2line") {
        return Ok(None);
    }
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let text = file
        .section_by_name(".text")
        .with_context(|| format!("{} has no .text", elf.display()))?;
    let (lo, hi) = (text.address(), text.address() + text.size());
    let dis = Command::new("llvm-objdump")
        .args(["-d", "--no-show-raw-insn", "--section=.text"])
        .arg(elf)
        .output()
        .context("running llvm-objdump")?;
    ensure!(dis.status.success(), "llvm-objdump failed");
    let mut addrs: Vec<u64> = String::from_utf8_lossy(&dis.stdout)
        .lines()
        .filter_map(|line| {
            let (addr, _) = line.trim_start().split_once(':')?;
            u64::from_str_radix(addr, 16).ok()
        })
        .filter(|a| (lo..hi).contains(a))
        .collect();
    addrs.sort_unstable();
    addrs.dedup();
    let mut child = Command::new("llvm-addr2line")
        .args(["-a", "-i", "-e"])
        .arg(elf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running llvm-addr2line")?;
    let input: String = addrs.iter().map(|a| format!("{a:#x}\n")).collect();
    let mut stdin = child.stdin.take().context("llvm-addr2line's stdin")?;
    let writer = thread::spawn(move || std::io::Write::write_all(&mut stdin, input.as_bytes()));
    let out = child.wait_with_output().context("reading llvm-addr2line")?;
    let _ = writer.join();
    ensure!(out.status.success(), "llvm-addr2line failed");
    let text_out = String::from_utf8_lossy(&out.stdout);
    let mut frames: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in text_out.lines() {
        if let Some(hex) = line.strip_prefix("0x") {
            current = u64::from_str_radix(hex, 16).ok();
        } else if let Some(addr) = current {
            frames.entry(addr).or_default().push(source_crate(line));
        }
    }
    let mut sizes = BTreeMap::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let size = addrs.get(i + 1).copied().unwrap_or(hi) - addr;
        let krate = frames
            .get(&addr)
            .and_then(|f| f.iter().find(|c| *c != "core").or(f.first()))
            .cloned()
            .unwrap_or_else(|| "(no line information)".into());
        *sizes.entry(krate).or_insert(0) += size;
    }
    Ok(Some(sizes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_are_attributed_to_their_crates() {
        let cases = [
            ("_ZN9finn_core7network7Network4new17h0123456789abcdefE", Some("finn_core")),
            (
                "_ZN62_$LT$finn_core..error..Error$u20$as$u20$core..fmt..Display$GT$3fmt17h30374b723b482237E",
                Some("finn_core"),
            ),
            (
                "_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h1d29590878a73313E",
                Some("core"),
            ),
            ("_RNvNtCs7ldSeZOOJos_4core3fmt5write", Some("core")),
            (
                "_RNvXs4_NtNtNtCs7ldSeZOOJos_4core3fmt3num3impsNtB9_7Display3fmt",
                Some("core"),
            ),
            (
                "_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem6memcpy",
                Some("compiler_builtins"),
            ),
            ("__aeabi_d2f", None),
            ("main", None),
        ];
        for (symbol, krate) in cases {
            assert_eq!(symbol_crate(symbol).as_deref(), krate, "{symbol}");
        }
    }

    #[test]
    fn source_files_are_attributed_to_their_crates() {
        for (path, krate) in [
            ("/work/main/finn-core/src/network.rs:380:9", "finn_core"),
            ("/x/finn-embedded/src/lib.rs:1", "finn_embedded"),
            ("/x/firmware/src/main.rs:3", "finn_firmware"),
            (
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/libm-0.2.16/src/math/expf.rs:1",
                "libm",
            ),
            (
                "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/cortex-m-rt-0.7.7/src/lib.rs:1",
                "cortex_m_rt",
            ),
            ("/rustc/59807616e1fa/library/core/src/ptr/mod.rs:2091", "core"),
            ("??:0", "(no line information)"),
        ] {
            assert_eq!(source_crate(path), krate, "{path}");
        }
    }

    #[test]
    fn section_sizes_sum_as_documented() {
        let mut sizes = SectionSizes::default();
        for (name, size) in [(".text", 100), (".rodata", 20), (".data", 4), (".bss", 8)] {
            sizes.sections.insert(name.into(), size);
        }
        assert_eq!(sizes.flash(), 124);
        assert_eq!(sizes.static_ram(), 12);
        assert_eq!(sizes.get(".uninit"), 0);
    }
}
