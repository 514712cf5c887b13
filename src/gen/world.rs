//! The shared universe: customers, product catalogue, carriers, reference lists.
//!
//! Every source draws customers and products from here, so ids join across sources:
//! customer `CUST-000123` in the CRM is the same person in Nginx, Firebase, logistics,
//! KYC and the Kafka events. Identifiers that per-key fraud rules group on (device
//! fingerprints, card references, IP addresses) are derived from the customer index by
//! bijections, so two background customers never share one.

use chrono::{Duration, NaiveDate};

use super::rng::{hex64, mix64, Rng};

pub const FIRST_NAMES: &[(&str, bool)] = &[
    ("Marie", true),
    ("Jean", false),
    ("Pierre", false),
    ("Sophie", true),
    ("Camille", true),
    ("Lucas", false),
    ("Léa", true),
    ("Hugo", false),
    ("Chloé", true),
    ("Louis", false),
    ("Manon", true),
    ("Gabriel", false),
    ("Emma", true),
    ("Nathan", false),
    ("Inès", true),
    ("Thomas", false),
    ("Julie", true),
    ("Nicolas", false),
    ("Sarah", true),
    ("Antoine", false),
    ("Clara", true),
    ("Maxime", false),
    ("Laura", true),
    ("Alexandre", false),
    ("Océane", true),
    ("Julien", false),
    ("Pauline", true),
    ("Romain", false),
    ("Anaïs", true),
    ("Mathieu", false),
    ("Élodie", true),
    ("Quentin", false),
    ("Margaux", true),
    ("Théo", false),
    ("Lucie", true),
    ("Benoît", false),
    ("Aurélie", true),
    ("Kévin", false),
    ("Mélanie", true),
    ("Yanis", false),
    ("Fatima", true),
    ("Mohamed", false),
    ("Amina", true),
    ("Karim", false),
    ("Nadia", true),
    ("Rachid", false),
    ("Françoise", true),
    ("Gérard", false),
    ("Monique", true),
    ("Bernard", false),
    ("Hélène", true),
    ("François", false),
    ("Zoé", true),
    ("Jules", false),
    ("Adèle", true),
    ("Raphaël", false),
    ("Louise", true),
    ("Arthur", false),
    ("Jade", true),
    ("Noah", false),
];

pub const LAST_NAMES: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefebvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefèvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
    "Faure",
    "Rousseau",
    "Blanc",
    "Guérin",
    "Muller",
    "Henry",
    "Roussel",
    "Nicolas",
    "Perrin",
    "Morin",
    "Mathieu",
    "Clément",
    "Gauthier",
    "Dumont",
    "Lopez",
    "Fontaine",
    "Chevalier",
    "Robin",
    "Masson",
    "Sanchez",
    "Gérard",
    "Nguyen",
    "Boyer",
    "Denis",
    "Lemaire",
    "Duval",
    "Joly",
    "Gautier",
    "Roger",
    "Roche",
    "Roy",
    "Noël",
    "Meyer",
    "Lucas",
    "Meunier",
    "Pérez",
    "Marchand",
    "Dufour",
    "Blanchard",
    "Barbier",
    "Brun",
    "Dumas",
    "Brunet",
    "Schmitt",
    "Leroux",
    "Colin",
    "Fernandez",
    "Renard",
    "Arnaud",
    "Rolland",
    "Caron",
    "Aubert",
    "Giraud",
    "Leclerc",
    "Vidal",
    "Bourgeois",
    "Renaud",
    "Lemoine",
    "Picard",
    "Gaillard",
    "Lacroix",
    "Fabre",
    "Dupuis",
    "Olivier",
    "Da Silva",
    "Hubert",
    "Rivière",
    "Le Gall",
    "Guillaume",
    "Moulin",
    "Berger",
    "Lecomte",
    "Ménard",
    "Fleury",
    "Deschamps",
    "Carpentier",
    "Maillard",
    "Aubry",
    "Le Roux",
    "Renault",
    "Jacquet",
    "Prévost",
    "Poirier",
    "Charpentier",
    "Huet",
    "Baron",
    "Dupuy",
    "Breton",
    "Rémy",
    "Schneider",
    "Perrot",
    "Guyot",
    "Marty",
    "Cousin",
    "Benali",
    "Haddad",
];

pub const STREET_KINDS: &[&str] = &[
    "rue",
    "rue",
    "rue",
    "avenue",
    "boulevard",
    "place",
    "allée",
    "impasse",
    "chemin",
    "quai",
];

pub const STREET_NAMES: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "de la Paix",
    "Pasteur",
    "Gambetta",
    "du Général de Gaulle",
    "des Lilas",
    "de la Gare",
    "Voltaire",
    "Émile Zola",
    "Jules Ferry",
    "de l'Église",
    "des Écoles",
    "du Moulin",
    "Saint-Michel",
    "de Verdun",
    "Carnot",
    "Foch",
    "Sainte-Catherine",
    "des Chartrons",
    "Nationale",
    "du Château",
    "de Bretagne",
    "Molière",
    "des Acacias",
    "du Port",
    "Lamartine",
];

/// (city, postal code, ISO country).
pub const CITIES: &[(&str, &str, &str)] = &[
    ("Paris", "75011", "FR"),
    ("Paris", "75015", "FR"),
    ("Paris", "75018", "FR"),
    ("Lyon", "69003", "FR"),
    ("Marseille", "13008", "FR"),
    ("Bordeaux", "33000", "FR"),
    ("Toulouse", "31000", "FR"),
    ("Nantes", "44000", "FR"),
    ("Lille", "59000", "FR"),
    ("Strasbourg", "67000", "FR"),
    ("Montpellier", "34000", "FR"),
    ("Nice", "06000", "FR"),
    ("Rennes", "35000", "FR"),
    ("Reims", "51100", "FR"),
    ("Le Havre", "76600", "FR"),
    ("Saint-Étienne", "42000", "FR"),
    ("Toulon", "83000", "FR"),
    ("Grenoble", "38000", "FR"),
    ("Dijon", "21000", "FR"),
    ("Angers", "49000", "FR"),
    ("Nîmes", "30000", "FR"),
    ("Clermont-Ferrand", "63000", "FR"),
    ("Le Mans", "72000", "FR"),
    ("Aix-en-Provence", "13100", "FR"),
    ("Brest", "29200", "FR"),
    ("Tours", "37000", "FR"),
    ("Limoges", "87000", "FR"),
    ("Annecy", "74000", "FR"),
    ("Pau", "64000", "FR"),
    ("Mérignac", "33700", "FR"),
    ("Pessac", "33600", "FR"),
    ("La Rochelle", "17000", "FR"),
    ("Ajaccio", "20000", "FR"),
    ("Bourg-en-Bresse", "01000", "FR"),
    ("Bruxelles", "1000", "BE"),
    ("Liège", "4000", "BE"),
    ("Namur", "5000", "BE"),
    ("Genève", "1201", "CH"),
    ("Lausanne", "1003", "CH"),
    ("Berlin", "10115", "DE"),
    ("Munich", "80331", "DE"),
    ("Madrid", "28001", "ES"),
    ("Barcelone", "08001", "ES"),
    ("Rome", "00184", "IT"),
    ("Milan", "20121", "IT"),
    ("Londres", "SW1A 1AA", "GB"),
    ("Amsterdam", "1012 AB", "NL"),
    ("Luxembourg", "1009", "LU"),
    ("Lisbonne", "1100-148", "PT"),
];

/// Customer countries (ISO alpha-2, French name, weight ‰).
pub const COUNTRIES: &[(&str, &str, u32)] = &[
    ("FR", "France", 800),
    ("BE", "Belgique", 60),
    ("CH", "Suisse", 40),
    ("DE", "Allemagne", 20),
    ("ES", "Espagne", 20),
    ("IT", "Italie", 20),
    ("GB", "Royaume-Uni", 15),
    ("NL", "Pays-Bas", 10),
    ("LU", "Luxembourg", 10),
    ("PT", "Portugal", 5),
];

pub fn country_name(iso: &str) -> &'static str {
    COUNTRIES
        .iter()
        .find(|c| c.0 == iso)
        .map(|c| c.1)
        .unwrap_or("France")
}

pub const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "gmail.com",
    "yahoo.fr",
    "hotmail.fr",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "outlook.fr",
    "sfr.fr",
    "wanadoo.fr",
    "icloud.com",
];

/// Salesforce owners (employees: personal data, dropped in silver).
pub const SALES_OWNERS: &[&str] = &[
    "Claire Vasseur",
    "Damien Lhermitte",
    "Sandrine Okafor",
    "Yves Castelnau",
    "Nathalie Briand",
    "Olivier Tessier",
];

/// KYC provider agents (personal data, dropped in silver).
pub const KYC_AGENTS: &[&str] = &[
    "Agnès Pelletier",
    "Bruno Carlier",
    "Céline Marechal",
    "Didier Hamon",
    "Estelle Vautrin",
    "Fabrice N'Diaye",
    "Géraldine Poulain",
    "Hervé Lemarchand",
];

pub const CARRIERS: &[&str] = &[
    "Colissimo",
    "Chronopost",
    "DHL",
    "UPS",
    "Mondial Relay",
    "DPD",
    "GLS",
];

pub const WAREHOUSES: &[&str] = &[
    "Bordeaux-Mérignac",
    "Lyon-Saint-Priest",
    "Paris-Gennevilliers",
    "Lille-Lesquin",
];

/// Product categories: (name, min price cents, max price cents, regulated = needs KYC).
pub const CATEGORIES: &[(&str, i64, i64, bool)] = &[
    ("Électronique", 1_990, 129_900, false),
    ("Informatique", 4_990, 249_900, false),
    ("Maison", 990, 39_900, false),
    ("Mode", 990, 19_900, false),
    ("Beauté", 490, 8_900, false),
    ("Sport", 990, 59_900, false),
    ("Jouets", 790, 14_900, false),
    ("Épicerie fine", 290, 4_900, false),
    ("Vins et spiritueux", 690, 29_900, true),
    ("Vape et CBD", 490, 7_900, true),
    ("Couteaux et outillage", 990, 19_900, true),
];

pub const PRODUCTS_PER_CATEGORY: u32 = 30;

#[derive(Clone, Debug)]
pub struct Product {
    pub id: String,
    pub category: &'static str,
    pub price_cents: i64,
    pub regulated: bool,
    pub weight_g: u32,
}

/// Legitimate card BINs (first six digits).
pub const LEGIT_BINS: &[&str] = &[
    "497010", "497401", "513100", "535110", "453234", "414720", "455673", "526856", "400115",
    "510027",
];

/// Issuer BINs known to be fraudulent; written to `config/bin_blacklist.txt`. Never used
/// by background traffic.
pub const BLACKLISTED_BINS: &[&str] = &["404138", "431940", "459385", "522371", "546616"];

/// Risk countries of CONTRACTS C4.
pub const RISK_COUNTRIES: &[&str] = &["KP", "IR", "MM", "SY", "YE", "AF", "RU", "BY"];

pub const BROWSER_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.3 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.64 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.178 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.66",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "KiVendTout/4.12.0 (iPhone; iOS 17.3.1; Scale/3.00)",
    "KiVendTout/4.12.0 (Android 14; SM-A546B)",
];

/// User agents matched by the C4 bot pattern
/// (`bot|crawl|spider|headless|python-requests|curl|wget|scrapy|selenium|phantomjs`).
pub const BOT_UAS: &[&str] = &[
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "Wget/1.21.4",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/122.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Yahoo! Slurp; http://help.yahoo.com/help/us/ysearch/slurp) spider",
];

/// True when `ua` matches the C4 bot pattern (case-insensitive).
pub fn is_bot_ua(ua: &str) -> bool {
    let l = ua.to_ascii_lowercase();
    [
        "bot",
        "crawl",
        "spider",
        "headless",
        "python-requests",
        "curl",
        "wget",
        "scrapy",
        "selenium",
        "phantomjs",
    ]
    .iter()
    .any(|p| l.contains(p))
}

/// A customer of the background universe.
#[derive(Clone, Debug)]
pub struct Customer {
    pub idx: u32,
    pub id: String,
    pub female: bool,
    pub first: &'static str,
    pub last: &'static str,
    pub email: String,
    pub phone: String,
    pub birth: NaiveDate,
    pub street: String,
    pub city: &'static str,
    pub postal: &'static str,
    pub country: &'static str,
    pub currency: &'static str,
    pub segment: &'static str,
    pub lead_score: u32,
    pub channel: &'static str,
    pub fav_category: &'static str,
    pub created: NaiveDate,
    pub orders_base: u32,
    pub ltv_cents: i64,
    /// KYC fields: `None` for the ~85 % of customers with empty KYC columns.
    pub kyc: Option<(bool, bool, Option<NaiveDate>)>,
    pub newsletter: bool,
    pub owner: &'static str,
    pub salesforce_id: String,
    /// Firebase `device_id`s (UUID-like).
    pub app_devices: Vec<String>,
    pub ios: bool,
    /// Payment `device_fingerprint`s, unique to this customer.
    pub fingerprints: Vec<String>,
    /// Public IPv4 addresses, unique to this customer.
    pub ipv4: Vec<String>,
    pub ipv6: Option<String>,
    /// Foreign (VPN/travel) IPv4, unique to this customer.
    pub foreign_ip: String,
    pub cards: Vec<Card>,
    pub ua: &'static str,
    /// KYC document: (doc type, issuing country, number-derived fingerprint).
    pub doc_type: &'static str,
    pub doc_fingerprint: String,
    pub prestataire_ref: String,
}

#[derive(Clone, Debug)]
pub struct Card {
    pub bin: &'static str,
    pub last4: String,
    pub card_ref: String,
}

impl Card {
    pub fn masked(&self) -> String {
        format!("{}******{}", self.bin, self.last4)
    }
}

/// ASCII-folds French text for e-mail local parts.
pub fn ascii_fold(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        let r = match c {
            'à' | 'â' | 'ä' | 'À' | 'Â' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' => 'e',
            'î' | 'ï' => 'i',
            'ô' | 'ö' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            ' ' | '\'' => continue,
            c => c.to_ascii_lowercase(),
        };
        o.push(r);
    }
    o
}

/// Bijection on 24 bits (odd multiplier, xor) for IP host parts.
fn perm24(n: u64, salt: u64) -> u64 {
    ((n ^ (salt & 0xFF_FFFF)).wrapping_mul(0x9E_3779) ^ 0x5A_5A5A) & 0xFF_FFFF
}

fn ipv4_from(first: u8, lower24: u64) -> String {
    format!(
        "{}.{}.{}.{}",
        first,
        (lower24 >> 16) & 255,
        (lower24 >> 8) & 255,
        lower24 & 255
    )
}

const HOME_FIRST_OCTETS: &[u8] = &[78, 82, 86, 88, 90, 92, 109, 176];

/// The `k`-th (0 or 1) home IPv4 of customer `idx`; injective in `(idx, k)`.
pub fn customer_ipv4(idx: u32, k: u32) -> String {
    let n = u64::from(idx) * 2 + u64::from(k);
    ipv4_from(
        HOME_FIRST_OCTETS[(n % HOME_FIRST_OCTETS.len() as u64) as usize],
        perm24(n, 0x13_3742),
    )
}

/// A foreign/VPN IPv4 of customer `idx` (distinct pool from home addresses).
pub fn customer_foreign_ip(idx: u32) -> String {
    ipv4_from(103, perm24(u64::from(idx), 0x77_0101))
}

/// A fraud-pattern IPv4, unique per `(day, counter)` within a day.
pub fn pattern_ip(counter: u32) -> String {
    let c = u64::from(counter);
    ipv4_from(185, perm24(c, 0x0B_AD00))
}

/// Anonymous visitor IPv4 (shared pool; never used for payments or orders).
pub fn visitor_ip(rng: &mut Rng) -> String {
    const FIRST: &[u8] = &[80, 81, 83, 84, 87, 89, 91, 93, 94, 95];
    ipv4_from(rng.pick(FIRST), rng.below(1 << 24))
}

/// Deterministic UUID-like string from a 128-bit pair.
pub fn uuid_like(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        0x8000 | (b >> 48) & 0x3FFF,
        b & 0xFFFF_FFFF_FFFF
    )
}

pub fn phone_for(rng: &mut Rng, country: &str) -> String {
    let d = |r: &mut Rng| r.below(100);
    match country {
        "FR" => {
            let p = if rng.chance(0.8) { 6 } else { 7 };
            let (a, b, c, e) = (d(rng), d(rng), d(rng), d(rng));
            match rng.below(4) {
                0 => format!("0{p} {a:02} {b:02} {c:02} {e:02}"),
                1 => format!("+33 {p} {a:02} {b:02} {c:02} {e:02}"),
                2 => format!("0{p}{a:02}{b:02}{c:02}{e:02}"),
                _ => format!("+33{p}{a:02}{b:02}{c:02}{e:02}"),
            }
        }
        "BE" => format!(
            "+32 4{} {:02} {:02} {:02}",
            70 + rng.below(30),
            d(rng),
            d(rng),
            d(rng)
        ),
        "CH" => format!(
            "+41 7{} {:03} {:02} {:02}",
            5 + rng.below(5),
            rng.below(1000),
            d(rng),
            d(rng)
        ),
        "DE" => format!("+49 15{} {:07}", rng.below(10), rng.below(10_000_000)),
        "ES" => format!(
            "+34 6{:02} {:03} {:03}",
            d(rng),
            rng.below(1000),
            rng.below(1000)
        ),
        "IT" => format!(
            "+39 3{:02} {:03} {:04}",
            d(rng),
            rng.below(1000),
            rng.below(10_000)
        ),
        "GB" => format!("+44 7{:03} {:06}", rng.below(1000), rng.below(1_000_000)),
        "NL" => format!("+31 6 {:08}", rng.below(100_000_000)),
        "LU" => format!(
            "+352 6{:02} {:03} {:03}",
            d(rng),
            rng.below(1000),
            rng.below(1000)
        ),
        _ => format!(
            "+351 9{:02} {:03} {:03}",
            d(rng),
            rng.below(1000),
            rng.below(1000)
        ),
    }
}

/// The whole shared universe.
pub struct World {
    pub seed: u64,
    pub customers: Vec<Customer>,
    pub products: Vec<Product>,
    /// Index into `customers` of the privacy tracer.
    pub tracer: usize,
}

pub fn customer_id(idx: u32) -> String {
    format!("CUST-{idx:06}")
}

impl World {
    /// Builds `n_customers` customers (ids `CUST-000001`…) and the fixed catalogue.
    pub fn new(seed: u64, n_customers: u32) -> World {
        let mut products = Vec::new();
        for (ci, &(cat, lo, hi, regulated)) in CATEGORIES.iter().enumerate() {
            for k in 0..PRODUCTS_PER_CATEGORY {
                let mut r = Rng::stream(seed, "product", ci as u64, u64::from(k));
                let raw = r.skewed(lo as f64, hi as f64, 4) as i64;
                // Prices end in 90 cents, like the shop's.
                let price = (raw / 100).max(1) * 100 - 10;
                products.push(Product {
                    id: format!("PRD-{:05}", ci as u32 * 1000 + k + 1),
                    category: cat,
                    price_cents: price.max(190),
                    regulated,
                    weight_g: 100 + r.below(8000) as u32,
                });
            }
        }
        let customers: Vec<Customer> = (1..=n_customers).map(|i| make_customer(seed, i)).collect();
        let tracer = (mix64(seed ^ 0x7AC3) % u64::from(n_customers.max(1))) as usize;
        let mut w = World {
            seed,
            customers,
            products,
            tracer,
        };
        // The tracer is a French customer with KYC data, present everywhere.
        if let Some(t) = w.customers.get_mut(tracer) {
            t.country = "FR";
            t.currency = "EUR";
            t.city = "Bordeaux";
            t.postal = "33000";
            if t.kyc.is_none() {
                t.kyc = Some((true, true, NaiveDate::from_ymd_opt(2025, 11, 4)));
            }
            if t.ipv6.is_none() {
                t.ipv6 = Some(format!("2a01:cb19:{:x}:{:x}::1", 0x8000 | t.idx, t.idx));
            }
        }
        w
    }

    pub fn tracer(&self) -> &Customer {
        &self.customers[self.tracer]
    }

    pub fn regulated_products(&self) -> impl Iterator<Item = &Product> {
        self.products.iter().filter(|p| p.regulated)
    }
}

fn make_customer(seed: u64, idx: u32) -> Customer {
    let mut r = Rng::stream(seed, "customer", u64::from(idx), 0);
    let (first, female) = r.pick(FIRST_NAMES);
    let last = r.pick(LAST_NAMES);
    let country = r.pick_w(
        &COUNTRIES
            .iter()
            .map(|c| (c.0, c.2))
            .collect::<Vec<(&str, u32)>>(),
    );
    let cities: Vec<&(&str, &str, &str)> = CITIES.iter().filter(|c| c.2 == country).collect();
    let &(city, postal, _) = r.pick(&cities);
    let currency = match country {
        "GB" => "GBP",
        "CH" => "CHF",
        _ if r.chance(0.01) => "USD",
        _ => "EUR",
    };
    let lf = ascii_fold(first);
    let ll = ascii_fold(last);
    let num = idx % 97;
    let local = match r.below(5) {
        0 => format!("{lf}.{ll}"),
        1 => format!("{}.{ll}{num}", &lf[..1]),
        2 => format!("{lf}.{ll}{num}"),
        3 => format!("{ll}.{lf}{}", idx % 1000),
        _ => format!("{lf}_{ll}{}", 60 + r.below(40)),
    };
    let email = format!("{local}.{idx}@{}", r.pick(EMAIL_DOMAINS));
    let phone = phone_for(&mut r, country);
    let age_days = r.between(16 * 365 + 5, 82 * 365);
    let birth =
        NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or(NaiveDate::MIN) - Duration::days(age_days);
    let street = format!(
        "{} {} {}",
        1 + r.below(140),
        r.pick(STREET_KINDS),
        r.pick(STREET_NAMES)
    );
    let segment = r.pick_w(&[
        ("Bronze", 50),
        ("Silver", 30),
        ("Gold", 15),
        ("Platinum", 5),
    ]);
    let channel = r.pick_w(&[
        ("Site web", 30),
        ("Application mobile", 22),
        ("Google Ads", 15),
        ("Réseaux sociaux", 12),
        ("Parrainage", 8),
        ("Email marketing", 6),
        ("Partenaire", 5),
        ("Salon", 2),
    ]);
    let fav_category = r.pick(CATEGORIES).0;
    let created = NaiveDate::from_ymd_opt(2022, 3, 1).unwrap_or(NaiveDate::MIN)
        + Duration::days(r.below(1400) as i64);
    let orders_base = r.skewed(0.0, 60.0, 3) as u32;
    let ltv_cents = i64::from(orders_base) * r.between(1_500, 9_000);
    let kyc = if r.chance(0.15) {
        let valid = r.chance(0.85);
        let date = if valid {
            Some(created + Duration::days(r.below(300) as i64 + 1))
        } else {
            None
        };
        Some((true, valid, date))
    } else {
        None
    };
    let n_dev = if r.chance(0.25) { 2 } else { 1 };
    let app_devices = (0..n_dev)
        .map(|_| uuid_like(r.next_u64(), r.next_u64()))
        .collect();
    let fingerprints = (0..n_dev)
        .map(|k| {
            format!(
                "fp_{}",
                hex64(
                    mix64((u64::from(idx) * 4 + k as u64) ^ seed.rotate_left(17)),
                    16
                )
            )
        })
        .collect();
    let n_ip = if r.chance(0.4) { 2 } else { 1 };
    let ipv4 = (0..n_ip).map(|k| customer_ipv4(idx, k)).collect();
    let ipv6 = if r.chance(0.1) {
        Some(format!(
            "2a01:e0a:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}",
            r.below(0xFFFF),
            idx & 0xFFFF,
            r.below(0xFFFF),
            r.below(0xFFFF),
            r.below(0xFFFF),
            r.below(0xFFFF)
        ))
    } else {
        None
    };
    let n_cards = if r.chance(0.3) { 2 } else { 1 };
    let cards = (0..n_cards)
        .map(|k| Card {
            bin: r.pick(LEGIT_BINS),
            last4: format!("{:04}", r.below(10_000)),
            card_ref: format!(
                "card_{}",
                hex64(
                    mix64((u64::from(idx) * 4 + k as u64) ^ seed.rotate_left(29) ^ 0xC0FFEE),
                    16
                )
            ),
        })
        .collect();
    let ua = r.pick(BROWSER_UAS);
    let doc_type = r.pick_w(&[
        ("CNI", 60),
        ("Passeport", 25),
        ("Titre de séjour", 8),
        ("Permis de conduire", 7),
    ]);
    let doc_fingerprint = hex64(mix64(u64::from(idx) ^ seed.rotate_left(41) ^ 0xD0C), 16)
        + &hex64(mix64(u64::from(idx) + 0xD0C0), 16)
        + &hex64(mix64((u64::from(idx) + 0xD0C1) ^ seed), 16)
        + &hex64(mix64(u64::from(idx) + 0xD0C2), 16);
    let mut sf = String::from("0035g0000");
    for _ in 0..6 {
        const AL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        sf.push(AL[r.below(AL.len() as u64) as usize] as char);
    }
    Customer {
        idx,
        id: customer_id(idx),
        female,
        first,
        last,
        email,
        phone,
        birth,
        street,
        city,
        postal,
        country,
        currency,
        segment,
        lead_score: r.below(1001) as u32,
        channel,
        fav_category,
        created,
        orders_base,
        ltv_cents,
        kyc,
        newsletter: r.chance(0.45),
        owner: r.pick(SALES_OWNERS),
        salesforce_id: sf,
        app_devices,
        ios: r.chance(0.45),
        fingerprints,
        ipv4,
        ipv6,
        foreign_ip: customer_foreign_ip(idx),
        cards,
        ua,
        doc_type,
        doc_fingerprint,
        prestataire_ref: format!(
            "PRV-{}",
            hex64(mix64(u64::from(idx) ^ 0x9E1 ^ seed), 10).to_uppercase()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn keys_are_unique_per_customer() {
        let w = World::new(42, 3000);
        let mut fps = BTreeSet::new();
        let mut ips = BTreeSet::new();
        let mut cards = BTreeSet::new();
        for c in &w.customers {
            for f in &c.fingerprints {
                assert!(fps.insert(f.clone()), "dup fp {f}");
            }
            for ip in c.ipv4.iter().chain(std::iter::once(&c.foreign_ip)) {
                assert!(ips.insert(ip.clone()), "dup ip {ip}");
            }
            for k in &c.cards {
                assert!(cards.insert(k.card_ref.clone()));
                assert!(!BLACKLISTED_BINS.contains(&k.bin));
            }
        }
        assert_eq!(
            w.products.len(),
            CATEGORIES.len() * PRODUCTS_PER_CATEGORY as usize
        );
    }

    #[test]
    fn bot_ua_detection() {
        for ua in BOT_UAS {
            assert!(is_bot_ua(ua), "{ua}");
        }
        for ua in BROWSER_UAS {
            assert!(!is_bot_ua(ua), "{ua}");
        }
    }

    #[test]
    fn ascii_fold_strips_accents() {
        assert_eq!(ascii_fold("Élodie"), "elodie");
        assert_eq!(ascii_fold("Le Gall"), "legall");
        assert_eq!(ascii_fold("N'Diaye"), "ndiaye");
    }
}
