//! Matching quality: precision and recall of the matching engine
//! (`refuge::matching`, with `Weights::default()` unless told otherwise) on
//! a labelled set built from the replayed 2023 exodus
//! (`refuge::scenario::plan`).
//!
//!   cargo bench --bench matching_quality
//!   cargo bench --bench matching_quality -- --scale 1.0 --seed 7 --duplicates 2000 --tracing 1000
//!   cargo bench --bench matching_quality -- --threshold 12 --set birth_within_year=1
//!
//! About 10 s at scale 1.0 (101,848 persons) in release, most of it the two
//! duplicate passes. Experiments, never the default: `--threshold`,
//! `--tracing-threshold` and `--set NAME=VALUE` change the weights;
//! `--cap` and `--scan-batch` the lookups.
//!
//! Every registered member of the plan becomes a stored record, its profile
//! built as `Household::profiles` builds it (names in Armenian script, the
//! household's phone, origin and member count, birth registered on the UTC
//! date of arrival), with the sexes the plan's later corrections set. The
//! records are matched as the service matches them: stored under
//! `blocking::stored_keys`, found through `blocking::probe` and
//! `Probe::answers`, at most `--cap` (2,000, the service's
//! `MAX_CANDIDATES`) key rows per record looked up, read in primary-key order (key,
//! birth year, person id) as the database's index gives them, scored with
//! `matching::score`; members of one household are never each other's
//! duplicates.
//!
//! # 1. Duplicates
//!
//! `--duplicates` persons (2,000) drawn at random are registered a second
//! time, 0-3 days later at another center, as a household of their own.
//! Each second registration is noisy, every noise drawn independently per
//! record:
//!
//! - names in Armenian script (40 %), in Latin (40 %: the passport spelling
//!   `name_latin`, half of them respelt with one or more of the usual other
//!   transliterations: -yan/-ian, Hovh-/Hov-/Ov-, Kh/X/H, Gh/G, Ts/C/Tz,
//!   J/Dzh/Dj, Zh/J, initial Ye/E and Vo/O, u/ou, Western Armenian voicing
//!   as in Bedrosian), or in Russian Cyrillic (20 %, a letter map with the
//!   Russian conventions: Ованнисян, Арутюнян, Мкртчян, Газарян, Айк, Мгер,
//!   a հ between vowels dropped in 60 % of records, Саакян, else Сагакян);
//!   patronymic and settlement of origin are written in the same script;
//! - a typo (one substitution, deletion, insertion or transposition of
//!   letters of the same script) in the given or the family name: 15 %;
//! - given and family name swapped: 3 %;
//! - birth date with day and month swapped (15 %, only where the day is 12
//!   or less and differs from the month), or replaced by an estimated age,
//!   the true age at the second registration +-0..2 (15 %), or its year off
//!   by one (5 %), or one digit of its day or month mistyped (5 %: 14 -> 19,
//!   03 -> 08); persons who only had an estimated age get another estimate,
//!   the first one +-0..2;
//! - document number dropped (50 % of those who had one; otherwise written
//!   as it was, or with a space, or in lower case);
//! - phone dropped (50 %); of those kept, 15 % a new number (an Armenian
//!   SIM card instead of the Karabakh Telecom one), the others written as
//!   +374..., 0XX XXXXXX or with spaces;
//! - patronymic dropped (30 %; a Russian record writes the Russian form,
//!   Арамович/Арамовна, a Latin one the passport transliteration of the
//!   Armenian genitive);
//! - household size differing by one (20 %: a member joined or left).
//!
//! Every record of the combined set (originals and copies) is then matched
//! against the others, each pair once, in one of two ways (`--lookup`):
//!
//! - `scan`, as `refuge duplicates scan` does: records in person-id order,
//!   50 probes per lookup (one database query, reading up to 50 caps), each
//!   record keeping the candidates of smaller id;
//! - `register`, as registration does: households in order of arrival, a
//!   household's members in one lookup, against those registered before.
//!
//! A predicted pair (score >= `threshold`) is a true positive when it is a
//! copy and its original; every other predicted pair is a false positive
//! (the originals are distinct people, even namesakes). precision = TP /
//! predicted, recall = TP / copies. Misses are split into: never a candidate
//! (no blocking key shared), a candidate lost to the cap, and scored below
//! the threshold.
//!
//! # 2. Family tracing
//!
//! `--tracing` persons (1,000, half of them under 18) are sought by a
//! relative as of 30 September 2023: given and family name in Armenian
//! (50 %), Latin (35 %, respelt as above in half) or Cyrillic (15 %), a typo
//! in 10 %; sex as recorded (unknown, None, in 5 %); an approximate age, the
//! true age on that day +-0..2; no birth date, document, phone or
//! household size; the settlement of origin in 60 %. Each request is one
//! probe against all original records (the service matches only persons
//! who may be traced, fewer: this is the harder case); matches score at least
//! `tracing_threshold` and are ranked by score (ties in key-row order, as
//! the service's stable sort leaves them). recall@k: the sought person is
//! among the first k.
//!
//! A benchmark, not a test: it measures and prints, it asserts nothing.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use clap::{Parser, ValueEnum};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refuge::matching::blocking::{self, Probe};
use refuge::matching::{self, Birth, Profile, Score, Weights};
use refuge::scenario::{self, Event};

#[derive(Parser, Debug)]
struct Args {
    /// Scenario scale (1.0: about 100,000 persons).
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Seed of the scenario and of the noise.
    #[arg(long, default_value_t = 2023)]
    seed: u64,
    /// Persons registered a second time (0: skip the duplicates part).
    #[arg(long, default_value_t = 2_000)]
    duplicates: usize,
    /// Tracing requests (0: skip the tracing part).
    #[arg(long, default_value_t = 1_000)]
    tracing: usize,
    /// How duplicates are looked up: as the scan does, as registration
    /// does, or both.
    #[arg(long, value_enum, default_value_t = LookupMode::Both)]
    lookup: LookupMode,
    /// Most key rows one lookup reads (the service's MAX_CANDIDATES; 0: no cap).
    #[arg(long, default_value_t = 2_000)]
    cap: usize,
    /// Records per lookup in the scan (the service's PROBES_PER_QUERY).
    #[arg(long, default_value_t = 50)]
    scan_batch: usize,
    /// Experiment: another duplicate threshold than the default weights'.
    #[arg(long)]
    threshold: Option<f64>,
    /// Experiment: another tracing threshold than the default weights'.
    #[arg(long)]
    tracing_threshold: Option<f64>,
    /// Experiment: another weight, as `name=value` (repeatable), e.g.
    /// `--set birth_within_year=1.5`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Print every planned name in the three scripts, and exit.
    #[arg(long, hide = true)]
    transliterations: bool,
    /// Examples of misses and false positives printed (each).
    #[arg(long, default_value_t = 8)]
    examples: usize,
    /// cargo bench passes --bench; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LookupMode {
    Scan,
    Register,
    Both,
}

// ---------------------------------------------------------------------------
// Noise rates (see the doc comment).

const DUP_ARMENIAN: f64 = 0.40;
const DUP_LATIN: f64 = 0.40; // the rest Cyrillic
const LATIN_RESPELT: f64 = 0.5;
const DUP_TYPO: f64 = 0.15;
const DUP_SWAPPED_NAMES: f64 = 0.03;
const DUP_DAY_MONTH: f64 = 0.15;
const DUP_ESTIMATED: f64 = 0.15;
const DUP_YEAR_OFF: f64 = 0.05;
const DUP_DIGIT: f64 = 0.05;
const DUP_PHONE_CHANGED: f64 = 0.15;
const DUP_DOCUMENT_DROPPED: f64 = 0.5;
const DUP_PHONE_DROPPED: f64 = 0.5;
const DUP_PATRONYMIC_DROPPED: f64 = 0.3;
const DUP_SIZE_DIFFERS: f64 = 0.2;

const TRACE_ARMENIAN: f64 = 0.50;
const TRACE_LATIN: f64 = 0.35; // the rest Cyrillic
const TRACE_TYPO: f64 = 0.10;
const TRACE_SEX_UNKNOWN: f64 = 0.05;
const TRACE_ORIGIN: f64 = 0.60;

fn request_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2023, 9, 30).expect("date")
}

// ---------------------------------------------------------------------------
// Transliteration.

/// Lower-case Armenian letter of `c` (Armenian capitals are 0x30 below).
fn armenian_lower(c: char) -> char {
    match c {
        'Ա'..='Ֆ' => char::from_u32(c as u32 + 0x30).unwrap_or(c),
        _ => c,
    }
}

fn is_armenian_vowel(c: char) -> bool {
    matches!(c, 'ա' | 'ե' | 'է' | 'ը' | 'ի' | 'ո' | 'օ' | 'և' | 'ւ')
}

fn capitalize_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c == ' ' || c == '-';
    }
    out
}

/// Armenian script to Latin as Armenian passports write it (the spelling
/// of the scenario's `name_latin`).
fn to_latin(armenian: &str) -> String {
    let chars: Vec<char> = armenian.chars().map(armenian_lower).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let initial = i == 0 || !matches!(chars[i - 1], 'ա'..='և');
        let next = chars.get(i + 1).copied();
        let s: &str = match c {
            'ո' if next == Some('ւ') => {
                i += 1;
                "u"
            }
            'ա' => "a",
            'բ' => "b",
            'գ' => "g",
            'դ' => "d",
            'ե' if initial => "ye",
            'ե' => "e",
            'զ' => "z",
            'է' => "e",
            'ը' => "y",
            'թ' => "t",
            'ժ' => "zh",
            'ի' => "i",
            'լ' => "l",
            'խ' => "kh",
            'ծ' => "ts",
            'կ' => "k",
            'հ' => "h",
            'ձ' => "dz",
            'ղ' => "gh",
            'ճ' => "ch",
            'մ' => "m",
            'յ' => "y",
            'ն' => "n",
            'շ' => "sh",
            'ո' if initial => "vo",
            'ո' => "o",
            'չ' => "ch",
            'պ' => "p",
            'ջ' => "j",
            'ռ' => "r",
            'ս' => "s",
            'վ' => "v",
            'տ' => "t",
            'ր' => "r",
            'ց' => "ts",
            'ւ' => "v",
            'փ' => "p",
            'ք' => "k",
            'օ' => "o",
            'ֆ' => "f",
            'և' if initial => "yev",
            'և' => "ev",
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        out.push_str(s);
        i += 1;
    }
    capitalize_words(&out)
}

/// Armenian script to Russian Cyrillic with the usual Russian conventions
/// (initial Հ dropped before a vowel, Г before a consonant; Հով+հ -> Ов;
/// inner հ and ղ -> г; յա/յու/յո -> я/ю/ё; initial Ո -> Во): Ованнисян,
/// Арутюнян, Мкртчян, Газарян, Мгер, Артём, Геворг.
fn to_russian(armenian: &str) -> String {
    to_russian_with(armenian, false)
}

/// [`to_russian`], with a հ between two vowels dropped if `drop_h` (Russian
/// spellings do both: Саакян, Гоар, Анаит, but Оганян, Шагинян, Ваге).
fn to_russian_with(armenian: &str, drop_h: bool) -> String {
    let chars: Vec<char> = armenian.chars().map(armenian_lower).collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let initial = i == 0 || !matches!(chars[i - 1], 'ա'..='և');
        let previous = if initial { None } else { Some(chars[i - 1]) };
        let next = chars.get(i + 1).copied();
        let after = chars.get(i + 2).copied();
        let s: &str = match c {
            'ո' if next == Some('ւ') => {
                i += 1;
                "у"
            }
            'յ' if next == Some('ա') => {
                i += 1;
                "я"
            }
            'յ' if next == Some('ո') && after == Some('ւ') => {
                i += 2;
                "ю"
            }
            'յ' if next == Some('ո') => {
                i += 1;
                "ё"
            }
            'յ' if next == Some('ե') => {
                i += 1;
                "е"
            }
            'յ' => "й",
            'հ' if initial => {
                if next.is_some_and(is_armenian_vowel) {
                    ""
                } else {
                    "г"
                }
            }
            'հ' if previous == Some('վ') => "",
            'հ' if drop_h
                && previous.is_some_and(is_armenian_vowel)
                && next.is_some_and(is_armenian_vowel) =>
            {
                ""
            }
            'հ' => "г",
            'ա' => "а",
            'բ' => "б",
            'գ' => "г",
            'դ' => "д",
            'ե' => "е",
            'զ' => "з",
            'է' => "э",
            'ը' => "ы",
            'թ' => "т",
            'ժ' => "ж",
            'ի' => "и",
            'լ' => "л",
            'խ' => "х",
            'ծ' => "ц",
            'կ' => "к",
            'ձ' => "дз",
            'ղ' => "г",
            'ճ' => "ч",
            'մ' => "м",
            'ն' => "н",
            'շ' => "ш",
            'ո' if initial => "во",
            'ո' => "о",
            'չ' => "ч",
            'պ' => "п",
            'ջ' => "дж",
            'ռ' => "р",
            'ս' => "с",
            'վ' => "в",
            'տ' => "т",
            'ր' => "р",
            'ց' => "ц",
            'ւ' => "в",
            'փ' => "п",
            'ք' => "к",
            'օ' => "о",
            'ֆ' => "ф",
            'և' => "ев",
            _ => {
                out.push(c);
                i += 1;
                continue;
            }
        };
        out.push_str(s);
        i += 1;
    }
    capitalize_words(&out)
}

/// The Russian patronymic (Арамович, Арамовна) from the Armenian genitive
/// the registrations keep (Արամի).
fn russian_patronymic(genitive: &str, female: bool) -> String {
    let stem = genitive.strip_suffix('ի').unwrap_or(genitive);
    let stem = stem.strip_suffix('յ').unwrap_or(stem);
    let mut s = to_russian(stem);
    s.push_str(if female { "овна" } else { "ович" });
    s
}

/// The other Latin spellings of Armenian names.
const RESPELLINGS: &[&str] = &[
    "Latin: -yan -> -ian",
    "Latin: Hovh -> Hov/Ov",
    "Latin: Kh -> X/H",
    "Latin: Gh -> G",
    "Latin: Ts -> C/Tz",
    "Latin: J -> Dzh/Dj",
    "Latin: Zh -> J",
    "Latin: initial Ye/Vo -> E/O",
    "Latin: u -> ou",
    "Latin: Western voicing",
];

/// Applies respelling `rule` (an index in [`RESPELLINGS`]) to a lower-case
/// Latin name, if it applies.
fn respell(s: &str, rule: usize, rng: &mut ChaCha8Rng) -> Option<String> {
    let out = match rule {
        0 => s.strip_suffix("yan").map(|r| format!("{r}ian"))?,
        1 => {
            if !s.contains("hovh") {
                return None;
            }
            let to = if rng.random_bool(0.5) { "hov" } else { "ov" };
            s.replace("hovh", to)
        }
        2 => {
            if !s.contains("kh") {
                return None;
            }
            let to = if rng.random_bool(0.7) { "x" } else { "h" };
            s.replace("kh", to)
        }
        3 => {
            if !s.contains("gh") {
                return None;
            }
            s.replace("gh", "g")
        }
        4 => {
            if !s.contains("ts") {
                return None;
            }
            let to = if rng.random_bool(0.6) { "c" } else { "tz" };
            s.replace("ts", to)
        }
        5 => {
            if !s.contains('j') {
                return None;
            }
            let to = if rng.random_bool(0.5) { "dzh" } else { "dj" };
            s.replace('j', to)
        }
        6 => {
            if !s.contains("zh") {
                return None;
            }
            s.replace("zh", "j")
        }
        7 => {
            if let Some(r) = s.strip_prefix("ye") {
                format!("e{r}")
            } else if let Some(r) = s.strip_prefix("vo") {
                format!("o{r}")
            } else {
                return None;
            }
        }
        8 => {
            if !s.contains('u') || s.contains("ou") {
                return None;
            }
            s.replace('u', "ou")
        }
        9 => {
            // Western Armenian: voiced and voiceless stops swapped, -ian.
            let swapped: String = s
                .chars()
                .map(|c| match c {
                    'p' => 'b',
                    'b' => 'p',
                    't' => 'd',
                    'd' => 't',
                    'k' => 'g',
                    'g' => 'k',
                    other => other,
                })
                .collect();
            let swapped = swapped.replace("kh", "gh").replace("ts", "dz");
            let swapped = match swapped.strip_suffix("yan") {
                Some(r) => format!("{r}ian"),
                None => swapped,
            };
            if swapped == s {
                return None;
            }
            swapped
        }
        _ => return None,
    };
    (out != s).then_some(out)
}

/// A Latin name (or two) respelt: one applicable rule surely, every other
/// applicable one with probability 0.3; Western voicing only rarely, on its
/// own. Returns the labels of the rules applied.
fn respell_names(names: &mut [&mut String], rng: &mut ChaCha8Rng, labels: &mut Vec<&'static str>) {
    let western = rng.random_bool(0.1);
    let rules: Vec<usize> = if western {
        vec![9]
    } else {
        (0..RESPELLINGS.len() - 1).collect()
    };
    let lowered: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
    let mut applicable: Vec<usize> = rules
        .into_iter()
        .filter(|&r| {
            let mut probe_rng = ChaCha8Rng::seed_from_u64(0);
            lowered
                .iter()
                .any(|n| respell(n, r, &mut probe_rng).is_some())
        })
        .collect();
    if applicable.is_empty() {
        return;
    }
    applicable.shuffle(rng);
    let mut current = lowered;
    for (k, &rule) in applicable.iter().enumerate() {
        if k > 0 && !rng.random_bool(0.3) {
            continue;
        }
        let mut applied = false;
        for n in current.iter_mut() {
            if let Some(r) = respell(n, rule, rng) {
                *n = r;
                applied = true;
            }
        }
        if applied {
            labels.push(RESPELLINGS[rule]);
        }
    }
    for (name, new) in names.iter_mut().zip(current) {
        **name = capitalize_words(&new);
    }
}

/// One typing error in `word`: a letter of its script substituted,
/// deleted, inserted, or two adjacent letters transposed.
fn typo(word: &str, rng: &mut ChaCha8Rng) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let alphabet: Vec<char> = if chars.iter().any(|c| ('\u{0531}'..='\u{0587}').contains(c)) {
        ('ա'..='ֆ').collect()
    } else if chars.iter().any(|c| ('\u{0400}'..='\u{04FF}').contains(c)) {
        ('а'..='я').collect()
    } else {
        ('a'..='z').collect()
    };
    let capital = chars.first().is_some_and(|c| c.is_uppercase());
    let n = chars.len();
    let letter = |rng: &mut ChaCha8Rng, not: Option<char>| loop {
        let c = alphabet[rng.random_range(0..alphabet.len())];
        if Some(c) != not.map(|x| x.to_lowercase().next().unwrap_or(x)) {
            return c;
        }
    };
    match rng.random_range(0..4) {
        1 if n >= 3 => {
            chars.remove(rng.random_range(0..n));
        }
        2 => {
            let at = rng.random_range(0..=n);
            let c = letter(rng, None);
            chars.insert(at, c);
        }
        3 if n >= 2 => {
            let mut at = rng.random_range(0..n - 1);
            for _ in 0..n {
                if chars[at] != chars[at + 1] {
                    break;
                }
                at = (at + 1) % (n - 1);
            }
            chars.swap(at, at + 1);
        }
        _ => {
            let at = rng.random_range(0..n);
            chars[at] = letter(rng, Some(chars[at]));
        }
    }
    let mut out: String = chars.iter().collect::<String>().to_lowercase();
    if capital {
        out = capitalize_words(&out);
    }
    out
}

// ---------------------------------------------------------------------------
// The registered persons.

/// One member as the plan registers them (the truth), and their record.
struct Person {
    id: u128,
    household: u32,
    /// Arrival (registration instant), for the order of registration.
    arrived: DateTime<Utc>,
    given: String,
    family: String,
    given_latin: String,
    family_latin: String,
    patronymic: Option<String>,
    /// The sex as the plan finally records it ("unknown" if never corrected).
    sex: String,
    /// The person's sex (recorded, or for an unrecorded one the sex most
    /// persons of that given name have).
    true_sex: String,
    birth_date: Option<NaiveDate>,
    estimated_age: Option<i32>,
    document: Option<String>,
    phone: Option<String>,
    origin: &'static str,
    size: i32,
    profile: Profile,
}

impl Person {
    /// Age on `day`: from the birth date, or the estimate (made on arrival).
    fn age_on(&self, day: NaiveDate) -> i32 {
        match self.birth_date {
            Some(born) => day.years_since(born).map_or(0, |y| y as i32),
            None => {
                self.estimated_age.unwrap_or(0)
                    + day
                        .years_since(self.profile.birth.registered_on)
                        .map_or(0, |y| y as i32)
            }
        }
    }
}

fn registered_persons(args: &Args) -> (Vec<Person>, usize) {
    let events = scenario::plan(&scenario::Options {
        scale: args.scale,
        seed: args.seed,
    });
    let mut corrected: HashMap<uuid::Uuid, &'static str> = HashMap::new();
    for e in &events {
        if let Event::SetSex { member_id, sex, .. } = e {
            corrected.insert(*member_id, sex.as_str());
        }
    }
    let mut persons = Vec::new();
    let mut households = 0u32;
    for e in &events {
        let Event::Register { household, .. } = e else {
            continue;
        };
        let arrived = household.arrived_at.with_timezone(&Utc);
        let size = household.members.len() as i32;
        for m in &household.members {
            let id = m.id.expect("planned members have ids");
            let (given_latin, family_latin) = m
                .name_latin
                .as_deref()
                .and_then(|n| n.split_once(' '))
                .map(|(g, f)| (g.to_string(), f.to_string()))
                .unwrap_or_else(|| (to_latin(&m.given_name), to_latin(&m.family_name)));
            let sex = corrected
                .get(&id)
                .copied()
                .unwrap_or(m.sex.as_str())
                .to_string();
            let birth_date = m.birth_date.map(|d| d.naive());
            // As Household::profiles builds it.
            let profile = Profile {
                given_name: m.given_name.clone(),
                family_name: m.family_name.clone(),
                patronymic: m.patronymic.clone(),
                // A sex not recorded is no evidence (as Household::profiles).
                sex: Some(sex.clone()).filter(|s| s != "unknown"),
                birth: Birth {
                    date: birth_date,
                    estimated_age: m.estimated_age,
                    registered_on: arrived.date_naive(),
                },
                document_number: m.document.as_ref().map(|d| d.number.clone()),
                phone: household.phone.clone(),
                origin_settlement: Some(household.origin_settlement.to_string()),
                household_size: Some(size),
            };
            persons.push(Person {
                id: id.as_u128(),
                household: households,
                arrived,
                given: m.given_name.clone(),
                family: m.family_name.clone(),
                given_latin,
                family_latin,
                patronymic: m.patronymic.clone(),
                true_sex: sex.clone(),
                sex,
                birth_date,
                estimated_age: m.estimated_age,
                document: m.document.as_ref().map(|d| d.number.clone()),
                phone: household.phone.clone(),
                origin: household.origin_settlement,
                size,
                profile,
            });
        }
        households += 1;
    }
    // The sex of a person never recorded: that of most namesakes.
    let mut by_name: HashMap<&str, (u32, u32)> = HashMap::new();
    for p in &persons {
        let e = by_name.entry(p.given.as_str()).or_default();
        match p.sex.as_str() {
            "female" => e.0 += 1,
            "male" => e.1 += 1,
            _ => {}
        }
    }
    let inferred: Vec<Option<&'static str>> = persons
        .iter()
        .map(|p| {
            (p.sex != "female" && p.sex != "male").then(|| {
                let (f, m) = by_name.get(p.given.as_str()).copied().unwrap_or_default();
                if f >= m {
                    "female"
                } else {
                    "male"
                }
            })
        })
        .collect();
    let mut unknown = 0;
    for (p, s) in persons.iter_mut().zip(inferred) {
        if let Some(s) = s {
            p.true_sex = s.to_string();
            unknown += 1;
        }
    }
    (persons, unknown)
}

// ---------------------------------------------------------------------------
// The matcher: the service's blocking and score, with optional what-ifs.

struct Matcher {
    weights: Weights,
}

impl Matcher {
    fn stored_keys(&self, p: &Profile) -> Vec<(String, i32)> {
        blocking::stored_keys(p)
    }

    fn probe(&self, p: &Profile) -> Probe {
        blocking::probe(p, &self.weights)
    }

    fn tracing_probe(&self, p: &Profile) -> Probe {
        blocking::tracing_probe(p)
    }

    fn score(&self, q: &Profile, c: &Profile) -> Score {
        matching::score(q, c, &self.weights)
    }
}

// ---------------------------------------------------------------------------
// Blocking as the service does it.

/// Stored key rows: key -> (birth year, person id, record index), in
/// primary-key order.
struct Index {
    rows: HashMap<String, Vec<(i32, u128, u32)>>,
}

impl Index {
    fn build(records: &[Record], m: &Matcher) -> Index {
        let mut rows: HashMap<String, Vec<(i32, u128, u32)>> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            for (key, year) in m.stored_keys(&r.profile) {
                rows.entry(key).or_default().push((year, r.id, i as u32));
            }
        }
        for v in rows.values_mut() {
            v.sort_unstable();
        }
        Index { rows }
    }

    /// What `keys::candidates` returns for `probes`: per probe, the indices
    /// of the records found (in key-row order), reading at most `cap` rows
    /// (0: all) per lookup of those `visible` (the records stored at that
    /// time); and how many rows there were to read without the cap.
    fn candidates(
        &self,
        probes: &[Probe],
        visible: impl Fn(u32) -> bool,
        cap: usize,
    ) -> (Vec<Vec<u32>>, usize) {
        let mut found: Vec<Vec<u32>> = vec![Vec::new(); probes.len()];
        // Rows the lookups would read without the cap.
        let mut wanted = 0usize;
        for (i, probe) in probes.iter().enumerate() {
            for lookup in &probe.lookups {
                let mut read = 0usize;
                for key in &lookup.keys {
                    let Some(stored) = self.rows.get(key.as_str()) else {
                        continue;
                    };
                    for &(year, _, idx) in stored {
                        if lookup.answers(key, year) && visible(idx) {
                            wanted += 1;
                            *ROWS_BY_KIND
                                .lock()
                                .unwrap()
                                .entry(key.split(':').next().unwrap_or("").to_string())
                                .or_default() += 1;
                            if cap == 0 || read < cap {
                                read += 1;
                                if !found[i].contains(&idx) {
                                    found[i].push(idx);
                                }
                            }
                        }
                    }
                }
            }
        }
        (found, wanted)
    }
}

/// Key rows the lookups would read, by kind of key (`n`, `e`, `b`...):
/// reported and reset by each way of looking up.
static ROWS_BY_KIND: std::sync::Mutex<std::collections::BTreeMap<String, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

/// Whether `query`'s probe finds `stored` at all (no cap).
fn blocked_together(m: &Matcher, query: &Profile, stored: &Profile) -> bool {
    shares_a_key(&m.probe(query), m, stored)
}

/// Whether `probe` finds `stored` at all (no cap).
fn shares_a_key(probe: &Probe, m: &Matcher, stored: &Profile) -> bool {
    m.stored_keys(stored)
        .iter()
        .any(|(key, year)| probe.answers(key, *year))
}

// ---------------------------------------------------------------------------
// Duplicates.

/// A stored record: an original registration or a second one.
struct Record {
    id: u128,
    household: u32,
    arrived: DateTime<Utc>,
    profile: Profile,
    /// For a second registration: the index of the original.
    original: Option<u32>,
    /// For a second registration: its noises.
    noises: Vec<&'static str>,
}

fn phone_written(phone: &str, rng: &mut ChaCha8Rng) -> String {
    let national = phone.strip_prefix("+374").unwrap_or(phone);
    match rng.random_range(0..3) {
        0 => phone.to_string(),
        1 => format!(
            "0{} {}",
            &national[..2.min(national.len())],
            &national[2.min(national.len())..]
        ),
        _ => {
            let d: Vec<char> = national.chars().collect();
            let mut s = String::from("+374");
            for (i, c) in d.iter().enumerate() {
                if i % 2 == 0 {
                    s.push(' ');
                }
                s.push(*c);
            }
            s
        }
    }
}

fn document_written(number: &str, rng: &mut ChaCha8Rng) -> String {
    match rng.random_range(0..3) {
        0 => number.to_string(),
        1 if number.len() > 2 && number.as_bytes()[0].is_ascii_alphabetic() => {
            format!("{} {}", &number[..2], &number[2..])
        }
        _ => number.to_ascii_lowercase(),
    }
}

enum Script {
    Armenian,
    Latin,
    /// Whether a հ between vowels is dropped (see [`to_russian_with`]).
    Cyrillic(bool),
}

fn pick_script(rng: &mut ChaCha8Rng, armenian: f64, latin: f64) -> Script {
    let r: f64 = rng.random();
    if r < armenian {
        Script::Armenian
    } else if r < armenian + latin {
        Script::Latin
    } else {
        Script::Cyrillic(rng.random_bool(0.6))
    }
}

/// Given and family name of `p` written in `script` (respelt in Latin with
/// probability LATIN_RESPELT), with the labels of what was done.
fn names_in(
    p: &Person,
    script: &Script,
    rng: &mut ChaCha8Rng,
    labels: &mut Vec<&'static str>,
) -> (String, String) {
    match script {
        Script::Armenian => {
            labels.push("script: Armenian");
            (p.given.clone(), p.family.clone())
        }
        Script::Latin => {
            labels.push("script: Latin");
            let (mut g, mut f) = (p.given_latin.clone(), p.family_latin.clone());
            if rng.random_bool(LATIN_RESPELT) {
                let before = labels.len();
                respell_names(&mut [&mut g, &mut f], rng, labels);
                if labels.len() > before {
                    labels.push("Latin: respelt (any rule)");
                }
            }
            (g, f)
        }
        &Script::Cyrillic(drop_h) => {
            labels.push("script: Cyrillic");
            (
                to_russian_with(&p.given, drop_h),
                to_russian_with(&p.family, drop_h),
            )
        }
    }
}

fn place_in(place: &str, script: &Script) -> String {
    match script {
        Script::Armenian => place.to_string(),
        Script::Latin => to_latin(place),
        &Script::Cyrillic(drop_h) => to_russian_with(place, drop_h),
    }
}

/// `born` with one digit of its day or month changed (a valid date, not
/// after `registered_on`), if one can be found.
fn mistyped_digit(
    born: NaiveDate,
    registered_on: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> Option<NaiveDate> {
    for _ in 0..30 {
        let (mut day, mut month) = (born.day(), born.month());
        let digit = rng.random_range(0..10);
        let field = if rng.random_bool(0.7) {
            &mut day
        } else {
            &mut month
        };
        *field = if rng.random_bool(0.5) {
            *field / 10 * 10 + digit
        } else {
            digit * 10 + *field % 10
        };
        if let Some(d) = NaiveDate::from_ymd_opt(born.year(), month, day) {
            if d != born && d <= registered_on {
                return Some(d);
            }
        }
    }
    None
}

/// A second, noisy registration of `p`.
fn second_registration(
    p: &Person,
    rng: &mut ChaCha8Rng,
) -> (Profile, DateTime<Utc>, Vec<&'static str>) {
    let mut noises = Vec::new();
    let script = pick_script(rng, DUP_ARMENIAN, DUP_LATIN);
    let (mut given, mut family) = names_in(p, &script, rng, &mut noises);
    if rng.random_bool(DUP_TYPO) {
        if rng.random_bool(0.5) {
            given = typo(&given, rng);
            noises.push("typo in given name");
        } else {
            family = typo(&family, rng);
            noises.push("typo in family name");
        }
    }
    if rng.random_bool(DUP_SWAPPED_NAMES) {
        std::mem::swap(&mut given, &mut family);
        noises.push("given and family swapped");
    }
    let arrived = p.arrived
        + Duration::days(rng.random_range(0..=3))
        + Duration::minutes(rng.random_range(30..=12 * 60));
    let registered_on = arrived.date_naive();
    let (date, estimated_age) = match p.birth_date {
        Some(born) => {
            let r: f64 = rng.random();
            if r < DUP_DAY_MONTH {
                if born.day() <= 12 && born.day() != born.month() {
                    noises.push("birth: day and month swapped");
                    (
                        NaiveDate::from_ymd_opt(born.year(), born.day(), born.month()),
                        None,
                    )
                } else {
                    (Some(born), None)
                }
            } else if r < DUP_DAY_MONTH + DUP_ESTIMATED {
                let age = registered_on.years_since(born).map_or(0, |y| y as i32);
                let off = rng.random_range(-2..=2);
                noises.push(match off {
                    0 => "birth: estimated age, exact",
                    -1 | 1 => "birth: estimated age, +-1",
                    _ => "birth: estimated age, +-2",
                });
                (None, Some((age + off).max(0)))
            } else if r < DUP_DAY_MONTH + DUP_ESTIMATED + DUP_YEAR_OFF {
                let later = born.year() + 1;
                let year = if rng.random_bool(0.5) {
                    later
                } else {
                    born.year() - 1
                };
                let moved = |year: i32| {
                    born.with_year(year)
                        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
                        .filter(|d| *d <= registered_on)
                };
                // Not after the registration.
                let d = moved(year).or_else(|| moved(born.year() - 1));
                noises.push("birth: year off by one");
                (d, None)
            } else if r < DUP_DAY_MONTH + DUP_ESTIMATED + DUP_YEAR_OFF + DUP_DIGIT {
                match mistyped_digit(born, registered_on, rng) {
                    Some(d) => {
                        noises.push("birth: a digit of day or month mistyped");
                        (Some(d), None)
                    }
                    None => (Some(born), None),
                }
            } else {
                (Some(born), None)
            }
        }
        None => {
            noises.push("birth: estimated age on both (no date)");
            let first = p.estimated_age.unwrap_or(0);
            (None, Some((first + rng.random_range(-2..=2)).max(0)))
        }
    };
    let document = match &p.document {
        Some(_) if rng.random_bool(DUP_DOCUMENT_DROPPED) => {
            noises.push("document dropped");
            None
        }
        Some(d) => {
            noises.push("document kept");
            Some(document_written(d, rng))
        }
        None => {
            noises.push("no document in the original");
            None
        }
    };
    let phone = match &p.phone {
        Some(_) if rng.random_bool(DUP_PHONE_DROPPED) => {
            noises.push("phone dropped");
            None
        }
        Some(ph) if rng.random_bool(DUP_PHONE_CHANGED) => {
            noises.push("phone changed (new SIM)");
            let prefix =
                ["91", "93", "94", "95", "96", "98", "99", "77", "55"][rng.random_range(0..9)];
            Some(format!("+374{prefix}{:06}", rng.random_range(0..1_000_000)))
        }
        Some(ph) => Some(phone_written(ph, rng)),
        None => None,
    };
    let patronymic = match &p.patronymic {
        Some(_) if rng.random_bool(DUP_PATRONYMIC_DROPPED) => {
            noises.push("patronymic dropped");
            None
        }
        Some(g) => Some(match script {
            Script::Armenian => g.clone(),
            Script::Latin => to_latin(g),
            Script::Cyrillic(_) => russian_patronymic(g, p.true_sex == "female"),
        }),
        None => None,
    };
    let size = if rng.random_bool(DUP_SIZE_DIFFERS) {
        noises.push("household size differs");
        if p.size > 1 && rng.random_bool(0.5) {
            p.size - 1
        } else {
            p.size + 1
        }
    } else {
        p.size
    };
    if p.sex != "female" && p.sex != "male" {
        noises.push("original's sex unrecorded");
    }
    let profile = Profile {
        given_name: given,
        family_name: family,
        patronymic,
        sex: Some(p.true_sex.clone()),
        birth: Birth {
            date,
            estimated_age,
            registered_on,
        },
        document_number: document,
        phone,
        origin_settlement: Some(place_in(p.origin, &script)),
        household_size: Some(size),
    };
    (profile, arrived, noises)
}

/// Order in which noise labels are printed.
fn label_order(labels: impl Iterator<Item = &'static str>) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = labels.collect::<HashSet<_>>().into_iter().collect();
    let rank = |l: &str| -> (usize, String) {
        let groups = [
            "script",
            "Latin",
            "typo",
            "given and",
            "birth",
            "document",
            "no document",
            "phone",
            "patronymic",
            "household",
            "original",
            "age",
            "origin",
            "sex",
            "under",
            "18",
            "age->year",
        ];
        let g = groups
            .iter()
            .position(|g| l.starts_with(g))
            .unwrap_or(groups.len());
        (g, l.to_string())
    };
    v.sort_by_key(|l| rank(l));
    v
}

fn describe(p: &Profile) -> String {
    let birth = match (p.birth.date, p.birth.estimated_age) {
        (Some(d), _) => d.to_string(),
        (None, Some(a)) => format!("~{a} y"),
        (None, None) => "?".into(),
    };
    format!(
        "{} {}{} · {} · {} · doc {} · tel {} · {} · size {}",
        p.given_name,
        p.family_name,
        p.patronymic
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default(),
        p.sex.as_deref().unwrap_or("?"),
        birth,
        p.document_number.as_deref().unwrap_or("-"),
        p.phone.as_deref().unwrap_or("-"),
        p.origin_settlement.as_deref().unwrap_or("-"),
        p.household_size
            .map(|s| s.to_string())
            .unwrap_or("-".into()),
    )
}

fn explain(s: &Score) -> String {
    let fields: Vec<String> = s
        .fields
        .iter()
        .map(|f| format!("{} {} {:+}", f.field, f.agreement, f.weight))
        .collect();
    format!("**{:.1}**: {}", s.total, fields.join(", "))
}

/// What one way of looking duplicates up gave.
struct DupOutcome {
    comparisons: u64,
    lookups: u64,
    capped_lookups: u64,
    /// Key rows the lookups would read without the cap.
    rows_wanted: u64,
    /// Per copy: the score of (copy, original) if they were compared.
    compared: Vec<Option<f64>>,
    /// Per copy: predicted.
    found: Vec<bool>,
    /// False positive pairs (query, candidate, total).
    false_positives: Vec<(u32, u32, f64)>,
    /// All scored pairs' totals at or above 8: (total, true pair?).
    scored: Vec<(f64, bool)>,
}

fn match_duplicates(
    records: &[Record],
    n_originals: usize,
    index: &Index,
    m: &Matcher,
    mode: LookupMode,
    args: &Args,
) -> DupOutcome {
    let weights = &m.weights;
    let copies = records.len() - n_originals;
    let mut out = DupOutcome {
        comparisons: 0,
        lookups: 0,
        capped_lookups: 0,
        rows_wanted: 0,
        compared: vec![None; copies],
        found: vec![false; copies],
        false_positives: Vec::new(),
        scored: Vec::new(),
    };
    // Lookups: groups of record indices probed together, and the rank that
    // says which records are stored at that time (register mode).
    let mut groups: Vec<Vec<u32>> = Vec::new();
    let mut rank = vec![0u32; records.len()];
    match mode {
        LookupMode::Scan => {
            let mut order: Vec<u32> = (0..records.len() as u32).collect();
            order.sort_by_key(|&i| records[i as usize].id);
            groups.extend(order.chunks(args.scan_batch.max(1)).map(<[u32]>::to_vec));
        }
        _ => {
            let mut by_household: BTreeMap<(DateTime<Utc>, u32), Vec<u32>> = BTreeMap::new();
            for (i, r) in records.iter().enumerate() {
                by_household
                    .entry((r.arrived, r.household))
                    .or_default()
                    .push(i as u32);
            }
            for (g, members) in by_household.into_values().enumerate() {
                for &i in &members {
                    rank[i as usize] = g as u32;
                }
                for chunk in members.chunks(50) {
                    groups.push(chunk.to_vec());
                }
            }
        }
    }
    let started = Instant::now();
    let total_groups = groups.len();
    for (gi, group) in groups.iter().enumerate() {
        if gi > 0 && gi % (total_groups / 4).max(1) == 0 {
            eprintln!(
                "  {:?}: {}% of lookups, {:.0} s",
                mode,
                gi * 100 / total_groups,
                started.elapsed().as_secs_f64()
            );
        }
        let probes: Vec<Probe> = group
            .iter()
            .map(|&i| m.probe(&records[i as usize].profile))
            .collect();
        let my_rank = rank[group[0] as usize];
        let (found, wanted) = match mode {
            LookupMode::Scan => index.candidates(&probes, |_| true, args.cap),
            _ => index.candidates(&probes, |c| rank[c as usize] <= my_rank, args.cap),
        };
        out.lookups += 1;
        out.capped_lookups += (args.cap > 0 && wanted > args.cap) as u64;
        out.rows_wanted += wanted as u64;
        for (&q, cands) in group.iter().zip(found) {
            let query = &records[q as usize];
            for c in cands {
                if c == q {
                    continue;
                }
                let cand = &records[c as usize];
                let earlier = match mode {
                    LookupMode::Scan => cand.id < query.id,
                    _ => rank[c as usize] < my_rank,
                };
                if !earlier || cand.household == query.household {
                    continue;
                }
                out.comparisons += 1;
                let score = m.score(&query.profile, &cand.profile);
                let true_pair = query.original == Some(c) || cand.original == Some(q);
                if true_pair {
                    let copy = q.max(c) as usize - n_originals;
                    out.compared[copy] = Some(score.total);
                }
                if score.total >= 8.0 {
                    out.scored.push((score.total, true_pair));
                }
                if score.is_candidate(weights) {
                    if true_pair {
                        out.found[q.max(c) as usize - n_originals] = true;
                    } else {
                        out.false_positives.push((q, c, score.total));
                    }
                }
            }
        }
    }
    out
}

fn ratio(a: usize, b: usize) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

#[allow(clippy::too_many_arguments)]
fn report_duplicates(
    records: &[Record],
    n_originals: usize,
    out: &DupOutcome,
    m: &Matcher,
    mode: LookupMode,
    elapsed: f64,
    args: &Args,
    rng: &mut ChaCha8Rng,
) {
    let weights = &m.weights;
    let copies = records.len() - n_originals;
    let tp = out.found.iter().filter(|f| **f).count();
    let fp = out.false_positives.len();
    let predicted = tp + fp;
    let mode_name = match mode {
        LookupMode::Scan => format!("scan ({} records per lookup)", args.scan_batch),
        _ => "registration (one household per lookup)".to_string(),
    };
    println!("\n### Duplicates, looked up as the {mode_name}\n");
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| records (originals + second registrations) | {} + {} |",
        n_originals, copies
    );
    println!(
        "| lookups (of which cut by the {}-row cap) | {} ({}) |",
        args.cap, out.lookups, out.capped_lookups
    );
    println!(
        "| key rows per lookup without the cap: mean | {:.0} |",
        out.rows_wanted as f64 / out.lookups.max(1) as f64
    );
    let by_kind: Vec<String> = std::mem::take(&mut *ROWS_BY_KIND.lock().unwrap())
        .into_iter()
        .map(|(kind, rows)| format!("{kind} {:.1}", rows as f64 / out.lookups.max(1) as f64))
        .collect();
    println!(
        "| key rows per lookup by kind of key | {} |",
        by_kind.join(", ")
    );
    println!(
        "| candidate comparisons (scored pairs) | {} |",
        out.comparisons
    );
    println!(
        "| predicted pairs (score >= {}) | {} |",
        weights.threshold, predicted
    );
    println!("| true positives | {} |", tp);
    let (mut ff, mut fc, mut cc) = (0, 0, 0);
    for &(a, b, _) in &out.false_positives {
        match ((a as usize) < n_originals, (b as usize) < n_originals) {
            (true, true) => ff += 1,
            (false, false) => cc += 1,
            _ => fc += 1,
        }
    }
    println!(
        "| false positives (originals / copy-other person / copy-copy) | {} ({} / {} / {}) |",
        fp, ff, fc, cc
    );
    println!("| **precision** | **{}** |", ratio(tp, predicted));
    println!("| **recall** | **{}** |", ratio(tp, copies));
    let never = (0..copies)
        .filter(|&k| out.compared[k].is_none())
        .collect::<Vec<_>>();
    let (mut unblocked, mut cut) = (0, 0);
    for &k in &never {
        let copy = &records[n_originals + k];
        let original = &records[copy.original.unwrap() as usize];
        let (q, s) = if mode == LookupMode::Scan && original.id > copy.id {
            (original, copy)
        } else {
            (copy, original)
        };
        if blocked_together(m, &q.profile, &s.profile) {
            cut += 1;
        } else {
            unblocked += 1;
        }
    }
    let low = (0..copies)
        .filter(|&k| out.compared[k].is_some() && !out.found[k])
        .count();
    println!(
        "| misses: no blocking key shared / lost to the cap / scored below {} | {} / {} / {} |",
        weights.threshold, unblocked, cut, low
    );
    println!("| time | {:.1} s |", elapsed);

    // Threshold sweep (same blocking, same scores).
    println!("\nThreshold sweep (same candidates):\n");
    println!("| threshold | predicted | TP | FP | precision | recall |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for t in [9.0, 10.0, 11.0, 11.5, 12.0, 12.5, 13.0, 14.0] {
        let tp = out.scored.iter().filter(|(s, ok)| *ok && *s >= t).count();
        let fp = out.scored.iter().filter(|(s, ok)| !*ok && *s >= t).count();
        println!(
            "| {t} | {} | {tp} | {fp} | {} | {} |",
            tp + fp,
            ratio(tp, tp + fp),
            ratio(tp, copies)
        );
    }

    // Recall per noise.
    let mut per: HashMap<&'static str, (usize, usize)> = HashMap::new();
    for k in 0..copies {
        for &l in &records[n_originals + k].noises {
            let e = per.entry(l).or_default();
            e.0 += 1;
            e.1 += out.found[k] as usize;
        }
    }
    println!("\nRecall per noise (a record may have several):\n");
    println!("| noise | copies | found | recall |");
    println!("|---|---:|---:|---:|");
    for l in label_order(per.keys().copied()) {
        let (n, f) = per[l];
        println!("| {l} | {n} | {f} | {} |", ratio(f, n));
    }

    // Examples.
    let mut misses: Vec<usize> = (0..copies).filter(|&k| !out.found[k]).collect();
    misses.shuffle(rng);
    if !misses.is_empty() {
        println!(
            "\nSome misses ({} of {}):\n",
            args.examples.min(misses.len()),
            misses.len()
        );
        for &k in misses.iter().take(args.examples) {
            let copy = &records[n_originals + k];
            let original = &records[copy.original.unwrap() as usize];
            let s = m.score(&copy.profile, &original.profile);
            let why = match out.compared[k] {
                Some(_) => "scored below the threshold",
                None if blocked_together(m, &copy.profile, &original.profile)
                    || blocked_together(m, &original.profile, &copy.profile) =>
                {
                    "lost to the cap"
                }
                None => "no blocking key shared",
            };
            println!("- {why}; noise: {}", copy.noises.join(", "));
            println!("  - original: {}", describe(&original.profile));
            println!("  - second:   {}", describe(&copy.profile));
            println!("  - score {}", explain(&s));
        }
    }
    let mut fps = out.false_positives.clone();
    fps.shuffle(rng);
    if !fps.is_empty() {
        let mut bands: BTreeMap<i64, usize> = BTreeMap::new();
        for &(_, _, t) in &out.false_positives {
            *bands.entry(t.floor() as i64).or_default() += 1;
        }
        let bands: Vec<String> = bands
            .iter()
            .map(|(b, n)| format!("{b}-{}: {n}", b + 1))
            .collect();
        println!("\nFalse positives by score: {}", bands.join(", "));
        println!(
            "\nSome false positives ({} of {}):\n",
            args.examples.min(fps.len()),
            fps.len()
        );
        for &(a, b, _) in fps.iter().take(args.examples) {
            let (ra, rb) = (&records[a as usize], &records[b as usize]);
            let s = m.score(&ra.profile, &rb.profile);
            let kind = |r: &Record| {
                if r.original.is_some() {
                    "second registration"
                } else {
                    "original"
                }
            };
            println!("- {} vs {}", kind(ra), kind(rb));
            println!("  - {}", describe(&ra.profile));
            println!("  - {}", describe(&rb.profile));
            println!("  - score {}", explain(&s));
        }
    }
}

fn duplicates(persons: &[Person], m: &Matcher, args: &Args) {
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xD0_D0);
    let n = persons.len();
    let mut records: Vec<Record> = persons
        .iter()
        .map(|p| Record {
            id: p.id,
            household: p.household,
            arrived: p.arrived,
            profile: p.profile.clone(),
            original: None,
            noises: Vec::new(),
        })
        .collect();
    let picked = rand::seq::index::sample(&mut rng, n, args.duplicates.min(n));
    // Each second registration is a household of its own.
    let first_household = persons.iter().map(|p| p.household).max().unwrap_or(0) + 1;
    for (household, i) in (first_household..).zip(picked.iter()) {
        let (profile, arrived, noises) = second_registration(&persons[i], &mut rng);
        records.push(Record {
            id: rng.random::<u128>(),
            household,
            arrived,
            profile,
            original: Some(i as u32),
            noises,
        });
    }
    let started = Instant::now();
    let index = Index::build(&records, m);
    eprintln!(
        "duplicates: {} records indexed in {:.1} s",
        records.len(),
        started.elapsed().as_secs_f64()
    );
    let modes = match args.lookup {
        LookupMode::Both => vec![LookupMode::Scan, LookupMode::Register],
        m => vec![m],
    };
    for mode in modes {
        let started = Instant::now();
        let out = match_duplicates(&records, n, &index, m, mode, args);
        let elapsed = started.elapsed().as_secs_f64();
        let mut ex_rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0xE7);
        report_duplicates(&records, n, &out, m, mode, elapsed, args, &mut ex_rng);
    }
}

// ---------------------------------------------------------------------------
// Tracing.

fn tracing(persons: &[Person], m: &Matcher, args: &Args) {
    let weights = &m.weights;
    let started = Instant::now();
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed ^ 0x7EAC);
    let day = request_date();
    let records: Vec<Record> = persons
        .iter()
        .map(|p| Record {
            id: p.id,
            household: p.household,
            arrived: p.arrived,
            profile: p.profile.clone(),
            original: None,
            noises: Vec::new(),
        })
        .collect();
    let index = Index::build(&records, m);
    let (mut minors, mut adults): (Vec<usize>, Vec<usize>) =
        (0..persons.len()).partition(|&i| persons[i].age_on(day) < 18);
    minors.shuffle(&mut rng);
    adults.shuffle(&mut rng);
    let half = args.tracing / 2;
    let sought: Vec<usize> = minors
        .iter()
        .take(half)
        .chain(adults.iter().take(args.tracing - half))
        .copied()
        .collect();
    struct Outcome {
        labels: Vec<&'static str>,
        rank: Option<usize>,
        rank_ties_against: Option<usize>,
        matches: usize,
        compared: bool,
        capped: bool,
        request: Profile,
        person: usize,
        score: Score,
        top: Option<f64>,
    }
    let mut outcomes = Vec::new();
    let mut comparisons = 0u64;
    let mut capped_lookups = 0u64;
    for &i in &sought {
        let p = &persons[i];
        let mut labels = Vec::new();
        labels.push(if p.age_on(day) < 18 {
            "under 18"
        } else {
            "18 and over"
        });
        let script = pick_script(&mut rng, TRACE_ARMENIAN, TRACE_LATIN);
        let (mut given, mut family) = names_in(p, &script, &mut rng, &mut labels);
        if rng.random_bool(TRACE_TYPO) {
            if rng.random_bool(0.5) {
                given = typo(&given, &mut rng);
                labels.push("typo in given name");
            } else {
                family = typo(&family, &mut rng);
                labels.push("typo in family name");
            }
        }
        let sex = if rng.random_bool(TRACE_SEX_UNKNOWN) {
            labels.push("sex unknown to the relative");
            None
        } else {
            Some(p.true_sex.clone())
        };
        if p.sex != "female" && p.sex != "male" {
            labels.push("sex unrecorded in the registration");
        }
        let age = p.age_on(day);
        let off = rng.random_range(-2..=2);
        labels.push(match off {
            0 => "age exact",
            -1 | 1 => "age +-1",
            _ => "age +-2",
        });
        let approx = (age + off).max(0);
        if p.birth_date.is_some_and(|b| day.year() - age != b.year()) {
            labels.push("age->year off by one (born after 30 Sep)");
        }
        if p.birth_date.is_none() {
            labels.push("registered with an estimated age only");
        }
        let origin = if rng.random_bool(TRACE_ORIGIN) {
            labels.push("origin given");
            Some(place_in(p.origin, &script))
        } else {
            labels.push("origin not given");
            None
        };
        let request = Profile {
            given_name: given,
            family_name: family,
            patronymic: None,
            sex,
            birth: Birth {
                date: None,
                estimated_age: Some(approx),
                registered_on: day,
            },
            document_number: None,
            phone: None,
            origin_settlement: origin,
            household_size: None,
        };
        let probe = m.tracing_probe(&request);
        let (found, wanted) = index.candidates(std::slice::from_ref(&probe), |_| true, args.cap);
        let capped = args.cap > 0 && wanted > args.cap;
        capped_lookups += capped as u64;
        let mut matches: Vec<(u32, f64)> = Vec::new();
        let mut compared = false;
        for c in found.into_iter().flatten() {
            comparisons += 1;
            compared |= c as usize == i;
            let s = m.score(&request, &records[c as usize].profile);
            if s.is_tracing_match(weights) {
                matches.push((c, s.total));
            }
        }
        matches.sort_by(|a, b| b.1.total_cmp(&a.1));
        let rank = matches.iter().position(|(c, _)| *c as usize == i);
        let rank_ties_against = rank.map(|r| {
            let mine = matches[r].1;
            matches.iter().filter(|(_, s)| *s >= mine).count() - 1
        });
        let score = m.score(&request, &p.profile);
        outcomes.push(Outcome {
            labels,
            rank,
            rank_ties_against,
            matches: matches.len(),
            compared,
            capped,
            request,
            person: i,
            score,
            top: matches.first().map(|m| m.1),
        });
    }
    let n = outcomes.len();
    let at = |k: usize| {
        outcomes
            .iter()
            .filter(|o| o.rank.is_some_and(|r| r < k))
            .count()
    };
    let at_ties = |k: usize| {
        outcomes
            .iter()
            .filter(|o| o.rank_ties_against.is_some_and(|r| r < k))
            .count()
    };
    let matched = outcomes.iter().filter(|o| o.rank.is_some()).count();
    let mean_matches = outcomes.iter().map(|o| o.matches).sum::<usize>() as f64 / n.max(1) as f64;
    let mut counts: Vec<usize> = outcomes.iter().map(|o| o.matches).collect();
    counts.sort_unstable();
    let median = counts.get(n / 2).copied().unwrap_or(0);
    let not_compared = outcomes.iter().filter(|o| !o.compared).count();
    let cut = outcomes
        .iter()
        .filter(|o| {
            !o.compared
                && o.capped
                && shares_a_key(&m.tracing_probe(&o.request), m, &persons[o.person].profile)
        })
        .count();
    let below = outcomes
        .iter()
        .filter(|o| o.compared && o.rank.is_none())
        .count();
    let ranked_low = outcomes
        .iter()
        .filter(|o| o.rank.is_some_and(|r| r >= 5))
        .count();
    println!("\n### Family tracing\n");
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| requests (under 18 / 18 and over) | {} ({} / {}) |",
        n,
        half.min(minors.len()),
        n - half.min(minors.len())
    );
    println!("| stored records | {} |", persons.len());
    println!("| candidate comparisons | {} |", comparisons);
    println!(
        "| lookups cut by the {}-row cap | {} |",
        args.cap, capped_lookups
    );
    println!("| **recall@1** | **{}** |", ratio(at(1), n));
    println!("| **recall@5** | **{}** |", ratio(at(5), n));
    println!(
        "| recall@5, ties ranked against the sought | {} |",
        ratio(at_ties(5), n)
    );
    println!("| recall@10 | {} |", ratio(at(10), n));
    println!(
        "| sought scored >= {} at all | {} |",
        weights.tracing_threshold,
        ratio(matched, n)
    );
    println!(
        "| matches per request: mean / median / max | {:.1} / {} / {} |",
        mean_matches,
        median,
        counts.last().copied().unwrap_or(0)
    );
    println!(
        "| misses@5: not a candidate (of which lost to the cap) / below threshold / ranked 6th or lower | {} ({}) / {} / {} |",
        not_compared, cut, below, ranked_low
    );
    println!("| time | {:.1} s |", started.elapsed().as_secs_f64());

    let mut per: HashMap<&'static str, (usize, usize, usize)> = HashMap::new();
    for o in &outcomes {
        for &l in &o.labels {
            let e = per.entry(l).or_default();
            e.0 += 1;
            e.1 += o.rank.is_some_and(|r| r < 5) as usize;
            e.2 += o.rank.is_some_and(|r| r < 1) as usize;
        }
    }
    println!("\nRecall per noise:\n");
    println!("| noise | requests | recall@5 | recall@1 |");
    println!("|---|---:|---:|---:|");
    for l in label_order(per.keys().copied()) {
        let (k, f5, f1) = per[l];
        println!("| {l} | {k} | {} | {} |", ratio(f5, k), ratio(f1, k));
    }
    let mut misses: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| o.rank.is_none_or(|r| r >= 5))
        .collect();
    misses.shuffle(&mut rng);
    if !misses.is_empty() {
        println!(
            "\nSome misses@5 ({} of {}):\n",
            args.examples.min(misses.len()),
            misses.len()
        );
        for o in misses.iter().take(args.examples) {
            let why = match (o.compared, o.rank) {
                (false, _) => "not a candidate".to_string(),
                (true, None) => "below the tracing threshold".to_string(),
                (true, Some(r)) => format!(
                    "ranked {} of {} (best {:.1})",
                    r + 1,
                    o.matches,
                    o.top.unwrap_or(0.0)
                ),
            };
            println!("- {why}; noise: {}", o.labels.join(", "));
            println!("  - request: {}", describe(&o.request));
            println!("  - person:  {}", describe(&persons[o.person].profile));
            println!("  - score {}", explain(&o.score));
        }
    }
}

// ---------------------------------------------------------------------------

fn set_weight(w: &mut Weights, name: &str, value: f64) -> Result<(), String> {
    let slot = match name {
        "name_same" => &mut w.name_same,
        "name_close" => &mut w.name_close,
        "given_same" => &mut w.given_same,
        "given_close" => &mut w.given_close,
        "given_different" => &mut w.given_different,
        "family_same" => &mut w.family_same,
        "family_close" => &mut w.family_close,
        "family_different" => &mut w.family_different,
        "patronymic_same" => &mut w.patronymic_same,
        "patronymic_different" => &mut w.patronymic_different,
        "sex_same" => &mut w.sex_same,
        "sex_different" => &mut w.sex_different,
        "birth_exact" => &mut w.birth_exact,
        "birth_swapped" => &mut w.birth_swapped,
        "birth_within_year" => &mut w.birth_within_year,
        "birth_estimated_age" => &mut w.birth_estimated_age,
        "birth_different" => &mut w.birth_different,
        "document_same" => &mut w.document_same,
        "document_different" => &mut w.document_different,
        "phone_same" => &mut w.phone_same,
        "origin_same" => &mut w.origin_same,
        "household_size_same" => &mut w.household_size_same,
        "threshold" => &mut w.threshold,
        "tracing_threshold" => &mut w.tracing_threshold,
        other => return Err(format!("no weight {other:?}")),
    };
    *slot = value;
    Ok(())
}

fn main() {
    let args = Args::parse();
    let mut weights = Weights::default();
    for s in &args.set {
        let (name, value) = s.split_once('=').expect("--set NAME=VALUE");
        let value: f64 = value.parse().expect("--set NAME=VALUE with a number");
        set_weight(&mut weights, name, value).unwrap_or_else(|e| panic!("{e}"));
    }
    if let Some(t) = args.threshold {
        weights.threshold = t;
    }
    if let Some(t) = args.tracing_threshold {
        weights.tracing_threshold = t;
    }
    let started = Instant::now();
    let (persons, unknown_sex) = registered_persons(&args);
    let planned = started.elapsed().as_secs_f64();
    eprintln!("plan: {} persons in {:.1} s", persons.len(), planned);
    println!(
        "## Matching quality: scale {}, seed {}\n",
        args.scale, args.seed
    );
    if args.transliterations {
        let mut seen = HashSet::new();
        let mut differ = 0;
        for p in &persons {
            for (armenian, latin) in [(&p.given, &p.given_latin), (&p.family, &p.family_latin)] {
                if seen.insert(armenian.clone()) {
                    let mine = to_latin(armenian);
                    differ += (mine != *latin) as usize;
                    println!("{armenian} | {latin} | {mine} | {}", to_russian(armenian));
                }
            }
            if let Some(g) = &p.patronymic {
                if seen.insert(g.clone()) {
                    println!(
                        "{g} | - | {} | {}",
                        to_latin(g),
                        russian_patronymic(g, false)
                    );
                }
            }
            if seen.insert(p.origin.to_string()) {
                println!(
                    "{} | - | {} | {}",
                    p.origin,
                    to_latin(p.origin),
                    to_russian(p.origin)
                );
            }
        }
        println!("names whose passport spelling differs from this bench's: {differ}");
        return;
    }
    let m = Matcher { weights };
    let changed = weights != Weights::default();
    println!(
        "Weights: {}; threshold {}, tracing threshold {}. {} persons registered ({} with sex never recorded). Candidate cap {} key rows per record looked up.",
        if changed { "MODIFIED (experiment)" } else { "Weights::default()" },
        weights.threshold,
        weights.tracing_threshold,
        persons.len(),
        unknown_sex,
        args.cap,
    );
    if changed {
        println!("\nWeights used: {weights:?}");
    }
    println!(
        "\nDuplicate noise: names Armenian {:.0} % / Latin {:.0} % (half respelt) / Cyrillic {:.0} %; typo {:.0} %; given-family swap {:.0} %; birth day-month swapped {:.0} % (where possible), estimated age +-0..2 {:.0} %, year +-1 {:.0} %, day/month digit mistyped {:.0} %; document dropped {:.0} %; phone dropped {:.0} % (new number in {:.0} % of the rest); patronymic dropped {:.0} %; household size +-1 {:.0} %; origin in the record's script; 0-3 days later.",
        DUP_ARMENIAN * 100.0,
        DUP_LATIN * 100.0,
        (1.0 - DUP_ARMENIAN - DUP_LATIN) * 100.0,
        DUP_TYPO * 100.0,
        DUP_SWAPPED_NAMES * 100.0,
        DUP_DAY_MONTH * 100.0,
        DUP_ESTIMATED * 100.0,
        DUP_YEAR_OFF * 100.0,
        DUP_DIGIT * 100.0,
        DUP_DOCUMENT_DROPPED * 100.0,
        DUP_PHONE_DROPPED * 100.0,
        DUP_PHONE_CHANGED * 100.0,
        DUP_PATRONYMIC_DROPPED * 100.0,
        DUP_SIZE_DIFFERS * 100.0,
    );
    println!(
        "Tracing requests: names Armenian {:.0} % / Latin {:.0} % / Cyrillic {:.0} %; typo {:.0} %; sex unknown {:.0} %; age +-0..2 on 2023-09-30, no birth date; origin in {:.0} %.",
        TRACE_ARMENIAN * 100.0,
        TRACE_LATIN * 100.0,
        (1.0 - TRACE_ARMENIAN - TRACE_LATIN) * 100.0,
        TRACE_TYPO * 100.0,
        TRACE_SEX_UNKNOWN * 100.0,
        TRACE_ORIGIN * 100.0,
    );
    if args.duplicates > 0 {
        duplicates(&persons, &m, &args);
    }
    if args.tracing > 0 {
        tracing(&persons, &m, &args);
    }
    println!(
        "\nTotal time: {:.1} s (plan {:.1} s).",
        started.elapsed().as_secs_f64(),
        planned
    );
}
