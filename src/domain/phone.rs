//! Which country a national-format phone number belongs to. Real exports
//! write `(415) 555-0132` or `010-1234-5678` without `+<country>`; the row
//! usually says where the lead is, in a country column or a time zone.
//!
//! Order: `+<country>` in the number wins; then the row's country (ISO code
//! or name, English or as German/French/Spanish address books write it);
//! then the country of the lead's IANA zone (tzdb's `zone.tab`, which gives
//! each zone the one country it belongs to; `UTC` and `Etc/*` have none);
//! then `[general] default_region`.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use chrono_tz::Tz;

/// tzdb `zone.tab` (public domain): country code, zone.
const ZONE_COUNTRY: &str = include_str!("phone/zone_country.tsv");
/// tzdb `iso3166.tab` (public domain): country code, English name.
const ISO3166: &str = include_str!("phone/iso3166.tsv");

/// Names address books and CRMs write that `iso3166.tab` spells differently:
/// common English forms and the German, French and Spanish names of the
/// countries leads most often come from.
const ALIASES: &[(&str, &str)] = &[
    ("usa", "US"),
    ("us", "US"),
    ("u.s.", "US"),
    ("u.s.a.", "US"),
    ("united states of america", "US"),
    ("america", "US"),
    ("vereinigte staaten", "US"),
    ("vereinigte staaten von amerika", "US"),
    ("états-unis", "US"),
    ("etats-unis", "US"),
    ("estados unidos", "US"),
    ("uk", "GB"),
    ("united kingdom", "GB"),
    ("great britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("vereinigtes königreich", "GB"),
    ("großbritannien", "GB"),
    ("royaume-uni", "GB"),
    ("reino unido", "GB"),
    ("deutschland", "DE"),
    ("allemagne", "DE"),
    ("alemania", "DE"),
    ("österreich", "AT"),
    ("autriche", "AT"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("suiza", "CH"),
    ("frankreich", "FR"),
    ("frankrijk", "FR"),
    ("francia", "FR"),
    ("spanien", "ES"),
    ("espagne", "ES"),
    ("españa", "ES"),
    ("espana", "ES"),
    ("italien", "IT"),
    ("italie", "IT"),
    ("italia", "IT"),
    ("niederlande", "NL"),
    ("pays-bas", "NL"),
    ("países bajos", "NL"),
    ("holland", "NL"),
    ("the netherlands", "NL"),
    ("belgien", "BE"),
    ("belgique", "BE"),
    ("bélgica", "BE"),
    ("south korea", "KR"),
    ("korea", "KR"),
    ("republic of korea", "KR"),
    ("südkorea", "KR"),
    ("corée du sud", "KR"),
    ("corea del sur", "KR"),
    ("north korea", "KP"),
    ("japan", "JP"),
    ("japon", "JP"),
    ("japón", "JP"),
    ("china", "CN"),
    ("chine", "CN"),
    ("kanada", "CA"),
    ("méxico", "MX"),
    ("mexiko", "MX"),
    ("mexique", "MX"),
    ("brasil", "BR"),
    ("brasilien", "BR"),
    ("brésil", "BR"),
    ("russia", "RU"),
    ("russland", "RU"),
    ("vietnam", "VN"),
    ("viet nam", "VN"),
    ("indien", "IN"),
    ("inde", "IN"),
    ("irland", "IE"),
    ("irlande", "IE"),
    ("polen", "PL"),
    ("pologne", "PL"),
    ("polonia", "PL"),
    ("schweden", "SE"),
    ("suède", "SE"),
    ("dänemark", "DK"),
    ("danemark", "DK"),
    ("norwegen", "NO"),
    ("norvège", "NO"),
    ("australien", "AU"),
    ("australie", "AU"),
];

/// Lower-cased country name or code → ISO 3166 alpha-2 code.
static COUNTRIES: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for line in ISO3166.lines() {
        if let Some((code, name)) = line.split_once('\t') {
            map.insert(name.trim().to_lowercase(), code);
            map.insert(code.to_lowercase(), code);
        }
    }
    for (name, code) in ALIASES {
        map.insert((*name).to_string(), *code);
    }
    map
});

/// Zone name → the one country it belongs to.
static ZONES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    ZONE_COUNTRY
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(code, zone)| (zone.trim(), code))
        .collect()
});

/// The ISO 3166 alpha-2 code for a country cell: `DE`, `de`, `Germany`,
/// `Deutschland`, `United States`, `USA`… `None` when not recognised.
pub fn country_code(cell: &str) -> Option<&'static str> {
    let key = cell.trim().trim_end_matches('.').to_lowercase();
    if key.is_empty() {
        return None;
    }
    COUNTRIES
        .get(&key)
        .or_else(|| COUNTRIES.get(&format!("{key}.")))
        .copied()
}

/// The country an IANA zone belongs to, if exactly one.
pub fn zone_country(tz: Tz) -> Option<&'static str> {
    ZONES.get(tz.name()).copied()
}

/// Where a phone number's region came from, for warnings that explain it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionSource {
    /// The row's country column.
    Country,
    /// The lead's time zone.
    TimeZone,
    /// `[general] default_region`.
    Default,
}

/// The region to read a national-format `phone` in: `None` when the number
/// carries `+<country>` (or nothing says where the lead is).
pub fn phone_region(
    phone: &str,
    country: Option<&str>,
    tz: Option<Tz>,
    default_region: Option<&str>,
) -> Option<(String, RegionSource)> {
    if phone.trim_start().starts_with('+') {
        return None;
    }
    country
        .and_then(country_code)
        .map(|c| (c.to_string(), RegionSource::Country))
        .or_else(|| {
            tz.and_then(zone_country)
                .map(|c| (c.to_string(), RegionSource::TimeZone))
        })
        .or_else(|| {
            default_region
                .map(str::trim)
                .filter(|r| phonenumber::country::Id::from_str(&r.to_ascii_uppercase()).is_ok())
                .map(|r| (r.to_ascii_uppercase(), RegionSource::Default))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn country_cells_resolve_by_code_and_name() {
        for (cell, code) in [
            ("DE", "DE"),
            ("de", "DE"),
            ("Germany", "DE"),
            ("Deutschland", "DE"),
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("Korea (South)", "KR"),
            ("South Korea", "KR"),
            ("España", "ES"),
            ("France", "FR"),
        ] {
            assert_eq!(country_code(cell), Some(code), "{cell}");
        }
        assert_eq!(country_code("Atlantis"), None);
        assert_eq!(country_code(""), None);
    }

    #[test]
    fn zones_map_to_their_one_country() {
        assert_eq!(zone_country(chrono_tz::America::Los_Angeles), Some("US"));
        assert_eq!(zone_country(chrono_tz::Asia::Seoul), Some("KR"));
        assert_eq!(zone_country(chrono_tz::Europe::Berlin), Some("DE"));
        assert_eq!(zone_country(chrono_tz::UTC), None);
        assert_eq!(zone_country(chrono_tz::Etc::GMTPlus5), None);
    }

    #[test]
    fn region_order_number_then_country_then_zone_then_default() {
        let la = Some(chrono_tz::America::Los_Angeles);
        assert_eq!(
            phone_region("+44 20 7946 0958", Some("DE"), la, Some("FR")),
            None
        );
        assert_eq!(
            phone_region("(415) 555-0132", Some("Deutschland"), la, Some("FR")),
            Some(("DE".into(), RegionSource::Country))
        );
        assert_eq!(
            phone_region("(415) 555-0132", None, la, Some("FR")),
            Some(("US".into(), RegionSource::TimeZone))
        );
        assert_eq!(
            phone_region(
                "(415) 555-0132",
                Some("nowhere"),
                Some(chrono_tz::UTC),
                Some("fr")
            ),
            Some(("FR".into(), RegionSource::Default))
        );
        assert_eq!(phone_region("(415) 555-0132", None, None, None), None);
    }
}
