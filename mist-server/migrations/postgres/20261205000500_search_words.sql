-- Nothing on Postgres: its vocabulary table `search_words` came with
-- 20261204000400_search_words. SQLite gains the same table in this
-- migration (one number for one change on both engines).
SELECT 1;
