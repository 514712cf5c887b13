-- Star schema of the warehouse (SPEC §3.9.1 GOLD-STAR-1..6, WH-2): the 6
-- dimensions and the 7 facts written by `kvt gold`, loaded every morning by
-- `kvt load` (LOAD-4: full reload). `{schema}` is replaced by the configured
-- schema (default `kvt`).
--
-- Idempotent: every table and index is created only if missing, comments are
-- rewritten. Columns are in the order of the gold Parquet files. Primary keys
-- are `pk_<table>`, foreign keys `fk_<table>_<column>` (the star joins of
-- GOLD-STAR-3), indexes `ix_<table>_<column>` (every foreign key column of the
-- facts, for the star joins, and every `date_id`). `kvt load` drops the
-- foreign keys of the schema, truncates and refills the tables, then adds the
-- foreign keys back in the same transaction: they are checked on every load.

-- ---------------------------------------------------------------------------
-- Dimensions (GOLD-STAR-1)
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS {schema}.dim_date (
    date_id       integer NOT NULL,
    date          date,
    jour          integer,
    jour_semaine  integer,
    nom_jour      text,
    semaine_iso   integer,
    mois          integer,
    nom_mois      text,
    trimestre     integer,
    annee         integer,
    annee_mois    text,
    jour_ferie    boolean,
    jour_ouvre    boolean,
    CONSTRAINT pk_dim_date PRIMARY KEY (date_id)
);

CREATE TABLE IF NOT EXISTS {schema}.dim_pays (
    pays_id    integer NOT NULL,
    code_iso   text,
    nom        text,
    zone       text,
    membre_ue  boolean,
    CONSTRAINT pk_dim_pays PRIMARY KEY (pays_id)
);

CREATE TABLE IF NOT EXISTS {schema}.dim_canal (
    canal_id        bigint NOT NULL,
    nom             text,
    type_canal      text,
    nb_clients_crm  bigint,
    CONSTRAINT pk_dim_canal PRIMARY KEY (canal_id)
);

CREATE TABLE IF NOT EXISTS {schema}.dim_client (
    client_id           bigint NOT NULL,
    customer_id         text,
    dans_crm            boolean,
    civilite            text,
    tranche_age         text,
    departement         text,
    code_pays           text,
    pays_id             integer,
    canal_id            bigint,
    statut              text,
    segment_client      text,
    categorie_preferee  text,
    statut_kyc          text,
    newsletter_optin    boolean,
    date_creation       date,
    segment_rfm         text,
    risque_churn        boolean,
    CONSTRAINT pk_dim_client PRIMARY KEY (client_id),
    CONSTRAINT fk_dim_client_pays_id FOREIGN KEY (pays_id) REFERENCES {schema}.dim_pays (pays_id),
    CONSTRAINT fk_dim_client_canal_id FOREIGN KEY (canal_id) REFERENCES {schema}.dim_canal (canal_id)
);

CREATE TABLE IF NOT EXISTS {schema}.dim_produit (
    produit_id          bigint NOT NULL,
    code_produit        text,
    categorie           text,
    prix_reference_eur  double precision,
    premiere_vente      date,
    CONSTRAINT pk_dim_produit PRIMARY KEY (produit_id)
);

CREATE TABLE IF NOT EXISTS {schema}.dim_transporteur (
    transporteur_id    bigint NOT NULL,
    nom                text,
    type_service       text,
    zone_couverture    text,
    nb_pays_desservis  integer,
    nb_colis           bigint,
    CONSTRAINT pk_dim_transporteur PRIMARY KEY (transporteur_id)
);

-- ---------------------------------------------------------------------------
-- Facts (GOLD-STAR-2, joins of GOLD-STAR-3)
-- ---------------------------------------------------------------------------

CREATE TABLE IF NOT EXISTS {schema}.fact_commande (
    commande_id          bigint NOT NULL,
    order_id             text,
    client_id            bigint,
    date_id              integer,
    date_commande        timestamptz,
    pays_id              integer,
    canal_id             bigint,
    canal_commande       text,
    montant_total_eur    double precision,
    sous_total_eur       double precision,
    remise_eur           double precision,
    frais_livraison_eur  double precision,
    nb_articles          integer,
    avec_coupon          boolean,
    code_coupon          text,
    mode_livraison       text,
    statut               text,
    annulee              boolean,
    CONSTRAINT pk_fact_commande PRIMARY KEY (commande_id),
    CONSTRAINT fk_fact_commande_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id),
    CONSTRAINT fk_fact_commande_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id),
    CONSTRAINT fk_fact_commande_pays_id FOREIGN KEY (pays_id) REFERENCES {schema}.dim_pays (pays_id),
    CONSTRAINT fk_fact_commande_canal_id FOREIGN KEY (canal_id) REFERENCES {schema}.dim_canal (canal_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_commande_produit (
    commande_id        bigint NOT NULL,
    ligne              integer NOT NULL,
    produit_id         bigint,
    date_id            integer,
    quantite           integer,
    prix_unitaire_eur  double precision,
    montant_ligne_eur  double precision,
    CONSTRAINT pk_fact_commande_produit PRIMARY KEY (commande_id, ligne),
    CONSTRAINT fk_fact_commande_produit_commande_id FOREIGN KEY (commande_id) REFERENCES {schema}.fact_commande (commande_id),
    CONSTRAINT fk_fact_commande_produit_produit_id FOREIGN KEY (produit_id) REFERENCES {schema}.dim_produit (produit_id),
    CONSTRAINT fk_fact_commande_produit_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_paiement (
    paiement_id       bigint NOT NULL,
    payment_id        text,
    commande_id       bigint,
    order_id          text,
    client_id         bigint,
    date_id           integer,
    date_paiement     timestamptz,
    montant           double precision,
    devise            text,
    montant_eur       double precision,
    statut            text,
    methode           text,
    psp               text,
    score_risque      integer,
    fraude_signalee   boolean,
    pays_facturation  text,
    pays_ip           text,
    CONSTRAINT pk_fact_paiement PRIMARY KEY (paiement_id),
    CONSTRAINT fk_fact_paiement_commande_id FOREIGN KEY (commande_id) REFERENCES {schema}.fact_commande (commande_id),
    CONSTRAINT fk_fact_paiement_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id),
    CONSTRAINT fk_fact_paiement_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_livraison (
    livraison_id           bigint NOT NULL,
    code_livraison         text,
    commande_id            bigint,
    order_id               text,
    client_id              bigint,
    transporteur_id        bigint,
    date_id                integer,
    date_expedition        date,
    date_livraison_prevue  date,
    date_livraison_reelle  date,
    pays_id                integer,
    statut                 text,
    livree                 boolean,
    a_l_heure              boolean,
    retournee              boolean,
    en_cours               boolean,
    delai_jours_ouvres     integer,
    retard_jours           integer,
    frais_livraison_eur    double precision,
    tentatives             integer,
    motif_echec_retour     text,
    CONSTRAINT pk_fact_livraison PRIMARY KEY (livraison_id),
    CONSTRAINT fk_fact_livraison_commande_id FOREIGN KEY (commande_id) REFERENCES {schema}.fact_commande (commande_id),
    CONSTRAINT fk_fact_livraison_transporteur_id FOREIGN KEY (transporteur_id) REFERENCES {schema}.dim_transporteur (transporteur_id),
    CONSTRAINT fk_fact_livraison_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id),
    CONSTRAINT fk_fact_livraison_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id),
    CONSTRAINT fk_fact_livraison_pays_id FOREIGN KEY (pays_id) REFERENCES {schema}.dim_pays (pays_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_evenement_web (
    evenement_id        bigint NOT NULL,
    date_id             integer,
    pays_id             integer,
    endpoint            text,
    famille_statut      text,
    nb_requetes         bigint,
    nb_erreurs          bigint,
    latence_moyenne_ms  double precision,
    nb_bots             bigint,
    CONSTRAINT pk_fact_evenement_web PRIMARY KEY (evenement_id),
    CONSTRAINT fk_fact_evenement_web_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id),
    CONSTRAINT fk_fact_evenement_web_pays_id FOREIGN KEY (pays_id) REFERENCES {schema}.dim_pays (pays_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_evenement_mobile (
    evenement_id     bigint NOT NULL,
    code_evenement   text,
    date_id          integer,
    horodatage       timestamptz,
    pays_id          integer,
    client_id        bigint,
    produit_id       bigint,
    type_evenement   text,
    plateforme       text,
    session_id       text,
    duree_session_s  double precision,
    valeur_eur       double precision,
    quantite         bigint,
    CONSTRAINT pk_fact_evenement_mobile PRIMARY KEY (evenement_id),
    CONSTRAINT fk_fact_evenement_mobile_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id),
    CONSTRAINT fk_fact_evenement_mobile_pays_id FOREIGN KEY (pays_id) REFERENCES {schema}.dim_pays (pays_id),
    CONSTRAINT fk_fact_evenement_mobile_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id),
    CONSTRAINT fk_fact_evenement_mobile_produit_id FOREIGN KEY (produit_id) REFERENCES {schema}.dim_produit (produit_id)
);

CREATE TABLE IF NOT EXISTS {schema}.fact_kyc (
    kyc_id                         bigint NOT NULL,
    kyc_ref                        text,
    client_id                      bigint,
    date_id                        integer,
    date_soumission                date,
    mois_soumission                text,
    type_document                  text,
    statut                         text,
    motif_refus                    text,
    delai_traitement_jours_ouvres  integer,
    delai_decision_jours_ouvres    integer,
    sla_depasse                    boolean,
    decision_tardive               boolean,
    document_valide                boolean,
    source                         text,
    CONSTRAINT pk_fact_kyc PRIMARY KEY (kyc_id),
    CONSTRAINT fk_fact_kyc_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id),
    CONSTRAINT fk_fact_kyc_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id)
);

-- ---------------------------------------------------------------------------
-- Indexes: every foreign key column of the facts (star joins) and every
-- date_id. fact_commande_produit.commande_id is the first column of its
-- primary key, which already serves as its index.
-- ---------------------------------------------------------------------------

CREATE INDEX IF NOT EXISTS ix_fact_commande_client_id ON {schema}.fact_commande (client_id);
CREATE INDEX IF NOT EXISTS ix_fact_commande_date_id ON {schema}.fact_commande (date_id);
CREATE INDEX IF NOT EXISTS ix_fact_commande_pays_id ON {schema}.fact_commande (pays_id);
CREATE INDEX IF NOT EXISTS ix_fact_commande_canal_id ON {schema}.fact_commande (canal_id);

CREATE INDEX IF NOT EXISTS ix_fact_commande_produit_produit_id ON {schema}.fact_commande_produit (produit_id);
CREATE INDEX IF NOT EXISTS ix_fact_commande_produit_date_id ON {schema}.fact_commande_produit (date_id);

CREATE INDEX IF NOT EXISTS ix_fact_paiement_commande_id ON {schema}.fact_paiement (commande_id);
CREATE INDEX IF NOT EXISTS ix_fact_paiement_client_id ON {schema}.fact_paiement (client_id);
CREATE INDEX IF NOT EXISTS ix_fact_paiement_date_id ON {schema}.fact_paiement (date_id);

CREATE INDEX IF NOT EXISTS ix_fact_livraison_commande_id ON {schema}.fact_livraison (commande_id);
CREATE INDEX IF NOT EXISTS ix_fact_livraison_transporteur_id ON {schema}.fact_livraison (transporteur_id);
CREATE INDEX IF NOT EXISTS ix_fact_livraison_client_id ON {schema}.fact_livraison (client_id);
CREATE INDEX IF NOT EXISTS ix_fact_livraison_date_id ON {schema}.fact_livraison (date_id);
CREATE INDEX IF NOT EXISTS ix_fact_livraison_pays_id ON {schema}.fact_livraison (pays_id);

CREATE INDEX IF NOT EXISTS ix_fact_evenement_web_date_id ON {schema}.fact_evenement_web (date_id);
CREATE INDEX IF NOT EXISTS ix_fact_evenement_web_pays_id ON {schema}.fact_evenement_web (pays_id);

CREATE INDEX IF NOT EXISTS ix_fact_evenement_mobile_date_id ON {schema}.fact_evenement_mobile (date_id);
CREATE INDEX IF NOT EXISTS ix_fact_evenement_mobile_pays_id ON {schema}.fact_evenement_mobile (pays_id);
CREATE INDEX IF NOT EXISTS ix_fact_evenement_mobile_client_id ON {schema}.fact_evenement_mobile (client_id);
CREATE INDEX IF NOT EXISTS ix_fact_evenement_mobile_produit_id ON {schema}.fact_evenement_mobile (produit_id);

CREATE INDEX IF NOT EXISTS ix_fact_kyc_client_id ON {schema}.fact_kyc (client_id);
CREATE INDEX IF NOT EXISTS ix_fact_kyc_date_id ON {schema}.fact_kyc (date_id);

-- ---------------------------------------------------------------------------
-- Comments (shown by Metabase). Surrogate keys (GOLD-STAR-4, D-80): the
-- first 8 bytes of SHA-256(<dimension> NUL <natural key>) as a positive
-- 63-bit integer, stable across daily full reloads.
-- ---------------------------------------------------------------------------

COMMENT ON TABLE {schema}.dim_date IS 'Dimension calendrier (GOLD-STAR-1) : une ligne par jour, du 2000-01-01 au 31 décembre de l''année qui suit la date de calcul de kvt gold (--as-of) ; un fait daté hors de cette période a un date_id nul. Générée par kvt, jours ouvrés selon le contrat C7.';
COMMENT ON COLUMN {schema}.dim_date.date_id IS 'Clé primaire : la date au format entier AAAAMMJJ (ex. 20260317). Clé de jointure de toutes les colonnes date_id des faits et agrégats.';
COMMENT ON COLUMN {schema}.dim_date.date IS 'Date calendaire du jour.';
COMMENT ON COLUMN {schema}.dim_date.jour IS 'Jour du mois (1 à 31).';
COMMENT ON COLUMN {schema}.dim_date.jour_semaine IS 'Jour de la semaine ISO : 1 = lundi … 7 = dimanche.';
COMMENT ON COLUMN {schema}.dim_date.nom_jour IS 'Nom du jour en français, en minuscules (lundi … dimanche).';
COMMENT ON COLUMN {schema}.dim_date.semaine_iso IS 'Numéro de semaine ISO 8601 (1 à 53) ; attention, les premiers jours de janvier peuvent appartenir à la semaine 52 ou 53 de l''année précédente.';
COMMENT ON COLUMN {schema}.dim_date.mois IS 'Mois (1 à 12).';
COMMENT ON COLUMN {schema}.dim_date.nom_mois IS 'Nom du mois en français, en minuscules (janvier … décembre).';
COMMENT ON COLUMN {schema}.dim_date.trimestre IS 'Trimestre civil (1 à 4).';
COMMENT ON COLUMN {schema}.dim_date.annee IS 'Année civile.';
COMMENT ON COLUMN {schema}.dim_date.annee_mois IS 'Mois au format texte AAAA-MM (ex. 2026-03) : clé de regroupement des tables mensuelles gold_*.';
COMMENT ON COLUMN {schema}.dim_date.jour_ferie IS 'Vrai pour un jour férié français (lundi de Pâques, Ascension et lundi de Pentecôte compris, contrat C7).';
COMMENT ON COLUMN {schema}.dim_date.jour_ouvre IS 'Vrai pour un jour ouvré : du lundi au vendredi, hors jours fériés français (contrat C7). Base de tous les délais en jours ouvrés.';

COMMENT ON TABLE {schema}.dim_pays IS 'Dimension pays (GOLD-STAR-1) : les 249 pays et territoires ISO 3166-1 (référentiel 2025 livré avec kvt, contrat C8), avec nom français, zone géographique et appartenance à l''UE.';
COMMENT ON COLUMN {schema}.dim_pays.pays_id IS 'Clé primaire : code numérique ISO 3166-1 du pays (ex. 250 = France), stable dans le temps.';
COMMENT ON COLUMN {schema}.dim_pays.code_iso IS 'Code ISO 3166-1 alpha-2 (ex. FR, BE).';
COMMENT ON COLUMN {schema}.dim_pays.nom IS 'Nom court usuel du pays en français.';
COMMENT ON COLUMN {schema}.dim_pays.zone IS 'Zone géographique (géoschéma ONU M49 avec conventions kvt) : Europe, Afrique, Asie, Moyen-Orient, Amérique du Nord, Amérique centrale et Caraïbes, Amérique du Sud, Océanie, Antarctique. Les territoires d''outre-mer prennent la zone où ils se trouvent.';
COMMENT ON COLUMN {schema}.dim_pays.membre_ue IS 'Vrai pour les 27 États membres de l''Union européenne (2025).';

COMMENT ON TABLE {schema}.dim_canal IS 'Dimension canal d''acquisition des clients (GOLD-STAR-1) : les valeurs de canal_acquisition du CRM (contrat C8) et leur type organique / payant / référent.';
COMMENT ON COLUMN {schema}.dim_canal.canal_id IS 'Clé primaire : clé de substitution entière du nom du canal (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.dim_canal.nom IS 'Libellé du canal d''acquisition tel qu''il figure dans le CRM (ex. Site web, Google Ads, Parrainage).';
COMMENT ON COLUMN {schema}.dim_canal.type_canal IS 'Type de canal déduit du nom (D-83) : payant (ads, publicité, sponsor, payant, salon, affiliation), référent (parrain, partenaire, référ…, bouche-à-oreille), sinon organique.';
COMMENT ON COLUMN {schema}.dim_canal.nb_clients_crm IS 'Nombre de clients du CRM acquis par ce canal.';

COMMENT ON TABLE {schema}.dim_client IS 'Dimension client pseudonymisée (GOLD-STAR-1, GOLD-STAR-5) : une ligne par client connu du CRM ou cité par un fait (commande, paiement, livraison, KYC, utilisateur connecté de l''application). Aucune donnée personnelle directe : identifiants pseudonymisés, âge en tranche.';
COMMENT ON COLUMN {schema}.dim_client.client_id IS 'Clé primaire : clé de substitution entière de l''identifiant client pseudonymisé (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.dim_client.customer_id IS 'Identifiant client pseudonymisé (HMAC, contrat C6), commun à toutes les sources ; jamais l''identifiant en clair.';
COMMENT ON COLUMN {schema}.dim_client.dans_crm IS 'Vrai si le client figure dans l''export CRM ; faux s''il n''est connu que par des faits (commandes, paiements, etc.).';
COMMENT ON COLUMN {schema}.dim_client.civilite IS 'Civilité normalisée du CRM (M., Mme, Mlle ; autres valeurs telles quelles). Vide hors CRM.';
COMMENT ON COLUMN {schema}.dim_client.tranche_age IS 'Tranche d''âge calculée depuis la date de naissance du CRM (moins de 18, 18-24, 25-34, 35-49, 50-64, 65 et plus) ; la date de naissance n''est jamais chargée.';
COMMENT ON COLUMN {schema}.dim_client.departement IS 'Département français déduit du code postal (ex. 75, 20 pour la Corse, 974), seulement pour un client résidant en France.';
COMMENT ON COLUMN {schema}.dim_client.code_pays IS 'Pays de résidence du CRM, code ISO 3166-1 alpha-2 ; vide si inconnu.';
COMMENT ON COLUMN {schema}.dim_client.pays_id IS 'Pays de résidence : clé de dim_pays (code numérique ISO) ; vide si inconnu.';
COMMENT ON COLUMN {schema}.dim_client.canal_id IS 'Canal d''acquisition du CRM : clé de dim_canal ; vide hors CRM ou sans canal.';
COMMENT ON COLUMN {schema}.dim_client.statut IS 'Statut du client dans le CRM (STATUT, tel que saisi).';
COMMENT ON COLUMN {schema}.dim_client.segment_client IS 'Segment client du CRM (SEGMENT CLIENT), distinct du segment RFM calculé.';
COMMENT ON COLUMN {schema}.dim_client.categorie_preferee IS 'Catégorie de produits préférée selon le CRM.';
COMMENT ON COLUMN {schema}.dim_client.statut_kyc IS 'Statut KYC selon le CRM : validé (KYC validé), à valider (KYC requis, non validé), non requis, inconnu (champs vides).';
COMMENT ON COLUMN {schema}.dim_client.newsletter_optin IS 'Consentement à la newsletter selon le CRM (vrai = inscrit).';
COMMENT ON COLUMN {schema}.dim_client.date_creation IS 'Date de création de la fiche dans le CRM.';
COMMENT ON COLUMN {schema}.dim_client.segment_rfm IS 'Segment RFM calculé dans gold_customer_360 (Champions, Clients fidèles, Nouveaux clients, Prometteurs, À risque, Hibernants, À surveiller, Prospects) ; GOLD-C360-3.';
COMMENT ON COLUMN {schema}.dim_client.risque_churn IS 'Risque de churn (GOLD-C360-5) : vrai si aucune commande non annulée dans les 90 jours précédant la date de calcul, ou aucune commande du tout.';

COMMENT ON TABLE {schema}.dim_produit IS 'Dimension produit (GOLD-STAR-1) : chaque produit vendu (lignes de commande) ou présent dans un événement Firebase (view_item, add_to_cart, remove_from_cart…) ; prix de référence = médiane des prix vus (view_item), contrat C8.';
COMMENT ON COLUMN {schema}.dim_produit.produit_id IS 'Clé primaire : clé de substitution entière du code produit (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.dim_produit.code_produit IS 'Code produit naturel (ex. PRD-00042).';
COMMENT ON COLUMN {schema}.dim_produit.categorie IS 'Catégorie la plus souvent indiquée sur les lignes de commande du produit (égalité : ordre alphabétique) ; vide pour un produit jamais vendu.';
COMMENT ON COLUMN {schema}.dim_produit.prix_reference_eur IS 'Prix de référence en € : médiane des prix unitaires de ses lignes de commande, à défaut médiane du prix affiché dans l''application.';
COMMENT ON COLUMN {schema}.dim_produit.premiere_vente IS 'Date (UTC) de la première ligne de commande du produit ; vide s''il n''a jamais été vendu.';

COMMENT ON TABLE {schema}.dim_transporteur IS 'Dimension transporteur (GOLD-STAR-1) : les transporteurs cités par les fichiers logistiques (contrat C8), avec type de service et zone de couverture.';
COMMENT ON COLUMN {schema}.dim_transporteur.transporteur_id IS 'Clé primaire : clé de substitution entière du nom du transporteur (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.dim_transporteur.nom IS 'Nom du transporteur tel qu''il figure dans les fichiers logistiques (ex. Colissimo, DHL).';
COMMENT ON COLUMN {schema}.dim_transporteur.type_service IS 'Mode de livraison le plus commandé pour les colis qu''il a transportés (standard, express, relay ; égalité : ordre alphabétique).';
COMMENT ON COLUMN {schema}.dim_transporteur.zone_couverture IS 'Zone de couverture : France s''il ne livre qu''en France, UE s''il ne livre que dans des pays de l''UE, International sinon.';
COMMENT ON COLUMN {schema}.dim_transporteur.nb_pays_desservis IS 'Nombre de pays de destination distincts observés dans ses colis.';
COMMENT ON COLUMN {schema}.dim_transporteur.nb_colis IS 'Nombre de colis (livraisons) qu''il a transportés dans l''historique chargé.';

COMMENT ON TABLE {schema}.fact_commande IS 'Fait commande (GOLD-STAR-2) : une ligne par commande, issue de son événement created (le premier en cas de redistribution) ; le statut est celui du dernier événement. Montants en € (contrat C1).';
COMMENT ON COLUMN {schema}.fact_commande.commande_id IS 'Clé primaire : clé de substitution entière du numéro de commande (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.fact_commande.order_id IS 'Numéro de commande naturel (ex. ORD-260317-000937).';
COMMENT ON COLUMN {schema}.fact_commande.client_id IS 'Client : clé de dim_client.';
COMMENT ON COLUMN {schema}.fact_commande.date_id IS 'Jour de la commande (date UTC de date_commande) : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_commande.date_commande IS 'Horodatage de la commande (événement created, heure de l''événement Kafka).';
COMMENT ON COLUMN {schema}.fact_commande.pays_id IS 'Pays de livraison : clé de dim_pays ; vide si le code pays est inconnu.';
COMMENT ON COLUMN {schema}.fact_commande.canal_id IS 'Canal d''acquisition du client selon le CRM : clé de dim_canal (GOLD-STAR-3) ; vide si le client n''est pas dans le CRM. Le canal de passage de la commande est canal_commande.';
COMMENT ON COLUMN {schema}.fact_commande.canal_commande IS 'Canal sur lequel la commande a été passée : web, ios ou android.';
COMMENT ON COLUMN {schema}.fact_commande.montant_total_eur IS 'Montant total de la commande en €, tel qu''envoyé par le service commandes (normalement sous-total − remise + frais de livraison).';
COMMENT ON COLUMN {schema}.fact_commande.sous_total_eur IS 'Sous-total des articles en €, avant remise et frais de livraison.';
COMMENT ON COLUMN {schema}.fact_commande.remise_eur IS 'Remise accordée en € (coupon ou promotion).';
COMMENT ON COLUMN {schema}.fact_commande.frais_livraison_eur IS 'Frais de livraison facturés au client en €.';
COMMENT ON COLUMN {schema}.fact_commande.nb_articles IS 'Nombre d''articles de la commande (items_count envoyé par le service commandes).';
COMMENT ON COLUMN {schema}.fact_commande.avec_coupon IS 'Vrai si un code coupon a été utilisé.';
COMMENT ON COLUMN {schema}.fact_commande.code_coupon IS 'Code coupon utilisé ; vide sans coupon.';
COMMENT ON COLUMN {schema}.fact_commande.mode_livraison IS 'Mode de livraison choisi : standard, express ou relay.';
COMMENT ON COLUMN {schema}.fact_commande.statut IS 'Type du dernier événement de la commande par heure d''événement : created, shipped, delivered ou cancelled.';
COMMENT ON COLUMN {schema}.fact_commande.annulee IS 'Vrai si le statut est cancelled ; les commandes annulées sont exclues de tous les chiffres d''affaires gold.';

COMMENT ON TABLE {schema}.fact_commande_produit IS 'Fait ligne de commande (pont de GOLD-STAR-2, OQ-39) : une ligne par ligne de commande des commandes de fact_commande, avec produit, quantité, prix unitaire et montant en €.';
COMMENT ON COLUMN {schema}.fact_commande_produit.commande_id IS 'Commande : clé de fact_commande ; première partie de la clé primaire (commande_id, ligne).';
COMMENT ON COLUMN {schema}.fact_commande_produit.ligne IS 'Numéro de la ligne dans la commande, à partir de 1 ; seconde partie de la clé primaire.';
COMMENT ON COLUMN {schema}.fact_commande_produit.produit_id IS 'Produit : clé de dim_produit ; vide si la ligne n''a pas de code produit.';
COMMENT ON COLUMN {schema}.fact_commande_produit.date_id IS 'Jour (UTC) de l''événement created qui porte la ligne : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_commande_produit.quantite IS 'Quantité commandée.';
COMMENT ON COLUMN {schema}.fact_commande_produit.prix_unitaire_eur IS 'Prix unitaire en €.';
COMMENT ON COLUMN {schema}.fact_commande_produit.montant_ligne_eur IS 'Montant de la ligne en € = quantité × prix unitaire, arrondi au centime.';

COMMENT ON TABLE {schema}.fact_paiement IS 'Fait paiement (GOLD-STAR-2) : une ligne par tentative de paiement (dernier état connu du payment_id) ; une commande peut avoir plusieurs tentatives.';
COMMENT ON COLUMN {schema}.fact_paiement.paiement_id IS 'Clé primaire : clé de substitution entière de l''identifiant de paiement (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.fact_paiement.payment_id IS 'Identifiant naturel de la tentative de paiement.';
COMMENT ON COLUMN {schema}.fact_paiement.commande_id IS 'Commande : clé de fact_commande, vide si la commande n''est pas (encore) dans fact_commande ; le numéro naturel reste dans order_id.';
COMMENT ON COLUMN {schema}.fact_paiement.order_id IS 'Numéro de commande naturel envoyé par le service de paiement.';
COMMENT ON COLUMN {schema}.fact_paiement.client_id IS 'Client : clé de dim_client.';
COMMENT ON COLUMN {schema}.fact_paiement.date_id IS 'Jour (UTC) du paiement : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_paiement.date_paiement IS 'Horodatage du paiement (heure du message Kafka).';
COMMENT ON COLUMN {schema}.fact_paiement.montant IS 'Montant dans la devise du paiement (colonne devise).';
COMMENT ON COLUMN {schema}.fact_paiement.devise IS 'Devise du paiement, code ISO 4217 en majuscules (ex. EUR).';
COMMENT ON COLUMN {schema}.fact_paiement.montant_eur IS 'Montant en € : amount_eur envoyé par le service, à défaut le montant lui-même pour un paiement en EUR (contrat C1) ; vide sinon.';
COMMENT ON COLUMN {schema}.fact_paiement.statut IS 'Statut de la tentative (ex. succeeded, declined, error, pending).';
COMMENT ON COLUMN {schema}.fact_paiement.methode IS 'Moyen de paiement (ex. card, paypal, apple_pay, google_pay).';
COMMENT ON COLUMN {schema}.fact_paiement.psp IS 'Prestataire de paiement (PSP : ex. adyen, stripe, payplug).';
COMMENT ON COLUMN {schema}.fact_paiement.score_risque IS 'Score de risque fraude attribué par le service de paiement (0 à 100 ; au-delà de 70 : critère de fraude FRAUD-PAY-1).';
COMMENT ON COLUMN {schema}.fact_paiement.fraude_signalee IS 'Indicateur de fraude positionné par le service de paiement.';
COMMENT ON COLUMN {schema}.fact_paiement.pays_facturation IS 'Pays de facturation, code ISO alpha-2.';
COMMENT ON COLUMN {schema}.fact_paiement.pays_ip IS 'Pays de l''adresse IP du payeur, code ISO alpha-2.';

COMMENT ON TABLE {schema}.fact_livraison IS 'Fait livraison (GOLD-STAR-2) : une ligne par livraison (colis) des fichiers logistiques, définitions D-85 ; délais en jours ouvrés français.';
COMMENT ON COLUMN {schema}.fact_livraison.livraison_id IS 'Clé primaire : clé de substitution entière du code de livraison (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.fact_livraison.code_livraison IS 'Identifiant naturel de la livraison dans les fichiers logistiques.';
COMMENT ON COLUMN {schema}.fact_livraison.commande_id IS 'Commande : clé de fact_commande ; vide si la commande n''est pas dans fact_commande (le numéro naturel reste dans order_id).';
COMMENT ON COLUMN {schema}.fact_livraison.order_id IS 'Numéro de commande naturel indiqué par le fichier logistique.';
COMMENT ON COLUMN {schema}.fact_livraison.client_id IS 'Client destinataire : clé de dim_client.';
COMMENT ON COLUMN {schema}.fact_livraison.transporteur_id IS 'Transporteur : clé de dim_transporteur.';
COMMENT ON COLUMN {schema}.fact_livraison.date_id IS 'Jour d''expédition : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_livraison.date_expedition IS 'Date d''expédition du colis.';
COMMENT ON COLUMN {schema}.fact_livraison.date_livraison_prevue IS 'Date de livraison promise au client.';
COMMENT ON COLUMN {schema}.fact_livraison.date_livraison_reelle IS 'Date de livraison effective ; vide tant que le colis n''est pas livré (SILVER-LOG-5).';
COMMENT ON COLUMN {schema}.fact_livraison.pays_id IS 'Pays de destination : clé de dim_pays ; vide si inconnu.';
COMMENT ON COLUMN {schema}.fact_livraison.statut IS 'Statut de livraison normalisé : expédié, en transit, en cours de livraison, échec de livraison, livré, retourné.';
COMMENT ON COLUMN {schema}.fact_livraison.livree IS 'Vrai si une date de livraison effective est connue.';
COMMENT ON COLUMN {schema}.fact_livraison.a_l_heure IS 'Vrai si livré au plus tard à la date promise (date_livraison_reelle ≤ date_livraison_prevue) ; vide tant que non livré.';
COMMENT ON COLUMN {schema}.fact_livraison.retournee IS 'Vrai si le statut contient « retour » (colis retourné).';
COMMENT ON COLUMN {schema}.fact_livraison.en_cours IS 'Vrai sans date de livraison effective lisible : en transit, en échec ou retourné (SILVER-LOG-5) ; exclu des mesures de délai.';
COMMENT ON COLUMN {schema}.fact_livraison.delai_jours_ouvres IS 'Délai de livraison en jours ouvrés français : nombre de jours ouvrés d tels que date_expedition < d ≤ date_livraison_reelle (contrat C7) ; vide si non livré ou dates incohérentes.';
COMMENT ON COLUMN {schema}.fact_livraison.retard_jours IS 'Jours de retard tels que déclarés par le transporteur (jours calendaires).';
COMMENT ON COLUMN {schema}.fact_livraison.frais_livraison_eur IS 'Coût de la livraison du colis en €.';
COMMENT ON COLUMN {schema}.fact_livraison.tentatives IS 'Nombre de tentatives de livraison, plafonné à 10 (SILVER-LOG-2).';
COMMENT ON COLUMN {schema}.fact_livraison.motif_echec_retour IS 'Motif d''échec ou de retour indiqué par le transporteur.';

COMMENT ON TABLE {schema}.fact_evenement_web IS 'Fait trafic web (GOLD-STAR-2, OQ-19, D-86) : requêtes HTTP des logs Nginx agrégées par jour, endpoint et famille de statut HTTP.';
COMMENT ON COLUMN {schema}.fact_evenement_web.evenement_id IS 'Clé primaire : clé de substitution entière de (jour, endpoint, famille de statut), stable d''un rechargement à l''autre.';
COMMENT ON COLUMN {schema}.fact_evenement_web.date_id IS 'Jour des requêtes (date du log) : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_evenement_web.pays_id IS 'Pays : toujours vide, les logs web ne portent pas de pays (adresses IP tronquées) ; colonne prévue pour la jointure dim_pays de GOLD-STAR-3.';
COMMENT ON COLUMN {schema}.fact_evenement_web.endpoint IS 'Endpoint : méthode HTTP et chemin dont les identifiants sont remplacés par {id} (ex. GET /produit/{id}) ; (requête invalide) pour une ligne sans chemin lisible.';
COMMENT ON COLUMN {schema}.fact_evenement_web.famille_statut IS 'Famille de statut HTTP : 1xx, 2xx, 3xx, 4xx ou 5xx.';
COMMENT ON COLUMN {schema}.fact_evenement_web.nb_requetes IS 'Nombre de requêtes du jour pour cet endpoint et cette famille de statut (robots inclus).';
COMMENT ON COLUMN {schema}.fact_evenement_web.nb_erreurs IS 'Nombre de requêtes en erreur (statut HTTP 4xx ou 5xx).';
COMMENT ON COLUMN {schema}.fact_evenement_web.latence_moyenne_ms IS 'Temps de réponse moyen en millisecondes (response_time_ms).';
COMMENT ON COLUMN {schema}.fact_evenement_web.nb_bots IS 'Nombre de requêtes émises par des robots (user agent reconnu, contrat C4).';

COMMENT ON TABLE {schema}.fact_evenement_mobile IS 'Fait événement mobile (GOLD-STAR-2) : une ligne par événement Firebase de l''application. Les visiteurs anonymes sont comptés mais jamais reliés à un client (GOLD-STAR-6).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.evenement_id IS 'Clé primaire : clé de substitution entière de (jour, identifiant d''événement Firebase), stable d''un rechargement à l''autre.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.code_evenement IS 'Identifiant d''événement Firebase (event_id) tel qu''envoyé.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.date_id IS 'Jour (UTC) de l''événement : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.horodatage IS 'Horodatage de l''événement (UTC).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.pays_id IS 'Pays de l''appareil : clé de dim_pays ; vide si inconnu.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.client_id IS 'Client connecté : clé de dim_client ; vide pour un visiteur anonyme (GOLD-STAR-6).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.produit_id IS 'Produit concerné : clé de dim_produit, renseignée pour view_item, add_to_cart et remove_from_cart.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.type_evenement IS 'Nom de l''événement Firebase (ex. app_open, screen_view, view_item, add_to_cart, begin_checkout, purchase).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.plateforme IS 'Plateforme de l''appareil : ios ou android.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.session_id IS 'Identifiant de session pseudonymisé (contrat C6).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.duree_session_s IS 'Durée de la session de l''événement en secondes = dernier − premier horodatage des événements de la session.';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.valeur_eur IS 'Valeur en € : montant de l''achat (purchase), à défaut prix affiché du produit (view_item, add_to_cart).';
COMMENT ON COLUMN {schema}.fact_evenement_mobile.quantite IS 'Quantité ajoutée ou retirée du panier (add_to_cart, remove_from_cart).';

COMMENT ON TABLE {schema}.fact_kyc IS 'Fait KYC (GOLD-STAR-2) : une ligne par dossier de vérification d''identité. Seul le type de document est conservé (SILVER-KYC-10). Délais en jours ouvrés français.';
COMMENT ON COLUMN {schema}.fact_kyc.kyc_id IS 'Clé primaire : clé de substitution entière de la référence du dossier (GOLD-STAR-4 : 63 bits de SHA-256, stable d''un rechargement à l''autre).';
COMMENT ON COLUMN {schema}.fact_kyc.kyc_ref IS 'Référence naturelle du dossier KYC.';
COMMENT ON COLUMN {schema}.fact_kyc.client_id IS 'Client : clé de dim_client.';
COMMENT ON COLUMN {schema}.fact_kyc.date_id IS 'Jour de soumission du dossier : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.fact_kyc.date_soumission IS 'Date de soumission du dossier (formats de date inversés corrigés, SILVER-KYC-4).';
COMMENT ON COLUMN {schema}.fact_kyc.mois_soumission IS 'Mois de soumission AAAA-MM (SILVER-KYC-11).';
COMMENT ON COLUMN {schema}.fact_kyc.type_document IS 'Type de document normalisé : CNI, Passeport, Titre de séjour, Permis de conduire ; inconnu si absent ou non reconnu (SILVER-KYC-1).';
COMMENT ON COLUMN {schema}.fact_kyc.statut IS 'Décision normalisée : validé, refusé, en_attente ; inconnu si absent (SILVER-KYC-2).';
COMMENT ON COLUMN {schema}.fact_kyc.motif_refus IS 'Motif du refus ; renseigné pour les dossiers refusés.';
COMMENT ON COLUMN {schema}.fact_kyc.delai_traitement_jours_ouvres IS 'Délai de prise en charge en jours ouvrés : jours ouvrés après la soumission jusqu''à la date de traitement (SILVER-KYC-5).';
COMMENT ON COLUMN {schema}.fact_kyc.delai_decision_jours_ouvres IS 'Délai de décision en jours ouvrés : jours ouvrés après la soumission jusqu''à la date de validation ou de refus (SILVER-KYC-5).';
COMMENT ON COLUMN {schema}.fact_kyc.sla_depasse IS 'SLA dépassé (SILVER-KYC-6) : dossier en_attente depuis plus de 5 jours ouvrés à la date de référence de l''export.';
COMMENT ON COLUMN {schema}.fact_kyc.decision_tardive IS 'Décision tardive : dossier décidé avec un délai de décision supérieur à 5 jours ouvrés.';
COMMENT ON COLUMN {schema}.fact_kyc.document_valide IS 'Vrai si le document n''était pas expiré à la soumission ; vide si la date d''expiration est inconnue ou illisible (la date elle-même n''est pas conservée).';
COMMENT ON COLUMN {schema}.fact_kyc.source IS 'Origine de la décision : prestataire (export du prestataire KYC) ; automatique pour les décisions de kvt kyc (GOLD-KYC-4).';
