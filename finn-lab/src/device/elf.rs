//! What the firmware image holds: the sizes of its sections ([`section_sizes`]) and its
//! `.text` by crate, attributed two ways: by function symbol ([`text_by_crate`], names
//! demangled with `rustc-demangle`) and by the source lines of each instruction
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

/// A statically allocated object of an ELF file: where the linker put it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticObject {
    /// Its demangled path, without the hash (`finn_firmware::workload::Workload::load::PLAYER`).
    pub path: String,
    /// The section that holds it (`.bss`, `.data`, ...).
    pub section: String,
    /// Its size in bytes.
    pub size: u64,
}

/// The data symbols of the ELF file at `elf` whose demangled path ends in `::{name}` (a
/// `static` named `name` anywhere in the program), with their sections: for instance whether a
/// player's static landed in `.bss` (zeroed at start-up) or in `.data` (its initial image kept
/// in flash and copied at start-up).
pub fn statics_named(elf: &Path, name: &str) -> Result<Vec<StaticObject>> {
    use object::{Object, ObjectSection, ObjectSymbol, SymbolKind, SymbolSection};
    let bytes = std::fs::read(elf).with_context(|| format!("reading {}", elf.display()))?;
    let file =
        object::File::parse(&*bytes).with_context(|| format!("parsing {}", elf.display()))?;
    let suffix = format!("::{name}");
    let mut found = Vec::new();
    for symbol in file.symbols() {
        if symbol.kind() != SymbolKind::Data {
            continue;
        }
        let SymbolSection::Section(index) = symbol.section() else {
            continue;
        };
        let raw = symbol.name().unwrap_or("");
        let path = match rustc_demangle::try_demangle(raw) {
            Ok(demangled) => format!("{demangled:#}"),
            Err(_) => raw.to_string(),
        };
        if !path.ends_with(&suffix) {
            continue;
        }
        let section = file
            .section_by_index(index)
            .and_then(|s| s.name().map(str::to_string))
            .with_context(|| format!("the section of {path} in {}", elf.display()))?;
        found.push(StaticObject {
            path,
            section,
            size: symbol.size(),
        });
    }
    Ok(found)
}

/// The crate a (mangled) symbol belongs to: the first crate its demangled name mentions, so a
/// trait impl `<finn_core::X as core::fmt::Display>::fmt` counts for `finn_core`. Unmangled
/// symbols (runtime entry points, compiler-builtins' `__aeabi_*`, `memcpy`) are `None`.
///
/// Both of rustc's manglings are demangled by `rustc-demangle`: legacy (`_ZN...E`), which
/// locally built crates use, and v0 (`_R...`), which the prebuilt standard library uses. The
/// crate is the first segment of the first path in the demangled name, where a path is an
/// identifier followed by `::`: in `<i16 as core::fmt::Display>::fmt` that is `core`, not the
/// primitive type `i16`. A name without any path is an inherent method of a built-in type
/// (`<[u8]>::starts_with`, whose v0 mangling names the impl's crate but which demanglers do
/// not print): those come from the standard library and count for `core`, which is exact for
/// the firmware (it links neither `alloc` nor `std`).
pub fn symbol_crate(symbol: &str) -> Option<String> {
    let demangled = rustc_demangle::try_demangle(symbol).ok()?;
    // The alternate form leaves out the hashes (legacy) and crate disambiguators (v0).
    let name = format!("{demangled:#}");
    match first_path_root(&name) {
        Some(root) => is_crate_like(root).then(|| root.to_string()),
        None => Some("core".into()),
    }
}

/// The first identifier of `name` that starts a path: one followed by `::` and not itself
/// preceded by `::` (`<i16>::fmt` starts no path; `core::fmt::Display` starts one).
fn first_path_root(name: &str) -> Option<&str> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut at = 0;
    while let Some(found) = name[at..].find(is_ident) {
        let start = at + found;
        let len = name[start..]
            .find(|c| !is_ident(c))
            .unwrap_or(name.len() - start);
        let end = start + len;
        if name[end..].starts_with("::") && !name[..start].ends_with("::") {
            return Some(&name[start..end]);
        }
        at = end;
    }
    None
}

/// Whether `ident` looks like a crate name: a Rust identifier starting with a letter.
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

    /// Symbols of the firmware's ELF (`llvm-nm`), with the crate each counts for.
    #[test]
    fn symbols_are_attributed_to_their_crates() {
        let cases = [
            // Legacy mangling (crates built with the firmware).
            (
                "_ZN9finn_core6format17decode_trajectory17hd7f7225c220bf7abE",
                Some("finn_core"),
            ),
            (
                "_ZN9finn_core10trajectory35Trajectory$LT$T$C$_$C$_$C$_$C$_$GT$10kinematics17hb14117a8a5d04cebE",
                Some("finn_core"),
            ),
            (
                "_ZN62_$LT$finn_core..error..Error$u20$as$u20$core..fmt..Display$GT$3fmt17hb4ab39b09e7896abE",
                Some("finn_core"),
            ),
            (
                "_ZN63_$LT$finn_embedded..LoadError$u20$as$u20$core..fmt..Display$GT$3fmt17hf9a899a92220e4e6E",
                Some("finn_embedded"),
            ),
            (
                "_ZN13finn_firmware8workload8Workload4load17hc27228ef87458068E",
                Some("finn_firmware"),
            ),
            (
                "_ZN42_$LT$$RF$T$u20$as$u20$core..fmt..Debug$GT$3fmt17h378168fa71dbbf80E",
                Some("core"),
            ),
            ("_ZN4libm4math4expf4expf17h1325dc07c96693c2E", Some("libm")),
            (
                "_ZN10serde_core2de9SeqAccess12next_element17h10a9304dab5c42deE",
                Some("serde_core"),
            ),
            (
                "_ZN8cortex_m10peripheral5TAKEN17h83ec5bf05d3c0d1aE.0",
                Some("cortex_m"),
            ),
            // v0 mangling (the prebuilt core and compiler_builtins).
            ("_RNvNtCs7ldSeZOOJos_4core3fmt5write", Some("core")),
            (
                "_RNvXs4_NtNtNtCs7ldSeZOOJos_4core3fmt3num3impsNtB9_7Display3fmt",
                Some("core"),
            ),
            (
                "_RNvMsa_NtCs7ldSeZOOJos_4core3fmtNtB5_9Formatter12pad_integral",
                Some("core"),
            ),
            (
                "_RNvXs1i_NtCs7ldSeZOOJos_4core3fmtReNtB6_7Display3fmtB8_",
                Some("core"),
            ),
            (
                "_RNvNtCs7NhdfSRABLd_17compiler_builtins3mem6memcpy",
                Some("compiler_builtins"),
            ),
            // Inherent methods of built-in types (from a host binary): the demangled v0 name
            // prints no crate.
            (
                "_RNvMNtCsgEmfK2I1SDS_4core5sliceSh11starts_withCs4X4t9plMPHF_9addr2line",
                Some("core"),
            ),
            ("_RNvMNtCsgEmfK2I1SDS_4core3stre12escape_debug", Some("core")),
            // Not a crate: the panic handler's fixed name.
            ("_RNvCsfLfy6EI15iL_7___rustc17rust_begin_unwind", None),
            // Unmangled.
            ("__aeabi_d2f", None),
            ("main", None),
        ];
        for (symbol, krate) in cases {
            assert_eq!(symbol_crate(symbol).as_deref(), krate, "{symbol}");
        }
    }

    #[test]
    fn paths_start_at_their_root() {
        assert_eq!(
            first_path_root("<finn_core::X as core::fmt::Display>::fmt"),
            Some("finn_core")
        );
        assert_eq!(
            first_path_root("<i16 as core::fmt::Display>::fmt"),
            Some("core")
        );
        assert_eq!(first_path_root("<[u8]>::starts_with"), None);
        assert_eq!(first_path_root("<u32>::fmt::write"), None);
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
