//! A hostile-input campaign against the blob readers (`cargo xtask fuzz`): every shipped blob
//! is mutated, structure-unaware (bytes) and structure-aware (decoded fields set to hostile
//! values), mostly with the CRC recomputed so the semantic checks are reached, then decoded,
//! loaded into models and trajectories in f64 and f32 and into the device players, and, when
//! it loads, evaluated on a grid over its domain ([`check`]): a test of the load-time
//! proofs, not a proof itself.
//!
//! Mutations are described by [`mutate::Mutation`], which `arbitrary` derives from random
//! bytes of a SplitMix64 stream: a campaign is reproducible from its seed, and a failing
//! case from its blob. A bounded slice runs in `cargo xtask test`; a million cases on demand.

pub mod check;
pub mod mutate;

use arbitrary::{Arbitrary, Unstructured};
use check::Verdict;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long and how hard to run.
#[derive(Clone, Copy, Debug)]
pub struct Campaign {
    /// The stream's seed.
    pub seed: u64,
    /// Stop after this many cases ...
    pub cases: u64,
    /// ... or after this long, whichever comes first.
    pub limit: Duration,
    /// Worker threads.
    pub threads: usize,
}

/// One broken promise, with the mutant that broke it.
#[derive(Clone, Debug)]
pub struct Failure {
    /// Which shipped blob was mutated.
    pub source: PathBuf,
    /// What went wrong.
    pub what: String,
    /// The mutant's bytes.
    pub bytes: Vec<u8>,
}

/// What a campaign found.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Cases run.
    pub cases: u64,
    /// Mutants that loaded (and worked over their whole domain).
    pub accepted: u64,
    /// Refusals by error kind.
    pub rejected: BTreeMap<String, u64>,
    /// Broken promises (the first few of each kind are kept).
    pub failures: Vec<Failure>,
    /// Wall time.
    pub seconds: f64,
}

/// Every shipped blob under `root`: firmware blobs, test data, results (no build output).
pub fn shipped_blobs(root: &Path) -> std::io::Result<Vec<(PathBuf, Vec<u8>)>> {
    let mut found = Vec::new();
    for dir in ["firmware/blobs", "finn-embedded/tests/data", "results"] {
        collect(&root.join(dir), &mut found)?;
    }
    found.sort();
    let mut blobs = Vec::new();
    for path in found {
        let bytes = std::fs::read(&path)?;
        blobs.push((
            path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
            bytes,
        ));
    }
    Ok(blobs)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "postcard") {
            out.push(path);
        }
    }
    Ok(())
}

/// SplitMix64: the campaign's stream of random bytes.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// The mutation of case `index` of a campaign with `seed`, and which blob it mutates.
pub fn case(seed: u64, index: u64, blobs: usize) -> (usize, mutate::Mutation) {
    let mut stream = Stream(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let which = (stream.next() % blobs.max(1) as u64) as usize;
    let mut raw = [0u8; 96];
    stream.bytes(&mut raw);
    let mut u = Unstructured::new(&raw);
    let mut mutation = mutate::Mutation::arbitrary(&mut u).unwrap_or(mutate::Mutation {
        edits: Vec::new(),
        fix_crc: true,
    });
    mutation.edits.truncate(4);
    // Three in four recompute the CRC, so most mutants reach the semantic checks.
    mutation.fix_crc = stream.next() % 4 != 0;
    (which, mutation)
}

/// Runs the campaign over `blobs`; `progress(cases)` is called from time to time.
pub fn run(
    campaign: &Campaign,
    blobs: &[(PathBuf, Vec<u8>)],
    progress: &(dyn Fn(u64) + Sync),
) -> Summary {
    let start = Instant::now();
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(Summary::default());
    // A panic is a finding, reported by `check`; keep the default hook from printing each.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    std::thread::scope(|scope| {
        for _ in 0..campaign.threads.max(1) {
            scope.spawn(|| {
                let mut local = Summary::default();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= campaign.cases || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if index % 1000 == 0 {
                        progress(index);
                        if start.elapsed() >= campaign.limit {
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    let (which, mutation) = case(campaign.seed, index, blobs.len());
                    let Some((source, blob)) = blobs.get(which) else {
                        break;
                    };
                    let Ok(bytes) = std::panic::catch_unwind(|| mutate::apply(blob, &mutation))
                    else {
                        local.failures.push(Failure {
                            source: source.clone(),
                            what: format!("the campaign's own mutator panicked on {mutation:?}"),
                            bytes: blob.clone(),
                        });
                        continue;
                    };
                    local.cases += 1;
                    match check::verdict(&bytes) {
                        Verdict::Accepted => local.accepted += 1,
                        Verdict::Rejected(kind) => *local.rejected.entry(kind).or_default() += 1,
                        Verdict::Failure(what) => {
                            let seen = local.failures.iter().filter(|f| f.what == what).count();
                            if seen < 3 {
                                local.failures.push(Failure {
                                    source: source.clone(),
                                    what,
                                    bytes,
                                });
                            }
                        }
                    }
                }
                if let Ok(mut s) = summary.lock() {
                    s.cases += local.cases;
                    s.accepted += local.accepted;
                    for (k, v) in local.rejected {
                        *s.rejected.entry(k).or_default() += v;
                    }
                    s.failures.extend(local.failures);
                }
            });
        }
    });
    std::panic::set_hook(hook);
    let mut summary = summary.into_inner().unwrap_or_default();
    summary.seconds = start.elapsed().as_secs_f64();
    summary
}

impl Summary {
    /// A Markdown report of the campaign.
    pub fn markdown(&self, campaign: &Campaign, blobs: &[(PathBuf, Vec<u8>)]) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} cases in {:.1} s (seed {}, {} threads) over {} shipped blobs: {} accepted and \
             evaluating without error at every grid point of their domain, {} refused with a typed error, {} failures.\n",
            self.cases,
            self.seconds,
            campaign.seed,
            campaign.threads,
            blobs.len(),
            self.accepted,
            self.rejected.values().sum::<u64>(),
            self.failures.len()
        );
        let _ = writeln!(s, "| refused with | cases |\n| --- | --- |");
        for (k, v) in &self.rejected {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        for f in &self.failures {
            let _ = writeln!(s, "\nFAILURE ({}): {}", f.source.display(), f.what);
        }
        s
    }
}
