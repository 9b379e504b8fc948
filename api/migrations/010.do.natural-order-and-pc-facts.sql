-- Lists sort the way people count (pc2 before pc10, room B2 before B10): ICU's numeric ordering, for ORDER BY.
CREATE COLLATION IF NOT EXISTS natural_order (provider = icu, locale = 'und-u-kn-true');

-- What `zanshin doctor` shows of each PC, as its reports carry it (NULL until a worker that reports it has reported).
ALTER TABLE nodes
  ADD COLUMN strategy text CHECK (strategy IN ('kernel', 'content')),
  ADD COLUMN checkpoints_other_users boolean,
  ADD COLUMN link_rate_bps bigint CHECK (link_rate_bps >= 0),
  ADD COLUMN disk_total_bytes bigint CHECK (disk_total_bytes >= 0),
  ADD COLUMN disk_free_bytes bigint CHECK (disk_free_bytes >= 0);
