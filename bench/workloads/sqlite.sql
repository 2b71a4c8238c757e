-- Inserting, indexing and querying rows: allocation-heavy (page cache, parser, sorter).
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, val REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 400000)
INSERT INTO t SELECT x, printf('name-%08d-%s', x, hex(x * 7919)), x % 1000, x * 0.5 FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp ON t(grp, val);
SELECT grp, count(*), sum(val), max(name) FROM t GROUP BY grp ORDER BY 3 DESC LIMIT 5;
SELECT count(*) FROM t WHERE name LIKE 'name-0001%';
SELECT count(DISTINCT substr(name, 6, 4)) FROM t;
