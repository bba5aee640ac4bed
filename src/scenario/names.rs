//! Curated Armenian names and Nagorno-Karabakh place names, in Armenian script
//! with the Latin transliteration used on Armenian passports (Հ → H,
//! Ղ → Gh, Խ → Kh, Ց/Ծ → Ts, initial Ո → Vo, initial Ե → Ye, ու → u, յ → y).

/// When a given name was usual, so that grandmothers are not called Mane and
/// toddlers not Zhanna.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Era {
    /// Usual for every generation.
    Any,
    /// Mostly people born before about 1975.
    Older,
    /// Mostly people born after about 1990.
    Younger,
}

impl Era {
    /// Whether a name of this era suits someone born in `year`.
    pub(super) fn suits(self, year: i32) -> bool {
        match self {
            Era::Any => true,
            Era::Older => year < 1978,
            Era::Younger => year >= 1988,
        }
    }
}

/// A family name: Armenian script, Latin transliteration.
pub(super) type FamilyName = (&'static str, &'static str);

/// Family names common in Nagorno-Karabakh and Armenia.
pub(super) const FAMILY_NAMES: &[FamilyName] = &[
    ("Հովհաննիսյան", "Hovhannisyan"),
    ("Պետրոսյան", "Petrosyan"),
    ("Գրիգորյան", "Grigoryan"),
    ("Սարգսյան", "Sargsyan"),
    ("Հարությունյան", "Harutyunyan"),
    ("Բաղդասարյան", "Baghdasaryan"),
    ("Խաչատրյան", "Khachatryan"),
    ("Կարապետյան", "Karapetyan"),
    ("Մկրտչյան", "Mkrtchyan"),
    ("Ավետիսյան", "Avetisyan"),
    ("Գևորգյան", "Gevorgyan"),
    ("Առաքելյան", "Arakelyan"),
    ("Դանիելյան", "Danielyan"),
    ("Բաբայան", "Babayan"),
    ("Ղազարյան", "Ghazaryan"),
    ("Մարտիրոսյան", "Martirosyan"),
    ("Հակոբյան", "Hakobyan"),
    ("Ստեփանյան", "Stepanyan"),
    ("Աղաջանյան", "Aghajanyan"),
    ("Ալեքսանյան", "Aleksanyan"),
    ("Մելքոնյան", "Melkonyan"),
    ("Սահակյան", "Sahakyan"),
    ("Ավանեսյան", "Avanesyan"),
    ("Բեգլարյան", "Beglaryan"),
    ("Դավթյան", "Davtyan"),
    ("Եսայան", "Yesayan"),
    ("Զաքարյան", "Zakaryan"),
    ("Թովմասյան", "Tovmasyan"),
    ("Իսրայելյան", "Israyelyan"),
    ("Լալայան", "Lalayan"),
    ("Խաչատուրյան", "Khachaturyan"),
    ("Կիրակոսյան", "Kirakosyan"),
    ("Համբարձումյան", "Hambardzumyan"),
    ("Ղուկասյան", "Ghukasyan"),
    ("Մանուկյան", "Manukyan"),
    ("Ներսիսյան", "Nersisyan"),
    ("Շահինյան", "Shahinyan"),
    ("Ոսկանյան", "Voskanyan"),
    ("Չոբանյան", "Chobanyan"),
    ("Պողոսյան", "Poghosyan"),
    ("Սիմոնյան", "Simonyan"),
    ("Վարդանյան", "Vardanyan"),
    ("Տոնոյան", "Tonoyan"),
    ("Օհանյան", "Ohanyan"),
    ("Ասատրյան", "Asatryan"),
    ("Ադամյան", "Adamyan"),
    ("Մովսիսյան", "Movsisyan"),
    ("Ուլուբաբյան", "Ulubabyan"),
    ("Բալայան", "Balayan"),
    ("Մուսայելյան", "Musayelyan"),
    ("Գաբրիելյան", "Gabrielyan"),
    ("Աբրահամյան", "Abrahamyan"),
    ("Հայրապետյան", "Hayrapetyan"),
    ("Ծատուրյան", "Tsaturyan"),
    ("Աղաբեկյան", "Aghabekyan"),
    ("Գասպարյան", "Gasparyan"),
    ("Միքայելյան", "Mikayelyan"),
    ("Մնացականյան", "Mnatsakanyan"),
    ("Ալավերդյան", "Alaverdyan"),
    ("Պապյան", "Papyan"),
];

/// A man's given name: Armenian, Latin, the genitive used as his children's
/// patronymic (Դավիթ → Դավթի, Սարգիս → Սարգսի), and its era.
pub(super) type MaleName = (&'static str, &'static str, &'static str, Era);

pub(super) const MALE_NAMES: &[MaleName] = &[
    ("Արամ", "Aram", "Արամի", Era::Any),
    ("Արմեն", "Armen", "Արմենի", Era::Any),
    ("Դավիթ", "Davit", "Դավթի", Era::Any),
    ("Հայկ", "Hayk", "Հայկի", Era::Younger),
    ("Տիգրան", "Tigran", "Տիգրանի", Era::Any),
    ("Վահե", "Vahe", "Վահեի", Era::Any),
    ("Գոռ", "Gor", "Գոռի", Era::Younger),
    ("Նարեկ", "Narek", "Նարեկի", Era::Younger),
    ("Արթուր", "Artur", "Արթուրի", Era::Any),
    ("Սամվել", "Samvel", "Սամվելի", Era::Any),
    ("Աշոտ", "Ashot", "Աշոտի", Era::Any),
    ("Կարեն", "Karen", "Կարենի", Era::Any),
    ("Արտակ", "Artak", "Արտակի", Era::Any),
    ("Գագիկ", "Gagik", "Գագիկի", Era::Older),
    ("Սուրեն", "Suren", "Սուրենի", Era::Any),
    ("Վարդան", "Vardan", "Վարդանի", Era::Any),
    ("Հովհաննես", "Hovhannes", "Հովհաննեսի", Era::Any),
    ("Գրիգոր", "Grigor", "Գրիգորի", Era::Any),
    ("Սերգեյ", "Sergey", "Սերգեյի", Era::Older),
    ("Ռոբերտ", "Robert", "Ռոբերտի", Era::Older),
    ("Արսեն", "Arsen", "Արսենի", Era::Any),
    ("Էդգար", "Edgar", "Էդգարի", Era::Younger),
    ("Մհեր", "Mher", "Մհերի", Era::Younger),
    ("Սարգիս", "Sargis", "Սարգսի", Era::Any),
    ("Ալեքսան", "Aleksan", "Ալեքսանի", Era::Older),
    ("Համլետ", "Hamlet", "Համլետի", Era::Older),
    ("Ռաֆայել", "Rafayel", "Ռաֆայելի", Era::Older),
    ("Ժիրայր", "Zhirayr", "Ժիրայրի", Era::Older),
    ("Վաչագան", "Vachagan", "Վաչագանի", Era::Any),
    ("Արշակ", "Arshak", "Արշակի", Era::Any),
    ("Գևորգ", "Gevorg", "Գևորգի", Era::Any),
    ("Պետրոս", "Petros", "Պետրոսի", Era::Older),
    ("Մկրտիչ", "Mkrtich", "Մկրտչի", Era::Older),
    ("Հրանտ", "Hrant", "Հրանտի", Era::Older),
    ("Լևոն", "Levon", "Լևոնի", Era::Any),
    ("Մանվել", "Manvel", "Մանվելի", Era::Older),
    ("Ռուբեն", "Ruben", "Ռուբենի", Era::Any),
    ("Արտյոմ", "Artyom", "Արտյոմի", Era::Younger),
    ("Էրիկ", "Erik", "Էրիկի", Era::Younger),
    ("Սևակ", "Sevak", "Սևակի", Era::Any),
    ("Վազգեն", "Vazgen", "Վազգենի", Era::Older),
    ("Կամո", "Kamo", "Կամոյի", Era::Older),
    ("Սլավիկ", "Slavik", "Սլավիկի", Era::Older),
    ("Ալբերտ", "Albert", "Ալբերտի", Era::Older),
    ("Արայիկ", "Arayik", "Արայիկի", Era::Any),
    ("Հակոբ", "Hakob", "Հակոբի", Era::Any),
    ("Մովսես", "Movses", "Մովսեսի", Era::Older),
    ("Խաչատուր", "Khachatur", "Խաչատրի", Era::Older),
    ("Ստեփան", "Stepan", "Ստեփանի", Era::Any),
    ("Արման", "Arman", "Արմանի", Era::Younger),
    ("Միքայել", "Mikayel", "Միքայելի", Era::Younger),
    ("Ալեն", "Alen", "Ալենի", Era::Younger),
];

/// A woman's given name: Armenian, Latin, era.
pub(super) type FemaleName = (&'static str, &'static str, Era);

pub(super) const FEMALE_NAMES: &[FemaleName] = &[
    ("Անի", "Ani", Era::Younger),
    ("Աննա", "Anna", Era::Any),
    ("Մարիամ", "Mariam", Era::Younger),
    ("Նարինե", "Narine", Era::Any),
    ("Լուսինե", "Lusine", Era::Any),
    ("Գայանե", "Gayane", Era::Any),
    ("Արմինե", "Armine", Era::Any),
    ("Սյուզաննա", "Syuzanna", Era::Any),
    ("Աստղիկ", "Astghik", Era::Any),
    ("Հասմիկ", "Hasmik", Era::Any),
    ("Լիլիթ", "Lilit", Era::Any),
    ("Մարինե", "Marine", Era::Any),
    ("Սոնա", "Sona", Era::Any),
    ("Տաթևիկ", "Tatevik", Era::Younger),
    ("Գոհար", "Gohar", Era::Any),
    ("Նունե", "Nune", Era::Any),
    ("Ռուզաննա", "Ruzanna", Era::Older),
    ("Անահիտ", "Anahit", Era::Any),
    ("Զարուհի", "Zaruhi", Era::Older),
    ("Սիրանուշ", "Siranush", Era::Older),
    ("Կարինե", "Karine", Era::Older),
    ("Շուշան", "Shushan", Era::Any),
    ("Էլեն", "Elen", Era::Younger),
    ("Մերի", "Meri", Era::Younger),
    ("Լաուրա", "Laura", Era::Older),
    ("Ալվարդ", "Alvard", Era::Older),
    ("Հռիփսիմե", "Hripsime", Era::Older),
    ("Նաիրա", "Naira", Era::Any),
    ("Սեդա", "Seda", Era::Older),
    ("Ռիմա", "Rima", Era::Older),
    ("Էմմա", "Emma", Era::Older),
    ("Վարդուհի", "Varduhi", Era::Older),
    ("Մարգարիտա", "Margarita", Era::Older),
    ("Լիանա", "Liana", Era::Any),
    ("Արփինե", "Arpine", Era::Younger),
    ("Նազելի", "Nazeli", Era::Younger),
    ("Մանե", "Mane", Era::Younger),
    ("Էլինա", "Elina", Era::Younger),
    ("Սվետլանա", "Svetlana", Era::Older),
    ("Ժաննա", "Zhanna", Era::Older),
    ("Թամարա", "Tamara", Era::Older),
    ("Սուսաննա", "Susanna", Era::Any),
    ("Անժելա", "Anzhela", Era::Older),
    ("Ազնիվ", "Azniv", Era::Older),
    ("Արուսյակ", "Arusyak", Era::Older),
    ("Նելլի", "Nelli", Era::Older),
    ("Մարո", "Maro", Era::Older),
    ("Եվա", "Yeva", Era::Younger),
];

/// Settlements of origin with relative weights. Stepanakert's share follows
/// the registrations of about 29 September (27,408 of about 74,000); then the
/// Martakert (> 10,000), Askeran (> 7,500) and Martuni (about 7,000) districts,
/// and the rest: Shushi, Hadrut and Kashatagh residents displaced in 2020,
/// Shahumyan (Karvachar), villages. About half the arrivals were rural.
pub(super) const ORIGINS: &[(&str, u32)] = &[
    ("Ստեփանակերտ", 370),
    // Martakert district
    ("Մարտակերտ", 45),
    ("Դրմբոն", 15),
    ("Վանք", 12),
    ("Հաթերք", 12),
    ("Մաղավուզ", 10),
    ("Չափար", 8),
    ("Վաղուհաս", 8),
    ("Քոլատակ", 8),
    ("Ճանկաթաղ", 10),
    ("Մոխրաթաղ", 12),
    ("Մատաղիս", 10),
    ("Թալիշ", 15),
    // Askeran district
    ("Ասկերան", 35),
    ("Խնձրիստան", 12),
    ("Նախիջևանիկ", 10),
    ("Խաչմաչ", 8),
    ("Այգեստան", 10),
    ("Կարմիր Գյուղ", 8),
    ("Սարդարաշեն", 7),
    ("Իվանյան", 10),
    ("Շոշ", 5),
    ("Ավետարանոց", 10),
    // Martuni district
    ("Մարտունի", 40),
    ("Ճարտար", 20),
    ("Կարմիր Շուկա", 12),
    ("Գիշի", 8),
    ("Հերհեր", 8),
    ("Մաճկալաշեն", 7),
    ("Բերդաշեն", 10),
    // Shushi, Hadrut, Kashatagh and Shahumyan (Karvachar): mostly people
    // displaced in 2020 and living in Stepanakert since.
    ("Շուշի", 80),
    ("Քարին Տակ", 10),
    ("Մեծ Շեն", 10),
    ("Հադրութ", 70),
    ("Մեծ Թաղլար", 10),
    ("Տող", 10),
    ("Բերձոր", 40),
    ("Կովսական", 12),
    ("Քարվաճառ", 25),
];

/// Intended destination by province: Yerevan, Syunik, Kotayk and Ararat from
/// the UNHCR response plan (~7 Oct: 38, 16, 8, 7 %), the other 31 % split like
/// the reference scenario's allocation (in proportion to state accommodation
/// on 2 October).
pub(super) const DESTINATIONS: &[(&str, u32)] = &[
    ("AM-ER", 38_240),
    ("AM-SU", 16_101),
    ("AM-KT", 8_051),
    ("AM-AR", 7_044),
    ("AM-AV", 7_191),
    ("AM-GR", 6_013),
    ("AM-LO", 4_524),
    ("AM-TV", 3_559),
    ("AM-SH", 3_547),
    ("AM-AG", 3_403),
    ("AM-VD", 2_959),
];

/// Mobile prefixes after +374: Karabakh Telecom's 97 most of all, then the
/// Armenian networks' 9x ranges.
pub(super) const MOBILE_PREFIXES: &[(&str, u32)] = &[
    ("97", 50),
    ("91", 10),
    ("93", 8),
    ("94", 8),
    ("95", 6),
    ("96", 6),
    ("98", 6),
    ("99", 6),
];
