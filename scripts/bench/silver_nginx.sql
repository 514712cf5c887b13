-- DuckDB peer of `kvt silver nginx` (scripts/bench.sh silver-history): the same
-- bronze file, the same rules as src/silver/nginx.rs as closely as SQL allows.
-- {{bronze}} = the bronze log file(s), {{out}} = the output directory.
-- Differences from kvt (listed in scripts/bench.sh): sha256 instead of
-- HMAC-SHA-256; IPv6 /48 by text; no bronze_line; bronze_key is the file path.

-- Without this, DuckDB pushes the `WHERE` on the regex groups below into the
-- scan and evaluates the regex once per group tested (29 s -> 102 s here).
SET disabled_optimizers = 'filter_pushdown';

-- The kvt layout (CONTRACTS C5), or nginx `combined` (kvt's fallback: no
-- request time, and its second field is $remote_user, not a customer). Quoted
-- fields: the user agent may hold `"` (the last `"` closes it, as kvt's
-- backtracking finds); the request and referer may not (nginx escapes it).
CREATE TEMP MACRO line_re() AS
  '^([^ ]+) - ([^ ]*) \[([^\]]{26})\] "([^"]*)" ([0-9]{3}) ([0-9]+) "([^"]*)" "(.*)"(?: ([0-9]+\.[0-9]{3}))?$';

-- One VARCHAR per line (a delimiter and a quote that never occur); NULs removed.
CREATE TEMP VIEW lines AS
SELECT replace(line, chr(0), '') AS line, contains(line, chr(0)) AS nul_cleaned, filename AS bronze_key
FROM read_csv('{{bronze}}', columns = {'line': 'VARCHAR'}, header = false, delim = chr(31),
              quote = '', escape = '', auto_detect = false, filename = true);

-- A line that does not match has an empty `time` (the group is 26 characters):
-- dropped, like a kvt line (with a request time) whose customer is empty.
CREATE TEMP VIEW fields AS
SELECT f.*, f.rt <> '' AS is_kvt, nul_cleaned, bronze_key
FROM (SELECT regexp_extract(line, line_re(),
        ['addr', 'customer', 'time', 'request', 'status', 'bytes', 'referer', 'ua', 'rt']) AS f,
        nul_cleaned, bronze_key
      FROM lines)
WHERE f.time <> '' AND NOT (f.rt <> '' AND f.customer = '');

CREATE TEMP VIEW typed AS
SELECT
  addr,
  CASE WHEN is_kvt AND customer NOT IN ('-', '') THEN customer END AS customer,
  try_strptime(time, '%d/%b/%Y:%H:%M:%S %z') AS ts,
  string_split(request, ' ') AS req,
  TRY_CAST(status AS INTEGER) AS status,
  TRY_CAST(bytes AS BIGINT) AS bytes,
  referer,
  ua,
  CASE WHEN is_kvt THEN replace(rt, '.', '')::BIGINT END AS response_time_ms,
  -- local date of $time_local (before the offset is applied)
  try_strptime(left(time, 20), '%d/%b/%Y:%H:%M:%S')::DATE AS log_date,
  nul_cleaned, bronze_key
FROM fields;

COPY (
  SELECT
    log_date,
    ts AS "timestamp",
    CASE
      WHEN regexp_matches(addr, '^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$')
        THEN regexp_replace(addr, '\.[0-9]+$', '.xxx')
      WHEN contains(addr, ':')
        THEN array_to_string(string_split(addr, ':')[1:3], ':') || '::/48'
    END AS ip_truncated,
    sha256(customer) AS customer_id,
    CASE WHEN regexp_matches(req[1], '^[A-Z]{1,16}$') THEN req[1] END AS method,
    CASE WHEN regexp_matches(req[1], '^[A-Z]{1,16}$') AND len(req) >= 2 THEN split_part(req[2], '?', 1) END AS path,
    CASE WHEN regexp_matches(req[1], '^[A-Z]{1,16}$') AND len(req) >= 2 AND contains(req[2], '?')
      THEN array_to_string(list_sort(list_distinct(list_transform(
             list_filter(string_split(split_part(req[2], '?', 2), '&'), lambda kv: kv <> ''),
             lambda kv: split_part(kv, '=', 1)))), ',')
    END AS query_keys,
    CASE WHEN regexp_matches(req[1], '^[A-Z]{1,16}$') AND len(req) >= 3 THEN array_to_string(req[3:], ' ') END AS protocol,
    status AS status_code,
    left(status::VARCHAR, 1) || 'xx' AS status_family,
    bytes AS response_size_bytes,
    CASE WHEN referer NOT IN ('-', '') THEN split_part(split_part(referer, '?', 1), '#', 1) END AS referer,
    regexp_matches(ua, '(?i)bot|crawl|spider|headless|python-requests|curl|wget|scrapy|selenium|phantomjs') AS is_bot,
    CASE
      WHEN regexp_matches(ua, '(?i)bot|crawl|spider|headless|python-requests|curl|wget|scrapy|selenium|phantomjs') THEN 'bot'
      WHEN ua IN ('', '-') THEN 'unknown'
      WHEN contains(ua, 'Mobile') OR contains(ua, 'Android') OR contains(ua, 'iPhone') THEN 'mobile_browser'
      WHEN contains(ua, 'Mozilla/') THEN 'desktop_browser'
      ELSE 'other'
    END AS user_agent_class,
    response_time_ms,
    nul_cleaned,
    bronze_key
  FROM typed
  WHERE ts IS NOT NULL AND log_date IS NOT NULL AND status BETWEEN 100 AND 599 AND bytes IS NOT NULL
) TO '{{out}}' (FORMAT parquet, PARTITION_BY (log_date), COMPRESSION zstd, COMPRESSION_LEVEL 1,
      ROW_GROUP_SIZE 131072, WRITE_PARTITION_COLUMNS true);
