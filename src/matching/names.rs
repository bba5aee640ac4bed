//! Names compared across scripts and transliterations.
//!
//! A name reaches the matcher in Armenian script, in one of several Latin
//! transliterations, or in Russian: Հովհաննիսյան, Hovhannisyan,
//! Hovannisian, Ovanesyan, Оганесян. Each is first transliterated to Latin
//! (`deunicode`, as the search keys are) and then reduced to a skeleton
//! that erases the differences transliterations make and keeps the ones
//! names make: silent or doubled letters, `-ian`/`-yan`, Russian `г` for
//! Armenian `հ`, Western Armenian voicing (Vosganian, Oskanyan). Two names
//! are then compared by Jaro-Winkler similarity (`strsim`) of their
//! skeletons, word by word.

/// The Latin skeleton of one name word.
pub fn skeleton(word: &str) -> String {
    // Russian й, ю, я, ё are Armenian յ (y) and a vowel; deunicode would
    // read й as i (Айрапетян would not meet Ayrapetyan).
    let mut word_y = String::with_capacity(word.len());
    for c in word.chars() {
        match c {
            'й' | 'Й' => word_y.push('y'),
            'ю' | 'Ю' => word_y.push_str("yu"),
            'я' | 'Я' => word_y.push_str("ya"),
            'ё' | 'Ё' => word_y.push_str("yo"),
            other => word_y.push(other),
        }
    }
    let latin: String = deunicode::deunicode(&word_y)
        .to_ascii_lowercase()
        .chars()
        .filter(char::is_ascii_alphabetic)
        .collect();
    let mut s = latin;
    for (from, to) in [
        ("dzh", "j"),
        ("ow", "u"),
        ("ou", "u"),
        ("kh", "x"),
        ("gh", "g"),
        ("ia", "ya"),
        ("iy", "y"),
        ("w", "v"),
        ("tz", "ts"),
        ("c", "ts"),
    ] {
        s = s.replace(from, to);
    }
    // The Armenian initial "vo-", "ye-" and "h-" are often not written.
    for (prefix, to) in [("vo", "o"), ("ye", "e"), ("oga", "ova")] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = format!("{to}{rest}");
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut previous: Option<char> = None;
    for c in s.chars() {
        // An `h` that is not part of ch, sh, zh, th or ph is a breath
        // that some spellings write and others drop.
        let keep_h = matches!(previous, Some('c' | 's' | 'z' | 't' | 'p'));
        let c = match c {
            'h' if !keep_h => {
                continue;
            }
            // Voiced and voiceless stops are swapped between Eastern and
            // Western Armenian spellings.
            'g' => 'k',
            'd' => 't',
            'b' => 'p',
            other => other,
        };
        if previous == Some(c) {
            continue;
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

/// The words of a name (split at spaces and hyphens), as skeletons.
pub fn skeletons(name: &str) -> Vec<String> {
    name.split(|c: char| c.is_whitespace() || c == '-')
        .filter(|w| !w.is_empty())
        .map(skeleton)
        .filter(|w| !w.is_empty())
        .collect()
}

/// How alike two names are, from 0 (nothing alike) to 1 (the same after
/// transliteration): each word of the shorter name is matched with its
/// most similar word of the other, and the similarities averaged.
pub fn similarity(a: &str, b: &str) -> f64 {
    similarity_of(&skeletons(a), &skeletons(b))
}

/// [`similarity`] of two names' [`skeletons`].
pub fn similarity_of(a: &[String], b: &[String]) -> f64 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return 0.0;
    }
    let total: f64 = short
        .iter()
        .map(|word| {
            long.iter()
                .map(|other| strsim::jaro_winkler(word, other))
                .fold(0.0, f64::max)
        })
        .sum();
    total / short.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_surname_in_three_scripts_and_several_transliterations_is_alike() {
        let spellings = [
            "Հովհաննիսյան",
            "Hovhannisyan",
            "Hovannisian",
            "Ovanesyan",
            "Оганесян",
            "Ованесян",
        ];
        for a in spellings {
            for b in spellings {
                let s = similarity(a, b);
                assert!(s >= 0.88, "{a} ~ {b}: {s}");
            }
        }
        for (a, b) in [
            ("Ղազարյան", "Kazarian"),
            ("Ghazaryan", "Казарян"),
            ("Մկրտչյան", "Mkrtchyan"),
            ("Ծատուրյան", "Tsaturyan"),
            ("Ջհանգիրյան", "Джангирян"),
            ("Ոսկանյան", "Vosganian"),
            ("Երվանդ", "Yervand"),
            ("Անի", "Ани"),
            ("Տեր-Ավետիսյան", "Ter Avetisyan"),
        ] {
            let s = similarity(a, b);
            assert!(s >= 0.9, "{a} ~ {b}: {s}");
        }
    }

    #[test]
    fn different_names_stay_apart() {
        for (a, b) in [
            ("Hovhannisyan", "Petrosyan"),
            ("Անի", "Արամ"),
            ("Grigoryan", "Sargsyan"),
            ("Մարիամ", "Լուսինե"),
        ] {
            let s = similarity(a, b);
            assert!(s < 0.8, "{a} vs {b}: {s}");
        }
        assert_eq!(similarity("", "Ani"), 0.0);
    }
}
