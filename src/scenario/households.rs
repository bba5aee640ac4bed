//! Households of the 2023 arrivals: who lives together, how old they are,
//! and then everything a registration records about them (names, documents,
//! specific needs).
//!
//! A household is made in two steps. The [`Skeleton`] fixes relationships,
//! ages and sexes; the planner then adjusts sexes to the documented
//! registration figures and picks the wounded. [`Dresser::dress`] then adds
//! names (which depend on sex), documents and needs. The prevalences are
//! documented in `data/SOURCES.md`.

use chrono::{Datelike, NaiveDate};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::names::{Era, FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES};
use crate::http::time::Date;
use crate::registration::{Document, DocumentType, NewMember, Relationship, Sex};

/// Household sizes 1 to 11, per thousand households: mean 3.88, as in the
/// Yerevan registrations (31,350 persons in 8,076 families).
const SIZES: [(usize, u32); 11] = [
    (1, 100),
    (2, 160),
    (3, 170),
    (4, 220),
    (5, 170),
    (6, 100),
    (7, 45),
    (8, 20),
    (9, 8),
    (10, 4),
    (11, 3),
];

/// Share of girls among children (sex ratio at birth about 1.08).
const GIRLS: f64 = 0.48;

/// A member before names and documents are chosen.
#[derive(Debug, Clone)]
pub(super) struct Person {
    pub relationship: Relationship,
    /// Age in whole years on the arrival date.
    pub age: i32,
    /// Male or female: the person's sex, recorded unless `sex_unrecorded`.
    pub sex: Sex,
    /// Half of a couple (head and spouse, son and daughter-in-law, the head's
    /// parents): changed in sex only when nothing else is left.
    pub paired: bool,
    /// Registered without sex; corrected later by a `SetSex` event.
    pub sex_unrecorded: bool,
    /// Injured in the September operation or the 25 September fuel depot explosion.
    pub wounded: bool,
}

impl Person {
    fn new(relationship: Relationship, age: i32, sex: Sex, paired: bool) -> Person {
        Person {
            relationship,
            age: age.clamp(0, 98),
            sex,
            paired,
            sex_unrecorded: false,
            wounded: false,
        }
    }
}

/// What kind of household: a few children arrived without their family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Family,
    UnaccompaniedChildren,
}

/// A household's composition and registration instant.
#[derive(Debug, Clone)]
pub(super) struct Skeleton {
    /// Registration instant, Unix seconds.
    pub at: i64,
    pub kind: Kind,
    pub people: Vec<Person>,
}

pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut x = rng.random_range(0..total);
    for (item, weight) in items {
        if x < *weight {
            return *item;
        }
        x -= weight;
    }
    unreachable!("x < total")
}

/// A whole number in `lo..=hi` (or `lo` if the range is empty).
fn between(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

/// Like [`between`], but more often near `lo`.
fn between_low(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    between(rng, lo, hi).min(between(rng, lo, hi))
}

/// Like [`between`], but more often in the middle.
fn between_mid(rng: &mut ChaCha8Rng, lo: i32, hi: i32) -> i32 {
    (between(rng, lo, hi) + between(rng, lo, hi)) / 2
}

fn sex(rng: &mut ChaCha8Rng, female: f64) -> Sex {
    if rng.random_bool(female) {
        Sex::Female
    } else {
        Sex::Male
    }
}

/// A household size drawn from the documented distribution.
pub(super) fn size(rng: &mut ChaCha8Rng) -> usize {
    pick(rng, &SIZES)
}

/// The composition of a household of exactly `size` persons (1 to 11).
pub(super) fn skeleton(rng: &mut ChaCha8Rng, at: i64, size: usize) -> Skeleton {
    let (kind, people) = match size {
        1 => single(rng),
        2 => pair(rng),
        3 => {
            let r: f64 = rng.random();
            if r < 0.04 {
                (Kind::Family, grandparents_with_grandchild(rng))
            } else if r < 0.18 {
                (Kind::Family, adult_with_parents(rng))
            } else {
                (Kind::Family, nuclear(rng, 3))
            }
        }
        n => {
            if rng.random_bool(0.45) {
                (Kind::Family, three_generations(rng, n))
            } else {
                (Kind::Family, nuclear(rng, n))
            }
        }
    };
    debug_assert_eq!(people.len(), size);
    Skeleton { at, kind, people }
}

fn single(rng: &mut ChaCha8Rng) -> (Kind, Vec<Person>) {
    let r: f64 = rng.random();
    let person = if r < 0.0012 {
        let head = Person::new(
            Relationship::Head,
            between(rng, 15, 17),
            sex(rng, 0.5),
            false,
        );
        return (Kind::UnaccompaniedChildren, vec![head]);
    } else if r < 0.66 {
        // Older people living alone, mostly widows.
        Person::new(
            Relationship::Head,
            between_low(rng, 66, 94),
            sex(rng, 0.72),
            false,
        )
    } else {
        Person::new(
            Relationship::Head,
            between(rng, 18, 64),
            sex(rng, 0.45),
            false,
        )
    };
    (Kind::Family, vec![person])
}

fn pair(rng: &mut ChaCha8Rng) -> (Kind, Vec<Person>) {
    use Relationship::*;
    let r: f64 = rng.random();
    let people = if r < 0.0015 {
        let age = between(rng, 15, 17);
        let head = Person::new(Head, age, sex(rng, 0.5), false);
        let sibling = Person::new(Sibling, between(rng, 6, age - 1), sex(rng, GIRLS), false);
        return (Kind::UnaccompaniedChildren, vec![head, sibling]);
    } else if r < 0.50 {
        let head = between_low(rng, 64, 90);
        let wife = (head - between(rng, 0, 7)).max(60);
        vec![
            Person::new(Head, head, Sex::Male, true),
            Person::new(Spouse, wife, Sex::Female, true),
        ]
    } else if r < 0.65 {
        let head = between(rng, 20, 64);
        let wife = (head - between(rng, -2, 7)).max(18);
        vec![
            Person::new(Head, head, Sex::Male, true),
            Person::new(Spouse, wife, Sex::Female, true),
        ]
    } else if r < 0.81 {
        let head = between(rng, 20, 58);
        let child = between(rng, 0, (head - 19).min(35));
        vec![
            Person::new(Head, head, sex(rng, 0.87), false),
            Person::new(Child, child, sex(rng, GIRLS), false),
        ]
    } else {
        let head = between(rng, 28, 62);
        let parent = (head + between(rng, 20, 34)).min(95);
        vec![
            Person::new(Head, head, sex(rng, 0.5), false),
            Person::new(Parent, parent, sex(rng, 0.72), false),
        ]
    };
    (Kind::Family, people)
}

fn grandparents_with_grandchild(rng: &mut ChaCha8Rng) -> Vec<Person> {
    use Relationship::*;
    let head = between(rng, 55, 80);
    let wife = (head - between(rng, 0, 7)).max(50);
    vec![
        Person::new(Head, head, Sex::Male, true),
        Person::new(Spouse, wife, Sex::Female, true),
        Person::new(Grandchild, between(rng, 3, 17), sex(rng, GIRLS), false),
    ]
}

fn adult_with_parents(rng: &mut ChaCha8Rng) -> Vec<Person> {
    use Relationship::*;
    let head = between(rng, 25, 52);
    let mother = (head + between(rng, 22, 36)).min(93);
    let father = (mother + between(rng, 0, 6)).min(95);
    vec![
        Person::new(Head, head, sex(rng, 0.4), false),
        Person::new(Parent, father, Sex::Male, true),
        Person::new(Parent, mother, Sex::Female, true),
    ]
}

/// Ages of `count` children of a mother aged `mother`, eldest first: the
/// youngest is more often small, one to four years between siblings, the
/// eldest born when the mother was at least 19.
fn children_ages(rng: &mut ChaCha8Rng, count: usize, mother: i32) -> Vec<i32> {
    let eldest_max = (mother - 19).clamp(0, 27);
    let youngest_max = (eldest_max - 2 * (count as i32 - 1)).max(0);
    // Fewer births in recent years: half the very young draws are redrawn.
    let mut age = between(rng, 0, youngest_max);
    if age <= 5 && rng.random_bool(0.5) {
        age = between(rng, 0, youngest_max);
    }
    let mut ages = Vec::with_capacity(count);
    for _ in 0..count {
        ages.push(age);
        age = (age + between(rng, 1, 4)).min(eldest_max);
    }
    ages.reverse();
    ages
}

/// A couple or a lone parent with children, sometimes with the head's
/// parents or a sibling.
fn nuclear(rng: &mut ChaCha8Rng, size: usize) -> Vec<Person> {
    use Relationship::*;
    let form: f64 = rng.random();
    let adults = if form < 0.82 { 2 } else { 1 };
    let mut slots = size - adults;
    let with_parents = match size {
        4 | 5 => 0.25,
        6.. => 0.45,
        _ => 0.0,
    };
    let parents = if rng.random_bool(with_parents) {
        if rng.random_bool(0.6) {
            2
        } else {
            1
        }
    } else {
        0
    };
    // Leave room for at least one child.
    let parents = parents.min(slots - 1);
    slots -= parents;
    let sibling = usize::from(slots >= 2 && rng.random_bool(0.05));
    slots -= sibling;
    let kids = slots.max(1);
    // Old enough to have had the children from 19 on, two years apart on average.
    let mother_min = 20 + 2 * (kids as i32 - 1);

    let mut people = Vec::with_capacity(size);
    let (head, mother) = if form < 0.82 {
        let head = between_mid(rng, 25.max(mother_min), 66.max(mother_min + 2));
        let wife = (head - between(rng, -2, 7)).clamp(mother_min, head + 2);
        people.push(Person::new(Head, head, Sex::Male, true));
        people.push(Person::new(Spouse, wife, Sex::Female, true));
        (head, wife.min(head))
    } else if form < 0.95 {
        let head = between_mid(rng, 24.max(mother_min), 62.max(mother_min + 2));
        people.push(Person::new(Head, head, Sex::Female, false));
        (head, head)
    } else {
        let head = between_mid(rng, 25.max(mother_min + 3), 62.max(mother_min + 5));
        people.push(Person::new(Head, head, Sex::Male, false));
        (head, head - 3)
    };
    for age in children_ages(rng, kids, mother) {
        people.push(Person::new(Child, age, sex(rng, GIRLS), false));
    }
    if parents > 0 {
        let father = (head + between(rng, 22, 35)).min(95);
        let grandmother = (father - between(rng, 0, 6)).max(head + 19).min(95);
        if parents == 2 {
            people.push(Person::new(Parent, father, Sex::Male, true));
            people.push(Person::new(Parent, grandmother, Sex::Female, true));
        } else if rng.random_bool(0.7) {
            people.push(Person::new(Parent, grandmother, Sex::Female, false));
        } else {
            people.push(Person::new(Parent, father, Sex::Male, false));
        }
    }
    if sibling > 0 {
        let age = (head + between(rng, -10, 8)).max(16);
        people.push(Person::new(Sibling, age, sex(rng, 0.5), false));
    }
    people
}

/// Grandparents heading a household with a married son, his wife and their
/// children (the usual three-generation household).
fn three_generations(rng: &mut ChaCha8Rng, size: usize) -> Vec<Person> {
    use Relationship::*;
    let mut people = Vec::with_capacity(size);
    let mother = if rng.random_bool(0.88) {
        let head = between_mid(rng, 56, 88);
        people.push(Person::new(Head, head, Sex::Male, true));
        if rng.random_bool(0.85) {
            let wife = (head - between(rng, 0, 7)).max(45);
            people.push(Person::new(Spouse, wife, Sex::Female, true));
            wife
        } else {
            people[0].paired = false;
            head - 4
        }
    } else {
        let head = between_mid(rng, 56, 90);
        people.push(Person::new(Head, head, Sex::Female, false));
        head
    };
    let son = between_mid(rng, 22, (mother - 20).clamp(22, 55));
    let daughter_in_law = (son - between(rng, -2, 6)).max(19);
    people.push(Person::new(Child, son, Sex::Male, true));
    people.push(Person::new(ChildInLaw, daughter_in_law, Sex::Female, true));
    let rest = size - people.len();
    let grandchildren = rest.min(5);
    for age in children_ages(rng, grandchildren, son.min(daughter_in_law)) {
        people.push(Person::new(Grandchild, age, sex(rng, GIRLS), false));
    }
    for _ in grandchildren..rest {
        let age = between(rng, 18, (mother - 20).max(18));
        people.push(Person::new(Child, age, sex(rng, 0.5), false));
    }
    people
}

/// Turns skeletons into registrations: names, birth dates, documents, needs.
pub(super) struct Dresser {
    passports: u32,
    id_cards: u32,
    birth_certificates: u32,
    offsets: [u64; 3],
}

/// What the dresser needs to know about the moment of registration.
pub(super) struct Moment {
    /// Local calendar date of the registration.
    pub date: NaiveDate,
    /// Share of pregnant or lactating women whose need was recorded: low in
    /// the first days (133 among the first ~55,000 registered).
    pub pregnancy_recorded: f64,
}

impl Dresser {
    pub(super) fn new(rng: &mut ChaCha8Rng) -> Dresser {
        Dresser {
            passports: 0,
            id_cards: 0,
            birth_certificates: 0,
            offsets: [
                rng.random_range(0..10_000_000),
                rng.random_range(0..1_000_000_000),
                rng.random_range(0..10_000_000),
            ],
        }
    }

    /// Distinct numbers that look random: `offset + i × k (mod 10^n)` visits
    /// every number once because `k` is coprime with 10.
    fn passport(&mut self) -> String {
        self.passports += 1;
        let n = (self.offsets[0] + u64::from(self.passports) * 7_654_321) % 10_000_000;
        format!("AN{n:07}")
    }

    fn id_card(&mut self) -> String {
        self.id_cards += 1;
        let n = (self.offsets[1] + u64::from(self.id_cards) * 123_456_791) % 1_000_000_000;
        format!("{n:09}")
    }

    fn birth_certificate(&mut self) -> String {
        self.birth_certificates += 1;
        let n = (self.offsets[2] + u64::from(self.birth_certificates) * 3_141_593) % 10_000_000;
        format!("BC{n:07}")
    }

    /// Names, documents and needs for every member of `skeleton`.
    pub(super) fn dress(
        &mut self,
        rng: &mut ChaCha8Rng,
        skeleton: &Skeleton,
        moment: &Moment,
    ) -> Vec<NewMember> {
        let people = &skeleton.people;
        let year = moment.date.year();
        let (family, family_latin) = FAMILY_NAMES[rng.random_range(0..FAMILY_NAMES.len())];
        // Children are named after grandparents, not after a living parent
        // or sibling: no two members share a given name.
        let mut given: Vec<Given> = Vec::with_capacity(people.len());
        for p in people {
            let mut name = given_name(rng, p.sex, year - p.age);
            for _ in 0..20 {
                if given.iter().all(|g| g.armenian != name.armenian) {
                    break;
                }
                name = given_name(rng, p.sex, year - p.age);
            }
            given.push(name);
        }

        let head = &people[0];
        let head_father = people
            .iter()
            .position(|p| p.relationship == Relationship::Parent && p.sex == Sex::Male)
            .and_then(|i| given[i].genitive);
        let head_father = head_father.unwrap_or_else(|| father_name(rng, year - head.age));
        let father_of_children = if head.sex == Sex::Male {
            given[0].genitive
        } else {
            people
                .iter()
                .position(|p| p.relationship == Relationship::Spouse && p.sex == Sex::Male)
                .and_then(|i| given[i].genitive)
        };
        let son = people
            .iter()
            .position(|p| p.relationship == Relationship::Child && p.paired);
        let father_of_grandchildren = son.and_then(|i| given[i].genitive);
        let has_spouse = people
            .iter()
            .any(|p| p.relationship == Relationship::Spouse);
        let own_minors = people
            .iter()
            .filter(|p| p.relationship == Relationship::Child && p.age < 18)
            .count();

        let mut dressed = Vec::with_capacity(people.len());
        for (i, person) in people.iter().enumerate() {
            let father = match person.relationship {
                Relationship::Head | Relationship::Sibling => Some(head_father),
                Relationship::Child => father_of_children,
                Relationship::Grandchild => father_of_grandchildren,
                _ => None,
            };
            let patronymic = if person.age >= 18 && rng.random_bool(0.92) {
                Some(
                    father
                        .unwrap_or_else(|| father_name(rng, year - person.age))
                        .to_string(),
                )
            } else {
                None
            };
            let (birth_date, estimated_age) = birth(rng, person.age, moment.date);
            let document = self.document(rng, person.age, estimated_age.is_some());
            let context = NeedsContext {
                size: people.len(),
                kind: skeleton.kind,
                has_spouse,
                own_minors,
                mother_of_infant: mother_of_infant(people, i),
                parents_absent: son.is_none(),
            };
            let needs = needs(rng, person, &context, moment);
            dressed.push(NewMember {
                id: Some(uuid(rng)),
                given_name: given[i].armenian.to_string(),
                family_name: family.to_string(),
                patronymic,
                name_latin: Some(format!("{} {family_latin}", given[i].latin)),
                sex: if person.sex_unrecorded {
                    Sex::Unknown
                } else {
                    person.sex
                },
                birth_date: birth_date.map(Date::trusted),
                estimated_age,
                relationship: person.relationship,
                document,
                needs,
                tracing_consent: false,
            });
        }
        dressed
    }

    fn document(&mut self, rng: &mut ChaCha8Rng, age: i32, estimated: bool) -> Option<Document> {
        // Older people whose age had to be estimated came without papers.
        if estimated {
            return None;
        }
        let r: f64 = rng.random();
        let (kind, number) = if age >= 16 {
            if r < 0.91 {
                (DocumentType::Passport, self.passport())
            } else if r < 0.94 {
                (DocumentType::IdCard, self.id_card())
            } else {
                return None;
            }
        } else if r < 0.92 {
            (DocumentType::BirthCertificate, self.birth_certificate())
        } else if r < 0.95 {
            (DocumentType::Passport, self.passport())
        } else {
            return None;
        };
        Some(Document { kind, number })
    }
}

/// A random (version 4) UUID from the seeded generator, so that a re-run
/// produces the same ids.
pub(super) fn uuid(rng: &mut ChaCha8Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

struct Given {
    armenian: &'static str,
    latin: &'static str,
    /// For men: the form used as their children's patronymic.
    genitive: Option<&'static str>,
}

fn given_name(rng: &mut ChaCha8Rng, sex: Sex, born: i32) -> Given {
    loop {
        if sex == Sex::Male {
            let (armenian, latin, genitive, era) =
                MALE_NAMES[rng.random_range(0..MALE_NAMES.len())];
            if era.suits(born) {
                return Given {
                    armenian,
                    latin,
                    genitive: Some(genitive),
                };
            }
        } else {
            let (armenian, latin, era) = FEMALE_NAMES[rng.random_range(0..FEMALE_NAMES.len())];
            if era.suits(born) {
                return Given {
                    armenian,
                    latin,
                    genitive: None,
                };
            }
        }
    }
}

/// The patronymic of someone born in `born` whose father is not in the household.
fn father_name(rng: &mut ChaCha8Rng, born: i32) -> &'static str {
    let father_born = born - 28;
    loop {
        let (_, _, genitive, era) = MALE_NAMES[rng.random_range(0..MALE_NAMES.len())];
        if era.suits(father_born) || era == Era::Any {
            return genitive;
        }
    }
}

/// A birth date giving exactly `age` on `arrival`, or for some older people
/// only an estimated age (no papers): the estimate is often a round number.
fn birth(rng: &mut ChaCha8Rng, age: i32, arrival: NaiveDate) -> (Option<NaiveDate>, Option<i32>) {
    let estimated = match age {
        75.. => 0.16,
        65..=74 => 0.07,
        _ => 0.0,
    };
    if estimated > 0.0 && rng.random_bool(estimated) {
        let guess = if rng.random_bool(0.6) {
            (age + 2) / 5 * 5
        } else {
            age + between(rng, -2, 2)
        };
        return (None, Some(guess.clamp(0, 120)));
    }
    // A day in the year before the arrival (inclusive), moved back `age` years.
    let day = arrival - chrono::Days::new(rng.random_range(0..365));
    let year = day.year() - age;
    let born = day
        .with_year(year)
        .or_else(|| NaiveDate::from_ymd_opt(year, 2, 28))
        .expect("valid date");
    (Some(born), None)
}

/// Whether member `i` is the mother of a child under two in the household.
fn mother_of_infant(people: &[Person], i: usize) -> bool {
    let person = &people[i];
    if person.sex != Sex::Female || !(16..=48).contains(&person.age) {
        return false;
    }
    let infant_of = |relationship: Relationship| {
        people
            .iter()
            .any(|p| p.relationship == relationship && p.age < 2)
    };
    match person.relationship {
        Relationship::Spouse => infant_of(Relationship::Child),
        Relationship::Head => {
            !people
                .iter()
                .any(|p| p.relationship == Relationship::ChildInLaw)
                && infant_of(Relationship::Child)
        }
        Relationship::ChildInLaw => infant_of(Relationship::Grandchild),
        _ => false,
    }
}

struct NeedsContext {
    size: usize,
    kind: Kind,
    has_spouse: bool,
    /// The head's children under 18.
    own_minors: usize,
    mother_of_infant: bool,
    /// No son and daughter-in-law: grandchildren here are without their parents.
    parents_absent: bool,
}

/// Specific-needs codes for one person (codes from `crate::needs`).
fn needs(
    rng: &mut ChaCha8Rng,
    person: &Person,
    context: &NeedsContext,
    moment: &Moment,
) -> Vec<String> {
    let mut codes: Vec<&str> = Vec::new();
    let age = person.age;
    let maybe = |rng: &mut ChaCha8Rng, codes: &mut Vec<&str>, code: &'static str, p: f64| {
        if p > 0.0 && rng.random_bool(p.min(1.0)) {
            codes.push(code);
        }
    };
    let disability = match age {
        0..=17 => 0.009,
        18..=59 => 0.017,
        60..=74 => 0.035,
        _ => 0.050,
    };
    maybe(rng, &mut codes, "DS", disability);
    let medical = match age {
        0..=17 => 0.004,
        18..=59 => 0.008,
        _ => 0.022,
    };
    maybe(rng, &mut codes, "SM", medical);
    if person.wounded {
        codes.push("SM-WD");
    }
    if age >= 60 {
        let at_risk = if context.size == 1 {
            0.45
        } else if age >= 75 {
            0.12
        } else {
            0.03
        };
        maybe(rng, &mut codes, "ER", at_risk);
    }
    // Sex-specific needs only once the sex is recorded.
    let female = person.sex == Sex::Female && !person.sex_unrecorded;
    if female && (16..=48).contains(&age) {
        let pregnant_or_lactating = if context.mother_of_infant {
            0.8
        } else if (18..=42).contains(&age) {
            0.19
        } else {
            0.0
        };
        maybe(
            rng,
            &mut codes,
            "WR-PL",
            pregnant_or_lactating * moment.pregnancy_recorded,
        );
    }
    let lone_adult_head = person.relationship == Relationship::Head && !context.has_spouse;
    if female && (18..=59).contains(&age) {
        maybe(
            rng,
            &mut codes,
            "WR",
            if lone_adult_head { 0.12 } else { 0.002 },
        );
    }
    if lone_adult_head && age >= 18 && context.own_minors > 0 {
        maybe(rng, &mut codes, "SP", 0.6);
    }
    if age < 18 {
        if context.kind == Kind::UnaccompaniedChildren {
            codes.push("SC-UC");
        } else if person.relationship == Relationship::Grandchild && context.parents_absent {
            maybe(rng, &mut codes, "SC-SC", 0.35);
        }
        maybe(rng, &mut codes, "CR", 0.001);
    }
    if person.relationship == Relationship::Head {
        maybe(rng, &mut codes, "FU", 0.004);
    }
    codes.into_iter().map(String::from).collect()
}

/// Changes the sex of members until `males` of `people` are male (the others
/// female): unpaired members first (children, lone heads), couples only if
/// nothing else is left. Members registered without sex are not counted.
pub(super) fn adjust_sexes(rng: &mut ChaCha8Rng, people: &mut [&mut Person], males: usize) {
    let counted = people.iter().filter(|p| !p.sex_unrecorded).count();
    let current = people
        .iter()
        .filter(|p| !p.sex_unrecorded && p.sex == Sex::Male)
        .count();
    assert!(males <= counted, "{males} men among {counted} persons");
    let (from, to, mut missing) = if current < males {
        (Sex::Female, Sex::Male, males - current)
    } else {
        (Sex::Male, Sex::Female, current - males)
    };
    for paired in [false, true] {
        let mut candidates: Vec<usize> = (0..people.len())
            .filter(|&i| {
                let p = &people[i];
                !p.sex_unrecorded && p.sex == from && p.paired == paired
            })
            .collect();
        candidates.shuffle(rng);
        for i in candidates.into_iter().take(missing) {
            people[i].sex = to;
            missing -= 1;
        }
    }
    debug_assert_eq!(missing, 0);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn name_tables_are_large_distinct_and_in_armenian_script() {
        assert!(FAMILY_NAMES.len() >= 40);
        assert!(MALE_NAMES.len() >= 40);
        assert!(FEMALE_NAMES.len() >= 40);
        let armenian = |s: &str| {
            s.chars()
                .all(|c| ('\u{0531}'..='\u{0587}').contains(&c) || c == ' ')
        };
        let latin = |s: &str| s.chars().all(|c| c.is_ascii_alphabetic());
        let mut seen = std::collections::HashSet::new();
        for (a, l) in FAMILY_NAMES {
            assert!(armenian(a) && latin(l) && seen.insert(*a), "{a} {l}");
        }
        for (a, l, g, _) in MALE_NAMES {
            assert!(
                armenian(a) && armenian(g) && latin(l) && seen.insert(*a),
                "{a} {l}"
            );
        }
        for (a, l, _) in FEMALE_NAMES {
            assert!(armenian(a) && latin(l) && seen.insert(*a), "{a} {l}");
        }
        for (place, _) in super::super::names::ORIGINS {
            assert!(armenian(place), "{place}");
        }
    }

    #[test]
    fn every_size_gives_one_head_and_consistent_ages() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20_000 {
            let n = size(&mut rng);
            let s = skeleton(&mut rng, 0, n);
            assert_eq!(s.people.len(), n);
            let heads = s
                .people
                .iter()
                .filter(|p| p.relationship == Relationship::Head)
                .count();
            assert_eq!(heads, 1);
            assert_eq!(s.people[0].relationship, Relationship::Head);
        }
    }

    #[test]
    fn sexes_are_adjusted_to_the_quota_children_first() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut people: Vec<Person> = (0..10)
            .map(|i| Person::new(Relationship::Child, i, Sex::Female, i < 4))
            .collect();
        let mut refs: Vec<&mut Person> = people.iter_mut().collect();
        adjust_sexes(&mut rng, &mut refs, 6);
        assert_eq!(people.iter().filter(|p| p.sex == Sex::Male).count(), 6);
        assert!(people[..4].iter().all(|p| p.sex == Sex::Female));
    }
}
