-- The ready tracks the start-up pass still has to link to their artist and
-- album records (db::albums::UNLINKED, the same condition word for word so
-- the planner can use it). Almost always empty: a start where every track
-- is linked reads this index, finds nothing and never walks `tracks`, which
-- at a million rows was a scan on every start.
CREATE INDEX tracks_unlinked ON tracks (id) WHERE status = 'ready' AND ((artist IS NOT NULL AND artist <> '' AND artist_id IS NULL) OR (album IS NOT NULL AND album <> '' AND album_id IS NULL));
