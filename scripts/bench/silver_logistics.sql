-- DuckDB peer of `kvt silver logistics` (scripts/bench.sh silver-history): the
-- same bronze file, the rules of src/silver/logistics.rs (values:
-- src/silver/dates.rs) as closely as SQL allows.
-- {{bronze}} = the bronze CSV file(s), {{out}} = the output directory.
-- Differences from kvt (listed in scripts/bench.sh): sha256 instead of
-- HMAC-SHA-256; decimals without group separators; integers by DuckDB's cast;
-- business days only for dates in 1990-2099; bronze_key is the file path.

-- Null tokens, values, matching keys and typed values of the CSV sources.
CREATE TEMP MACRO is_null_token(s) AS s IS NULL OR lower(trim(s)) IN ('', '-', 'null', 'n/a', 'none');
CREATE TEMP MACRO val(s) AS CASE WHEN NOT is_null_token(s) THEN trim(s) END;
CREATE TEMP MACRO fold(s) AS trim(regexp_replace(strip_accents(lower(s)), '[\s_\-/.''’]+', ' ', 'g'));
-- A four-digit year first is year-month-day, last is day-month-year; a time is ignored.
CREATE TEMP MACRO to_date(s) AS try_strptime(trim(s), [
  '%Y-%m-%d', '%Y/%m/%d', '%Y.%m.%d', '%d/%m/%Y', '%d-%m-%Y', '%d.%m.%Y',
  '%Y-%m-%dT%H:%M:%S', '%Y-%m-%d %H:%M:%S', '%d/%m/%Y %H:%M:%S', '%d/%m/%Y %H:%M'])::DATE;
CREATE TEMP MACRO to_decimal(s) AS TRY_CAST(replace(trim(s), ',', '.') AS DOUBLE);
CREATE TEMP MACRO to_int(s) AS TRY_CAST(trim(s) AS INTEGER);
CREATE TEMP MACRO to_bool(s) AS CASE
  WHEN lower(trim(s)) IN ('true', 'vrai', 'oui', 'o', 'yes', 'y', '1', 't') THEN true
  WHEN lower(trim(s)) IN ('false', 'faux', 'non', 'n', 'no', '0', 'f') THEN false END;
-- `name` when the raw value is there but could not be read (champs_invalides).
CREATE TEMP MACRO invalid(raw, v, name) AS CASE WHEN NOT is_null_token(raw) AND v IS NULL THEN name END;

-- Country names and codes -> ISO alpha-2 (the table of src/silver/crm.rs), by matching key.
CREATE TEMP TABLE country_names(k VARCHAR, iso VARCHAR);
INSERT INTO country_names VALUES
  ('france', 'FR'), ('france metropolitaine', 'FR'), ('belgique', 'BE'), ('suisse', 'CH'),
  ('allemagne', 'DE'), ('espagne', 'ES'), ('italie', 'IT'), ('royaume uni', 'GB'),
  ('grande bretagne', 'GB'), ('angleterre', 'GB'), ('pays bas', 'NL'), ('hollande', 'NL'),
  ('luxembourg', 'LU'), ('portugal', 'PT'), ('autriche', 'AT'), ('irlande', 'IE'),
  ('danemark', 'DK'), ('suede', 'SE'), ('norvege', 'NO'), ('finlande', 'FI'), ('islande', 'IS'),
  ('pologne', 'PL'), ('republique tcheque', 'CZ'), ('tchequie', 'CZ'), ('slovaquie', 'SK'),
  ('hongrie', 'HU'), ('slovenie', 'SI'), ('croatie', 'HR'), ('roumanie', 'RO'), ('bulgarie', 'BG'),
  ('grece', 'GR'), ('chypre', 'CY'), ('malte', 'MT'), ('estonie', 'EE'), ('lettonie', 'LV'),
  ('lituanie', 'LT'), ('monaco', 'MC'), ('andorre', 'AD'), ('liechtenstein', 'LI'),
  ('saint marin', 'SM'), ('serbie', 'RS'), ('ukraine', 'UA'), ('turquie', 'TR'), ('russie', 'RU'),
  ('maroc', 'MA'), ('algerie', 'DZ'), ('tunisie', 'TN'), ('senegal', 'SN'), ('cote d ivoire', 'CI'),
  ('etats unis', 'US'), ('etats unis d amerique', 'US'), ('canada', 'CA'), ('mexique', 'MX'),
  ('bresil', 'BR'), ('chine', 'CN'), ('japon', 'JP'), ('inde', 'IN'), ('israel', 'IL'),
  ('australie', 'AU'), ('guadeloupe', 'GP'), ('martinique', 'MQ'), ('guyane', 'GF'),
  ('la reunion', 'RE'), ('reunion', 'RE'), ('mayotte', 'YT'), ('nouvelle caledonie', 'NC'),
  ('polynesie francaise', 'PF'), ('united kingdom', 'GB'), ('uk', 'GB'), ('germany', 'DE'),
  ('spain', 'ES'), ('italy', 'IT'), ('netherlands', 'NL'), ('belgium', 'BE'),
  ('switzerland', 'CH'), ('united states', 'US'), ('usa', 'US');
CREATE TEMP TABLE countries AS
  SELECT k, iso FROM country_names
  UNION SELECT DISTINCT lower(iso), iso FROM country_names WHERE lower(iso) NOT IN (SELECT k FROM country_names);

-- French business days (CONTRACTS C7): `bd` counts Monday-Friday non-holidays up
-- to each day, so the days d with start < d <= end are bd(end) - bd(start).
CREATE TEMP TABLE calendar AS
WITH years AS (
  SELECT y, a, b, c, h, l, (a + 11 * h + 22 * l) // 451 AS m
  FROM (SELECT y, a, b, c, h, (32 + 2 * (b % 4) + 2 * (c // 4) - h - (c % 4)) % 7 AS l
        FROM (SELECT y, a, b, c,
                     (19 * a + b - b // 4 - (b - (b + 8) // 25 + 1) // 3 + 15) % 30 AS h
              FROM (SELECT y, y % 19 AS a, y // 100 AS b, y % 100 AS c FROM range(1990, 2100) t(y))))
), easter AS (
  SELECT y, make_date(y::INTEGER, ((h + l - 7 * m + 114) // 31)::INTEGER, ((h + l - 7 * m + 114) % 31 + 1)::INTEGER) AS e
  FROM years
), holidays AS (
  SELECT make_date(y::INTEGER, md[1], md[2]) AS d
  FROM range(1990, 2100) t(y),
       (SELECT unnest([[1, 1], [5, 1], [5, 8], [7, 14], [8, 15], [11, 1], [11, 11], [12, 25]]) AS md)
  UNION SELECT (e + INTERVAL 1 DAY)::DATE FROM easter
  UNION SELECT (e + INTERVAL 39 DAY)::DATE FROM easter
  UNION SELECT (e + INTERVAL 50 DAY)::DATE FROM easter
)
SELECT d, sum(CASE WHEN isodow(d) <= 5 AND h.d IS NULL THEN 1 ELSE 0 END) OVER (ORDER BY d) AS bd
FROM (SELECT t.d::DATE AS d FROM range(DATE '1990-01-01', DATE '2100-01-01', INTERVAL 1 DAY) t(d))
LEFT JOIN holidays h USING (d);

-- Every column as text, `;`, RFC 4180 quotes; ville_destination and
-- commentaire_livreur are never selected below. `rn` is the row's place in the
-- file (bronze_line), for "the last row wins".
CREATE TEMP VIEW raw AS
SELECT *, row_number() OVER () AS rn
FROM read_csv('{{bronze}}', delim = ';', quote = '"', escape = '"', header = true,
              auto_detect = false, filename = true, columns = {
  'livraison_id': 'VARCHAR', 'order_id': 'VARCHAR', 'customer_id': 'VARCHAR',
  'transporteur': 'VARCHAR', 'numero_suivi': 'VARCHAR', 'statut_livraison': 'VARCHAR',
  'entrepot_depart': 'VARCHAR', 'ville_destination': 'VARCHAR', 'pays_destination': 'VARCHAR',
  'code_postal_dest': 'VARCHAR', 'poids_kg': 'VARCHAR', 'longueur_cm': 'VARCHAR',
  'largeur_cm': 'VARCHAR', 'hauteur_cm': 'VARCHAR', 'frais_livraison_eur': 'VARCHAR',
  'date_commande': 'VARCHAR', 'date_expedition': 'VARCHAR', 'date_livraison_prevue': 'VARCHAR',
  'date_livraison_reelle': 'VARCHAR', 'retard_jours': 'VARCHAR', 'signature_requise': 'VARCHAR',
  'tentatives_livraison': 'VARCHAR', 'motif_echec_retour': 'VARCHAR', 'assurance': 'VARCHAR',
  'commentaire_livreur': 'VARCHAR'});

-- Rejects: no livraison_id, no readable date_expedition. Then one row per
-- parcel: the last one in the file (the file is the days in order).
CREATE TEMP VIEW latest AS
SELECT * FROM (
  SELECT r.*, val(livraison_id) AS key, to_date(date_expedition) AS shipped FROM raw r
)
WHERE key IS NOT NULL AND shipped IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY key ORDER BY rn DESC) = 1;

CREATE TEMP VIEW typed AS
SELECT
  l.*,
  c.iso,
  to_decimal(poids_kg) AS poids, to_int(longueur_cm) AS longueur, to_int(largeur_cm) AS largeur,
  to_int(hauteur_cm) AS hauteur, to_decimal(frais_livraison_eur) AS frais,
  to_date(date_commande) AS ordered, to_date(date_livraison_prevue) AS promised,
  to_date(date_livraison_reelle) AS delivered, to_int(retard_jours) AS retard,
  to_bool(signature_requise) AS signature, to_bool(assurance) AS assure,
  CASE WHEN to_int(tentatives_livraison) >= 0 THEN to_int(tentatives_livraison) END AS attempts,
  CASE WHEN c.iso = 'FR' AND val(code_postal_dest) IS NOT NULL THEN
    CASE WHEN regexp_full_match(trim(code_postal_dest), '[0-9]{5}')
         THEN CASE WHEN left(trim(code_postal_dest), 2) IN ('97', '98') THEN left(trim(code_postal_dest), 3)
                   ELSE left(trim(code_postal_dest), 2) END
         ELSE '!' END
  END AS dept
FROM latest l
LEFT JOIN countries c ON c.k = fold(l.pays_destination);

CREATE TEMP VIEW silver AS
SELECT
  t.key AS livraison_id,
  val(order_id) AS order_id,
  sha256(val(customer_id)) AS customer_id,
  val(transporteur) AS transporteur,
  sha256(val(numero_suivi)) AS numero_suivi_hash,
  CASE fold(val(statut_livraison))
    WHEN 'expedie' THEN 'expédié' WHEN 'en transit' THEN 'en transit'
    WHEN 'en cours de livraison' THEN 'en cours de livraison'
    WHEN 'echec de livraison' THEN 'échec de livraison' WHEN 'livre' THEN 'livré'
    WHEN 'retourne' THEN 'retourné'
    ELSE lower(regexp_replace(val(statut_livraison), '\s+', ' ', 'g'))
  END AS statut_livraison,
  val(entrepot_depart) AS entrepot_depart,
  nullif(dept, '!') AS departement_destination,
  iso AS pays_destination,
  iso IS NULL AS pays_inconnu,
  CASE WHEN iso IS NULL AND trim(pays_destination) <> '' THEN trim(pays_destination) END AS pays_source,
  strftime(shipped, '%Y-%m') AS mois_expedition,
  poids AS poids_kg, longueur AS longueur_cm, largeur AS largeur_cm, hauteur AS hauteur_cm,
  frais AS frais_livraison_eur,
  ordered AS date_commande, shipped AS date_expedition, promised AS date_livraison_prevue,
  delivered AS date_livraison_reelle,
  delivered IS NULL AS en_cours,
  retard AS retard_jours,
  CASE WHEN NOT (coalesce(ordered > shipped, false) OR coalesce(delivered < shipped, false))
       THEN (c2.bd - c1.bd)::INTEGER END AS delai_livraison_jours_ouvres,
  coalesce(ordered > shipped, false) OR coalesce(delivered < shipped, false) AS ordre_dates_incoherent,
  signature AS signature_requise,
  least(attempts, 10) AS tentatives_livraison,
  attempts AS tentatives_livraison_origine,
  coalesce(attempts > 10, false) AS tentatives_suspectes,
  val(motif_echec_retour) AS motif_echec_retour,
  assure AS assurance,
  nullif(concat_ws(',',
    CASE WHEN dept = '!' THEN 'code_postal_dest' END,
    invalid(poids_kg, poids, 'poids_kg'), invalid(longueur_cm, longueur, 'longueur_cm'),
    invalid(largeur_cm, largeur, 'largeur_cm'), invalid(hauteur_cm, hauteur, 'hauteur_cm'),
    invalid(frais_livraison_eur, frais, 'frais_livraison_eur'),
    invalid(date_commande, ordered, 'date_commande'),
    invalid(date_livraison_prevue, promised, 'date_livraison_prevue'),
    invalid(date_livraison_reelle, delivered, 'date_livraison_reelle'),
    invalid(retard_jours, retard, 'retard_jours'),
    invalid(signature_requise, signature, 'signature_requise'),
    invalid(tentatives_livraison, attempts, 'tentatives_livraison'),
    invalid(assurance, assure, 'assurance')), '') AS champs_invalides,
  filename AS bronze_key,
  rn + 1 AS bronze_line
FROM typed t
LEFT JOIN calendar c1 ON c1.d = t.shipped
LEFT JOIN calendar c2 ON c2.d = t.delivered AND t.delivered IS NOT NULL;

COPY silver TO '{{out}}' (FORMAT parquet, PARTITION_BY (pays_destination, mois_expedition),
  COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 131072, WRITE_PARTITION_COLUMNS true);
