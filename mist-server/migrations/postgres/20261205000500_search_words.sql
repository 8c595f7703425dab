-- Typo corrections read the same candidates on both engines now: a
-- first-letter slice of `search_words` by its primary key, narrowed by the
-- second and third letters (db/catalogue.rs, CANDIDATES). The trigram index
-- that found them before is no longer read, and missed swaps near the start
-- of a word ("zroblax" and "zorblax" share a third of their trigrams, under
-- the 0.4 it asked for). SQLite gains the same table in this migration.
DROP INDEX search_words_trgm;
