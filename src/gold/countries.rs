//! ISO 3166 countries shipped with kvt for `dim_pays` (docs/contracts.md C8): alpha-2 code, numeric code (the stable key), French name, geographic zone, EU membership.
//!
//! Source: ISO 3166-1 as of 2025 (249 entries), cross-checked against the
//! Debian `iso-codes` data (via `pycountry` 26.2.16). Names are the usual
//! French short names. EU membership is the 27 member states as of 2025.
//!
//! Zones follow the UN M49 geoscheme, with these conventional choices:
//! - "Moyen-Orient" is M49 Western Asia (Gulf states, Levant, Iraq, Israel,
//!   Palestine, Yemen, **Turkey**) plus **Iran**; except Cyprus (EU member,
//!   "Europe") and the South Caucasus (Armenia, Azerbaijan, Georgia: "Asie").
//! - Russia is "Europe"; Kazakhstan is "Asie"; Egypt is "Afrique".
//! - Mexico, Bermuda, Greenland and Saint-Pierre-et-Miquelon are
//!   "Amérique du Nord"; Central America from Guatemala to Panama and every
//!   Caribbean island are "Amérique centrale et Caraïbes".
//! - The British Indian Ocean Territory is "Asie"; Christmas and Cocos
//!   Islands are "Océanie" (Australian territories).
//! - Antarctica and the sub-antarctic territories (Bouvet, South Georgia,
//!   Heard-and-McDonald, French Southern Territories) are "Antarctique".
//! - Overseas territories otherwise take the zone of where they lie
//!   (Réunion and Mayotte "Afrique", Guadeloupe "Amérique centrale et
//!   Caraïbes", French Guiana "Amérique du Sud", …), never their sovereign's.

/// One country.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Country {
    pub alpha2: &'static str,
    pub numeric: u16,
    pub nom: &'static str,
    pub zone: &'static str,
    pub ue: bool,
}

const EUROPE: &str = "Europe";
const AFRIQUE: &str = "Afrique";
const AMERIQUE_NORD: &str = "Amérique du Nord";
const AMERIQUE_SUD: &str = "Amérique du Sud";
const AMERIQUE_CENTRALE: &str = "Amérique centrale et Caraïbes";
const ASIE: &str = "Asie";
const MOYEN_ORIENT: &str = "Moyen-Orient";
const OCEANIE: &str = "Océanie";
const ANTARCTIQUE: &str = "Antarctique";

/// Every value `Country::zone` takes.
pub const ZONES: &[&str] = &[
    EUROPE,
    AFRIQUE,
    AMERIQUE_NORD,
    AMERIQUE_SUD,
    AMERIQUE_CENTRALE,
    ASIE,
    MOYEN_ORIENT,
    OCEANIE,
    ANTARCTIQUE,
];

const fn c(
    alpha2: &'static str,
    numeric: u16,
    nom: &'static str,
    zone: &'static str,
    ue: bool,
) -> Country {
    Country {
        alpha2,
        numeric,
        nom,
        zone,
        ue,
    }
}

/// The ISO 3166-1 countries, sorted by `alpha2`.
#[rustfmt::skip]
pub const COUNTRIES: &[Country] = &[
    c("AD", 20, "Andorre", EUROPE, false),
    c("AE", 784, "Émirats arabes unis", MOYEN_ORIENT, false),
    c("AF", 4, "Afghanistan", ASIE, false),
    c("AG", 28, "Antigua-et-Barbuda", AMERIQUE_CENTRALE, false),
    c("AI", 660, "Anguilla", AMERIQUE_CENTRALE, false),
    c("AL", 8, "Albanie", EUROPE, false),
    c("AM", 51, "Arménie", ASIE, false),
    c("AO", 24, "Angola", AFRIQUE, false),
    c("AQ", 10, "Antarctique", ANTARCTIQUE, false),
    c("AR", 32, "Argentine", AMERIQUE_SUD, false),
    c("AS", 16, "Samoa américaines", OCEANIE, false),
    c("AT", 40, "Autriche", EUROPE, true),
    c("AU", 36, "Australie", OCEANIE, false),
    c("AW", 533, "Aruba", AMERIQUE_CENTRALE, false),
    c("AX", 248, "Îles Åland", EUROPE, false),
    c("AZ", 31, "Azerbaïdjan", ASIE, false),
    c("BA", 70, "Bosnie-Herzégovine", EUROPE, false),
    c("BB", 52, "Barbade", AMERIQUE_CENTRALE, false),
    c("BD", 50, "Bangladesh", ASIE, false),
    c("BE", 56, "Belgique", EUROPE, true),
    c("BF", 854, "Burkina Faso", AFRIQUE, false),
    c("BG", 100, "Bulgarie", EUROPE, true),
    c("BH", 48, "Bahreïn", MOYEN_ORIENT, false),
    c("BI", 108, "Burundi", AFRIQUE, false),
    c("BJ", 204, "Bénin", AFRIQUE, false),
    c("BL", 652, "Saint-Barthélemy", AMERIQUE_CENTRALE, false),
    c("BM", 60, "Bermudes", AMERIQUE_NORD, false),
    c("BN", 96, "Brunei", ASIE, false),
    c("BO", 68, "Bolivie", AMERIQUE_SUD, false),
    c("BQ", 535, "Bonaire, Saint-Eustache et Saba", AMERIQUE_CENTRALE, false),
    c("BR", 76, "Brésil", AMERIQUE_SUD, false),
    c("BS", 44, "Bahamas", AMERIQUE_CENTRALE, false),
    c("BT", 64, "Bhoutan", ASIE, false),
    c("BV", 74, "Île Bouvet", ANTARCTIQUE, false),
    c("BW", 72, "Botswana", AFRIQUE, false),
    c("BY", 112, "Biélorussie", EUROPE, false),
    c("BZ", 84, "Belize", AMERIQUE_CENTRALE, false),
    c("CA", 124, "Canada", AMERIQUE_NORD, false),
    c("CC", 166, "Îles Cocos", OCEANIE, false),
    c("CD", 180, "République démocratique du Congo", AFRIQUE, false),
    c("CF", 140, "République centrafricaine", AFRIQUE, false),
    c("CG", 178, "Congo", AFRIQUE, false),
    c("CH", 756, "Suisse", EUROPE, false),
    c("CI", 384, "Côte d'Ivoire", AFRIQUE, false),
    c("CK", 184, "Îles Cook", OCEANIE, false),
    c("CL", 152, "Chili", AMERIQUE_SUD, false),
    c("CM", 120, "Cameroun", AFRIQUE, false),
    c("CN", 156, "Chine", ASIE, false),
    c("CO", 170, "Colombie", AMERIQUE_SUD, false),
    c("CR", 188, "Costa Rica", AMERIQUE_CENTRALE, false),
    c("CU", 192, "Cuba", AMERIQUE_CENTRALE, false),
    c("CV", 132, "Cap-Vert", AFRIQUE, false),
    c("CW", 531, "Curaçao", AMERIQUE_CENTRALE, false),
    c("CX", 162, "Île Christmas", OCEANIE, false),
    c("CY", 196, "Chypre", EUROPE, true),
    c("CZ", 203, "Tchéquie", EUROPE, true),
    c("DE", 276, "Allemagne", EUROPE, true),
    c("DJ", 262, "Djibouti", AFRIQUE, false),
    c("DK", 208, "Danemark", EUROPE, true),
    c("DM", 212, "Dominique", AMERIQUE_CENTRALE, false),
    c("DO", 214, "République dominicaine", AMERIQUE_CENTRALE, false),
    c("DZ", 12, "Algérie", AFRIQUE, false),
    c("EC", 218, "Équateur", AMERIQUE_SUD, false),
    c("EE", 233, "Estonie", EUROPE, true),
    c("EG", 818, "Égypte", AFRIQUE, false),
    c("EH", 732, "Sahara occidental", AFRIQUE, false),
    c("ER", 232, "Érythrée", AFRIQUE, false),
    c("ES", 724, "Espagne", EUROPE, true),
    c("ET", 231, "Éthiopie", AFRIQUE, false),
    c("FI", 246, "Finlande", EUROPE, true),
    c("FJ", 242, "Fidji", OCEANIE, false),
    c("FK", 238, "Îles Malouines", AMERIQUE_SUD, false),
    c("FM", 583, "Micronésie", OCEANIE, false),
    c("FO", 234, "Îles Féroé", EUROPE, false),
    c("FR", 250, "France", EUROPE, true),
    c("GA", 266, "Gabon", AFRIQUE, false),
    c("GB", 826, "Royaume-Uni", EUROPE, false),
    c("GD", 308, "Grenade", AMERIQUE_CENTRALE, false),
    c("GE", 268, "Géorgie", ASIE, false),
    c("GF", 254, "Guyane française", AMERIQUE_SUD, false),
    c("GG", 831, "Guernesey", EUROPE, false),
    c("GH", 288, "Ghana", AFRIQUE, false),
    c("GI", 292, "Gibraltar", EUROPE, false),
    c("GL", 304, "Groenland", AMERIQUE_NORD, false),
    c("GM", 270, "Gambie", AFRIQUE, false),
    c("GN", 324, "Guinée", AFRIQUE, false),
    c("GP", 312, "Guadeloupe", AMERIQUE_CENTRALE, false),
    c("GQ", 226, "Guinée équatoriale", AFRIQUE, false),
    c("GR", 300, "Grèce", EUROPE, true),
    c("GS", 239, "Géorgie du Sud-et-les îles Sandwich du Sud", ANTARCTIQUE, false),
    c("GT", 320, "Guatemala", AMERIQUE_CENTRALE, false),
    c("GU", 316, "Guam", OCEANIE, false),
    c("GW", 624, "Guinée-Bissau", AFRIQUE, false),
    c("GY", 328, "Guyana", AMERIQUE_SUD, false),
    c("HK", 344, "Hong Kong", ASIE, false),
    c("HM", 334, "Îles Heard-et-MacDonald", ANTARCTIQUE, false),
    c("HN", 340, "Honduras", AMERIQUE_CENTRALE, false),
    c("HR", 191, "Croatie", EUROPE, true),
    c("HT", 332, "Haïti", AMERIQUE_CENTRALE, false),
    c("HU", 348, "Hongrie", EUROPE, true),
    c("ID", 360, "Indonésie", ASIE, false),
    c("IE", 372, "Irlande", EUROPE, true),
    c("IL", 376, "Israël", MOYEN_ORIENT, false),
    c("IM", 833, "Île de Man", EUROPE, false),
    c("IN", 356, "Inde", ASIE, false),
    c("IO", 86, "Territoire britannique de l'océan Indien", ASIE, false),
    c("IQ", 368, "Irak", MOYEN_ORIENT, false),
    c("IR", 364, "Iran", MOYEN_ORIENT, false),
    c("IS", 352, "Islande", EUROPE, false),
    c("IT", 380, "Italie", EUROPE, true),
    c("JE", 832, "Jersey", EUROPE, false),
    c("JM", 388, "Jamaïque", AMERIQUE_CENTRALE, false),
    c("JO", 400, "Jordanie", MOYEN_ORIENT, false),
    c("JP", 392, "Japon", ASIE, false),
    c("KE", 404, "Kenya", AFRIQUE, false),
    c("KG", 417, "Kirghizistan", ASIE, false),
    c("KH", 116, "Cambodge", ASIE, false),
    c("KI", 296, "Kiribati", OCEANIE, false),
    c("KM", 174, "Comores", AFRIQUE, false),
    c("KN", 659, "Saint-Christophe-et-Niévès", AMERIQUE_CENTRALE, false),
    c("KP", 408, "Corée du Nord", ASIE, false),
    c("KR", 410, "Corée du Sud", ASIE, false),
    c("KW", 414, "Koweït", MOYEN_ORIENT, false),
    c("KY", 136, "Îles Caïmans", AMERIQUE_CENTRALE, false),
    c("KZ", 398, "Kazakhstan", ASIE, false),
    c("LA", 418, "Laos", ASIE, false),
    c("LB", 422, "Liban", MOYEN_ORIENT, false),
    c("LC", 662, "Sainte-Lucie", AMERIQUE_CENTRALE, false),
    c("LI", 438, "Liechtenstein", EUROPE, false),
    c("LK", 144, "Sri Lanka", ASIE, false),
    c("LR", 430, "Liberia", AFRIQUE, false),
    c("LS", 426, "Lesotho", AFRIQUE, false),
    c("LT", 440, "Lituanie", EUROPE, true),
    c("LU", 442, "Luxembourg", EUROPE, true),
    c("LV", 428, "Lettonie", EUROPE, true),
    c("LY", 434, "Libye", AFRIQUE, false),
    c("MA", 504, "Maroc", AFRIQUE, false),
    c("MC", 492, "Monaco", EUROPE, false),
    c("MD", 498, "Moldavie", EUROPE, false),
    c("ME", 499, "Monténégro", EUROPE, false),
    c("MF", 663, "Saint-Martin (partie française)", AMERIQUE_CENTRALE, false),
    c("MG", 450, "Madagascar", AFRIQUE, false),
    c("MH", 584, "Îles Marshall", OCEANIE, false),
    c("MK", 807, "Macédoine du Nord", EUROPE, false),
    c("ML", 466, "Mali", AFRIQUE, false),
    c("MM", 104, "Birmanie", ASIE, false),
    c("MN", 496, "Mongolie", ASIE, false),
    c("MO", 446, "Macao", ASIE, false),
    c("MP", 580, "Îles Mariannes du Nord", OCEANIE, false),
    c("MQ", 474, "Martinique", AMERIQUE_CENTRALE, false),
    c("MR", 478, "Mauritanie", AFRIQUE, false),
    c("MS", 500, "Montserrat", AMERIQUE_CENTRALE, false),
    c("MT", 470, "Malte", EUROPE, true),
    c("MU", 480, "Maurice", AFRIQUE, false),
    c("MV", 462, "Maldives", ASIE, false),
    c("MW", 454, "Malawi", AFRIQUE, false),
    c("MX", 484, "Mexique", AMERIQUE_NORD, false),
    c("MY", 458, "Malaisie", ASIE, false),
    c("MZ", 508, "Mozambique", AFRIQUE, false),
    c("NA", 516, "Namibie", AFRIQUE, false),
    c("NC", 540, "Nouvelle-Calédonie", OCEANIE, false),
    c("NE", 562, "Niger", AFRIQUE, false),
    c("NF", 574, "Île Norfolk", OCEANIE, false),
    c("NG", 566, "Nigeria", AFRIQUE, false),
    c("NI", 558, "Nicaragua", AMERIQUE_CENTRALE, false),
    c("NL", 528, "Pays-Bas", EUROPE, true),
    c("NO", 578, "Norvège", EUROPE, false),
    c("NP", 524, "Népal", ASIE, false),
    c("NR", 520, "Nauru", OCEANIE, false),
    c("NU", 570, "Niue", OCEANIE, false),
    c("NZ", 554, "Nouvelle-Zélande", OCEANIE, false),
    c("OM", 512, "Oman", MOYEN_ORIENT, false),
    c("PA", 591, "Panama", AMERIQUE_CENTRALE, false),
    c("PE", 604, "Pérou", AMERIQUE_SUD, false),
    c("PF", 258, "Polynésie française", OCEANIE, false),
    c("PG", 598, "Papouasie-Nouvelle-Guinée", OCEANIE, false),
    c("PH", 608, "Philippines", ASIE, false),
    c("PK", 586, "Pakistan", ASIE, false),
    c("PL", 616, "Pologne", EUROPE, true),
    c("PM", 666, "Saint-Pierre-et-Miquelon", AMERIQUE_NORD, false),
    c("PN", 612, "Îles Pitcairn", OCEANIE, false),
    c("PR", 630, "Porto Rico", AMERIQUE_CENTRALE, false),
    c("PS", 275, "Palestine", MOYEN_ORIENT, false),
    c("PT", 620, "Portugal", EUROPE, true),
    c("PW", 585, "Palaos", OCEANIE, false),
    c("PY", 600, "Paraguay", AMERIQUE_SUD, false),
    c("QA", 634, "Qatar", MOYEN_ORIENT, false),
    c("RE", 638, "La Réunion", AFRIQUE, false),
    c("RO", 642, "Roumanie", EUROPE, true),
    c("RS", 688, "Serbie", EUROPE, false),
    c("RU", 643, "Russie", EUROPE, false),
    c("RW", 646, "Rwanda", AFRIQUE, false),
    c("SA", 682, "Arabie saoudite", MOYEN_ORIENT, false),
    c("SB", 90, "Îles Salomon", OCEANIE, false),
    c("SC", 690, "Seychelles", AFRIQUE, false),
    c("SD", 729, "Soudan", AFRIQUE, false),
    c("SE", 752, "Suède", EUROPE, true),
    c("SG", 702, "Singapour", ASIE, false),
    c("SH", 654, "Sainte-Hélène, Ascension et Tristan da Cunha", AFRIQUE, false),
    c("SI", 705, "Slovénie", EUROPE, true),
    c("SJ", 744, "Svalbard et Jan Mayen", EUROPE, false),
    c("SK", 703, "Slovaquie", EUROPE, true),
    c("SL", 694, "Sierra Leone", AFRIQUE, false),
    c("SM", 674, "Saint-Marin", EUROPE, false),
    c("SN", 686, "Sénégal", AFRIQUE, false),
    c("SO", 706, "Somalie", AFRIQUE, false),
    c("SR", 740, "Suriname", AMERIQUE_SUD, false),
    c("SS", 728, "Soudan du Sud", AFRIQUE, false),
    c("ST", 678, "Sao Tomé-et-Principe", AFRIQUE, false),
    c("SV", 222, "Salvador", AMERIQUE_CENTRALE, false),
    c("SX", 534, "Saint-Martin (partie néerlandaise)", AMERIQUE_CENTRALE, false),
    c("SY", 760, "Syrie", MOYEN_ORIENT, false),
    c("SZ", 748, "Eswatini", AFRIQUE, false),
    c("TC", 796, "Îles Turques-et-Caïques", AMERIQUE_CENTRALE, false),
    c("TD", 148, "Tchad", AFRIQUE, false),
    c("TF", 260, "Terres australes et antarctiques françaises", ANTARCTIQUE, false),
    c("TG", 768, "Togo", AFRIQUE, false),
    c("TH", 764, "Thaïlande", ASIE, false),
    c("TJ", 762, "Tadjikistan", ASIE, false),
    c("TK", 772, "Tokelau", OCEANIE, false),
    c("TL", 626, "Timor oriental", ASIE, false),
    c("TM", 795, "Turkménistan", ASIE, false),
    c("TN", 788, "Tunisie", AFRIQUE, false),
    c("TO", 776, "Tonga", OCEANIE, false),
    c("TR", 792, "Turquie", MOYEN_ORIENT, false),
    c("TT", 780, "Trinité-et-Tobago", AMERIQUE_CENTRALE, false),
    c("TV", 798, "Tuvalu", OCEANIE, false),
    c("TW", 158, "Taïwan", ASIE, false),
    c("TZ", 834, "Tanzanie", AFRIQUE, false),
    c("UA", 804, "Ukraine", EUROPE, false),
    c("UG", 800, "Ouganda", AFRIQUE, false),
    c("UM", 581, "Îles mineures éloignées des États-Unis", OCEANIE, false),
    c("US", 840, "États-Unis", AMERIQUE_NORD, false),
    c("UY", 858, "Uruguay", AMERIQUE_SUD, false),
    c("UZ", 860, "Ouzbékistan", ASIE, false),
    c("VA", 336, "Vatican", EUROPE, false),
    c("VC", 670, "Saint-Vincent-et-les-Grenadines", AMERIQUE_CENTRALE, false),
    c("VE", 862, "Venezuela", AMERIQUE_SUD, false),
    c("VG", 92, "Îles Vierges britanniques", AMERIQUE_CENTRALE, false),
    c("VI", 850, "Îles Vierges des États-Unis", AMERIQUE_CENTRALE, false),
    c("VN", 704, "Vietnam", ASIE, false),
    c("VU", 548, "Vanuatu", OCEANIE, false),
    c("WF", 876, "Wallis-et-Futuna", OCEANIE, false),
    c("WS", 882, "Samoa", OCEANIE, false),
    c("YE", 887, "Yémen", MOYEN_ORIENT, false),
    c("YT", 175, "Mayotte", AFRIQUE, false),
    c("ZA", 710, "Afrique du Sud", AFRIQUE, false),
    c("ZM", 894, "Zambie", AFRIQUE, false),
    c("ZW", 716, "Zimbabwe", AFRIQUE, false),
];

/// The country of an alpha-2 code (case-insensitive), if known.
pub fn by_alpha2(code: &str) -> Option<&'static Country> {
    let code = code.trim().as_bytes();
    if code.len() != 2 {
        return None;
    }
    let key = [code[0].to_ascii_uppercase(), code[1].to_ascii_uppercase()];
    let all: &'static [Country] = COUNTRIES;
    all.binary_search_by(|c| c.alpha2.as_bytes().cmp(key.as_slice()))
        .ok()
        .map(|i| &all[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn count() {
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn sorted_and_alpha2_unique() {
        for w in COUNTRIES.windows(2) {
            assert!(
                w[0].alpha2 < w[1].alpha2,
                "{} then {}",
                w[0].alpha2,
                w[1].alpha2
            );
        }
    }

    #[test]
    fn numeric_unique() {
        let mut seen = HashSet::new();
        for c in COUNTRIES {
            assert!(c.numeric > 0 && c.numeric < 1000, "{}", c.alpha2);
            assert!(seen.insert(c.numeric), "duplicate numeric {}", c.numeric);
        }
    }

    #[test]
    fn alpha2_two_uppercase_letters() {
        for c in COUNTRIES {
            assert_eq!(c.alpha2.len(), 2, "{}", c.alpha2);
            assert!(
                c.alpha2.bytes().all(|b| b.is_ascii_uppercase()),
                "{}",
                c.alpha2
            );
        }
    }

    #[test]
    fn names_nonempty() {
        for c in COUNTRIES {
            assert!(!c.nom.trim().is_empty(), "{}", c.alpha2);
        }
    }

    #[test]
    fn zones_known() {
        for c in COUNTRIES {
            assert!(ZONES.contains(&c.zone), "{}: {}", c.alpha2, c.zone);
        }
        assert_eq!(ZONES.len(), 9);
    }

    #[test]
    fn eu_members() {
        let expected: HashSet<&str> = [
            "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
            "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
        ]
        .into_iter()
        .collect();
        assert_eq!(expected.len(), 27);
        let actual: HashSet<&str> = COUNTRIES
            .iter()
            .filter(|c| c.ue)
            .map(|c| c.alpha2)
            .collect();
        assert_eq!(actual, expected);
        for code in &expected {
            assert_eq!(by_alpha2(code).map(|c| c.zone), Some(EUROPE), "{code}");
        }
    }

    #[test]
    fn known_codes() {
        let fr = by_alpha2("fr").expect("FR");
        assert_eq!(
            *fr,
            Country {
                alpha2: "FR",
                numeric: 250,
                nom: "France",
                zone: "Europe",
                ue: true,
            }
        );
        let gb = by_alpha2(" GB ").expect("GB");
        assert_eq!((gb.numeric, gb.nom, gb.ue), (826, "Royaume-Uni", false));
        let expect = [
            ("DE", 276, "Allemagne"),
            ("US", 840, "États-Unis"),
            ("CH", 756, "Suisse"),
            ("BE", 56, "Belgique"),
            ("KR", 410, "Corée du Sud"),
            ("CI", 384, "Côte d'Ivoire"),
            ("AD", 20, "Andorre"),
            ("ZW", 716, "Zimbabwe"),
        ];
        for (code, numeric, nom) in expect {
            let c = by_alpha2(code).expect(code);
            assert_eq!((c.alpha2, c.numeric, c.nom), (code, numeric, nom));
        }
        assert_eq!(by_alpha2("Us").map(|c| c.numeric), Some(840));
        assert_eq!(by_alpha2("eG").map(|c| c.zone), Some(AFRIQUE));
        assert_eq!(by_alpha2("ru").map(|c| c.zone), Some(EUROPE));
    }

    #[test]
    fn every_entry_found() {
        for c in COUNTRIES {
            assert_eq!(by_alpha2(c.alpha2), Some(c));
            assert_eq!(by_alpha2(&c.alpha2.to_ascii_lowercase()), Some(c));
        }
    }

    #[test]
    fn unknown_codes() {
        for code in [
            "",
            " ",
            "X",
            "XX",
            "ZZ",
            "UK",
            "FRA",
            "F R",
            "é",
            "éé",
            "1A",
            "\u{0}\u{0}",
        ] {
            assert_eq!(by_alpha2(code), None, "{code:?}");
        }
    }
}
