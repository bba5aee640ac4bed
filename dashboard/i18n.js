// Every string the dashboard shows, in English and Armenian, and the
// number and date formats of each language. Figures are formatted here,
// never computed: the dashboard shows only numbers the API returned.

export const LANGUAGES = {
  en: { locale: 'en-GB', name: 'English' },
  hy: { locale: 'hy-AM', name: 'Հայերեն' },
};

/** Where centers keep their days unless the API says otherwise. */
export const DEFAULT_TIMEZONE = 'Asia/Yerevan';

const STRINGS = {
  en: {
    app_title: 'refuge dashboard',
    skip_to_content: 'Skip to content',
    nav_label: 'Pages',
    language: 'Language',
    overview: 'Overview',
    people: 'People',
    aid: 'Aid',
    queues: 'Queues',
    login_title: 'Log in',
    login_intro: 'Use your refuge account. The session lasts until you log out or close this tab.',
    username: 'Username',
    password: 'Password',
    login: 'Log in',
    logout: 'Log out',
    logging_in: 'Logging in…',
    login_failed: 'Wrong username or password.',
    login_throttled: 'Too many failed logins. Try again in {seconds} s.',
    login_error: 'The service could not be reached. Try again.',
    password_change_required:
      'This account has a temporary password. Change it first (POST /api/v1/me/password), then log in again.',
    session_ended: 'Your session has ended. Please log in again.',
    signed_in_as: 'Signed in as {username} ({role})',
    role_admin: 'admin',
    role_registrar: 'registrar',
    role_aid_worker: 'aid worker',
    role_analyst: 'analyst',
    role_auditor: 'auditor',
    loading: 'Loading…',
    not_available: 'Not available for your role.',
    load_failed: 'Could not load this figure.',
    retry: 'Retry',
    no_data: 'No data yet.',
    data_table: 'Data table',
    chart_label: '{title}. The figures are in the data table that follows.',
    suppressed: 'suppressed',
    suppressed_title:
      'Withheld by small-cell suppression: a count from 1 to {k_minus} or one that would reveal such a count.',
    suppressed_legend: 'Suppressed: a small count, or one that would reveal a small count, is withheld.',
    not_applicable: 'not available',
    not_applicable_title: 'The API gives no figure here.',
    downloads: 'Reports (CSV)',
    download: 'Download {name}',
    downloading: 'Preparing {name}…',
    downloaded: '{name} downloaded.',
    download_failed: 'The download of {name} failed.',
    download_forbidden: '{name} is not available for your role.',
    report_displacement: 'Displacement: crossed and registered per day and center',
    report_displacement_sex_age: 'Displacement by sex and age band',
    report_assistance: 'Assistance (3W/4W)',
    report_shelters: 'Shelters and occupancy',
    report_stock: 'Stock levels and movements',
    report_transport: 'Transport manifests (person ids)',
    report_reviews: 'Review queues: possible duplicates and tracing matches, with their decisions',
    // Overview
    summary: 'Totals',
    as_of: 'As of {when}',
    registered_persons: 'Registered persons',
    registered_households: 'Registered households',
    crossed_people: 'Crossed the border',
    crossed_vehicles: 'Vehicles crossed',
    backlog: 'Backlog (crossed, not yet registered)',
    share_crossed: 'Crossed, share of the origin population ({population})',
    share_registered: 'Registered, share of the origin population ({population})',
    time_control: 'Replay the exodus day by day',
    day: 'Day',
    day_value: 'Up to {day}',
    play: 'Play',
    pause: 'Pause',
    arrivals_daily: 'Crossed and registered per day',
    arrivals_cumulative: 'Crossed and registered, cumulative',
    registered: 'Registered',
    crossed: 'Crossed',
    date: 'Date',
    new_registered: 'Registered (new)',
    new_crossed: 'Crossed (new)',
    cumulative_registered: 'Registered (cumulative)',
    cumulative_crossed: 'Crossed (cumulative)',
    centers_side_by_side: 'Centers side by side',
    centers_backlog_note: 'The backlog is shown overall only: people cross at a border point and register at another center.',
    center: 'Center',
    // People
    pyramid: 'Age–sex pyramid',
    pyramid_female: 'Female, by age band',
    pyramid_male: 'Male, by age band',
    age_band: 'Age band',
    female: 'Female',
    male: 'Male',
    other: 'Other',
    unknown: 'Unknown',
    total: 'Total',
    households_by_size: 'Households by size',
    household_size: 'Household size (persons)',
    households: 'Households',
    persons: 'Persons',
    needs_total: 'Specific needs, all centers',
    needs_per_center: 'Specific needs per center',
    need: 'Specific need',
    all_centers: 'All centers',
    // Aid
    coverage: 'Coverage of registered households',
    coverage_latest: 'Coverage per center on the last day',
    share_housing: 'Housed',
    share_food: 'Given food',
    share_fuel: 'Given fuel',
    share_transport: 'Transported',
    housing: 'Housing',
    food: 'Food',
    fuel: 'Fuel',
    transport: 'Transport',
    share: 'share',
    sphere: 'Sphere minimum standards',
    living_space: 'Covered living space: {standard} m² per person ({cold} m² in cold climates)',
    sites_with_area: 'Sites with a floor area',
    sites_below_standard: 'Sites below the standard',
    persons_in_sites_with_area: 'Persons in sites with a floor area',
    persons_below_standard: 'Persons below the standard',
    persons_below_cold_climate_standard: 'Persons below the cold-climate standard',
    food_energy: 'Food energy handed out against {kcal} kcal per person per day',
    kcal_distributed: 'kcal handed out',
    kcal_required: 'kcal required',
    occupancy_provinces: 'Occupancy per province',
    occupancy_sites: 'Occupancy per site (now)',
    province: 'Province',
    site: 'Site',
    sites: 'Sites',
    capacity_beds: 'Beds',
    occupied_beds: 'Occupied beds',
    state_provided_persons: 'Persons in state-provided accommodation',
    stock: 'Stock per center and item',
    item: 'Item',
    unit: 'Unit',
    quantity: 'Quantity',
    stock_item: 'Item shown in the chart',
    trips: 'Trips',
    trips_shown: 'The {count} trips departing first.',
    departs_at: 'Departs',
    destination: 'Destination',
    vehicle: 'Vehicle',
    seats: 'Seats',
    seats_taken: 'Seats taken',
    seats_free: 'Seats free',
    // Queues
    duplicates: 'Possible duplicates awaiting review',
    tracing: 'Tracing requests with new matches',
    queue_count: 'Waiting: {count}',
    queue_count_more: 'Waiting: more than {count} (the first {count} are listed)',
    queue_empty: 'Nothing is waiting for review.',
    proposed_at: 'Proposed',
    score: 'Score',
    records_at: 'Records at',
    opened_at: 'Opened',
    relationship: 'Sought relative',
    new_matches: 'Matches to review',
    status: 'Status',
  },
  hy: {
    app_title: 'refuge վահանակ',
    skip_to_content: 'Անցնել բովանդակությանը',
    nav_label: 'Էջեր',
    language: 'Լեզու',
    overview: 'Ընդհանուր ակնարկ',
    people: 'Մարդիկ',
    aid: 'Օգնություն',
    queues: 'Հերթեր',
    login_title: 'Մուտք',
    login_intro: 'Օգտագործեք ձեր refuge հաշիվը։ Աշխատաշրջանը տևում է մինչև ելքը կամ այս ներդիրի փակումը։',
    username: 'Օգտանուն',
    password: 'Գաղտնաբառ',
    login: 'Մուտք',
    logout: 'Ելք',
    logging_in: 'Մուտք…',
    login_failed: 'Սխալ օգտանուն կամ գաղտնաբառ։',
    login_throttled: 'Չափազանց շատ անհաջող փորձեր։ Փորձեք {seconds} վայրկյանից։',
    login_error: 'Ծառայությանը չհաջողվեց միանալ։ Փորձեք կրկին։',
    password_change_required:
      'Այս հաշիվն ունի ժամանակավոր գաղտնաբառ։ Նախ փոխեք այն (POST /api/v1/me/password), ապա մուտք գործեք կրկին։',
    session_ended: 'Աշխատաշրջանն ավարտվել է։ Խնդրում ենք մուտք գործել կրկին։',
    signed_in_as: 'Մուտք է գործել՝ {username} ({role})',
    role_admin: 'ադմինիստրատոր',
    role_registrar: 'գրանցող',
    role_aid_worker: 'օգնության աշխատող',
    role_analyst: 'վերլուծաբան',
    role_auditor: 'աուդիտոր',
    loading: 'Բեռնվում է…',
    not_available: 'Հասանելի չէ ձեր դերի համար։',
    load_failed: 'Չհաջողվեց բեռնել այս ցուցանիշը։',
    retry: 'Կրկնել',
    no_data: 'Տվյալներ դեռ չկան։',
    data_table: 'Տվյալների աղյուսակ',
    chart_label: '{title}։ Թվերը հաջորդող տվյալների աղյուսակում են։',
    suppressed: 'թաքցված',
    suppressed_title:
      'Թաքցված է փոքր թվերի պաշտպանության համար՝ 1-ից {k_minus} թիվ կամ այնպիսին, որից հնարավոր է նման թիվ պարզել։',
    suppressed_legend: 'Թաքցված՝ փոքր թիվը կամ այն թիվը, որից փոքր թիվը կարելի է պարզել, չի հրապարակվում։',
    not_applicable: 'առկա չէ',
    not_applicable_title: 'API-ն այստեղ թիվ չի տալիս։',
    downloads: 'Հաշվետվություններ (CSV)',
    download: 'Ներբեռնել՝ {name}',
    downloading: 'Պատրաստվում է՝ {name}…',
    downloaded: '{name}՝ ներբեռնված է։',
    download_failed: 'Չհաջողվեց ներբեռնել՝ {name}։',
    download_forbidden: '{name}՝ հասանելի չէ ձեր դերի համար։',
    report_displacement: 'Տեղահանում. սահմանը հատածներ և գրանցվածներ՝ ըստ օրերի և կենտրոնների',
    report_displacement_sex_age: 'Տեղահանում՝ ըստ սեռի և տարիքային խմբի',
    report_assistance: 'Օգնություն (3W/4W)',
    report_shelters: 'Կացարաններ և զբաղվածություն',
    report_stock: 'Պաշարներ և շարժեր',
    report_transport: 'Ուղևորների ցուցակներ (անձի նույնացուցիչներ)',
    report_reviews: 'Ստուգման հերթեր. հնարավոր կրկնօրինակներ և որոնման համընկնումներ՝ որոշումներով',
    summary: 'Ընդհանուր թվեր',
    as_of: 'Առ {when}',
    registered_persons: 'Գրանցված անձինք',
    registered_households: 'Գրանցված ընտանիքներ',
    crossed_people: 'Սահմանը հատած',
    crossed_vehicles: 'Սահմանը հատած տրանսպորտային միջոցներ',
    backlog: 'Սպասում են գրանցման (հատել են, դեռ գրանցված չեն)',
    share_crossed: 'Սահմանը հատած՝ բաժինը նախկին բնակչությունից ({population})',
    share_registered: 'Գրանցված՝ բաժինը նախկին բնակչությունից ({population})',
    time_control: 'Վերարտադրել արտագաղթը օր առ օր',
    day: 'Օր',
    day_value: 'Մինչև {day}',
    play: 'Նվագարկել',
    pause: 'Դադար',
    arrivals_daily: 'Սահմանը հատած և գրանցված՝ ըստ օրերի',
    arrivals_cumulative: 'Սահմանը հատած և գրանցված՝ կուտակային',
    registered: 'Գրանցված',
    crossed: 'Սահմանը հատած',
    date: 'Ամսաթիվ',
    new_registered: 'Գրանցված (նոր)',
    new_crossed: 'Սահմանը հատած (նոր)',
    cumulative_registered: 'Գրանցված (կուտակային)',
    cumulative_crossed: 'Սահմանը հատած (կուտակային)',
    centers_side_by_side: 'Կենտրոնները կողք կողքի',
    centers_backlog_note: 'Գրանցման սպասողները ցույց են տրված միայն ընդհանուր թվով, քանի որ մարդիկ հատում են սահմանը անցման կետում և գրանցվում այլ կենտրոնում։',
    center: 'Կենտրոն',
    pyramid: 'Տարիքասեռային բուրգ',
    pyramid_female: 'Իգական՝ ըստ տարիքային խմբի',
    pyramid_male: 'Արական՝ ըստ տարիքային խմբի',
    age_band: 'Տարիքային խումբ',
    female: 'Իգական',
    male: 'Արական',
    other: 'Այլ',
    unknown: 'Անհայտ',
    total: 'Ընդամենը',
    households_by_size: 'Ընտանիքներն ըստ չափի',
    household_size: 'Ընտանիքի չափը (անձ)',
    households: 'Ընտանիքներ',
    persons: 'Անձինք',
    needs_total: 'Հատուկ կարիքներ՝ բոլոր կենտրոններում',
    needs_per_center: 'Հատուկ կարիքներ՝ ըստ կենտրոնների',
    need: 'Հատուկ կարիք',
    all_centers: 'Բոլոր կենտրոնները',
    coverage: 'Գրանցված ընտանիքների ընդգրկվածությունը',
    coverage_latest: 'Ընդգրկվածությունն ըստ կենտրոնների՝ վերջին օրը',
    share_housing: 'Տեղավորված',
    share_food: 'Սնունդ ստացած',
    share_fuel: 'Վառելիք ստացած',
    share_transport: 'Տեղափոխված',
    housing: 'Կացարան',
    food: 'Սնունդ',
    fuel: 'Վառելիք',
    transport: 'Տրանսպորտ',
    share: 'բաժին',
    sphere: 'Sphere-ի նվազագույն չափանիշներ',
    living_space: 'Ծածկված բնակելի տարածք՝ {standard} մ² մեկ անձի համար (ցուրտ կլիմայում՝ {cold} մ²)',
    sites_with_area: 'Մակերեսը նշված կացարաններ',
    sites_below_standard: 'Չափանիշից ցածր կացարաններ',
    persons_in_sites_with_area: 'Մակերեսը նշված կացարաններում ապրող անձինք',
    persons_below_standard: 'Չափանիշից ցածր պայմաններում ապրող անձինք',
    persons_below_cold_climate_standard: 'Ցուրտ կլիմայի չափանիշից ցածր պայմաններում ապրող անձինք',
    food_energy: 'Բաշխված սննդի էներգիան՝ մեկ անձին օրական {kcal} կկալ չափանիշի դիմաց',
    kcal_distributed: 'Բաշխված կկալ',
    kcal_required: 'Անհրաժեշտ կկալ',
    occupancy_provinces: 'Զբաղվածությունն ըստ մարզերի',
    occupancy_sites: 'Զբաղվածությունն ըստ կացարանների (այժմ)',
    province: 'Մարզ',
    site: 'Կացարան',
    sites: 'Կացարաններ',
    capacity_beds: 'Մահճակալներ',
    occupied_beds: 'Զբաղված մահճակալներ',
    state_provided_persons: 'Պետության տրամադրած կացարաններում ապրող անձինք',
    stock: 'Պաշարներն ըստ կենտրոնների և ապրանքների',
    item: 'Ապրանք',
    unit: 'Միավոր',
    quantity: 'Քանակ',
    stock_item: 'Գծապատկերում ցույց տրվող ապրանքը',
    trips: 'Ուղևորություններ',
    trips_shown: 'Առաջինը մեկնող {count} ուղևորությունները։',
    departs_at: 'Մեկնում',
    destination: 'Ուղղություն',
    vehicle: 'Տրանսպորտային միջոց',
    seats: 'Նստատեղեր',
    seats_taken: 'Զբաղված նստատեղեր',
    seats_free: 'Ազատ նստատեղեր',
    duplicates: 'Ստուգման սպասող հնարավոր կրկնօրինակներ',
    tracing: 'Նոր համընկնումներով որոնման հայցեր',
    queue_count: 'Սպասում են՝ {count}',
    queue_count_more: 'Սպասում են՝ {count}-ից ավելի (ցուցակում առաջին {count}-ն են)',
    queue_empty: 'Ստուգման սպասող ոչինչ չկա։',
    proposed_at: 'Առաջարկված',
    score: 'Միավոր',
    records_at: 'Գրառումները՝',
    opened_at: 'Բացված',
    relationship: 'Որոնվող ազգական',
    new_matches: 'Ստուգման սպասող համընկնումներ',
    status: 'Կարգավիճակ',
  },
};

/** Labels of the API's codes, by language; the code itself where none is known. */
const CODES = {
  en: {
    need: {
      DS: 'Disability',
      SM: 'Serious medical condition',
      'SM-WD': 'Wounded (conflict-related injury)',
      'SC-UC': 'Unaccompanied child',
      'SC-SC': 'Separated child',
      CR: 'Child at risk',
      ER: 'Older person at risk',
      WR: 'Woman at risk',
      'WR-PL': 'Pregnant or lactating',
      SP: 'Single parent or caregiver',
      FU: 'Family unity (tracing or reunification needed)',
      LP: 'Specific legal and physical protection needs',
      TR: 'Survivor of torture',
      SV: 'Sexual and gender-based violence',
    },
    province: {
      'AM-ER': 'Yerevan',
      'AM-AG': 'Aragatsotn',
      'AM-AR': 'Ararat',
      'AM-AV': 'Armavir',
      'AM-GR': 'Gegharkunik',
      'AM-KT': 'Kotayk',
      'AM-LO': 'Lori',
      'AM-SH': 'Shirak',
      'AM-SU': 'Syunik',
      'AM-TV': 'Tavush',
      'AM-VD': 'Vayots Dzor',
    },
    relationship: {
      spouse: 'spouse',
      child: 'child',
      parent: 'parent',
      sibling: 'sibling',
      grandchild: 'grandchild',
      grandparent: 'grandparent',
      other_relative: 'other relative',
    },
    unit: {},
  },
  hy: {
    need: {
      DS: 'Հաշմանդամություն',
      SM: 'Լուրջ բժշկական վիճակ',
      'SM-WD': 'Վիրավոր (հակամարտության հետևանքով)',
      'SC-UC': 'Առանց ուղեկցության երեխա',
      'SC-SC': 'Ծնողներից բաժանված երեխա',
      CR: 'Ռիսկի ենթակա երեխա',
      ER: 'Ռիսկի ենթակա տարեց անձ',
      WR: 'Ռիսկի ենթակա կին',
      'WR-PL': 'Հղի կամ կրծքով կերակրող',
      SP: 'Միայնակ ծնող կամ խնամող',
      FU: 'Ընտանիքի միասնություն (որոնում կամ վերամիավորում)',
      LP: 'Իրավական և ֆիզիկական պաշտպանության հատուկ կարիքներ',
      TR: 'Խոշտանգումների ենթարկված անձ',
      SV: 'Սեռական և գենդերային բռնություն',
    },
    province: {
      'AM-ER': 'Երևան',
      'AM-AG': 'Արագածոտն',
      'AM-AR': 'Արարատ',
      'AM-AV': 'Արմավիր',
      'AM-GR': 'Գեղարքունիք',
      'AM-KT': 'Կոտայք',
      'AM-LO': 'Լոռի',
      'AM-SH': 'Շիրակ',
      'AM-SU': 'Սյունիք',
      'AM-TV': 'Տավուշ',
      'AM-VD': 'Վայոց ձոր',
    },
    relationship: {
      child: 'երեխա',
      parent: 'ծնող',
      sibling: 'քույր կամ եղբայր',
      spouse: 'ամուսին',
      grandparent: 'տատիկ կամ պապիկ',
      grandchild: 'թոռ',
      other_relative: 'այլ ազգական',
    },
    unit: {
      piece: 'հատ',
      kit: 'հավաքածու',
      ration: 'չափաբաժին',
      parcel: 'ծանրոց',
      meal: 'կերակուր',
      liter: 'լիտր',
      kg: 'կգ',
      amd: 'դրամ',
    },
  },
};

let current = 'en';

/** The language in use: `en` or `hy`. */
export function language() {
  return current;
}

/** Switches the language; `<html lang>` follows. */
export function setLanguage(lang) {
  current = LANGUAGES[lang] ? lang : 'en';
  document.documentElement.lang = current;
}

/** The string `key` in the current language, with `{name}` placeholders filled. */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : ''));
}

/** The label of an API code (`need`, `province`, `relationship`, `unit`), or the code. */
export function codeLabel(kind, code) {
  return CODES[current][kind]?.[code] ?? CODES.en[kind]?.[code] ?? code;
}

function locale() {
  return LANGUAGES[current].locale;
}

// Some browsers' Intl carries no Armenian data (Debian's Chromium, for
// one: `Intl.NumberFormat('hy-AM')` formats as en-US). There, Armenian
// numbers and dates follow CLDR's `hy` patterns from the few rules below,
// so that the page reads the same as where Intl knows Armenian.
const INTL_KNOWS_ARMENIAN =
  Intl.NumberFormat.supportedLocalesOf(['hy']).length > 0 && Intl.DateTimeFormat.supportedLocalesOf(['hy']).length > 0;
const HY_MONTHS = ['հնվ', 'փտվ', 'մրտ', 'ապր', 'մյս', 'հնս', 'հլս', 'օգս', 'սեպ', 'հոկ', 'նոյ', 'դեկ'];

function ownArmenian() {
  return current === 'hy' && !INTL_KNOWS_ARMENIAN;
}

/** `-12345.5` written as CLDR `hy` does: `-12 345,5` (no-break space; no grouping below 10 000). */
function armenianDigits(plain) {
  const sign = plain.startsWith('-') ? '-' : '';
  const [whole, fraction] = plain.replace('-', '').split('.');
  const grouped = whole.length >= 5 ? whole.replace(/\B(?=(\d{3})+(?!\d))/g, '\u00a0') : whole;
  return sign + grouped + (fraction ? `,${fraction}` : '');
}

/** A count as the API gave it, grouped for the language. */
export function formatNumber(value) {
  if (ownArmenian()) {
    return armenianDigits(new Intl.NumberFormat('en-US', { useGrouping: false, maximumFractionDigits: 2 }).format(value));
  }
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: 2 }).format(value);
}

/** A share the API gave (0.8487) as a percentage, every decimal kept. */
export function formatShare(value) {
  if (ownArmenian()) {
    const percent = new Intl.NumberFormat('en-US', { style: 'percent', useGrouping: false, maximumFractionDigits: 2 }).format(value);
    return `${armenianDigits(percent.replace('%', ''))}%`;
  }
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 2 }).format(value);
}

/** Year, month, day, hour and minute of an instant in `timeZone`, as numbers. */
function partsOf(date, timeZone) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const part = (type) => parts.find((p) => p.type === type).value;
  return { year: part('year'), month: Number(part('month')), day: part('day'), hour: part('hour'), minute: part('minute') };
}

function utcDate(day) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

/** A calendar date (`2023-09-26`, a local date the API computed). */
export function formatDay(day) {
  if (ownArmenian()) {
    const p = partsOf(utcDate(day), 'UTC');
    return `${p.day} ${HY_MONTHS[p.month - 1]}, ${p.year} թ.`;
  }
  return new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' }).format(
    utcDate(day),
  );
}

/** A short calendar date for chart axes (`26 Sept`). */
export function formatDayShort(day) {
  if (ownArmenian()) {
    const p = partsOf(utcDate(day), 'UTC');
    return `${p.day} ${HY_MONTHS[p.month - 1]}`;
  }
  return new Intl.DateTimeFormat(locale(), { timeZone: 'UTC', day: 'numeric', month: 'short' }).format(utcDate(day));
}

/** An instant, in the centers' timezone. */
export function formatInstant(instant, timeZone) {
  if (ownArmenian()) {
    const p = partsOf(new Date(instant), timeZone);
    return `${p.day.padStart(2, '0')} ${HY_MONTHS[p.month - 1]}, ${p.year} թ., ${p.hour}:${p.minute}`;
  }
  return new Intl.DateTimeFormat(locale(), { timeZone, dateStyle: 'medium', timeStyle: 'short' }).format(new Date(instant));
}

/** The locale Chart.js formats its ticks and tooltips with. */
export function chartLocale() {
  return locale();
}
