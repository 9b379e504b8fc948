-- Every target a migration tried, in order, with its outcome (a target that died is replaced by another).
ALTER TABLE migrations ADD COLUMN attempts jsonb NOT NULL DEFAULT '[]';
