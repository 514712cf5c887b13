-- kvt warehouse, migration 004: the monthly aggregate tables (and the
-- product rankings) join dim_date on an integer key, date_id (GOLD-PROD-1,
-- GOLD-KYC-1, GOLD-LOG-1, GOLD-COM-3; decision D-89). Idempotent.

ALTER TABLE {schema}.gold_product_funnel ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_product_funnel
        ADD CONSTRAINT fk_gold_product_funnel_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_product_funnel_date_id ON {schema}.gold_product_funnel (date_id);
COMMENT ON COLUMN {schema}.gold_product_funnel.date_id IS 'Clé de dim_date du premier jour du mois annee_mois (GOLD-PROD-1) ; vide hors calendrier (D-89).';

ALTER TABLE {schema}.gold_kyc_compliance ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_kyc_compliance
        ADD CONSTRAINT fk_gold_kyc_compliance_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_kyc_compliance_date_id ON {schema}.gold_kyc_compliance (date_id);
COMMENT ON COLUMN {schema}.gold_kyc_compliance.date_id IS 'Clé de dim_date du premier jour du mois annee_mois (GOLD-KYC-1) ; vide hors calendrier (D-89).';

ALTER TABLE {schema}.gold_kyc_motifs_refus ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_kyc_motifs_refus
        ADD CONSTRAINT fk_gold_kyc_motifs_refus_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_kyc_motifs_refus_date_id ON {schema}.gold_kyc_motifs_refus (date_id);
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.date_id IS 'Clé de dim_date du premier jour du mois annee_mois (GOLD-KYC-1) ; vide hors calendrier (D-89).';

ALTER TABLE {schema}.gold_logistics_kpi ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_logistics_kpi
        ADD CONSTRAINT fk_gold_logistics_kpi_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_logistics_kpi_date_id ON {schema}.gold_logistics_kpi (date_id);
COMMENT ON COLUMN {schema}.gold_logistics_kpi.date_id IS 'Clé de dim_date du premier jour du mois annee_mois (GOLD-LOG-1) ; vide hors calendrier (D-89).';

ALTER TABLE {schema}.gold_commercial_mensuel ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_commercial_mensuel
        ADD CONSTRAINT fk_gold_commercial_mensuel_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_commercial_mensuel_date_id ON {schema}.gold_commercial_mensuel (date_id);
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.date_id IS 'Clé de dim_date du premier jour du mois annee_mois (GOLD-COM-3) ; vide hors calendrier (D-89).';

ALTER TABLE {schema}.gold_classement_produits ADD COLUMN IF NOT EXISTS date_id integer;
DO $$ BEGIN
    ALTER TABLE {schema}.gold_classement_produits
        ADD CONSTRAINT fk_gold_classement_produits_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id);
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE INDEX IF NOT EXISTS ix_gold_classement_produits_date_id ON {schema}.gold_classement_produits (date_id);
COMMENT ON COLUMN {schema}.gold_classement_produits.date_id IS 'Clé de dim_date de date_fin (fin des fenêtres) (GOLD-COM-3) ; vide hors calendrier (D-89).';
