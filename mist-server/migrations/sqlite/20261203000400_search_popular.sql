-- Most played first, ties by id: the order of `sort=popular` and of a search
-- made only of short prefixes (db/catalogue.rs). Walking this index and
-- checking each row against the full-text match finds a page of a prefix
-- that matches a tenth of the catalogue after a few hundred rows, where
-- ranking every match would read all of them.
CREATE INDEX tracks_status_plays_desc ON tracks (status, play_count DESC, id);
