-- Quality history and load journal of the warehouse (SPEC §3.11 CHECK-4..7,
-- WH-3, §3.10 LOAD-*). `kvt check` writes one row per run in
-- quality_check_runs and one row per check in quality_check_results (the
-- catalogue is src/warehouse/checks.toml); `kvt load` writes one row per load
-- in load_runs. These tables are never truncated by `kvt load`: they are the
-- history Metabase reads (CHECK-5). `{schema}` is replaced by the configured
-- schema (default `kvt`). Idempotent.

CREATE TABLE IF NOT EXISTS {schema}.quality_check_runs (
    run_id         text NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    checks_run     integer,
    checks_passed  integer,
    checks_failed  integer,
    warnings       integer,
    pass_rate      double precision,
    threshold      double precision,
    status         text,
    kvt_version    text,
    CONSTRAINT pk_quality_check_runs PRIMARY KEY (run_id)
);

CREATE TABLE IF NOT EXISTS {schema}.quality_check_results (
    run_id        text NOT NULL,
    check_id      text NOT NULL,
    table_name    text,
    column_name   text,
    category      text,
    severity      text,
    failing_rows  bigint,
    passed        boolean,
    duration_ms   bigint,
    error         text,
    CONSTRAINT pk_quality_check_results PRIMARY KEY (run_id, check_id),
    CONSTRAINT fk_quality_check_results_run_id FOREIGN KEY (run_id) REFERENCES {schema}.quality_check_runs (run_id) ON DELETE CASCADE
);

-- The history of one check over time (Metabase: drift of a check, CHECK-5).
CREATE INDEX IF NOT EXISTS ix_quality_check_results_check_id ON {schema}.quality_check_results (check_id);

CREATE TABLE IF NOT EXISTS {schema}.load_runs (
    run_id        text NOT NULL,
    loaded_at     timestamptz,
    tables        integer,
    rows          bigint,
    nul_stripped  bigint,
    null_tokens   bigint,
    CONSTRAINT pk_load_runs PRIMARY KEY (run_id)
);

COMMENT ON TABLE {schema}.quality_check_runs IS 'Historique des exécutions des contrôles qualité (CHECK-4..6, WH-3) : une ligne par exécution de kvt check, chaque matin après le chargement. Permet de suivre le taux de réussite dans le temps et de repérer une dérive lente des sources (ex. 98 % → 92 % en quelques semaines).';
COMMENT ON COLUMN {schema}.quality_check_runs.run_id IS 'Clé primaire : identifiant de l''exécution de kvt check.';
COMMENT ON COLUMN {schema}.quality_check_runs.started_at IS 'Début de l''exécution.';
COMMENT ON COLUMN {schema}.quality_check_runs.finished_at IS 'Fin de l''exécution.';
COMMENT ON COLUMN {schema}.quality_check_runs.checks_run IS 'Nombre de contrôles exécutés.';
COMMENT ON COLUMN {schema}.quality_check_runs.checks_passed IS 'Nombre de contrôles réussis : 0 ligne en échec, ou contrôle de sévérité avertissement exécuté sans erreur (un avertissement ne fait jamais échouer, CHECK-7).';
COMMENT ON COLUMN {schema}.quality_check_runs.checks_failed IS 'Nombre de contrôles échoués : contrôle de sévérité erreur avec au moins une ligne en échec, ou requête en erreur = checks_run − checks_passed.';
COMMENT ON COLUMN {schema}.quality_check_runs.warnings IS 'Nombre d''avertissements : contrôles de sévérité avertissement ayant trouvé des lignes en écart (valeurs extrêmes légitimes et documentées, ex. LTV CRM négative après remboursements, CHECK-7) ; comptés comme réussis.';
COMMENT ON COLUMN {schema}.quality_check_runs.pass_rate IS 'Taux de réussite en fraction de 0 à 1 = checks_passed ÷ checks_run (CHECK-4) ; attendu au-dessus de 0,95 en production (CHECK-7).';
COMMENT ON COLUMN {schema}.quality_check_runs.threshold IS 'Seuil de réussite appliqué, en fraction de 0 à 1 (0,8 par défaut, CHECK-6) : en dessous, l''exécution échoue et la publication des tableaux de bord est bloquée ; exactement 0,8 passe.';
COMMENT ON COLUMN {schema}.quality_check_runs.status IS 'Verdict de l''exécution : ok (taux ≥ seuil) ou rejected (taux < seuil, publication bloquée, CHECK-6).';
COMMENT ON COLUMN {schema}.quality_check_runs.kvt_version IS 'Version de kvt qui a exécuté les contrôles.';

COMMENT ON TABLE {schema}.quality_check_results IS 'Résultat de chaque contrôle qualité à chaque exécution (CHECK-2, CHECK-3, CHECK-5) : une ligne par (exécution, contrôle). Le catalogue des contrôles est src/warehouse/checks.toml.';
COMMENT ON COLUMN {schema}.quality_check_results.run_id IS 'Exécution : clé de quality_check_runs ; partie de la clé primaire (run_id, check_id).';
COMMENT ON COLUMN {schema}.quality_check_results.check_id IS 'Identifiant stable du contrôle (ex. dim_client-pk-not-null) ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.quality_check_results.table_name IS 'Table contrôlée.';
COMMENT ON COLUMN {schema}.quality_check_results.column_name IS 'Colonne contrôlée ; vide pour un contrôle de table.';
COMMENT ON COLUMN {schema}.quality_check_results.category IS 'Catégorie CHECK-3 : completude (pas de valeur vide dans les clés et colonnes critiques), volume (au moins une ligne), plage (taux dans [0, 100], scores dans leurs bornes, montants non négatifs), coherence (agrégats recalculés depuis le schéma en étoile).';
COMMENT ON COLUMN {schema}.quality_check_results.severity IS 'Sévérité : erreur (anomalie de données) ou avertissement (valeurs extrêmes légitimes possibles, CHECK-7).';
COMMENT ON COLUMN {schema}.quality_check_results.failing_rows IS 'Nombre de lignes (ou de groupes) en échec renvoyé par le contrôle ; 0 = réussi. Vide si la requête a échoué.';
COMMENT ON COLUMN {schema}.quality_check_results.passed IS 'Vrai si le contrôle a réussi : requête sans erreur et failing_rows = 0, ou contrôle de sévérité avertissement (jamais bloquant).';
COMMENT ON COLUMN {schema}.quality_check_results.duration_ms IS 'Durée d''exécution de la requête en millisecondes.';
COMMENT ON COLUMN {schema}.quality_check_results.error IS 'Message d''erreur si la requête du contrôle a échoué (le contrôle compte alors comme échoué) ; vide sinon.';

COMMENT ON TABLE {schema}.load_runs IS 'Journal des chargements Gold → entrepôt (LOAD-1..8) : une ligne par exécution réussie de kvt load (rechargement complet de toutes les tables gold en une transaction).';
COMMENT ON COLUMN {schema}.load_runs.run_id IS 'Clé primaire : identifiant de l''exécution de kvt load.';
COMMENT ON COLUMN {schema}.load_runs.loaded_at IS 'Horodatage de la bascule des tables (fin du chargement, juste avant sa validation).';
COMMENT ON COLUMN {schema}.load_runs.tables IS 'Nombre de tables gold chargées.';
COMMENT ON COLUMN {schema}.load_runs.rows IS 'Nombre total de lignes chargées, toutes tables confondues.';
COMMENT ON COLUMN {schema}.load_runs.nul_stripped IS 'Nombre de valeurs texte dont les caractères nuls (\0, hérités des logs Nginx) ont été retirés avant chargement (LOAD-5).';
COMMENT ON COLUMN {schema}.load_runs.null_tokens IS 'Nombre de chaînes représentant une valeur absente (vide, NULL, N/A, None, -, sans tenir compte de la casse) converties en vrai NULL SQL avant chargement (LOAD-6, D-90).';
