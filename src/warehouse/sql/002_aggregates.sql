-- Aggregate tables of the warehouse (SPEC §3.9.2–§3.9.7, GOLD-4): the 9
-- `gold_*` tables written by `kvt gold`, denormalised and pre-computed for the
-- Metabase dashboards (WH-4), loaded every morning by `kvt load` (LOAD-4).
-- `{schema}` is replaced by the configured schema (default `kvt`).
--
-- Idempotent, columns in the order of the gold Parquet files; primary keys
-- `pk_<table>`, foreign keys `fk_<table>_<column>` to the dimensions of
-- 001_star.sql, indexes `ix_<table>_<column>`. Rates (`*_pct`) are
-- percentages in [0, 100], null when their denominator is 0.

CREATE TABLE IF NOT EXISTS {schema}.gold_customer_360 (
    client_id            bigint NOT NULL,
    customer_id          text,
    dans_crm             boolean,
    nb_commandes         bigint,
    chiffre_affaires_eur double precision,
    panier_moyen_eur     double precision,
    ltv_eur              double precision,
    ltv_crm_eur          double precision,
    premiere_commande    date,
    derniere_commande    date,
    recence_jours        integer,
    score_r              integer,
    score_f              integer,
    score_m              integer,
    code_rfm             text,
    segment_rfm          text,
    risque_churn         boolean,
    completude_crm_pct   double precision,
    score_sante          double precision,
    nb_evenements_app    bigint,
    nb_sessions_app      bigint,
    CONSTRAINT pk_gold_customer_360 PRIMARY KEY (client_id),
    CONSTRAINT fk_gold_customer_360_client_id FOREIGN KEY (client_id) REFERENCES {schema}.dim_client (client_id)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_product_funnel (
    produit_id           bigint NOT NULL,
    code_produit         text,
    annee_mois           text NOT NULL,
    vues                 bigint,
    ajouts_panier        bigint,
    commandes_app        bigint,
    taux_vue_panier_pct  double precision,
    taux_vue_achat_pct   double precision,
    abandons             bigint,
    taux_abandon_pct     double precision,
    quantite_vendue      bigint,
    chiffre_affaires_eur double precision,
    CONSTRAINT pk_gold_product_funnel PRIMARY KEY (produit_id, annee_mois),
    CONSTRAINT fk_gold_product_funnel_produit_id FOREIGN KEY (produit_id) REFERENCES {schema}.dim_produit (produit_id)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_kyc_compliance (
    annee_mois                text NOT NULL,
    type_document             text NOT NULL,
    source                    text NOT NULL,
    nb_dossiers               bigint,
    nb_valides                bigint,
    nb_refuses                bigint,
    nb_en_attente             bigint,
    taux_validation_pct       double precision,
    taux_refus_pct            double precision,
    taux_traitement_pct       double precision,
    delai_moyen_jours_ouvres  double precision,
    delai_p95_jours_ouvres    double precision,
    nb_sla_depasse            bigint,
    nb_decisions_tardives     bigint,
    taux_sla_respecte_pct     double precision,
    score_conformite          double precision,
    CONSTRAINT pk_gold_kyc_compliance PRIMARY KEY (annee_mois, type_document, source)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_kyc_motifs_refus (
    annee_mois     text NOT NULL,
    type_document  text NOT NULL,
    source         text NOT NULL,
    motif_refus    text NOT NULL,
    nb_refus       bigint,
    part_pct       double precision,
    CONSTRAINT pk_gold_kyc_motifs_refus PRIMARY KEY (annee_mois, type_document, source, motif_refus)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_logistics_kpi (
    transporteur_id           bigint NOT NULL,
    transporteur              text,
    annee_mois                text NOT NULL,
    nb_livraisons             bigint,
    nb_livrees                bigint,
    nb_en_cours               bigint,
    nb_a_l_heure              bigint,
    nb_retours                bigint,
    taux_a_l_heure_pct        double precision,
    taux_retour_pct           double precision,
    delai_moyen_jours_ouvres  double precision,
    delai_p95_jours_ouvres    double precision,
    cout_moyen_eur            double precision,
    score_performance         double precision,
    CONSTRAINT pk_gold_logistics_kpi PRIMARY KEY (transporteur_id, annee_mois),
    CONSTRAINT fk_gold_logistics_kpi_transporteur_id FOREIGN KEY (transporteur_id) REFERENCES {schema}.dim_transporteur (transporteur_id)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_commercial_mensuel (
    categorie             text NOT NULL,
    annee_mois            text NOT NULL,
    chiffre_affaires_eur  double precision,
    nb_commandes          bigint,
    panier_moyen_eur      double precision,
    taux_coupon_pct       double precision,
    quantite              bigint,
    CONSTRAINT pk_gold_commercial_mensuel PRIMARY KEY (categorie, annee_mois)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_classement_produits (
    fenetre_jours          integer NOT NULL,
    produit_id             bigint NOT NULL,
    code_produit           text,
    chiffre_affaires_eur   double precision,
    quantite               bigint,
    rang_chiffre_affaires  integer,
    rang_volume            integer,
    date_fin               date,
    CONSTRAINT pk_gold_classement_produits PRIMARY KEY (fenetre_jours, produit_id),
    CONSTRAINT fk_gold_classement_produits_produit_id FOREIGN KEY (produit_id) REFERENCES {schema}.dim_produit (produit_id)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_web_quotidien (
    date_id             integer NOT NULL,
    date                date,
    nb_requetes         bigint,
    disponibilite_pct   double precision,
    taux_2xx_pct        double precision,
    taux_3xx_pct        double precision,
    taux_4xx_pct        double precision,
    taux_5xx_pct        double precision,
    taux_erreur_pct     double precision,
    latence_p95_ms      double precision,
    latence_moyenne_ms  double precision,
    nb_requetes_bots    bigint,
    CONSTRAINT pk_gold_web_quotidien PRIMARY KEY (date_id),
    CONSTRAINT fk_gold_web_quotidien_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id)
);

CREATE TABLE IF NOT EXISTS {schema}.gold_web_endpoints (
    endpoint_jour_id  bigint NOT NULL,
    date_id           integer,
    endpoint          text,
    nb_requetes       bigint,
    nb_erreurs        bigint,
    taux_erreur_pct   double precision,
    latence_p95_ms    double precision,
    rang_volume       integer,
    rang_erreur       integer,
    rang_latence      integer,
    CONSTRAINT pk_gold_web_endpoints PRIMARY KEY (endpoint_jour_id),
    CONSTRAINT fk_gold_web_endpoints_date_id FOREIGN KEY (date_id) REFERENCES {schema}.dim_date (date_id)
);

-- Indexes: date_id columns that are not already the head of a primary key.
CREATE INDEX IF NOT EXISTS ix_gold_web_endpoints_date_id ON {schema}.gold_web_endpoints (date_id);

-- ---------------------------------------------------------------------------
-- Comments (shown by Metabase)
-- ---------------------------------------------------------------------------

COMMENT ON TABLE {schema}.gold_customer_360 IS 'Vue client 360 (GOLD-C360-1..8, D-81, D-82) : une ligne par client (CRM, commandes, paiements, livraisons, KYC, utilisateurs connectés de l''application) avec chiffre d''affaires, scores RFM, segment, risque de churn, complétude CRM et score de santé. Commandes comptées : celles de fact_commande non annulées.';
COMMENT ON COLUMN {schema}.gold_customer_360.client_id IS 'Clé primaire : client, clé de dim_client.';
COMMENT ON COLUMN {schema}.gold_customer_360.customer_id IS 'Identifiant client pseudonymisé (contrat C6).';
COMMENT ON COLUMN {schema}.gold_customer_360.dans_crm IS 'Vrai si le client figure dans l''export CRM.';
COMMENT ON COLUMN {schema}.gold_customer_360.nb_commandes IS 'Nombre de commandes non annulées du client dans fact_commande (0 pour un prospect).';
COMMENT ON COLUMN {schema}.gold_customer_360.chiffre_affaires_eur IS 'Chiffre d''affaires du client en € = Σ montant_total_eur de ses commandes non annulées (0 sans commande).';
COMMENT ON COLUMN {schema}.gold_customer_360.panier_moyen_eur IS 'Panier moyen en € = chiffre_affaires_eur ÷ nb_commandes ; vide sans commande (GOLD-C360-4).';
COMMENT ON COLUMN {schema}.gold_customer_360.ltv_eur IS 'Valeur vie client (LTV) en € vue par la plateforme = chiffre_affaires_eur (GOLD-C360-4).';
COMMENT ON COLUMN {schema}.gold_customer_360.ltv_crm_eur IS 'Valeur vie client en € selon le CRM (LIFETIME VALUE EUR) ; peut être négative après des remboursements, cas légitime et documenté (CHECK-7). Vide hors CRM.';
COMMENT ON COLUMN {schema}.gold_customer_360.premiere_commande IS 'Date (UTC) de la première commande non annulée.';
COMMENT ON COLUMN {schema}.gold_customer_360.derniere_commande IS 'Date (UTC) de la dernière commande non annulée (GOLD-C360-4).';
COMMENT ON COLUMN {schema}.gold_customer_360.recence_jours IS 'Récence en jours calendaires = date de calcul (--as-of) − derniere_commande ; vide sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.score_r IS 'Score de récence R de 1 à 5 (GOLD-C360-2) = 1 + floor(5 × (rank() − 1) ÷ n) sur −recence_jours parmi les n clients ayant commandé (D-81) : les plus récents ont le score le plus haut, les ex aequo partagent le score ; vide sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.score_f IS 'Score de fréquence F de 1 à 5 (GOLD-C360-2) = 1 + floor(5 × (rank() − 1) ÷ n) sur nb_commandes parmi les n clients ayant commandé (D-81) ; les ex aequo partagent le score ; vide sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.score_m IS 'Score monétaire M de 1 à 5 (GOLD-C360-2) = 1 + floor(5 × (rank() − 1) ÷ n) sur chiffre_affaires_eur parmi les n clients ayant commandé (D-81) ; vide sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.code_rfm IS 'Code RFM à trois chiffres = score_r || score_f || score_m (ex. 545) ; vide sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.segment_rfm IS 'Segment RFM (GOLD-C360-3), première règle vraie : Champions R≥4 F≥4 M≥4 ; Clients fidèles R≥3 F≥4 ; Nouveaux clients R=5 F=1 ; Prometteurs R≥4 F≤2 ; À risque R≤2 F≥3 ; Hibernants R≤2 F≤2 ; À surveiller sinon ; Prospects sans commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.risque_churn IS 'Risque de churn (GOLD-C360-5) : vrai si recence_jours > 90 (aucune commande dans les 90 jours précédant la date de calcul) ou aucune commande.';
COMMENT ON COLUMN {schema}.gold_customer_360.completude_crm_pct IS 'Complétude du profil CRM en % (GOLD-C360-6) = champs renseignés parmi 12 (civilité, âge, département, pays, statut, segment, lead score, canal, catégorie préférée, newsletter, KYC requis, date de création) ÷ 12 × 100 ; vide hors CRM.';
COMMENT ON COLUMN {schema}.gold_customer_360.score_sante IS 'Score de santé client de 0 à 100 (GOLD-C360-7) = (0,4 × R + 0,3 × F + 0,3 × M) ÷ 5 × 100 ; 0 pour un prospect.';
COMMENT ON COLUMN {schema}.gold_customer_360.nb_evenements_app IS 'Nombre d''événements de l''application mobile émis par le client connecté.';
COMMENT ON COLUMN {schema}.gold_customer_360.nb_sessions_app IS 'Nombre de sessions distinctes de l''application mobile du client connecté.';

COMMENT ON TABLE {schema}.gold_product_funnel IS 'Entonnoir de conversion par produit et par mois (GOLD-PROD-1..3, D-84) : view_item → add_to_cart → achat. Vues et ajouts viennent de l''application (Firebase), achats des commandes ; seules les commandes passées dans l''application (ios, android) entrent dans les taux de conversion.';
COMMENT ON COLUMN {schema}.gold_product_funnel.produit_id IS 'Produit : clé de dim_produit ; première partie de la clé primaire (produit_id, annee_mois).';
COMMENT ON COLUMN {schema}.gold_product_funnel.code_produit IS 'Code produit naturel.';
COMMENT ON COLUMN {schema}.gold_product_funnel.annee_mois IS 'Mois AAAA-MM (jour UTC de l''événement ou de la commande) ; seconde partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_product_funnel.vues IS 'Nombre d''événements view_item du produit dans le mois.';
COMMENT ON COLUMN {schema}.gold_product_funnel.ajouts_panier IS 'Nombre d''événements add_to_cart du produit dans le mois.';
COMMENT ON COLUMN {schema}.gold_product_funnel.commandes_app IS 'Nombre de commandes non annulées passées dans l''application (canal ios ou android) contenant une ligne du produit.';
COMMENT ON COLUMN {schema}.gold_product_funnel.taux_vue_panier_pct IS 'Taux de conversion vue → panier en % = ajouts_panier ÷ vues × 100 ; vide sans vue.';
COMMENT ON COLUMN {schema}.gold_product_funnel.taux_vue_achat_pct IS 'Taux de conversion vue → achat en % = commandes_app ÷ vues × 100 ; vide sans vue (peut dépasser 100 si des achats se font sans vue tracée).';
COMMENT ON COLUMN {schema}.gold_product_funnel.abandons IS 'Volume d''abandons de panier = max(ajouts_panier − commandes_app, 0) (GOLD-PROD-2).';
COMMENT ON COLUMN {schema}.gold_product_funnel.taux_abandon_pct IS 'Taux d''abandon de panier en % = abandons ÷ ajouts_panier × 100 ; vide sans ajout au panier.';
COMMENT ON COLUMN {schema}.gold_product_funnel.quantite_vendue IS 'Quantité vendue dans le mois, toutes commandes non annulées (tous canaux).';
COMMENT ON COLUMN {schema}.gold_product_funnel.chiffre_affaires_eur IS 'Chiffre d''affaires du produit en € = Σ montants de ses lignes dans les commandes non annulées du mois (tous canaux).';

COMMENT ON TABLE {schema}.gold_kyc_compliance IS 'Conformité KYC par mois de soumission, type de document et source de décision (GOLD-KYC-1..3, D-87) : volumes, taux, délais en jours ouvrés, SLA et score de conformité ; historique mensuel pour l''audit réglementaire.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.annee_mois IS 'Mois de soumission AAAA-MM ; partie de la clé primaire (annee_mois, type_document, source).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.type_document IS 'Type de document (CNI, Passeport, Titre de séjour, Permis de conduire, inconnu) ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.source IS 'Origine des décisions : prestataire ou automatique (kvt kyc, GOLD-KYC-4) ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_dossiers IS 'Nombre de dossiers soumis (tous statuts, y compris inconnu).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_valides IS 'Nombre de dossiers validés (statut validé).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_refuses IS 'Nombre de dossiers refusés (statut refusé).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_en_attente IS 'Nombre de dossiers en attente (statut en_attente).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.taux_validation_pct IS 'Taux de validation en % = nb_valides ÷ nb_dossiers × 100.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.taux_refus_pct IS 'Taux de refus en % = nb_refuses ÷ nb_dossiers × 100.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.taux_traitement_pct IS 'Taux de traitement en % = (nb_valides + nb_refuses) ÷ nb_dossiers × 100 (contrôle de cohérence CHECK-3).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.delai_moyen_jours_ouvres IS 'Délai moyen de décision en jours ouvrés des dossiers décidés (validés ou refusés).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.delai_p95_jours_ouvres IS 'Délai de décision au 95e centile en jours ouvrés des dossiers décidés = percentile_cont(0.95) (interpolation linéaire, contrat C7).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_sla_depasse IS 'Nombre de dossiers en attente depuis plus de 5 jours ouvrés (SLA dépassé, SILVER-KYC-6).';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.nb_decisions_tardives IS 'Nombre de dossiers décidés en plus de 5 jours ouvrés.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.taux_sla_respecte_pct IS 'Taux de respect du SLA en % = (nb_dossiers − nb_sla_depasse − nb_decisions_tardives) ÷ nb_dossiers × 100.';
COMMENT ON COLUMN {schema}.gold_kyc_compliance.score_conformite IS 'Score de conformité composite de 0 à 100 = 0,4 × taux_traitement + 0,4 × taux_sla_respecte + 0,2 × max(0, 100 − 10 × delai_p95) : un p95 de 0 jour ouvré (décision le jour du dépôt) vaut 100 sur le dernier terme, un jour 90, dix jours ou plus 0.';

COMMENT ON TABLE {schema}.gold_kyc_motifs_refus IS 'Répartition des motifs de refus KYC (GOLD-KYC-2) par mois de soumission, type de document, source et motif.';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.annee_mois IS 'Mois de soumission AAAA-MM ; partie de la clé primaire (annee_mois, type_document, source, motif_refus).';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.type_document IS 'Type de document ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.source IS 'Origine des décisions (prestataire, automatique) ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.motif_refus IS 'Motif du refus ; « non précisé » quand le dossier refusé n''en donne pas ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.nb_refus IS 'Nombre de dossiers refusés pour ce motif.';
COMMENT ON COLUMN {schema}.gold_kyc_motifs_refus.part_pct IS 'Part du motif en % = nb_refus ÷ refus du même mois, type et source × 100.';

COMMENT ON TABLE {schema}.gold_logistics_kpi IS 'Indicateurs logistiques par transporteur et par mois d''expédition (GOLD-LOG-1..2, D-85) : volumes, ponctualité, retours, délais en jours ouvrés, coût moyen et score de performance. Les colis en cours sont comptés mais exclus des délais (SILVER-LOG-5).';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.transporteur_id IS 'Transporteur : clé de dim_transporteur ; première partie de la clé primaire (transporteur_id, annee_mois).';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.transporteur IS 'Nom du transporteur.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.annee_mois IS 'Mois d''expédition AAAA-MM ; seconde partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.nb_livraisons IS 'Nombre de colis expédiés dans le mois.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.nb_livrees IS 'Nombre de colis livrés (date de livraison effective connue).';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.nb_en_cours IS 'Nombre de colis sans date de livraison effective (en transit, en échec ou retournés).';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.nb_a_l_heure IS 'Nombre de colis livrés au plus tard à la date promise.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.nb_retours IS 'Nombre de colis retournés.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.taux_a_l_heure_pct IS 'Taux de livraison à l''heure en % = nb_a_l_heure ÷ nb_livrees × 100 ; vide sans colis livré.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.taux_retour_pct IS 'Taux de retour en % = nb_retours ÷ nb_livraisons × 100.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.delai_moyen_jours_ouvres IS 'Délai moyen de livraison en jours ouvrés (expédition → livraison effective) des colis livrés.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.delai_p95_jours_ouvres IS 'Délai de livraison au 95e centile en jours ouvrés = percentile_cont(0.95) (interpolation linéaire, contrat C7).';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.cout_moyen_eur IS 'Coût moyen de livraison par colis en € = moyenne de frais_livraison_eur.';
COMMENT ON COLUMN {schema}.gold_logistics_kpi.score_performance IS 'Score de performance composite de 0 à 100 = 0,5 × taux_a_l_heure + 0,3 × (100 − taux_retour) + 0,2 × max(0, 100 − 10 × (delai_moyen − 1)) : à l''heure, rarement retourné et livré le jour ouvré suivant vaut 100.';

COMMENT ON TABLE {schema}.gold_commercial_mensuel IS 'Chiffre d''affaires mensuel par catégorie de produits (GOLD-COM-1, -3, D-88), à partir des lignes des commandes non annulées, par mois de commande ; catégorie = celle portée par la ligne de commande.';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.categorie IS 'Catégorie indiquée sur la ligne de commande (« inconnue » si absente) ; partie de la clé primaire (categorie, annee_mois). Peut différer de dim_produit.categorie, qui est la catégorie la plus fréquente du produit.';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.annee_mois IS 'Mois de la commande AAAA-MM (UTC) ; partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.chiffre_affaires_eur IS 'Chiffre d''affaires en € = Σ montants des lignes de la catégorie (hors frais de livraison et remises de commande).';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.nb_commandes IS 'Nombre de commandes ayant au moins une ligne de la catégorie.';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.panier_moyen_eur IS 'Panier moyen de la catégorie en € = chiffre_affaires_eur ÷ nb_commandes (part de la catégorie dans ces paniers).';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.taux_coupon_pct IS 'Taux d''utilisation de coupon en % = commandes avec coupon ÷ nb_commandes × 100.';
COMMENT ON COLUMN {schema}.gold_commercial_mensuel.quantite IS 'Nombre d''articles vendus de la catégorie (Σ quantités des lignes).';

COMMENT ON TABLE {schema}.gold_classement_produits IS 'Classement des produits par chiffre d''affaires et par volume sur 30, 90 et 365 jours glissants se terminant à la date de calcul (GOLD-COM-2, OQ-20, D-88) : fenêtre ]date_fin − N jours ; date_fin] sur la date de commande, commandes non annulées.';
COMMENT ON COLUMN {schema}.gold_classement_produits.fenetre_jours IS 'Longueur de la fenêtre glissante en jours : 30, 90 ou 365 ; première partie de la clé primaire (fenetre_jours, produit_id).';
COMMENT ON COLUMN {schema}.gold_classement_produits.produit_id IS 'Produit : clé de dim_produit ; seconde partie de la clé primaire.';
COMMENT ON COLUMN {schema}.gold_classement_produits.code_produit IS 'Code produit naturel.';
COMMENT ON COLUMN {schema}.gold_classement_produits.chiffre_affaires_eur IS 'Chiffre d''affaires du produit sur la fenêtre en € = Σ montants de ses lignes de commande.';
COMMENT ON COLUMN {schema}.gold_classement_produits.quantite IS 'Quantité vendue sur la fenêtre.';
COMMENT ON COLUMN {schema}.gold_classement_produits.rang_chiffre_affaires IS 'Rang par chiffre d''affaires dans la fenêtre (1 = meilleur ; ex aequo au même rang, comme SQL rank()).';
COMMENT ON COLUMN {schema}.gold_classement_produits.rang_volume IS 'Rang par quantité vendue dans la fenêtre (1 = meilleur ; ex aequo au même rang, comme SQL rank()).';
COMMENT ON COLUMN {schema}.gold_classement_produits.date_fin IS 'Dernier jour inclus de la fenêtre : la date de calcul (--as-of) de kvt gold.';

COMMENT ON TABLE {schema}.gold_web_quotidien IS 'Indicateurs web quotidiens (GOLD-WEB-1, OQ-19, D-86) : une ligne par jour de logs Nginx, disponibilité, taux par famille de statut HTTP et latences ; les robots sont inclus dans tous les taux.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.date_id IS 'Clé primaire : jour des logs, clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.gold_web_quotidien.date IS 'Date des logs.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.nb_requetes IS 'Nombre de requêtes HTTP du jour (robots inclus).';
COMMENT ON COLUMN {schema}.gold_web_quotidien.disponibilite_pct IS 'Disponibilité en % = requêtes non répondues en 5xx ÷ requêtes × 100 (les 4xx sont imputables au client).';
COMMENT ON COLUMN {schema}.gold_web_quotidien.taux_2xx_pct IS 'Part des réponses 2xx en % = requêtes 2xx ÷ requêtes × 100.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.taux_3xx_pct IS 'Part des réponses 3xx en % = requêtes 3xx ÷ requêtes × 100.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.taux_4xx_pct IS 'Taux d''erreur client 4xx en % = requêtes 4xx ÷ requêtes × 100.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.taux_5xx_pct IS 'Taux d''erreur serveur 5xx en % = requêtes 5xx ÷ requêtes × 100.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.taux_erreur_pct IS 'Taux d''erreur en % = (requêtes 4xx + 5xx) ÷ requêtes × 100.';
COMMENT ON COLUMN {schema}.gold_web_quotidien.latence_p95_ms IS 'Latence au 95e centile en millisecondes = percentile_cont(0.95) de response_time_ms (contrat C7).';
COMMENT ON COLUMN {schema}.gold_web_quotidien.latence_moyenne_ms IS 'Latence moyenne en millisecondes (moyenne de response_time_ms).';
COMMENT ON COLUMN {schema}.gold_web_quotidien.nb_requetes_bots IS 'Nombre de requêtes de robots (user agent reconnu, contrat C4), pour contexte.';

COMMENT ON TABLE {schema}.gold_web_endpoints IS 'Classement quotidien des endpoints web (GOLD-WEB-2, INC-14, D-86) : volume, taux d''erreur et latence p95 par jour et par endpoint, avec les rangs du jour.';
COMMENT ON COLUMN {schema}.gold_web_endpoints.endpoint_jour_id IS 'Clé primaire : clé de substitution entière de (jour, endpoint), stable d''un rechargement à l''autre.';
COMMENT ON COLUMN {schema}.gold_web_endpoints.date_id IS 'Jour des logs : clé de dim_date (AAAAMMJJ).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.endpoint IS 'Endpoint : méthode HTTP et chemin dont les identifiants sont remplacés par {id} (ex. GET /produit/{id}).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.nb_requetes IS 'Nombre de requêtes du jour sur l''endpoint (robots inclus).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.nb_erreurs IS 'Nombre de requêtes en erreur (statut 4xx ou 5xx).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.taux_erreur_pct IS 'Taux d''erreur en % = nb_erreurs ÷ nb_requetes × 100.';
COMMENT ON COLUMN {schema}.gold_web_endpoints.latence_p95_ms IS 'Latence au 95e centile en millisecondes = percentile_cont(0.95) de response_time_ms.';
COMMENT ON COLUMN {schema}.gold_web_endpoints.rang_volume IS 'Rang du jour par nombre de requêtes (1 = le plus demandé ; ex aequo au même rang).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.rang_erreur IS 'Rang du jour par taux d''erreur (1 = le plus en erreur ; ex aequo au même rang).';
COMMENT ON COLUMN {schema}.gold_web_endpoints.rang_latence IS 'Rang du jour par latence p95 (1 = le plus lent ; ex aequo au même rang).';
